// Command authpasswd prints the hash of a password for an account record
// (see pkg/authlib/authtool).
package main

import (
	"os"

	"github.com/gocourier/courier/pkg/authlib/authtool"
)

func main() {
	os.Exit(authtool.AuthPasswd(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
