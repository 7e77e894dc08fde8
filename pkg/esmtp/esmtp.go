// Package esmtp owns courieresmtp, the outbound SMTP transport module
// (spec esmtp.md §6, queue-and-courierd.md §3): for each delivery line of
// the scheduler it finds where the domain's mail goes (esmtproutes, else
// MX records, else the domain's own addresses), connects, says EHLO (the
// esmtphelo control file, else me), uses STARTTLS when offered, sends the
// envelope pipelined with the DSN parameters when the peer takes them, and
// records each recipient's outcome in the control file (I records with the
// peer and its replies, then S, D or F) before it answers the scheduler.
//
// Callers: cmd/courieresmtp, started by the scheduler (module.esmtp).
//
// With an esmtpauthclient line for the host (its name in esmtproutes or
// the MX record), the module authenticates after STARTTLS with the
// strongest mechanism both sides know: CRAM-MD5, then PLAIN, then LOGIN.
//
// 8-bit mail to a server without 8BITMIME is converted to quoted-printable
// (pkg/rfc2045); mail that cannot be converted fails with the reason.
//
// Sessions stay open for the next message to the same host for
// esmtptimeoutkeepalive (pool.go).
//
// Not yet implemented (issue #7): certificate verification
// (ESMTP_TLS_VERIFY_DOMAIN, TLS_TRUSTCERTS); STARTTLS is opportunistic and
// unverified.
package esmtp

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"net"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/gocourier/courier/pkg/address"
	"github.com/gocourier/courier/pkg/controlfiles"
	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/pkg/logging"
	"github.com/gocourier/courier/pkg/module"
	"github.com/gocourier/courier/pkg/privsep"
	"github.com/gocourier/courier/pkg/queue"
	"github.com/gocourier/courier/pkg/rfc2045"
	"github.com/gocourier/courier/pkg/smtpclient"
)

// Module is the courieresmtp module.
type Module struct {
	Queue          *queue.Queue
	Files          *controlfiles.Files
	Routes         []Route
	Logins         map[string]Credential // esmtpauthclient, by lower-case relay name
	Helo           string
	ConnectTimeout time.Duration
	Timeout        time.Duration // each reply (esmtptimeout)
	DataTimeout    time.Duration
	StartTLS       bool // ESMTP_USE_STARTTLS
	idle           pool // open sessions kept for the next message to the same host
	Log            *slog.Logger
	Resolver       *net.Resolver
}

