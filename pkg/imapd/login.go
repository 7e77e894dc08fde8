package imapd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/gocourier/courier/pkg/authsasl"
	"github.com/gocourier/courier/pkg/imapd/wire"
	"github.com/gocourier/courier/pkg/login"
)

// pendingEnv carries the bytes a client pipelined after LOGIN or
// AUTHENTICATE to the mailbox owner's server (base64).
const pendingEnv = "IMAPLOGINPENDING"

// maxPending bounds what is carried: a client that pipelines more after
// its login is not served pipelined commands it sent before the login was
// answered (they are read again by the login stage if the login fails).
const maxPending = 16 << 10

// greeting is the original's greeting text after the capability list.
const greeting = "Courier-IMAP ready. Copyright 1998-2022 S. Varshavchik.  See COPYING for distribution information."

// errCommand is the original's answer to any command it does not take
// before login, and to a malformed one.
const errCommand = "NO Error in IMAP command received by server."

// ServeLogin is the pre-login dialogue of imaplogin (spec imap-pop3.md §2,
// §3; the original's imaplogin.C): greeting with capabilities, CAPABILITY,
// NOOP, ID, STARTTLS, LOGIN, AUTHENTICATE, LOGOUT. On a good login the
// session goes to imapd as the mailbox owner, which answers the login's
// tag (IMAPLOGINTAG).
func ServeLogin(c *login.Conn) {
	l := &loginSession{c: c, log: slog.Default()}
	l.run()
}

type loginSession struct {
	c   *login.Conn
	log *slog.Logger
	r   *wire.Reader
	bw  *bufio.Writer
}

func (l *loginSession) startTLSAvailable() bool {
	v := l.c.Getenv("IMAP_STARTTLS")
	return (strings.HasPrefix(v, "y") || strings.HasPrefix(v, "Y")) && l.c.TLSAvailable() && !l.c.TLS()
}

func (l *loginSession) caps() string {
	return strings.Join(capabilities(l.c.Getenv, l.c.TLS(), l.startTLSAvailable()), " ")
}

func (l *loginSession) reply(format string, args ...any) error {
	fmt.Fprintf(l.bw, format+"\r\n", args...)
	return l.bw.Flush()
}

// newReader reads commands from r (the connection, with bytes taken back
// in front of it after a failed login).
func (l *loginSession) newReader(r io.Reader) {
	l.bw = bufio.NewWriter(l.c)
	l.r = wire.NewReader(r, func(text string) error { return l.reply("+ %s", text) }, wire.Limits{MaxLine: 16 << 10, MaxLiteral: 16 << 10, MaxCommandSize: 64 << 10})
}

func (l *loginSession) run() {
	ip := l.c.Getenv("TCPREMOTEIP")
	l.newReader(l.c)
	if l.reply("* OK [CAPABILITY %s] %s", l.caps(), greeting) != nil {
		return
	}
	for {
		l.c.SetReadDeadline(time.Now().Add(login.Idle))
		cmd, err := l.r.ReadCommand()
		var se *wire.SyntaxError
		if errors.As(err, &se) {
			if l.reply("%s BAD %s", se.Tag, se.Msg) != nil {
				return
			}
			continue
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				l.log.Info(fmt.Sprintf("connection from %s ended before login: %v", ip, err))
			}
			return
		}
		l.c.SetReadDeadline(time.Time{})
		done := l.do(cmd)
		cmd.Close()
		if done {
			return
		}
	}
}

