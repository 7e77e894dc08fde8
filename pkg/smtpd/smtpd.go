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
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/gocourier/courier/pkg/authlib"
	"github.com/gocourier/courier/pkg/bofh"
	"github.com/gocourier/courier/pkg/config"
	"github.com/gocourier/courier/pkg/controlfiles"
	"github.com/gocourier/courier/pkg/inflow"
	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/pkg/local"
	"github.com/gocourier/courier/pkg/logging"
	"github.com/gocourier/courier/pkg/submit"
	"github.com/gocourier/courier/pkg/tcpd/handoff"
	"github.com/gocourier/courier/pkg/tlsconf"
	"github.com/gocourier/courier/pkg/track"
)

// Service is the authdaemond service name of SMTP AUTH.
const Service = "esmtp"

// MaxLine bounds a command line and a line of message data.
const MaxLine = 1 << 20

// Daemon is the configuration every session shares: a snapshot of the
// control files and of the process's environment, taken by Open.
type Daemon struct {
	Layout   layout.Layout
	Log      *slog.Logger
	Files    *controlfiles.Files
	Submit   *submit.Submitter
	Verifier *local.Verifier
	Auth     *authlib.Client
	Track    *track.Tracker
	Bofh     *bofh.Rules
	// TLS is the server's TLS configuration (TLS_CERTFILE); nil when no
	// certificate is readable, and then STARTTLS is not offered.
	TLS *tls.Config
	// SMTPS: every connection starts with a TLS handshake (ESMTP_TLS=1,
	// esmtpd-ssl).
	SMTPS bool
	// Banner is the greeting, one element per line (control file
	// esmtpgreeting, default "<me> ESMTP").
	Banner []string
	// SizeLimit is the control file sizelimit (default 10485760, 0 for
	// none); SIZELIMIT in a connection's environment overrides it.
	SizeLimit int64
	// Timeout is how long the server waits for a command or data
	// (control file esmtptimeout, default 10 minutes).
	Timeout time.Duration
	// Resolver answers the BOFHCHECKDNS lookups (ESMTP_RESOLVER names the
	// DNS server, else the system's).
	Resolver *net.Resolver
	// TarpitDelay is the first delay of an error reply under TARPIT=1,
	// doubled after each one up to 16 times it (the original: 8 s to 128 s).
	TarpitDelay time.Duration
	// Inflow holds each MAIL FROM for up to InflowDelay while the
	// scheduler is full (ESMTP_INFLOWDELAY, default 1 s; 0: never).
	Inflow      *inflow.Gate
	InflowDelay time.Duration
	lookupEnv   func(string) (string, bool)
	// busy counts the messages being received (DATA to its reply), across
	// reloads, so that SIGTERM lets them finish.
	busy *atomic.Int64
}

// Main is courieresmtpd: pass mode when couriertcpd started it with a
// hand-off socket, else exec mode on standard input and output.
func Main(args []string, stdin, stdout, stderr *os.File) int {
	if len(args) > 0 {
		if args[0] == "--help" || args[0] == "-h" {
			fmt.Fprint(stdout, `Usage: courieresmtpd

The SMTP server. couriertcpd runs it with the esmtpd configuration in its
environment (see esmtpd, esmtpd-msa, esmtpd-ssl): either once per connection,
with the connection on standard input and output, or once for all connections,
which couriertcpd passes to it. It takes no arguments. SIGHUP rereads the
control files and the configuration of new connections.
`)
			return 0
		}
		fmt.Fprintf(stderr, "courieresmtpd: unexpected argument %q (see courieresmtpd --help)\n", args[0])
		return 2
	}
	log := logging.New(logging.Options{Program: "courieresmtpd", Stderr: true, Writer: stderr, Level: slog.LevelInfo})
	d, err := Open(layout.Current(), os.LookupEnv, log)
	if err != nil {
		log.Error("cannot start: " + err.Error())
		return 1
	}
	l, pass, err := handoff.Listen()
	if err != nil {
		log.Error("cannot read the connections couriertcpd passes: " + err.Error())
		return 1
	}
	// SIGTERM (couriertcpd stopping): no new connections, and the
	// messages being received may finish.
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM, syscall.SIGINT)
	stopped := make(chan struct{})
	var stopping atomic.Bool
	go func() {
		sig := <-term
		stopping.Store(true)
		if l != nil {
			l.Close()
		}
		n := d.drain(9 * time.Second)
		log.Info(fmt.Sprintf("%v: stopping (%d messages still being received were cut off)", sig, n))
		close(stopped)
		if !pass {
			os.Exit(0)
		}
	}()
	if !pass {
		c, err := handoff.Stdio()
		if err != nil {
			log.Error("exec mode: " + err.Error())
			return 1
		}
		return exitCode(log, d.Serve(handoff.OneConnListener(c)))
	}
	// One process holds every session, each with its own short-lived
	// buffers while the live heap stays small: a GC target of half the
	// live heap instead of Go's default of all of it keeps the server's
	// memory near what the sessions use, for little CPU. GOGC in the
	// configuration file's environment still decides when it is set.
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(50)
	}
	srv := &reloader{log: log, cur: new(atomic.Pointer[Daemon])}
	srv.cur.Store(d)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go srv.reload(hup)
	err = srv.serve(l, &stopping)
	if errors.Is(err, errStopped) {
		<-stopped
		return 0
	}
	return exitCode(log, err)
}