// New prepares the module of installation l.
func New(l layout.Layout, log *slog.Logger) (*Module, error) {
	files, err := controlfiles.Load(l.SysconfDir)
	if err != nil {
		return nil, err
	}
	q, err := queue.Open(l.LocalstateDir, queue.Options{Logger: log})
	if err != nil {
		return nil, err
	}
	m := &Module{Queue: q, Files: files, Log: log, Resolver: net.DefaultResolver, StartTLS: os.Getenv("ESMTP_USE_STARTTLS") != "0"}
	if dns := os.Getenv("ESMTP_RESOLVER"); dns != "" {
		// Ours: the DNS server to ask instead of /etc/resolv.conf's.
		if _, _, err := net.SplitHostPort(dns); err != nil {
			return nil, fmt.Errorf("ESMTP_RESOLVER=%q: expected address:port of a DNS server", dns)
		}
		m.Resolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, dns)
		}}
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
	if m.idle.keep, err = files.Duration("esmtptimeoutkeepalive", time.Minute); err != nil {
		return nil, err
	}
	if m.Helo, err = files.Value("esmtphelo", files.Me); err != nil {
		return nil, err
	}
	for _, t := range []struct {
		dst  *time.Duration
		name string
		def  time.Duration
	}{{&m.ConnectTimeout, "esmtptimeoutconnect", time.Minute}, {&m.Timeout, "esmtptimeout", 10 * time.Minute}, {&m.DataTimeout, "esmtptimeoutdata", 5 * time.Minute}} {
		if *t.dst, err = files.Duration(t.name, t.def); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// outcome is one recipient's result.
type outcome struct {
	info   []queue.Record
	status queue.Status
	suffix string
}

// Handle is the module.Handler: one delivery line, to one domain.
func (m *Module) Handle(ctx context.Context, d module.Delivery) string {
	ctl, err := m.Queue.Load(d.Inode)
	if err != nil {
		m.Log.Error(fmt.Sprintf("id=%s: cannot read the control file, delivery skipped: %v", d.QueueID, err))
		return ""
	}
	var idx []int
	for _, r := range d.Recipients {
		if r.Index >= 0 && r.Index < len(ctl.Recipients) {
			idx = append(idx, r.Index)
		}
	}
	results := m.deliver(ctx, ctl, d, idx)
	now := time.Now()
	var recs []queue.Record
	for i, n := range idx {
		o := results[i]
		recs = append(recs, o.info...)
		addr := ctl.Recipients[n].Address
		switch o.status {
		case queue.StatusDelivered:
			recs = append(recs, queue.Delivered(n, now, o.suffix))
			m.Log.Info(fmt.Sprintf("id=%s,from=<%s>,addr=<%s>,status: success", ctl.ID, ctl.Sender, addr))
		case queue.StatusFailed:
			recs = append(recs, queue.Failed(n, now))
			m.Log.Info(fmt.Sprintf("id=%s,from=<%s>,addr=<%s>: %s,status: failure", ctl.ID, ctl.Sender, addr, why(o.info)))
		default:
			recs = append(recs, queue.Deferred(n, now))
			m.Log.Info(fmt.Sprintf("id=%s,from=<%s>,addr=<%s>: %s,status: deferred", ctl.ID, ctl.Sender, addr, why(o.info)))
		}
	}
	if err := queue.AppendFile(m.Queue.ControlPath(d.Inode), recs...); err != nil {
		m.Log.Error(fmt.Sprintf("id=%s: cannot record the delivery results in the control file: %v", ctl.ID, err))
	}
	return ""
}

// why is the last reply or connection error of a result, for the log.
func why(info []queue.Record) string {
	for i := len(info) - 1; i >= 0; i-- {
		line := info[i].String()
		if f := strings.SplitN(line, " ", 3); len(f) == 3 && (f[1] == string(queue.InfoReply) || f[1] == string(queue.InfoConnError)) {
			return f[2]
		}
	}
	return "no reply"
}

// all gives every recipient the same outcome.
func all(n int, status queue.Status, info func(i int) []queue.Record) []outcome {
	out := make([]outcome, n)
	for i := range out {
		out[i] = outcome{status: status, info: info(i)}
	}
	return out
}

// target is one host to try.
type target struct {
	name  string // for the log and the DSN's Remote-MTA
	addr  string // ip:port
	smtps bool
}

// deliver delivers the message to the recipients idx of ctl.
func (m *Module) deliver(ctx context.Context, ctl *queue.Control, d module.Delivery, idx []int) []outcome {
	domain := d.Host
	route, routed := Find(m.Routes, domain)
	targets, perm, err := m.targets(ctx, domain, route, routed)
	if err != nil {
		status := queue.StatusDeferred
		if perm {
			status = queue.StatusFailed
		}
		m.Log.Warn(fmt.Sprintf("id=%s: %s: %v", ctl.ID, domain, err))
		return all(len(idx), status, func(i int) []queue.Record {
			return []queue.Record{queue.Info(idx[i], queue.InfoConnError, err.Error())}
		})
	}
	var lastErr error
	for _, t := range targets {
		res, err := m.session(ctx, ctl, d, idx, t, route)
		if err == nil {
			return res
		}
		var pe *permanentError
		if errors.As(err, &pe) {
			return all(len(idx), queue.StatusFailed, func(i int) []queue.Record {
				return []queue.Record{queue.Info(idx[i], queue.InfoPeer, t.name), queue.Info(idx[i], queue.InfoConnError, err.Error())}
			})
		}
		m.Log.Warn(fmt.Sprintf("id=%s: %s (%s): %v", ctl.ID, t.name, t.addr, err))
		lastErr = fmt.Errorf("%s: %w", t.name, err)
	}
	return all(len(idx), queue.StatusDeferred, func(i int) []queue.Record {
		return []queue.Record{queue.Info(idx[i], queue.InfoConnError, lastErr.Error())}
	})
}

// permanentError fails the recipients instead of deferring them.
type permanentError struct{ msg string }

func (e *permanentError) Error() string { return e.msg }

// targets lists the hosts to try, in order. perm says an error is final.
func (m *Module) targets(ctx context.Context, domain string, r Route, routed bool) ([]target, bool, error) {
	port := 25
	if routed && r.Port != 0 {
		port = r.Port
	}
	smtps := routed && r.Security == "SMTPS"
	host := domain
	if routed && r.Relay != "" {
		host = r.Relay
		if strings.HasPrefix(host, "[") {
			ip := host[1 : len(host)-1]
			return []target{{name: host, addr: net.JoinHostPort(ip, strconv.Itoa(port)), smtps: smtps}}, false, nil
		}
	}
	mxs, err := m.Resolver.LookupMX(ctx, host)
	var names []string
	var dnsErr *net.DNSError
	switch {
	case err == nil && len(mxs) > 0:
		sort.SliceStable(mxs, func(i, j int) bool { return mxs[i].Pref < mxs[j].Pref })
		// Equal preferences in random order (RFC 5321 5.1).
		for i := 0; i < len(mxs); {
			j := i
			for j < len(mxs) && mxs[j].Pref == mxs[i].Pref {
				j++
			}
			rand.Shuffle(j-i, func(a, b int) { mxs[i+a], mxs[i+b] = mxs[i+b], mxs[i+a] })
			i = j
		}
		for _, mx := range mxs {
			name := strings.TrimSuffix(mx.Host, ".")
			// RFC 1035 3.3.9: an MX names a host, never an address.
			if net.ParseIP(strings.Trim(name, "[]")) != nil {
				return nil, true, fmt.Errorf("the MX record of %s names the IP address %s instead of a host name (RFC 1035): ask the domain's administrator to fix it", host, name)
			}
			names = append(names, name)
		}
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound, err == nil:
		names = []string{host} // no MX: the domain's own addresses (RFC 5321 5.1)
	default:
		return nil, false, fmt.Errorf("DNS lookup of %s failed: %v", host, err)
	}
	var out []target
	for _, n := range names {
		addrs, err := m.Resolver.LookupIPAddr(ctx, n)
		if err != nil {
			if errors.As(err, &dnsErr) && dnsErr.IsNotFound && len(names) == 1 {
				return nil, true, fmt.Errorf("no such domain: %s has no MX and no address", n)
			}
			continue
		}
		for _, a := range addrs {
			if m.Files.Rules.InLocals(mustDomain(n)) || isLocalIP(a.IP) && port == 25 && !routed {
				return nil, true, fmt.Errorf("mail for %s loops back to this host (%s)", domain, n)
			}
			out = append(out, target{name: n, addr: net.JoinHostPort(a.IP.String(), strconv.Itoa(port)), smtps: smtps})
		}
	}
	if len(out) == 0 {
		return nil, false, fmt.Errorf("no address found for the mail servers of %s (%s)", domain, strings.Join(names, ", "))
	}
	return out, false, nil
}

func mustDomain(n string) address.Domain {
	d, _ := address.ParseDomain(n)
	return d
}

func isLocalIP(ip net.IP) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return true
		}
	}
	return false
}

