// Command mkesmtpdcert (also mkimapdcert and mkpop3dcert, chosen by the
// name it is run as) makes a server's self-signed certificate (see
// pkg/tlsconf).
package main

import (
	"os"
	"path/filepath"

	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/pkg/tlsconf"
)

func main() {
	os.Exit(tlsconf.MkcertMain(layout.Current(), filepath.Base(os.Args[0]), os.Args[1:], os.Stdout, os.Stderr))
}
