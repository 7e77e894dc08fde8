// Package smtpd owns courieresmtpd, the SMTP server (spec esmtp.md §1-5),
// built on github.com/emersion/go-smtp. It runs behind couriertcpd as the
// mail user, either once per connection (exec mode: the connection on
// standard input and output, the per-connection variables in the
// environment) or as one long-running process that couriertcpd hands
// every connection to (pass mode, pkg/tcpd/handoff). Per-connection
// settings (RELAYCLIENT, BLOCK, TCPREMOTEIP, ...) are always read from the
// connection's environment.
//
// It decides at RCPT TO what the original's submit decides: BLOCK, the
// syntax and the local addresses (pkg/submit Check), unknown local users
// (local.Verifier through authdaemond), the backscatter list (pkg/track),
// relaying (RELAYCLIENT, AUTH, esmtpacceptmailfor), and queues accepted
// mail through pkg/submit, which is on disk and fsynced before the 250.
//
// Differences from the original that come from go-smtp: replies that
// go-smtp writes itself (EHLO's list, RSET, NOOP, QUIT, syntax errors,
// "235 2.0.0 Authentication succeeded", "354 Go ahead") carry go-smtp's
// texts and enhanced status codes; EHLO lists go-smtp's capabilities
// (ENHANCEDSTATUSCODES, CHUNKING) rather than XVERP and XEXDATA; MAIL
// parameters go-smtp does not know (VERP, SECURITY) are refused instead of
// ignored. Replies this package chooses use the original's codes and
// texts. AUTH offers PLAIN and LOGIN (CRAM-* are not offered).
package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/gocourier/courier/pkg/address"
	"github.com/gocourier/courier/pkg/authlib"
	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/pkg/local"
	"github.com/gocourier/courier/pkg/queue"
	"github.com/gocourier/courier/pkg/submit"
	"github.com/gocourier/courier/pkg/tcpd/handoff"
	"github.com/gocourier/courier/pkg/track"
)

// Service is the authdaemond service name of SMTP AUTH.
const Service = "esmtp"

// Daemon is what every session shares.
type Daemon struct {
	Layout   layout.Layout
	Submit   *submit.Submitter
	Verifier *local.Verifier
	Auth     *authlib.Client
	Track    *track.Tracker
	TLS      *tls.Config // nil: no certificate, no STARTTLS
	Me       string
	Greeting []string
	MaxRcpts int  // bofh maxrcpts; 0 for none
	HardMax  bool // maxrcpts ... hard: 5xx instead of 452
	Log      *slog.Logger
}

// Main is courieresmtpd.
func Main(args []string, stdin, stdout, stderr *os.File) int {
	if len(args) > 0 && (args[0] == "--help" || args[0] == "-h") {
		fmt.Fprintln(stdout, "Usage: courieresmtpd\n\nThe SMTP server. couriertcpd runs it (see esmtpd); it takes no arguments.")
		return 0
	}
	log := slog.New(slog.NewTextHandler(stderr, nil)).With("program", "courieresmtpd")
	d, err := Open(layout.Current(), log)
	if err != nil {
		log.Error("cannot start: " + err.Error())
		return 1
	}
	l, pass, err := handoff.Listen()
	if err != nil {
		log.Error(err.Error())
		return 1
	}
	var ln net.Listener = l
	if !pass {
		c, err := handoff.Stdio()
		if err != nil {
			log.Error(err.Error())
			return 1
		}
		ln = handoff.OneConnListener(c)
	}
	if os.Getenv("ESMTP_TLS") == "1" {
		if d.TLS == nil {
			log.Error("ESMTP_TLS=1 (SMTPS) but there is no certificate: set TLS_CERTFILE to a readable PEM file (mkesmtpdcert makes one)")
			return 1
		}
		ln = tls.NewListener(ln, d.TLS)
	}
	srv := d.Server()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, smtp.ErrServerClosed) {
		log.Error(err.Error())
		return 1
	}
	return 0
}

// Open prepares the daemon of the installation l from the environment
// (the esmtpd configuration) and the control files.
func Open(l layout.Layout, log *slog.Logger) (*Daemon, error) {
	sub, err := submit.Open(l)
	if err != nil {
		return nil, err
	}
	files := sub.Files()
	v, err := local.NewVerifier(l, files, os.Environ())
	if err != nil {
		return nil, err
	}
	d := &Daemon{Layout: l, Submit: sub, Verifier: v, Auth: authlib.NewClient(), Track: track.Open(l.LocalstateDir), Log: log}
	d.Me = files.Me
	if g, err := files.Value("esmtpgreeting", ""); err == nil && strings.TrimSpace(g) != "" {
		d.Greeting = strings.Split(strings.TrimSpace(g), "\n")
	}
	if cert := os.Getenv("TLS_CERTFILE"); cert != "" {
		if _, err := os.Stat(cert); err == nil {
			kp, err := tls.LoadX509KeyPair(cert, cert)
			if err != nil {
				return nil, fmt.Errorf("TLS_CERTFILE=%s: %v", cert, err)
			}
			d.TLS = &tls.Config{Certificates: []tls.Certificate{kp}, MinVersion: tls.VersionTLS12}
		}
	}
	if d.MaxRcpts, d.HardMax, err = readBofh(l.Config("bofh")); err != nil {
		return nil, err
	}
	return d, nil
}