// session delivers over one connection. An error means "try the next
// host" (or, as *permanentError, fail); per-recipient refusals are results.
func (m *Module) session(ctx context.Context, ctl *queue.Control, d module.Delivery, idx []int, t target, r Route) ([]outcome, error) {
	tlsNeeded := r.Security == "STARTTLS" || r.Security == "REQUIRED"
	key := t.addr + " " + t.name + " " + r.Security
	c := m.idle.get(key)
	if c == nil {
		var err error
		if c, err = m.connect(ctx, t, tlsNeeded); err != nil {
			return nil, err
		}
	}
	res, err := m.transaction(c, ctl, d, idx, t, r, tlsNeeded)
	if err != nil {
		c.Close()
		return res, err
	}
	m.idle.put(key, c)
	return res, nil
}

// connect opens a session to t: connection, greeting, EHLO, STARTTLS
// and AUTH as configured.
func (m *Module) connect(ctx context.Context, t target, tlsNeeded bool) (*smtpclient.Client, error) {
	dialer := net.Dialer{Timeout: m.ConnectTimeout}
	conn, err := dialer.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, err
	}
	if t.smtps {
		tc := tls.Client(conn, &tls.Config{ServerName: strings.Trim(t.name, "[]"), InsecureSkipVerify: true})
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("TLS handshake (SMTPS): %w", err)
		}
		conn = tc
	}
	c, err := smtpclient.New(conn, m.Timeout)
	if err != nil {
		conn.Close()
		return nil, err
	}
	peer := peerName(t)
	fail := func(err error) (*smtpclient.Client, error) {
		c.Quit()
		return nil, err
	}
	if err := c.Hello(m.Helo); err != nil {
		return fail(err)
	}
	if !c.TLS && c.Has("STARTTLS") && (m.StartTLS || tlsNeeded) {
		if err := c.StartTLS(&tls.Config{ServerName: t.name, InsecureSkipVerify: true}); err != nil {
			if tlsNeeded {
				return fail(&permanentError{fmt.Sprintf("%s: STARTTLS failed and the route demands TLS: %v", peer, err)})
			}
			return fail(err)
		}
		if err := c.Hello(m.Helo); err != nil {
			return fail(err)
		}
	}
	if cred, ok := m.Logins[strings.ToLower(t.name)]; ok {
		if err := m.login(c, cred); err != nil {
			return fail(fmt.Errorf("%s: %w (check %s's line in esmtpauthclient)", peer, err, cred.Relay))
		}
	}
	return c, nil
}

