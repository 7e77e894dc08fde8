// Command esmtpd (also esmtpd-msa and esmtpd-ssl, chosen by the name it is
// run as) starts, stops and restarts one SMTP service outside courierd, as
// the original wrapper scripts do.
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
	case "esmtpd", "esmtpd-msa", "esmtpd-ssl":
	default:
		name = "esmtpd"
	}
	verb := ""
	if len(os.Args) > 1 {
		verb = os.Args[1]
	}
	os.Exit(services.RunWrapper(layout.Current(), name, verb, os.Stdout, os.Stderr))
}
