// Package esmtp owns courieresmtp, the outbound SMTP transport module
// (spec esmtp.md §6, queue-and-courierd.md §3): for each delivery line of
// the scheduler it finds where the domain's mail goes (esmtproutes, else
// MX records, else the domain's own addresses: dns.go), connects, says
// EHLO (the esmtphelo control file, else me), uses STARTTLS when offered
// and ESMTP_USE_STARTTLS is set or the route demands it, authenticates to
// a smarthost listed in esmtpauthclient, sends the envelope pipelined with
// the DSN parameters when the peer takes them (session.go), and records
// each recipient's outcome in the control file (I records with the peer
// and its replies, then S, D or F) before it answers the scheduler.
//
// Callers: cmd/courieresmtp, started by the scheduler (module.esmtp) with
// the courier user's credentials and the courierd environment.
//
// Sessions stay open for the next message to the same host for
// esmtptimeoutkeepalive (pool.go); MAXHOST, which bounds the sessions to
// one domain, is the scheduler's.
//
// Environment: ESMTP_USE_STARTTLS (1: opportunistic STARTTLS),
// ESMTP_TLS_VERIFY_DOMAIN (1: the certificate must match the host name,
// checked against TLS_TRUSTCERTS), TLS_TRUSTSECURITYCERTS (the CA of
// /SECURITY=STARTTLS routes), ESMTP_PREFER_IPV6_MX (1: IPv6 addresses of
// an MX host first) and, ours, ESMTP_RESOLVER (host:port of the DNS server
// to ask instead of /etc/resolv.conf's, for tests and split DNS).
package esmtp

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gocourier/courier/pkg/controlfiles"
	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/pkg/logging"
	"github.com/gocourier/courier/pkg/module"
	"github.com/gocourier/courier/pkg/privsep"
	"github.com/gocourier/courier/pkg/queue"
	"github.com/gocourier/courier/pkg/smtpclient"
)

// Module is the courieresmtp module.
type Module struct {
	Queue          *queue.Queue
	Files          *controlfiles.Files
	Routes         []Route
	Logins         map[string]Credential // esmtpauthclient, by lower-case relay name
	Helo           string
	ConnectTimeout time.Duration       // esmtptimeoutconnect
	Timeouts       smtpclient.Timeouts // esmtptimeouthelo, esmtptimeout, esmtptimeoutdata, esmtptimeoutquit
	StartTLS       bool                // ESMTP_USE_STARTTLS
	VerifyDomain   bool                // ESMTP_TLS_VERIFY_DOMAIN
	PreferIPv6     bool                // ESMTP_PREFER_IPV6_MX
	// BlockBackscatter lists message sources (ESMTP_BLOCKBACKSCATTER,
	// comma-separated; Debian: smtp/dsn) whose mail is not sent: a
	// report about mail that came from an unauthenticated SMTP client is
	// backscatter to a forged sender.
	BlockBackscatter []string
	Getenv           func(string) string // TLS_TRUSTCERTS and friends
	Resolver         *net.Resolver
	Log              *slog.Logger
	idle             pool // open sessions kept for the next message to the same host

	mu     sync.Mutex
	noTLS  map[string]time.Time // hosts whose STARTTLS broke, until when we skip it
	locals map[string]bool      // this host's interface addresses
}

// envOn is the original's atoi(getenv(name)) != 0.
func envOn(v string) bool {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	return err == nil && n != 0
}

