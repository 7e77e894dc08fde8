// Command imapd is the logged-in IMAP server (see pkg/imapd), and, as in
// the original, the start script of the imapd service ("imapd start",
// "imapd stop", "imapd restart"). imaplogin starts it as the mailbox owner
// and hands it the sessions of that owner; run by hand with AUTHENTICATED
// set, it serves one pre-authenticated session on standard input and
// output ("* PREAUTH Ready.").
package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"syscall"

	"github.com/gocourier/courier/pkg/imapd"
	"github.com/gocourier/courier/pkg/imapd/mailbox"
	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/pkg/login"
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
	if v := os.Getenv("IMAP_UMASK"); v != "" {
		if m, err := strconv.ParseUint(v, 8, 32); err == nil {
			syscall.Umask(int(m))
		}
	}
	if os.Getenv("AUTHENTICATED") == "" && os.Getenv(handoff.EnvFD) == "" {
		fmt.Fprintln(os.Stderr, "imapd: AUTHENTICATED is not set: run imapd through imaplogin, or set it for a pre-authenticated session (see imapd --help)")
		os.Exit(2)
	}
	// The first SELECT of a large folder allocates several times the live
	// heap of a server that has just started (listing, UID map, state): at
	// Go's default GOGC of 100 the collector ran twice within the answer
	// (10,000 messages: 15-18 ms; with 400, 10-12 ms). Between commands
	// the server keeps little, so the higher target costs little memory.
	// GOGC in the environment still decides.
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(400)
	}
	settleOnSignal()
	os.Exit(login.ServerMain("imapd", args, imapd.Serve))
}

// settleOnSignal lets the renames of the STOREs already answered
// (mailbox.Settle) finish before a signal that ends the server does.
func settleOnSignal() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	go func() {
		sig := <-sigs
		mailbox.Settle()
		signal.Reset(sig)
		syscall.Kill(os.Getpid(), sig.(syscall.Signal))
	}()
}
