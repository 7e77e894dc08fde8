// Package login owns the login stage of the IMAP and POP3 servers
// (DESIGN §2): what the original's imaplogin and courierpop3login do, split
// so that no process that reads network bytes runs as root.
//
// couriertcpd runs "imaplogin /usr/bin/imapd Maildir" (or
// "courierpop3login courierpop3d Maildir") as root, in pass mode or once per
// connection. That process is the root part. It reads no client bytes: it
// re-executes itself as the mail user (the layout's MailUser) as the login
// stage, hands it each connection, and answers the stage's login requests.
// The stage runs the protocol's pre-login dialogue (the Handler: greeting,
// CAPABILITY, STARTTLS, LOGIN, AUTHENTICATE, ...). When the client gives
// credentials, Conn.Login sends them and the connection to the root part,
// which checks them with authdaemond (service "imap"/"pop3", or
// AUTHSERVICE<port>), refuses uid 0, uids below MINUID and accounts whose
// options disable the protocol, and hands the connection to the server
// program running as the mailbox owner: one long-running process per
// uid/gid, fed in couriertcpd's own pass mode (pkg/tcpd/handoff), which
// exits when it has had no session for a while. A TLS session cannot move
// between processes, so the stage keeps it and passes one end of a socket
// pair instead, copying bytes between the two.
//
// Connection ids run through all of it: the root part keeps its own copy
// of every client socket and closes it (which tells couriertcpd, in pass
// mode) when the process that ends the session, stage or server, reports
// the id back.
//
// Callers: cmd/imaplogin and cmd/courierpop3login (Main); the handlers
// imapd.ServeLogin and pop3d.ServeLogin (Conn); the servers after login,
// cmd/imapd and cmd/courierpop3d (ServerMain).
package login

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"
)

// FailDelay is the original's pause before "Login failed.".
const FailDelay = 5 * time.Second

// Idle is how long a handler waits for a command before login (the
// original's alarm(60) in imaplogin and pop3login).
const Idle = 60 * time.Second

// Handler runs the pre-login dialogue of one connection, in a goroutine
// of its own. It returns when the client quits, the connection fails, or
// Login has handed the session over.
type Handler func(c *Conn)

// Request is a login to check: authlib's authtype and authdata.
type Request struct {
	AuthType string   // "login", "cram-md5", "cram-sha1", "cram-sha256"
	AuthData string   // "user\npassword\n" (login), "<challenge b64>\n<response b64>\n" (cram)
	Env      []string // more per-session variables for the server, e.g. "IMAPLOGINTAG=a1"
}

// Result is the root part's answer to a Request.
type Result struct {
	OK        bool   // the session belongs to the mailbox owner's server now: return, do not touch the Conn
	Temporary bool   // authdaemond could not be asked
	Disabled  bool   // the account's options disable the protocol
	Insecure  bool   // ... on a connection without TLS (disableinsecure<proto>)
	User      string // the login id, for messages
}

// Conn is one client connection in the login stage.
type Conn struct {
	net.Conn // the TCP connection, or the *tls.Conn once TLS is on

	env     []string
	id      uint64
	stage   *stage
	tls     bool
	tlsCfg  *tls.Config
	handed  bool
	proxyTo *os.File // a TLS session's end of the socket pair to its server
}

// Getenv returns a per-connection variable (TCPREMOTEIP, ...), else the
// process's own.
func (c *Conn) Getenv(name string) string {
	for i := len(c.env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(c.env[i], name+"="); ok {
			return v
		}
	}
	return os.Getenv(name)
}

// TLSAvailable says whether a certificate is configured (TLS_CERTFILE).
func (c *Conn) TLSAvailable() bool { return c.tlsCfg != nil }

// TLS says whether the session is encrypted.
func (c *Conn) TLS() bool { return c.tls }

// StartTLS makes the server's TLS handshake; afterwards c.Conn is the
// *tls.Conn. The caller drops whatever it had read before (RFC 2595 §3.1).
func (c *Conn) StartTLS() error {
	if c.tlsCfg == nil {
		return fmt.Errorf("no TLS certificate is configured (TLS_CERTFILE)")
	}
	if c.tls {
		return fmt.Errorf("TLS is already on")
	}
	tc := tls.Server(c.Conn, c.tlsCfg)
	c.Conn.SetDeadline(time.Now().Add(time.Minute))
	err := tc.Handshake()
	c.Conn.SetDeadline(time.Time{})
	if err != nil {
		return err
	}
	c.Conn, c.tls = tc, true
	return nil
}

// Login asks the root part to check the login and, when it holds, to hand
// the session to the mailbox owner's server.
func (c *Conn) Login(ctx context.Context, r Request) (Result, error) {
	if c.handed {
		return Result{}, fmt.Errorf("the session was handed over already")
	}
	return c.stage.login(ctx, c, r)
}

// Main is the whole of imaplogin and courierpop3login: proto is "imap"
// or "pop3", args are the program's (SERVER [MAILDIRPATH]).
func Main(args []string, proto string, h Handler) int {
	prog := "imaplogin"
	if proto == "pop3" {
		prog = "courierpop3login"
	}
	if len(args) > 1 && (args[1] == "--help" || args[1] == "-h") {
		fmt.Printf(`Usage: %s SERVER [MAILDIRPATH]

The %s login stage, run by couriertcpd (see "%s start"): it answers
the protocol until the client logs in, checks the login with authdaemond,
and hands the session to SERVER (the server after login, e.g. %s)
running as the mailbox owner, with the maildir MAILDIRPATH relative to
the account's home (Maildir when not given; the account's own maildir
wins). It runs as root and does its network work as the mail user.
`, prog, strings.ToUpper(proto), strings.TrimPrefix(serverName(proto), "courier"), serverName(proto))
		return 0
	}
	if os.Getenv(stageEnv) != "" {
		return runStage(prog, proto, h)
	}
	if len(args) < 2 {
		fmt.Fprintf(os.Stderr, "%s: the server program to run after login is missing (usage: %s SERVER [MAILDIRPATH])\n", prog, prog)
		return 2
	}
	return runRoot(prog, proto, args[1:])
}

func serverName(proto string) string {
	if proto == "pop3" {
		return "courierpop3d"
	}
	return "imapd"
}

// copyBoth copies between a and b until either side ends, then closes
// both.
func copyBoth(a, b io.ReadWriteCloser) {
	done := make(chan struct{}, 2)
	go func() { io.Copy(a, b); done <- struct{}{} }()
	go func() { io.Copy(b, a); done <- struct{}{} }()
	<-done
	a.Close()
	b.Close()
	<-done
}