// New prepares the module of installation l; getenv gives the courierd
// environment the scheduler passed.
func New(l layout.Layout, getenv func(string) string, log *slog.Logger) (*Module, error) {
	files, err := controlfiles.Load(l.SysconfDir)
	if err != nil {
		return nil, err
	}
	q, err := queue.Open(l.LocalstateDir, queue.Options{Logger: log})
	if err != nil {
		return nil, err
	}
	m := &Module{Queue: q, Files: files, Log: log, Resolver: net.DefaultResolver, Getenv: getenv,
		StartTLS: envOn(getenv("ESMTP_USE_STARTTLS")), VerifyDomain: envOn(getenv("ESMTP_TLS_VERIFY_DOMAIN")),
		PreferIPv6: envOn(getenv("ESMTP_PREFER_IPV6_MX"))}
	for _, src := range strings.Split(getenv("ESMTP_BLOCKBACKSCATTER"), ",") {
		if src != "" {
			m.BlockBackscatter = append(m.BlockBackscatter, src)
		}
	}
	if dns := getenv("ESMTP_RESOLVER"); dns != "" {
		if m.Resolver, err = resolverFor(dns); err != nil {
			return nil, err
		}
	}
	if data, err := os.ReadFile(l.Config("esmtproutes")); err == nil {
		if m.Routes, err = ParseRoutes(l.Config("esmtproutes"), data); err != nil {
			return nil, err
		}
	} else if !os.IsNotExist(err) {
		return nil, err
	}
	if data, err := os.ReadFile(l.Config("esmtpauthclient")); err == nil {
		if m.Logins, err = ParseAuthClient(l.Config("esmtpauthclient"), data); err != nil {
			return nil, err
		}
	} else if !os.IsNotExist(err) {
		return nil, err
	}
	if m.Helo, err = files.Value("esmtphelo", files.Me); err != nil {
		return nil, err
	}
	if m.Helo == "*" {
		// The original asks reverse DNS for the local address; the
		// connection's address is not known yet here, so me stands in.
		m.Helo = files.Me
	}
	// The original's timers and their defaults (spec
	// aliases-and-control-files.md §2).
	for _, t := range []struct {
		dst  *time.Duration
		name string
		def  time.Duration
	}{
		{&m.ConnectTimeout, "esmtptimeoutconnect", time.Minute},
		{&m.Timeouts.Helo, "esmtptimeouthelo", 5 * time.Minute},
		{&m.Timeouts.Command, "esmtptimeout", 10 * time.Minute},
		{&m.Timeouts.Data, "esmtptimeoutdata", 5 * time.Minute},
		{&m.Timeouts.Quit, "esmtptimeoutquit", 10 * time.Second},
		{&m.idle.keep, "esmtptimeoutkeepalive", time.Minute},
		{&m.idle.ping, "esmtptimeoutkeepaliveping", 0},
	} {
		if *t.dst, err = files.Duration(t.name, t.def); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// resolverFor is a resolver that asks the DNS server at addr (host:port).
func resolverFor(addr string) (*net.Resolver, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("ESMTP_RESOLVER=%q: expected the address:port of a DNS server, such as 127.0.0.1:53", addr)
	}
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}, nil
}

// outcome is one recipient's result.
type outcome struct {
	info   []queue.Record
	status queue.Status
	suffix string
	peer   string // for the log
	reply  string // the reply or error that decided, for the log
}

// Handle is the module.Handler: one delivery line, to one domain.
func (m *Module) Handle(ctx context.Context, d module.Delivery) string {
	ctl, err := m.Queue.Load(d.Inode)
	if err != nil {
		m.Log.Error(fmt.Sprintf("id=%s: cannot read the control file, delivery skipped (the scheduler tries again): %v", d.QueueID, err))
		return ""
	}
	var idx []int
	for _, r := range d.Recipients {
		if r.Index >= 0 && r.Index < len(ctl.Recipients) {
			idx = append(idx, r.Index)
		} else {
			m.Log.Error(fmt.Sprintf("id=%s: the scheduler gave recipient %d <%s>, which the control file does not have", ctl.ID, r.Index, r.Address))
		}
	}
	if len(idx) == 0 {
		return ""
	}
	results := m.deliver(ctx, ctl, d, idx)
	now := time.Now()
	var recs []queue.Record
	for i, n := range idx {
		o := results[i]
		recs = append(recs, o.info...)
		addr := ctl.Recipients[n].Address
		where := ""
		if o.peer != "" {
			where = ",relay=" + o.peer
		}
		switch o.status {
		case queue.StatusDelivered:
			recs = append(recs, queue.Delivered(n, now, o.suffix))
			m.Log.Info(fmt.Sprintf("id=%s,from=<%s>,addr=<%s>%s: %s,status: success", ctl.ID, ctl.Sender, addr, where, o.reply))
		case queue.StatusFailed:
			recs = append(recs, queue.Failed(n, now))
			m.Log.Info(fmt.Sprintf("id=%s,from=<%s>,addr=<%s>%s: %s,status: failure", ctl.ID, ctl.Sender, addr, where, o.reply))
		default:
			recs = append(recs, queue.Deferred(n, now))
			m.Log.Info(fmt.Sprintf("id=%s,from=<%s>,addr=<%s>%s: %s,status: deferred", ctl.ID, ctl.Sender, addr, where, o.reply))
		}
	}
	if err := queue.AppendFile(m.Queue.ControlPath(d.Inode), recs...); err != nil {
		m.Log.Error(fmt.Sprintf("id=%s: cannot record the delivery results in the control file %s (the message will be sent again): %v", ctl.ID, m.Queue.ControlPath(d.Inode), err))
	}
	return ""
}

// all gives every recipient the same outcome.
func all(idx []int, status queue.Status, peer, reply string, info func(n int) []queue.Record) []outcome {
	out := make([]outcome, len(idx))
	for i, n := range idx {
		out[i] = outcome{status: status, info: info(n), peer: peer, reply: reply}
	}
	return out
}

// failure is a reason not to deliver: permanent ones fail the recipients,
// others defer them. reply, when set, is recorded as the remote reply
// lines (R records) instead of a connection error (C).
type failure struct {
	msg   string
	perm  bool
	reply []string
	stale bool // no reply to MAIL came, or 421: a kept session the server closed
}