func exitCode(log *slog.Logger, err error) int {
	if err != nil {
		log.Error(err.Error())
		return 1
	}
	return 0
}

// reloader serves pass mode with the Daemon of the moment: SIGHUP opens a
// new one for the connections that follow.
type reloader struct {
	log *slog.Logger
	cur *atomic.Pointer[Daemon]
}

func (r *reloader) reload(hup <-chan os.Signal) {
	for range hup {
		old := r.cur.Load()
		d, err := Open(old.Layout, old.lookupEnv, r.log)
		if err != nil {
			r.log.Error("SIGHUP: the configuration was not reloaded, the old one stays in use: " + err.Error())
			continue
		}
		d.busy = old.busy
		r.cur.Store(d)
		r.log.Info("SIGHUP: configuration reloaded")
		// The old alias databases are closed once the sessions that were
		// using them have most likely ended (a straggler reopens them).
		time.AfterFunc(time.Minute, func() { old.Submit.Close() })
	}
}

// errStopped: the listener was closed for SIGTERM.
var errStopped = errors.New("stopped")

func (r *reloader) serve(l net.Listener, stopping *atomic.Bool) error {
	for {
		c, err := l.Accept()
		if err != nil {
			if stopping.Load() {
				return errStopped
			}
			if errors.Is(err, net.ErrClosed) {
				r.log.Info("couriertcpd closed the hand-off socket: stopping")
				return nil
			}
			return fmt.Errorf("accepting a connection from couriertcpd: %w", err)
		}
		go r.cur.Load().ServeConn(c)
	}
}

// Serve serves every connection of l until l is closed.
func (d *Daemon) Serve(l net.Listener) error {
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go d.ServeConn(c)
	}
}

// ServeConn starts one SMTP session on c (a *handoff.Conn, or any
// net.Conn whose environment is the process's), which closes c at its
// end. The session runs in a goroutine of go-smtp's; ServeConn returns
// once it has started.
func (d *Daemon) ServeConn(c net.Conn) {
	cc := d.newConn(c)
	if cc == nil {
		return
	}
	srv := d.server()
	srv.Serve(&oneConn{c: cc})
}

// drain waits until no message is being received, at most timeout, and
// returns how many still are.
func (d *Daemon) drain(timeout time.Duration) int64 {
	end := time.Now().Add(timeout)
	for d.busy.Load() > 0 && time.Now().Before(end) {
		time.Sleep(20 * time.Millisecond)
	}
	return d.busy.Load()
}

