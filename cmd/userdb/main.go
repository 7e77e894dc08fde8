// Command userdb edits the userdb text source (see pkg/userdb/usertool).
package main

import (
	"os"

	"github.com/gocourier/courier/pkg/userdb"
	"github.com/gocourier/courier/pkg/userdb/usertool"
)

func main() {
	os.Exit(usertool.Userdb(os.Args[0], os.Args[1:], userdb.DefaultSource(), os.Stdin, os.Stdout, os.Stderr))
}
