// Command authenumerate is courier-authlib's authenumerate (see pkg/authlib/authtool).
package main

import (
	"os"

	"github.com/gocourier/courier/pkg/authlib/authtool"
)

func main() {
	os.Exit(authtool.AuthEnumerate(os.Args[1:], os.Stdout, os.Stderr))
}
