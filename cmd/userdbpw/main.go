// Command userdbpw prints a password hash for userdb (see pkg/userdb/usertool).
package main

import (
	"os"

	"github.com/gocourier/courier/pkg/userdb/usertool"
)

func main() {
	os.Exit(usertool.Userdbpw(os.Args[0], os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
