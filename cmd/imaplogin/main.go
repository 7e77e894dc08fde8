// Command imaplogin is the IMAP login stage (see pkg/login and
// pkg/imapd): couriertcpd runs "imaplogin /usr/bin/imapd Maildir".
package main

import (
	"os"

	"github.com/gocourier/courier/pkg/imapd"
	"github.com/gocourier/courier/pkg/login"
)

func main() {
	os.Exit(login.Main(os.Args, "imap", imapd.ServeLogin))
}
