// Command courierpop3d is the logged-in POP3 server (see pkg/pop3d). The
// login stage (courierpop3login) runs one per mailbox owner and hands it
// sessions; run by hand with AUTHENTICATED set, it serves one
// pre-authenticated session on standard input and output.
package main

import (
	"fmt"
	"os"

	"github.com/gocourier/courier/pkg/login"
	"github.com/gocourier/courier/pkg/pop3d"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && (args[0] == "--help" || args[0] == "-h") {
		fmt.Print(`Usage: courierpop3d [MAILDIR]

The POP3 server after login. courierpop3login starts it as the mailbox
owner and hands it the sessions of that owner, each with the account's
variables (AUTHENTICATED, MAILDIR, OPTIONS, ...). Run by hand, it serves one
session on standard input and output, already logged in, on MAILDIR (else
$MAILDIR, else ./Maildir).
`)
		return
	}
	os.Exit(login.ServerMain("courierpop3d", args, pop3d.Serve))
}