func peerName(t target) string {
	return fmt.Sprintf("%s [%s]", t.name, strings.Trim(hostOf(t.addr), "[]"))
}

// transaction sends one message over an open session.
func (m *Module) transaction(c *smtpclient.Client, ctl *queue.Control, d module.Delivery, idx []int, t target, r Route, tlsNeeded bool) ([]outcome, error) {
	peer := peerName(t)
	if tlsNeeded && !c.TLS {
		return nil, &permanentError{fmt.Sprintf("%s does not offer STARTTLS, and the route to it in esmtproutes demands TLS (/SECURITY=%s); the message was not sent in clear", peer, r.Security)}
	}
	data, err := os.Open(m.Queue.DataPath(d.Inode))
	if err != nil {
		return nil, err
	}
	defer data.Close()
	var body io.Reader = data
	size := int64(-1)
	if st, err := data.Stat(); err == nil {
		size = st.Size()
	}
	eightBit := ctl.EightBit
	if eightBit && !c.Has("8BITMIME") {
		// RFC 6152 3: convert for a server without 8BITMIME.
		var buf bytes.Buffer
		if err := rfc2045.To7bit(&buf, data); err != nil {
			return nil, &permanentError{fmt.Sprintf("%s does not take 8-bit mail (no 8BITMIME) and the message cannot be converted to 7 bits: %v", peer, err)}
		}
		body, size, eightBit = &buf, int64(buf.Len()), false
	}
	dsn := c.Has("DSN")
	params := ""
	if size >= 0 && c.Has("SIZE") {
		params += " SIZE=" + strconv.FormatInt(size, 10)
	}
	if c.Has("8BITMIME") {
		if eightBit {
			params += " BODY=8BITMIME"
		} else {
			params += " BODY=7BIT"
		}
	}
	if dsn {
		switch ctl.Ret {
		case "F":
			params += " RET=FULL"
		case "H":
			params += " RET=HDRS"
		}
		if ctl.EnvID != "" {
			params += " ENVID=" + ctl.EnvID
		}
	}
	rcpts := make([]string, len(idx))
	rparams := make([]string, len(idx))
	for i, n := range idx {
		rs := ctl.Recipients[n]
		rcpts[i] = rs.Address
		if dsn {
			if rs.Notify != 0 {
				rparams[i] += " NOTIFY=" + rs.Notify.String()
			}
			if rs.ORCPT != "" {
				// RFC 3461 4.2: addr-type ";" xtext; the R record may hold the
				// address alone.
				typ, a, ok := strings.Cut(rs.ORCPT, ";")
				if !ok || strings.ContainsAny(typ, "@ ") {
					typ, a = "rfc822", rs.ORCPT
				}
				rparams[i] += " ORCPT=" + typ + ";" + address.XtextEncode(a)
			}
		}
	}
	out := make([]outcome, len(idx))
	base := func(i int) []queue.Record {
		return []queue.Record{queue.Info(idx[i], queue.InfoPeer, peer), queue.Info(idx[i], queue.InfoReplyType, "smtp")}
	}
	mr, replies, err := c.Transaction(ctl.Sender, params, rcpts, rparams)
	if err != nil {
		return nil, err
	}
	if mr.Code != 250 {
		st := statusOf(mr.Code)
		return all(len(idx), st, func(i int) []queue.Record {
			return append(append(base(i), queue.Info(idx[i], queue.InfoSent, "MAIL FROM:<"+ctl.Sender+">"+params)), replyRecords(idx[i], mr)...)
		}), nil
	}
	accepted := 0
	for i, rr := range replies {
		out[i].info = append(base(i), queue.Info(idx[i], queue.InfoSent, "RCPT TO:<"+rcpts[i]+">"+rparams[i]))
		if rr.Code/100 == 2 {
			accepted++
			continue
		}
		out[i].info = append(out[i].info, replyRecords(idx[i], rr)...)
		out[i].status = statusOf(rr.Code)
	}
	if accepted == 0 {
		return out, nil
	}
	c.Timeout = m.DataTimeout
	dr, err := c.Data(body)
	c.Timeout = m.Timeout
	if err != nil {
		var se *smtpclient.Error
		if !errors.As(err, &se) {
			return nil, err
		}
		dr = se.Reply
	}
	suffix := queue.SuccessRelayedDSN
	if !dsn {
		suffix = queue.SuccessRelayed
	}
	for i, rr := range replies {
		if rr.Code/100 != 2 {
			continue
		}
		out[i].info = append(out[i].info, queue.Info(idx[i], queue.InfoSent, "DATA"))
		out[i].info = append(out[i].info, replyRecords(idx[i], dr)...)
		if dr.Code/100 == 2 {
			out[i].status, out[i].suffix = queue.StatusDelivered, suffix
		} else {
			out[i].status = statusOf(dr.Code)
		}
	}
	return out, nil
}