func (e *failure) Error() string { return e.msg }

func permanent(format string, args ...any) *failure {
	return &failure{msg: fmt.Sprintf(format, args...), perm: true}
}

func temporary(format string, args ...any) *failure {
	return &failure{msg: fmt.Sprintf(format, args...)}
}

// deliver delivers the message to the recipients idx of ctl: to each
// host in turn until one takes the transaction.
func (m *Module) deliver(ctx context.Context, ctl *queue.Control, d module.Delivery, idx []int) []outcome {
	if slices.Contains(m.BlockBackscatter, ctl.Source) {
		// As the original: no connection, and success recorded with the
		// reply below, so that the report is neither sent nor bounced.
		const dropped = "250 Backscatter bounce dropped."
		return all(idx, queue.StatusDelivered, "", dropped, func(n int) []queue.Record {
			return []queue.Record{queue.Info(n, queue.InfoReplyType, "smtp"), queue.Info(n, queue.InfoReply, dropped)}
		})
	}
	domain := strings.ToLower(d.Host)
	route, routed := Find(m.Routes, domain)
	if !routed {
		route = Route{}
	}
	if ctl.Security == "STARTTLS" && (route.Security == "" || route.Security == "REQUIRED") {
		// The message's own SECURITY level (sendmail -S STARTTLS, the U
		// record) demands what a /SECURITY=STARTTLS route does.
		route.Security = "STARTTLS"
	}
	targets, err := m.targets(ctx, domain, route)
	if err != nil {
		status := queue.StatusDeferred
		if err.perm {
			status = queue.StatusFailed
		}
		m.Log.Warn(fmt.Sprintf("id=%s: mail for %s: %s", ctl.ID, domain, err.msg))
		return all(idx, status, "", err.msg, func(n int) []queue.Record {
			return []queue.Record{queue.Info(n, queue.InfoConnError, err.msg)}
		})
	}
	var last *failure
	var lastPeer string
	for _, t := range targets {
		res, err := m.session(ctx, ctl, d, idx, t, route)
		if err == nil {
			return res
		}
		peer := t.peer()
		m.Log.Warn(fmt.Sprintf("id=%s: %s: %s", ctl.ID, peer, err.msg))
		if err.perm {
			return all(idx, queue.StatusFailed, peer, err.msg, func(n int) []queue.Record {
				return failRecords(n, peer, err)
			})
		}
		last, lastPeer = err, peer
	}
	return all(idx, queue.StatusDeferred, lastPeer, last.msg, func(n int) []queue.Record {
		return failRecords(n, lastPeer, last)
	})
}

func failRecords(n int, peer string, f *failure) []queue.Record {
	recs := []queue.Record{queue.Info(n, queue.InfoPeer, peer)}
	if f.reply != nil {
		recs = append(recs, queue.Info(n, queue.InfoReplyType, "smtp"))
		for _, l := range f.reply {
			recs = append(recs, queue.Info(n, queue.InfoReply, l))
		}
		return recs
	}
	return append(recs, queue.Info(n, queue.InfoConnError, f.msg))
}

// Main is courieresmtp: the module's loop on the scheduler's pipes, as
// the courier user.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	l := layout.Current()
	if len(args) > 0 {
		if args[0] == "--help" || args[0] == "-h" {
			fmt.Fprintf(stdout, "Usage: courieresmtp\n\nThe esmtp transport module: the scheduler (courierd) runs it and feeds it\ndeliveries (module.esmtp in %s); it sends mail to other hosts over SMTP,\nrouted by esmtproutes, with logins from esmtpauthclient.\n", l.SysconfDir)
			return 0
		}
		fmt.Fprintf(stderr, "courieresmtp: unexpected argument %q (the scheduler starts it without arguments; see --help)\n", args[0])
		return 2
	}
	// Standard error only: the scheduler's, which is the supervisor's,
	// which sends every line to syslog (both would log it twice).
	log := logging.New(logging.Options{Program: "courieresmtp", Stderr: true, Level: slog.LevelInfo})
	if privsep.IsRoot() {
		c, err := privsep.MailCredential(l.MailUser, l.MailGroup)
		if err == nil {
			err = privsep.Drop(c)
		}
		if err != nil {
			log.Error("courieresmtp cannot run as the mail user: " + err.Error())
			return 1
		}
	}
	m, err := New(l, os.Getenv, log)
	if err != nil {
		log.Error("courieresmtp cannot start: " + err.Error())
		return 1
	}
	defer m.idle.close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	opts := module.OptionsFromEnv()
	opts.Logger = log
	if err := module.Serve(ctx, stdin, stdout, opts, m.Handle); err != nil {
		log.Error("reading deliveries from the scheduler: " + err.Error())
		return 1
	}
	return 0
}
