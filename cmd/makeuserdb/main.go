// Command makeuserdb compiles the userdb text source into userdb.dat and
// userdbshadow.dat (see pkg/userdb/usertool).
package main

import (
	"os"

	"github.com/gocourier/courier/pkg/userdb"
	"github.com/gocourier/courier/pkg/userdb/usertool"
)

func main() {
	os.Exit(usertool.Makeuserdb(os.Args[1:], userdb.DefaultSource(), os.Stdout, os.Stderr))
}