// Server is the go-smtp server of the daemon.
func (d *Daemon) Server() *smtp.Server {
	s := smtp.NewServer(d)
	s.Domain = d.Me
	s.TLSConfig = d.TLS
	s.AllowInsecureAuth = true // which mechanisms are offered before TLS is ESMTPAUTH's business
	s.EnableDSN = true
	s.ReadTimeout = 10 * time.Minute
	s.WriteTimeout = 10 * time.Minute
	s.MaxLineLength = 2000
	s.ErrorLog = slogPrinter{d.Log}
	return s
}

type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Printf(f string, v ...interface{}) { p.l.Warn(fmt.Sprintf(f, v...)) }
func (p slogPrinter) Println(v ...interface{})          { p.l.Warn(fmt.Sprintln(v...)) }

// environ is a connection's environment (handoff.Conn).
type environ interface {
	Getenv(string) string
	LookupEnv(string) (string, bool)
}

// envConn finds the per-connection environment under TLS and exec-mode
// wrappers.
func envConn(c net.Conn) environ {
	for {
		switch x := c.(type) {
		case environ:
			return x
		case *tls.Conn:
			c = x.NetConn()
		default:
			return osEnv{}
		}
	}
}

type osEnv struct{}

func (osEnv) Getenv(n string) string            { return os.Getenv(n) }
func (osEnv) LookupEnv(n string) (string, bool) { return os.LookupEnv(n) }

// NewSession implements smtp.Backend.
func (d *Daemon) NewSession(c *smtp.Conn) (smtp.Session, error) {
	env := envConn(c.Conn())
	s := &session{d: d, c: c, env: env, ip: env.Getenv("TCPREMOTEIP")}
	if s.ip == "" {
		if a, ok := c.Conn().RemoteAddr().(*net.TCPAddr); ok {
			s.ip = a.IP.String()
		}
	}
	return s, nil
}

// session is one SMTP connection.
type session struct {
	d   *Daemon
	c   *smtp.Conn
	env environ
	ip  string

	authUser, authMech string
	from               string
	mailOpts           *smtp.MailOptions
	rcpts              []queue.Recipient
}

func (s *session) relayClient() bool {
	_, set := s.env.LookupEnv("RELAYCLIENT")
	return set || s.authUser != ""
}

func reply(code int, text string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.NoEnhancedCode, Message: text}
}

// replyLine turns "550 text" into an SMTP error.
func replyLine(line string) *smtp.SMTPError {
	if len(line) >= 4 {
		if code, err := strconv.Atoi(line[:3]); err == nil && code >= 400 && code < 600 {
			return reply(code, strings.TrimSpace(line[4:]))
		}
	}
	return reply(550, line)
}

func (s *session) authRequired() error {
	if s.authUser == "" && s.env.Getenv("AUTH_REQUIRED") == "1" {
		return reply(535, "Authentication required.")
	}
	return nil
}

func (s *session) tlsRequired() error {
	if _, ok := s.c.TLSConnectionState(); !ok && s.env.Getenv("ESMTP_TLS_REQUIRED") == "1" {
		return reply(400, "STARTTLS is required first.")
	}
	return nil
}

// Mail implements smtp.Session.
func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	if err := s.tlsRequired(); err != nil {
		return err
	}
	if err := s.authRequired(); err != nil {
		return err
	}
	if opts != nil && opts.Size > 0 {
		if lim := s.d.Submit.SizeLimit(); lim > 0 && opts.Size > lim {
			return reply(534, "SIZE=Message too big.")
		}
	}
	if from != "" {
		if _, err := address.ParseAddress(from, false); err != nil {
			return reply(513, "Syntax error.")
		}
	}
	s.from, s.mailOpts, s.rcpts = from, opts, nil
	return nil
}