// Open prepares the daemon of the installation l. lookupEnv is the
// process's environment (the esmtpd configuration), os.LookupEnv in
// courieresmtpd.
func Open(l layout.Layout, lookupEnv func(string) (string, bool), log *slog.Logger) (*Daemon, error) {
	rules, err := bofh.Load(l.Config("bofh"))
	if err != nil {
		return nil, err
	}
	d := &Daemon{Layout: l, Log: log, Auth: authlib.NewClient(), Track: track.Open(l.LocalstateDir), Bofh: rules,
		lookupEnv: lookupEnv, TarpitDelay: 8 * time.Second, busy: new(atomic.Int64)}
	d.Track.Logger = log
	d.Auth.Socket = filepath.Join(l.AuthdaemonVar, "socket")
	procEnv := d.getenv
	// Submit sees the process's environment with the bofh options as
	// defaults; the size limit is enforced here, per connection.
	d.Submit, err = submit.OpenOptions(l, submit.Options{Logger: log, Getenv: func(name string) string {
		if name == "SIZELIMIT" {
			return "0"
		}
		return procEnv(name)
	}})
	if err != nil {
		return nil, err
	}
	if d.Files, err = d.Submit.Files(); err != nil {
		return nil, err
	}
	if d.Verifier, err = local.NewVerifier(l, d.Files, os.Environ()); err != nil {
		return nil, err
	}
	if d.SizeLimit, err = d.Files.Int("sizelimit", 10485760); err != nil {
		return nil, err
	}
	if v := procEnv("SIZELIMIT"); v != "" {
		if d.SizeLimit, err = strconv.ParseInt(v, 10, 64); err != nil || d.SizeLimit < 0 {
			return nil, fmt.Errorf("environment variable SIZELIMIT=%q is not a number of bytes", v)
		}
	}
	if d.Timeout, err = d.Files.Duration("esmtptimeout", 10*time.Minute); err != nil {
		return nil, err
	}
	if d.Banner, err = readBanner(l.Config("esmtpgreeting"), d.Files.Rules.Me.ASCII()); err != nil {
		return nil, err
	}
	smtps := procEnv("ESMTP_TLS") != "" && procEnv("ESMTP_TLS") != "0"
	if d.TLS, err = tlsconf.Server(procEnv, !smtps); err != nil {
		return nil, err
	}
	if d.Resolver, err = resolver(procEnv("ESMTP_RESOLVER")); err != nil {
		return nil, err
	}
	d.Inflow, d.InflowDelay = inflow.NewGate(l.LocalstateDir), time.Second
	if v := strings.TrimSpace(procEnv("ESMTP_INFLOWDELAY")); v != "" {
		if d.InflowDelay, err = config.ParseDuration(v); err != nil {
			return nil, fmt.Errorf("environment variable ESMTP_INFLOWDELAY=%q: %w", v, err)
		}
	}
	if smtps {
		if d.TLS == nil {
			return nil, errors.New("ESMTP_TLS=1 (SMTPS) but there is no certificate: set TLS_CERTFILE to a readable PEM file with the key and the certificate (mkesmtpdcert makes one)")
		}
		d.SMTPS = true
	}
	return d, nil
}

// getenv reads the process's environment, then the bofh file's "opt"
// lines, which apply only to variables the environment does not set.
func (d *Daemon) getenv(name string) string {
	if v, ok := d.lookupEnv(name); ok {
		return v
	}
	v, _ := d.Bofh.Opt(name)
	return v
}

// readBanner reads esmtpgreeting: every line is a line of the 220 reply.
func readBanner(path, me string) ([]string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return []string{me + " ESMTP"}, nil
	}
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(strings.ReplaceAll(string(data), "\r", ""), "\n"), "\n") {
		lines = append(lines, strings.TrimRight(l, " \t"))
	}
	if len(lines) == 1 && lines[0] == "" {
		return []string{me + " ESMTP"}, nil
	}
	return lines, nil
}

// resolver is the DNS client of the sender checks: the system's, or the
// server named by ESMTP_RESOLVER (host:port).
func resolver(addr string) (*net.Resolver, error) {
	if addr == "" {
		return net.DefaultResolver, nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("ESMTP_RESOLVER=%q: expected the address:port of a DNS server, such as 127.0.0.1:53", addr)
	}
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, network, addr)
	}}, nil
}

// server is the go-smtp server of one connection. Per-connection servers
// cost one small allocation and let each connection have its own settings.
func (d *Daemon) server() *smtp.Server {
	s := smtp.NewServer(d)
	s.Domain = d.Files.Rules.Me.ASCII()
	if !d.SMTPS {
		s.TLSConfig = d.TLS
	}
	// Which mechanisms are offered before TLS is ESMTPAUTH's business.
	s.AllowInsecureAuth = true
	s.EnableDSN = true
	s.EnableSMTPUTF8 = true
	s.ReadTimeout = d.Timeout
	s.WriteTimeout = d.Timeout
	s.MaxLineLength = MaxLine
	s.ErrorLog = slogPrinter{d.Log}
	return s
}

type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Printf(f string, v ...any) { p.l.Warn(strings.TrimSpace(fmt.Sprintf(f, v...))) }
func (p slogPrinter) Println(v ...any)          { p.l.Warn(strings.TrimSpace(fmt.Sprintln(v...))) }

// oneConn is a listener that yields one connection, then reports itself
// closed, so that a per-connection go-smtp server returns at once and
// leaves the session to the goroutine it started for it (a goroutine
// waiting for the session's end would cost every session its stack).
type oneConn struct {
	c    *clientConn
	used bool
}

func (o *oneConn) Accept() (net.Conn, error) {
	if !o.used {
		o.used = true
		return o.c, nil
	}
	return nil, net.ErrClosed
}
func (o *oneConn) Close() error   { return nil }
func (o *oneConn) Addr() net.Addr { return o.c.LocalAddr() }

// environ is a connection's environment: *handoff.Conn has it.
type environ interface {
	LookupEnv(string) (string, bool)
}