// do answers one command; it reports true when the connection is done
// with (logged out, failed, or handed over).
func (l *loginSession) do(cmd *wire.Command) bool {
	tag := cmd.Tag
	switch cmd.Name {
	case "CAPABILITY":
		if len(cmd.Args) > 0 {
			break
		}
		fmt.Fprintf(l.bw, "* CAPABILITY %s\r\n", l.caps())
		return l.reply("%s OK CAPABILITY completed", tag) != nil
	case "NOOP":
		if len(cmd.Args) > 0 {
			break
		}
		return l.reply("%s OK NOOP completed", tag) != nil
	case "ID":
		fmt.Fprintf(l.bw, "* ID %s\r\n", idResponse)
		return l.reply("%s OK ID completed", tag) != nil
	case "LOGOUT":
		if len(cmd.Args) > 0 {
			break
		}
		l.log.Info(fmt.Sprintf("LOGOUT, ip=[%s], port=[%s]", l.c.Getenv("TCPREMOTEIP"), l.c.Getenv("TCPREMOTEPORT")))
		fmt.Fprintf(l.bw, "* BYE Courier-IMAP server shutting down\r\n")
		l.reply("%s OK LOGOUT completed", tag)
		return true
	case "STARTTLS":
		if !l.startTLSAvailable() || len(cmd.Args) > 0 {
			break
		}
		if l.reply("%s OK Begin SSL/TLS negotiation now.", tag) != nil {
			return true
		}
		// RFC 9051 §6.2.1: what the client sent after STARTTLS in
		// the clear is not taken.
		if err := l.c.StartTLS(); err != nil {
			l.log.Info(fmt.Sprintf("STARTTLS with %s failed: %v", l.c.Getenv("TCPREMOTEIP"), err))
			return true
		}
		l.newReader(l.c)
		return false
	case "LOGIN":
		if l.tlsRequired() {
			return l.reply("%s NO STARTTLS required", tag) != nil
		}
		if len(cmd.Args) != 2 {
			break
		}
		user, ok1 := cmd.Args[0].AString()
		pass, ok2 := cmd.Args[1].AString()
		if !ok1 || !ok2 {
			break
		}
		if user == "" || strings.ContainsAny(user+pass, "\n\x00") {
			return l.fail(tag)
		}
		return l.login(tag, "login", user+"\n"+pass+"\n")
	case "AUTHENTICATE":
		if l.tlsRequired() {
			return l.reply("%s NO STARTTLS required", tag) != nil
		}
		if len(cmd.Args) < 1 || len(cmd.Args) > 2 || cmd.Args[0].Kind != wire.Atom {
			break
		}
		var initial *string
		if len(cmd.Args) == 2 {
			s, ok := cmd.Args[1].AString()
			if !ok {
				break
			}
			initial = &s
		}
		host, _ := os.Hostname()
		authType, authData, err := authsasl.Exchange(cmd.Args[0].Text, initial, host, func(challenge []byte) (string, error) {
			if err := l.reply("+ %s", base64.StdEncoding.EncodeToString(challenge)); err != nil {
				return "", err
			}
			return l.r.ReadLine()
		})
		if err != nil {
			l.log.Info(fmt.Sprintf("LOGIN FAILED, method=%s, ip=[%s], port=[%s]: %v", strings.ToUpper(cmd.Args[0].Text), l.c.Getenv("TCPREMOTEIP"), l.c.Getenv("TCPREMOTEPORT"), err))
			if errors.Is(err, io.EOF) || errors.Is(err, os.ErrDeadlineExceeded) {
				return true
			}
			return l.fail(tag)
		}
		return l.login(tag, authType, authData)
	}
	return l.reply("%s %s", tag, errCommand) != nil
}

// tlsRequired is IMAP_TLS_REQUIRED before STARTTLS.
func (l *loginSession) tlsRequired() bool {
	return l.startTLSAvailable() && l.c.Getenv("IMAP_TLS_REQUIRED") == "1"
}

// fail answers a failed login after the original's delay; the connection
// stays.
func (l *loginSession) fail(tag string) bool {
	time.Sleep(login.FailDelay)
	return l.reply("%s NO Login failed.", tag) != nil
}

// login hands the credentials to the root part; it reports true when the
// connection is done with.
func (l *loginSession) login(tag, authType, authData string) bool {
	env := []string{"IMAPLOGINTAG=" + tag}
	var pending []byte
	if l.r.Buffered() > 0 {
		pending = l.r.Pending()
		if len(pending) <= maxPending {
			env = append(env, pendingEnv+"="+base64.StdEncoding.EncodeToString(pending))
		}
	}
	res, err := l.c.Login(context.Background(), login.Request{AuthType: authType, AuthData: authData, Env: env})
	if len(pending) > 0 && !res.OK {
		l.newReader(io.MultiReader(bytes.NewReader(pending), l.c))
	}
	switch {
	case err != nil || res.Temporary:
		if err != nil {
			l.log.Error(fmt.Sprintf("a login from %s could not be checked: %v", l.c.Getenv("TCPREMOTEIP"), err))
		}
		l.reply("* BYE Temporary problem, please try again later")
		return true
	case res.OK:
		return true
	case res.Disabled:
		l.reply("* BYE IMAP access disabled for this account.")
		return true
	case res.Insecure:
		l.reply("* BYE IMAP access disabled via insecure connection.")
		return true
	}
	return l.fail(tag)
}

// idResponse is the server's answer to ID (RFC 2971).
const idResponse = `("name" "Courier-IMAP" "vendor" "gocourier")`
