// Command pw2userdb converts /etc/passwd and /etc/shadow to userdb text
// (see pkg/userdb/usertool).
package main

import (
	"os"

	"github.com/gocourier/courier/pkg/userdb/usertool"
)

func main() {
	os.Exit(usertool.Pw2userdb(os.Args[1:], os.Stdout, os.Stderr))
}