// Rcpt implements smtp.Session.
func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	if b := s.env.Getenv("BLOCK"); b != "" {
		s.d.Log.Info(fmt.Sprintf("RCPT TO:<%s> from %s refused: BLOCK is set (access file or block list)", to, s.ip))
		return replyLine(b)
	}
	if s.d.MaxRcpts > 0 && len(s.rcpts) >= s.d.MaxRcpts {
		if s.d.HardMax {
			return reply(513, "Too many recipients.")
		}
		return reply(452, "Too many recipients.")
	}
	res, err := s.d.Submit.Check("esmtp", to)
	if err != nil {
		var se *submit.Error
		if errors.As(err, &se) {
			return reply(se.Code, se.Text)
		}
		s.d.Log.Error(fmt.Sprintf("RCPT TO:<%s> from %s: %v", to, s.ip, err))
		return reply(432, "Service temporarily unavailable.")
	}
	if res.Local {
		if !res.Alias {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if r := s.d.Verifier.Verify(ctx, res.Address); r != "" {
				return replyLine(r)
			}
		}
	} else if !s.relayClient() {
		a, perr := address.ParseAddress(res.Address, false)
		if perr != nil || !s.d.Submit.Files().Rules.AcceptsMailFor(a.Domain) {
			s.d.Log.Info(fmt.Sprintf("RCPT TO:<%s> from %s refused: relaying denied (no RELAYCLIENT, no AUTH)", to, s.ip))
			return reply(513, "Relaying denied.")
		}
	}
	if kind, listed := s.d.Track.Lookup(res.Address, time.Now()); listed {
		if kind == track.Failed {
			return reply(556, "Address unavailable.")
		}
		return reply(456, "Address temporarily unavailable.")
	}
	r := queue.Recipient{Address: to}
	if opts != nil {
		for _, n := range opts.Notify {
			nn, err := address.ParseNotify(string(n))
			if err == nil {
				r.Notify |= nn
			}
		}
		if opts.OriginalRecipient != "" {
			r.ORCPT = strings.ToLower(string(opts.OriginalRecipientType)) + ";" + opts.OriginalRecipient
		}
	}
	s.rcpts = append(s.rcpts, r)
	return nil
}

// Data implements smtp.Session: the message is queued, and the reply is
// the original's "250 Ok. <time>.<pid>" part of the queue id.
func (s *session) Data(r io.Reader) error {
	env := queue.Envelope{Sender: s.from, Recipients: s.rcpts, Source: "smtp", AuthUser: s.authUser}
	if s.relayClient() {
		env.Source = "authsmtp"
	}
	helo := s.c.Hostname()
	host := s.env.Getenv("TCPREMOTEHOST")
	if host != "" && host != "softdnserr" {
		env.ReceivedFrom = fmt.Sprintf("dns; %s (%s [%s])", helo, host, s.ip)
	} else {
		env.ReceivedFrom = fmt.Sprintf("dns; %s ([%s])", helo, s.ip)
	}
	if o := s.mailOpts; o != nil {
		env.EightBit = o.Body == smtp.Body8BitMIME
		env.EnvID = o.EnvelopeID
		switch o.Return {
		case smtp.DSNReturnFull:
			env.Ret = "F"
		case smtp.DSNReturnHeaders:
			env.Ret = "H"
		}
	}
	with := "ESMTP"
	var info []string
	if s.authUser != "" {
		info = append(info, "AUTH: "+s.authMech+" "+s.authUser)
	}
	if cs, ok := s.c.TLSConnectionState(); ok {
		info = append(info, "TLS: "+describeTLS(cs))
		with += "S"
	}
	if s.authUser != "" {
		with += "A"
	}
	trace := &submit.Trace{With: with, Ident: strings.Join(info, ", ")}
	id, err := s.d.Submit.Submit(&submit.Message{Module: "esmtp", Envelope: env, Trace: trace, AddHeaders: true}, r)
	if err != nil {
		var se *submit.Error
		if errors.As(err, &se) {
			return reply(se.Code, se.Text)
		}
		s.d.Log.Error(fmt.Sprintf("message from %s (<%s>) not queued: %v", s.ip, s.from, err))
		return reply(432, "Service temporarily unavailable.")
	}
	s.d.Log.Info(fmt.Sprintf("queued %s from %s <%s>, %d recipients", id, s.ip, s.from, len(s.rcpts)))
	return reply(250, "Ok. "+id.Short())
}

// Reset implements smtp.Session.
func (s *session) Reset() { s.from, s.mailOpts, s.rcpts = "", nil, nil }

// Logout implements smtp.Session.
func (s *session) Logout() error { return nil }

// describeTLS is the TLS part of the Received line, in the original's
// style: "TLS1.3,256bits,AES_256_GCM_SHA384".
func describeTLS(cs tls.ConnectionState) string {
	v := strings.ReplaceAll(tls.VersionName(cs.Version), " ", "")
	name := tls.CipherSuiteName(cs.CipherSuite)
	bits := "128"
	if strings.Contains(name, "256") || strings.Contains(name, "CHACHA20") {
		bits = "256"
	}
	name = strings.TrimPrefix(strings.TrimPrefix(name, "TLS_"), "ECDHE_")
	return v + "," + bits + "bits," + strings.ReplaceAll(name, "_WITH_", "_")
}
