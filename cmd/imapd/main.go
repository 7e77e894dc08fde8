// Command imapd is the logged-in IMAP server (see pkg/imapd), and, as in
// the original, the start script of the imapd service ("imapd start",
// "imapd stop", "imapd restart"). imaplogin starts it as the mailbox owner
// and hands it the sessions of that owner; run by hand with AUTHENTICATED
// set, it serves one pre-authenticated session on standard input and
// output ("* PREAUTH Ready.").
package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"

	"github.com/gocourier/courier/pkg/imapd"
	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/pkg/logging"
	"github.com/gocourier/courier/pkg/services"
	"github.com/gocourier/courier/pkg/tcpd/handoff"
)

func main() {
	args := os.Args[1:]
	if len(args) == 1 {
		switch args[0] {
		case "start", "stop", "restart":
			os.Exit(services.RunWrapper(layout.Current(), "imapd", args[0], os.Stdout, os.Stderr))
		case "--help", "-h":
			fmt.Print(`Usage: imapd start|stop|restart
       imapd [MAILDIR]

With start, stop or restart: starts or stops the IMAP service outside
courierd, as the imapd configuration file says.

Otherwise the IMAP server after login. imaplogin starts it as the mailbox
owner and hands it the sessions of that owner, each with the account's
variables (AUTHENTICATED, MAILDIR, OPTIONS, ...). Run by hand with
AUTHENTICATED set, it serves one session on standard input and output,
already logged in, on MAILDIR (else $MAILDIR, else ./Maildir).
`)
			return
		}
	}
	log := logging.New(logging.Options{Program: "imapd", Stderr: true, Level: slog.LevelInfo})
	if v := os.Getenv("IMAP_UMASK"); v != "" {
		if m, err := strconv.ParseUint(v, 8, 32); err == nil {
			syscall.Umask(int(m))
		}
	}
	l, pass, err := handoff.Listen()
	if err != nil {
		log.Error("cannot read the sessions imaplogin passes: " + err.Error())
		os.Exit(1)
	}
	if !pass {
		if os.Getenv("AUTHENTICATED") == "" {
			fmt.Fprintln(os.Stderr, "imapd: AUTHENTICATED is not set: run imapd through imaplogin, or set it for a pre-authenticated session (see imapd --help)")
			os.Exit(2)
		}
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
		if abs, err := filepath.Abs(path); err == nil {
			path = abs
		}
		imapd.Serve(c, path, c.Getenv, log)
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
			imapd.Serve(c, sessionMaildir(c, args), c.Getenv, log)
		}(nc.(*handoff.Conn))
	}
	wg.Wait()
}

// sessionMaildir is the session's MAILDIR (the login stage makes it
// absolute), else the argument under the account's home.
func sessionMaildir(c *handoff.Conn, args []string) string {
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
