package login

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"

	"github.com/gocourier/courier/pkg/logging"
	"github.com/gocourier/courier/pkg/tcpd/handoff"
)

// Session serves one logged-in session on c for the maildir at path,
// with the session's variables from getenv; the caller closes c.
type Session func(c net.Conn, path string, getenv func(string) string, log *slog.Logger)

// ServerMain is the whole of a post-login server (imapd, courierpop3d)
// but its start-up checks: in pass mode (started by the root part for one
// mailbox owner) every session handed over runs in a goroutine until the
// root part lets the server go; otherwise one pre-authenticated session
// runs on standard input and output, for the maildir args[0], else
// $MAILDIR, else ./Maildir.
func ServerMain(prog string, args []string, serve Session) int {
	log := logging.New(logging.Options{Program: prog, Stderr: true, Level: slog.LevelInfo})
	l, pass, err := handoff.Listen()
	if err != nil {
		log.Error(fmt.Sprintf("cannot read the sessions the login stage passes: %v", err))
		return 1
	}
	if !pass {
		c, err := handoff.Stdio()
		if err != nil {
			log.Error(err.Error())
			return 1
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
		serve(c, path, c.Getenv, log)
		c.Close()
		return 0
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
			serve(c, sessionMaildir(c.Getenv, args), c.Getenv, log)
		}(nc.(*handoff.Conn))
	}
	wg.Wait()
	return 0
}

// sessionMaildir is the session's MAILDIR (the root part makes it
// absolute), else the server's argument under the account's home.
func sessionMaildir(getenv func(string) string, args []string) string {
	if p := getenv("MAILDIR"); p != "" {
		return p
	}
	p := "Maildir"
	if len(args) > 0 {
		p = args[0]
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(getenv("HOME"), p)
	}
	return p
}
