// Command esmtpd (also esmtpd-msa, esmtpd-ssl, imapd-ssl, pop3d and
// pop3d-ssl, chosen by the name it is run as) starts, stops and restarts
// one service outside courierd, as the original wrapper scripts do. The
// imapd wrapper is the imapd program itself ("imapd start"), which has the
// same name as the server.
package main

import (
	"os"
	"path/filepath"

	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/pkg/services"
)

func main() {
	name := filepath.Base(os.Args[0])
	switch name {
	case "esmtpd", "esmtpd-msa", "esmtpd-ssl", "imapd-ssl", "pop3d", "pop3d-ssl":
	default:
		name = "esmtpd"
	}
	verb := ""
	if len(os.Args) > 1 {
		verb = os.Args[1]
	}
	os.Exit(services.RunWrapper(layout.Current(), name, verb, os.Stdout, os.Stderr))
}
