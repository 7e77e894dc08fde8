// Command mkesmtpdcert makes the SMTP server's self-signed certificate
// (see pkg/tlsconf).
package main

import (
	"os"

	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/pkg/tlsconf"
)

func main() {
	os.Exit(tlsconf.MkesmtpdcertMain(layout.Current(), os.Args[1:], os.Stdout, os.Stderr))
}