// clientConn is one client connection as go-smtp sees it: the plain
// connection (or the TLS connection over it for SMTPS), its environment,
// and the greeting, which replaces go-smtp's own.
type clientConn struct {
	net.Conn
	raw     net.Conn
	env     environ
	tls     *tls.Conn // SMTPS
	banner  []byte
	greeted bool

	// The replies written since the last read (see Write), and the
	// write deadline last set.
	outMu    sync.Mutex
	out      []byte
	deadline time.Time

	// The first HELO or EHLO command, seen in the bytes go-smtp reads
	// (go-smtp does not say which one the client used): ehlo says it
	// was EHLO, for the Received line's "with".
	heloSeen bool
	ehlo     bool
	head     []byte
}

// Read sends the replies written so far, then reads; it watches the
// client's commands until its first HELO or EHLO.
func (c *clientConn) Read(b []byte) (int, error) {
	if err := c.flush(); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(b)
	if !c.heloSeen {
		c.sniff(b[:n])
	}
	return n, err
}

func (c *clientConn) sniff(p []byte) {
	for _, ch := range p {
		if ch == '\n' {
			c.head = c.head[:0]
			continue
		}
		if len(c.head) < 5 {
			c.head = append(c.head, ch)
			if v := strings.ToUpper(string(c.head)); v == "HELO " || v == "EHLO " {
				c.heloSeen, c.ehlo, c.head = true, v == "EHLO ", nil
				return
			}
		}
	}
}

// newConn prepares c; nil when the connection was refused at once (TLS
// required but not available).
func (d *Daemon) newConn(c net.Conn) *clientConn {
	cc := &clientConn{Conn: c, raw: c, env: osEnv{}}
	if e, ok := c.(environ); ok {
		cc.env = e
	}
	var b strings.Builder
	for i, l := range d.Banner {
		sep := "-"
		if i == len(d.Banner)-1 {
			sep = " "
		}
		b.WriteString("220" + sep + l + "\r\n")
	}
	cc.banner = []byte(b.String())
	if d.SMTPS {
		cc.tls = tls.Server(c, d.TLS)
		cc.Conn = cc.tls
		return cc
	}
	if v, _ := cc.env.LookupEnv("ESMTP_TLS_REQUIRED"); v != "" && v != "0" && d.TLS == nil {
		ip, _ := cc.env.LookupEnv("TCPREMOTEIP")
		d.Log.Error("connection from " + ip + " closed: ESMTP_TLS_REQUIRED is set but there is no certificate (TLS_CERTFILE)")
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "440 TLS not available,  but it's required for this connection.\r\n")
		c.Close()
		return nil
	}
	return cc
}

// Write keeps replies until the server reads again, so that the replies
// to pipelined commands, and the lines of one reply (go-smtp writes each
// line by itself), leave in one segment and one system call (RFC 2920
// §3.2: the server may buffer the replies to a group of commands, and
// must not wait for more input before sending them: Read sends them
// before it waits). It sends the greeting in place of go-smtp's, which is
// always the first thing it writes.
func (c *clientConn) Write(b []byte) (int, error) {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	if !c.greeted {
		c.greeted = true
		if len(b) >= 4 && string(b[:4]) == "220 " {
			c.out = append(c.out, c.banner...)
			return len(b), nil
		}
	}
	c.out = append(c.out, b...)
	return len(b), nil
}

// flush sends the replies kept by Write.
func (c *clientConn) flush() error {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	if len(c.out) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.out)
	c.out = c.out[:0]
	if cap(c.out) > 4096 {
		c.out = nil // a long reply's buffer is not kept for the session
	}
	return err
}

// SetWriteDeadline and SetDeadline send the replies kept first when the
// deadline comes sooner than the one they were written under: crypto/tls
// sets a near deadline for its closing alert, then one of now to stop
// writing.
func (c *clientConn) SetWriteDeadline(t time.Time) error {
	c.sooner(t)
	return c.Conn.SetWriteDeadline(t)
}

func (c *clientConn) SetDeadline(t time.Time) error {
	c.sooner(t)
	return c.Conn.SetDeadline(t)
}

func (c *clientConn) sooner(t time.Time) {
	c.outMu.Lock()
	soon := !t.IsZero() && (c.deadline.IsZero() || t.Before(c.deadline))
	c.deadline = t
	c.outMu.Unlock()
	if soon {
		c.flush()
	}
}

func (c *clientConn) Close() error {
	c.flush()
	err := c.Conn.Close()
	if c.tls != nil {
		// Closing the TLS connection closes the raw one too; a
		// *handoff.Conn must see its own Close to tell couriertcpd.
		c.raw.Close()
	}
	return err
}

type osEnv struct{}

func (osEnv) LookupEnv(n string) (string, bool) { return os.LookupEnv(n) }
