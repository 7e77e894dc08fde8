// Command courierpop3d is the logged-in POP3 server (see pkg/pop3d). The
// login stage (courierpop3login) runs one per mailbox owner and hands it
// sessions; run by hand with AUTHENTICATED set, it serves one
// pre-authenticated session on standard input and output.
package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/gocourier/courier/pkg/logging"
	"github.com/gocourier/courier/pkg/pop3d"
	"github.com/gocourier/courier/pkg/tcpd/handoff"
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
	log := logging.New(logging.Options{Program: "courierpop3d", Stderr: true, Level: slog.LevelInfo})
	l, pass, err := handoff.Listen()
	if err != nil {
		log.Error("cannot read the sessions courierpop3login passes: " + err.Error())
		os.Exit(1)
	}
	if !pass {
		c, err := handoff.Stdio()
		if err != nil {
			log.Error(err.Error())
			os.Exit(1)
		}
		path := os.Getenv("MAILDIR")
		if len(args) > 0 {
			path = args[0]
		}
		if path == "" {
			path = "./Maildir"
		}
		pop3d.Serve(c, path, c.Getenv, log)
		c.Close()
		return
	}
	var wg sync.WaitGroup
	for {
		nc, err := l.Accept()
		if err != nil {
			break
		}
		wg.Add(1)
		go func(c *handoff.Conn) {
			defer wg.Done()
			defer c.Close()
			pop3d.Serve(c, sessionMaildir(c, args), c.Getenv, log)
		}(nc.(*handoff.Conn))
	}
	wg.Wait()
}

// sessionMaildir is the session's MAILDIR (the login stage makes it
// absolute), else the argument under the account's home.
func sessionMaildir(c interface{ Getenv(string) string }, args []string) string {
	if p := c.Getenv("MAILDIR"); p != "" {
		return p
	}
	p := "Maildir"
	if len(args) > 0 {
		p = args[0]
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(c.Getenv("HOME"), p)
	}
	return p
}
