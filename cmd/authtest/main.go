// Command authtest is courier-authlib's authtest (see pkg/authlib/authtool).
package main

import (
	"os"

	"github.com/gocourier/courier/pkg/authlib/authtool"
)

func main() {
	os.Exit(authtool.AuthTest(os.Args[1:], os.Stdout, os.Stderr))
}
