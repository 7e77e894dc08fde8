package pop3d

import (
	"bufio"
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
	"github.com/gocourier/courier/pkg/login"
)

// maxLoginLine bounds a command line before login (the original reads
// 1024 bytes).
const maxLoginLine = 1024

// ServeLogin is the pre-login dialogue of courierpop3login (spec
// imap-pop3.md §4; the original's pop3login.C): greeting, CAPA, STLS,
// USER/PASS, AUTH, UTF8, QUIT. On a good login the session goes to
// courierpop3d as the mailbox owner.
func ServeLogin(c *login.Conn) {
	l := &loginSession{c: c, log: slog.Default().With("ip", c.Getenv("TCPREMOTEIP"))}
	l.run()
}

type loginSession struct {
	c      *login.Conn
	log    *slog.Logger
	br     *bufio.Reader
	user   string
	utf8   bool // the client sent UTF8 (RFC 6856)
	handed bool // the session belongs to courierpop3d now
}

func (l *loginSession) printf(format string, args ...any) error {
	_, err := fmt.Fprintf(l.c, format, args...)
	return err
}

// tlsRequired is POP3_TLS_REQUIRED on a connection without TLS.
func (l *loginSession) tlsRequired() bool {
	return envInt(l.c.Getenv, "POP3_TLS_REQUIRED") != 0 && !l.c.TLS()
}

// haveSTLS is POP3_STARTTLS=YES with a certificate, before TLS.
func (l *loginSession) haveSTLS() bool {
	v := l.c.Getenv("POP3_STARTTLS")
	return (strings.HasPrefix(v, "y") || strings.HasPrefix(v, "Y")) && l.c.TLSAvailable() && !l.c.TLS()
}

func (l *loginSession) run() {
	ip, port := l.c.Getenv("TCPREMOTEIP"), l.c.Getenv("TCPREMOTEPORT")
	l.br = bufio.NewReader(l.c)
	if l.printf("+OK Hello there.\r\n") != nil {
		return
	}
	for {
		l.c.SetReadDeadline(time.Now().Add(login.Idle))
		line, _, err := readLine(l.br, maxLoginLine)
		if errors.Is(err, errLineTooLong) {
			if l.printf("-ERR Command line too long.\r\n") != nil {
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
		cmd := ParseCommand(line)
		switch {
		case cmd.Verb == "QUIT":
			l.log.Info(fmt.Sprintf("LOGOUT, ip=[%s], port=[%s]", ip, port))
			l.printf("+OK Better luck next time.\r\n")
			return
		case cmd.Verb == "UTF8":
			l.utf8 = true
			err = l.printf("+OK UTF8 enabled\r\n")
		case cmd.Verb == "CAPA":
			err = l.printf("%s", capa(l.c.Getenv, l.c.TLS(), l.haveSTLS()))
		case cmd.Verb == "STLS":
			if !l.haveSTLS() {
				err = l.printf("-ERR TLS support not available.\r\n")
				break
			}
			if err = l.printf("+OK Begin SSL/TLS negotiation now.\r\n"); err != nil {
				return
			}
			if err := l.c.StartTLS(); err != nil {
				l.log.Info(fmt.Sprintf("STLS with %s failed: %v", ip, err))
				return
			}
			// RFC 2595 §4: what the client sent before TLS is
			// dropped, and so is the USER it gave.
			l.br, l.user = bufio.NewReader(l.c), ""
		case cmd.Verb == "USER" && cmd.Rest != "":
			if l.tlsRequired() {
				err = l.printf("-ERR TLS required to log in.\r\n")
				break
			}
			l.user = cmd.Rest
			err = l.printf("+OK Password required.\r\n")
		case cmd.Verb == "PASS":
			if l.user == "" || cmd.Rest == "" {
				err = l.printf("-ERR USER/PASS required.\r\n")
				break
			}
			if strings.ContainsAny(l.user+cmd.Rest, "\n\x00") {
				err = l.fail("Login failed.")
				break
			}
			if !l.login("login", l.user+"\n"+cmd.Rest+"\n", "Login failed.") || l.handed {
				return
			}
			continue
		case cmd.Verb == "AUTH" && len(cmd.Args) > 0:
			if l.tlsRequired() {
				err = l.printf("-ERR TLS required to log in.\r\n")
				break
			}
			if !l.auth(cmd.Args) || l.handed {
				return
			}
			continue
		default:
			err = l.printf("-ERR Invalid command.\r\n")
		}
		if err != nil {
			return
		}
	}
}

// fail answers a failed login after the original's delay.
func (l *loginSession) fail(text string) error {
	time.Sleep(login.FailDelay)
	return l.printf("-ERR %s\r\n", text)
}

// auth runs AUTH mechanism [initial-response] (RFC 5034). It reports
// false when the connection is to end.
func (l *loginSession) auth(args []string) bool {
	mech := strings.ToUpper(args[0])
	var initial *string
	if len(args) > 1 {
		initial = &args[1]
	}
	host, _ := os.Hostname()
	authType, authData, err := authsasl.Exchange(mech, initial, host, func(challenge []byte) (string, error) {
		if err := l.printf("+ %s\r\n", base64.StdEncoding.EncodeToString(challenge)); err != nil {
			return "", err
		}
		line, _, err := readLine(l.br, maxLoginLine)
		return line, err
	})
	if err != nil {
		ip, port := l.c.Getenv("TCPREMOTEIP"), l.c.Getenv("TCPREMOTEPORT")
		l.log.Info(fmt.Sprintf("LOGIN FAILED, method=%s, ip=[%s], port=[%s]: %v", mech, ip, port, err))
		if errors.Is(err, authsasl.ErrAborted) {
			return l.printf("-ERR Authentication aborted.\r\n") == nil
		}
		if errors.Is(err, io.EOF) || errors.Is(err, os.ErrDeadlineExceeded) {
			return false
		}
		return l.fail("Authentication failed.") == nil
	}
	return l.login(authType, authData, "Authentication failed.")
}

// login hands the credentials to the root part. It reports false when the
// connection is to end; a session handed over sets l.handed.
func (l *loginSession) login(authType, authData, failText string) bool {
	utf8 := "0"
	if l.utf8 {
		utf8 = "1"
	}
	res, err := l.c.Login(context.Background(), login.Request{AuthType: authType, AuthData: authData, Env: []string{"UTF8=" + utf8}})
	switch {
	case err != nil || res.Temporary:
		if err != nil {
			l.log.Error(fmt.Sprintf("login of %s from %s could not be checked: %v", l.user, l.c.Getenv("TCPREMOTEIP"), err))
		}
		l.printf("-ERR Temporary problem, please try again later\r\n")
		return false
	case res.OK:
		l.handed = true
		return true
	case res.Disabled:
		l.printf("-ERR POP3 access disabled for this account.\r\n")
		return false
	case res.Insecure:
		l.printf("-ERR POP3 access disabled via insecure connection.\r\n")
		return false
	}
	return l.fail(failText) == nil
}
