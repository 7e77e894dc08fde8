// Command courierpop3login is the POP3 login stage (see pkg/login and
// pkg/pop3d): couriertcpd runs "courierpop3login courierpop3d Maildir".
package main

import (
	"os"

	"github.com/gocourier/courier/pkg/login"
	"github.com/gocourier/courier/pkg/pop3d"
)

func main() {
	os.Exit(login.Main(os.Args, "pop3", pop3d.ServeLogin))
}