// login authenticates with the best mechanism the server offers.
func (m *Module) login(c *smtpclient.Client, cred Credential) error {
	offered := map[string]bool{}
	for _, mech := range strings.Fields(strings.ToUpper(c.Ext["AUTH"])) {
		offered[mech] = true
	}
	switch {
	case offered["CRAM-MD5"]:
		return c.Auth(smtpclient.CRAMMD5{User: cred.User, Password: cred.Password})
	case offered["PLAIN"]:
		return c.Auth(sasl.NewPlainClient("", cred.User, cred.Password))
	case offered["LOGIN"]:
		return c.Auth(sasl.NewLoginClient(cred.User, cred.Password))
	}
	return fmt.Errorf("no AUTH mechanism in common (the server offers %q; we know CRAM-MD5, PLAIN, LOGIN)", c.Ext["AUTH"])
}

func hostOf(addr string) string {
	h, _, _ := net.SplitHostPort(addr)
	return h
}

func statusOf(code int) queue.Status {
	if code >= 500 {
		return queue.StatusFailed
	}
	return queue.StatusDeferred
}

func replyRecords(n int, r smtpclient.Reply) []queue.Record {
	var out []queue.Record
	for _, l := range strings.Split(r.String(), "\n") {
		out = append(out, queue.Info(n, queue.InfoReply, l))
	}
	return out
}

// Main is courieresmtp: the module's loop on the scheduler's pipes, as
// the courier user.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	l := layout.Current()
	if len(args) > 0 && (args[0] == "--help" || args[0] == "-h") {
		fmt.Fprintf(stdout, "Usage: courieresmtp\n\nThe esmtp transport module: the scheduler (courierd) runs it and feeds it\ndeliveries (module.esmtp in %s); it sends mail to other hosts over SMTP.\n", l.SysconfDir)
		return 0
	}
	log := logging.New(logging.Options{Program: "courieresmtp", Syslog: true, Stderr: true, Level: slog.LevelInfo})
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
	m, err := New(l, log)
	if err != nil {
		log.Error("courieresmtp cannot start: " + err.Error())
		return 1
	}
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
