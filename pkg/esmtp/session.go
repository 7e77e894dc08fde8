package esmtp

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/gocourier/courier/pkg/address"
	"github.com/gocourier/courier/pkg/module"
	"github.com/gocourier/courier/pkg/queue"
	"github.com/gocourier/courier/pkg/rfc2045"
	"github.com/gocourier/courier/pkg/smtpclient"
)

// brokenTLSPenalty is how long a host whose STARTTLS failed is spoken to
// in clear; the original keeps such hosts for two to four hours.
const brokenTLSPenalty = 3 * time.Hour

// unicodeRefusal is the reply recorded for a message that needs SMTPUTF8
// (8-bit headers or addresses) when the peer does not offer it; the last
// line is the original's (spec esmtp.md §6, observed).
var unicodeRefusal = []string{
	"553-This message has international (UTF-8) addresses or headers, and",
	"553-the receiving mail server does not announce SMTPUTF8 (RFC 6531).",
	"553 Unable to deliver Unicode E-mail to a non-Unicode mail server.",
}

// session delivers over one connection to t, kept or new. A failure
// means "try the next host" (or, when permanent, fail the recipients);
// per-recipient refusals are outcomes.
func (m *Module) session(ctx context.Context, ctl *queue.Control, d module.Delivery, idx []int, t target, r Route) ([]outcome, *failure) {
	key := t.addr + " " + t.name + " " + r.Security
	connectTo := strings.ToLower(d.Host)
	if r.Relay != "" {
		connectTo = strings.ToLower(r.Relay)
	}
	c := m.idle.get(key)
	if c != nil {
		res, f := m.transaction(c, ctl, d, idx, t)
		if f == nil {
			m.idle.put(key, c)
			return res, nil
		}
		c.Close()
		if !f.stale {
			return nil, f
		}
		// The server closed the kept session meanwhile (RFC 5321 3.8):
		// nothing was delivered, so a new connection tries again.
	}
	c, f := m.connect(ctx, t, r, connectTo)
	if f != nil {
		return nil, f
	}
	res, f := m.transaction(c, ctl, d, idx, t)
	if f != nil {
		c.Close()
		return nil, f
	}
	m.idle.put(key, c)
	return res, nil
}

// connectError says what went wrong with a connection, for the admin and
// the DSN.
func connectError(what string, err error) *failure {
	var se *smtpclient.Error
	if errors.As(err, &se) {
		return &failure{msg: what + ": " + strings.ReplaceAll(se.Reply.String(), "\n", " "), perm: false, reply: strings.Split(se.Reply.String(), "\n")}
	}
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return temporary("%s: Connection refused", what)
	case errors.As(err, &ne) && ne.Timeout():
		return temporary("%s: timed out (see the esmtptimeout* control files)", what)
	case errors.Is(err, io.EOF):
		return temporary("%s: the server closed the connection", what)
	}
	return temporary("%s: %v", what, err)
}

// connect opens a session to t: connection, greeting, EHLO, STARTTLS
// and AUTH as configured.
func (m *Module) connect(ctx context.Context, t target, r Route, connectTo string) (*smtpclient.Client, *failure) {
	dialer := net.Dialer{Timeout: m.ConnectTimeout}
	conn, err := dialer.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, connectError("cannot connect", err)
	}
	if t.smtps {
		cfg, f := m.tlsConfig(t.name, false, m.VerifyDomain)
		if f != nil {
			conn.Close()
			return nil, f
		}
		tc := tls.Client(conn, cfg)
		hctx, cancel := context.WithTimeout(ctx, m.Timeouts.Helo)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			conn.Close()
			return nil, temporary("TLS handshake (/SECURITY=SMTPS) failed: %v", err)
		}
		conn = tc
	}
	c, err := smtpclient.New(conn, m.Timeouts)
	if err != nil {
		conn.Close()
		return nil, connectError("greeting", err)
	}
	c.TLS = t.smtps
	fail := func(f *failure) (*smtpclient.Client, *failure) {
		c.Quit()
		return nil, f
	}
	if err := c.Hello(m.Helo); err != nil {
		return fail(connectError("EHLO "+m.Helo, err))
	}
	if !c.TLS {
		switch {
		case r.Security == "REQUIRED" && !c.Has("STARTTLS"):
			return fail(permanent("/SECURITY=REQUIRED set, but TLS is not available (%s does not offer STARTTLS, and the route in esmtproutes demands TLS, so the message was not sent in clear)", t.peer()))
		case r.Security == "STARTTLS" && !c.Has("STARTTLS"):
			return fail(permanent("/SECURITY set, but TLS is not available (%s does not offer STARTTLS, and the route in esmtproutes or the message's SECURITY=STARTTLS demands TLS, so the message was not sent in clear)", t.peer()))
		}
		mustTLS := r.Security == "REQUIRED" || r.Security == "STARTTLS"
		if c.Has("STARTTLS") && (mustTLS || m.StartTLS && !m.brokenTLS(t.name)) {
			verify := m.VerifyDomain || r.Security == "STARTTLS"
			cfg, f := m.tlsConfig(t.name, r.Security == "STARTTLS", verify)
			if f != nil {
				return fail(f)
			}
			if err := c.StartTLS(cfg); err != nil {
				c.Close()
				if mustTLS || verify {
					return nil, temporary("STARTTLS with %s failed, and TLS is required (esmtproutes /SECURITY or ESMTP_TLS_VERIFY_DOMAIN): %v", t.peer(), err)
				}
				// Opportunistic TLS that breaks: speak to this host in
				// clear for a while, as the original does.
				m.markBrokenTLS(t.name)
				m.Log.Warn(fmt.Sprintf("%s: STARTTLS failed (%v); sending in clear to this host for the next %v", t.peer(), err, brokenTLSPenalty))
				return m.connect(ctx, t, r, connectTo)
			}
			if err := c.Hello(m.Helo); err != nil {
				return fail(connectError("EHLO after STARTTLS", err))
			}
		}
	}
	cred, ok := m.Logins[connectTo]
	if !ok {
		cred, ok = m.Logins[strings.ToLower(t.name)]
	}
	if ok {
		if !c.Has("AUTH") {
			m.Log.Warn(fmt.Sprintf("%s: esmtpauthclient has a login for %s, but the server does not offer AUTH; sending without it", t.peer(), cred.Relay))
		} else if err := m.login(c, cred); err != nil {
			return fail(temporary("AUTH to %s failed: %v (check the line for %s in esmtpauthclient)", t.peer(), err, cred.Relay))
		}
	}
	return c, nil
}

func (m *Module) brokenTLS(host string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	until, ok := m.noTLS[host]
	return ok && time.Now().Before(until)
}

func (m *Module) markBrokenTLS(host string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.noTLS == nil {
		m.noTLS = map[string]time.Time{}
	}
	m.noTLS[host] = time.Now().Add(brokenTLSPenalty)
}

// transaction sends one message over an open session. A failure means
// the session is unusable.
func (m *Module) transaction(c *smtpclient.Client, ctl *queue.Control, d module.Delivery, idx []int, t target) ([]outcome, *failure) {
	peer := t.peer()
	base := func(n int) []queue.Record {
		return []queue.Record{queue.Info(n, queue.InfoPeer, peer), queue.Info(n, queue.InfoReplyType, "smtp")}
	}
	if ctl.SMTPUTF8 && !c.Has("SMTPUTF8") {
		// The original refuses before MAIL (spec esmtp.md §6).
		return all(idx, queue.StatusFailed, peer, unicodeRefusal[len(unicodeRefusal)-1], func(n int) []queue.Record {
			recs := base(n)
			for _, l := range unicodeRefusal {
				recs = append(recs, queue.Info(n, queue.InfoReply, l))
			}
			return recs
		}), nil
	}
	data, err := os.Open(m.Queue.DataPath(d.Inode))
	if err != nil {
		return all(idx, queue.StatusDeferred, peer, err.Error(), func(n int) []queue.Record {
			return []queue.Record{queue.Info(n, queue.InfoConnError, "cannot read the message: "+err.Error())}
		}), nil
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
			msg := fmt.Sprintf("%s does not take 8-bit mail (no 8BITMIME), and the message cannot be converted to 7 bits: %v", peer, err)
			return all(idx, queue.StatusFailed, peer, msg, func(n int) []queue.Record {
				return append(base(n), queue.Info(n, queue.InfoConnError, msg))
			}), nil
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
	if ctl.SMTPUTF8 {
		params += " SMTPUTF8"
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
	mr, replies, dr, err := c.TransactionData(ctl.Sender, params, rcpts, rparams)
	if err != nil {
		f := connectError("MAIL/RCPT", err)
		f.stale = mr.Code == 0 || mr.Code == 421
		return nil, f
	}
	if mr.Code == 421 {
		// The server closes the session (a kept one may have timed out).
		return nil, &failure{msg: "MAIL: " + oneLine(mr), stale: true, reply: strings.Split(mr.String(), "\n")}
	}
	if mr.Code != 250 {
		if dr.Code == 354 {
			c.Body(nil) // a server that opened DATA without recipients
		}
		return all(idx, statusOf(mr.Code), peer, oneLine(mr), func(n int) []queue.Record {
			return append(append(base(n), queue.Info(n, queue.InfoSent, "MAIL FROM:<"+ctl.Sender+">"+params)), replyRecords(n, mr)...)
		}), nil
	}
	out := make([]outcome, len(idx))
	accepted := 0
	for i, rr := range replies {
		n := idx[i]
		out[i] = outcome{peer: peer, info: append(base(n), queue.Info(n, queue.InfoSent, "RCPT TO:<"+rcpts[i]+">"+rparams[i]))}
		if rr.Code/100 == 2 {
			accepted++
			continue
		}
		out[i].info = append(out[i].info, replyRecords(n, rr)...)
		out[i].status, out[i].reply = statusOf(rr.Code), oneLine(rr)
	}
	switch {
	case dr.Code == 354 && accepted == 0:
		// DATA was pipelined, every recipient refused: end it empty.
		if _, err := c.Body(nil); err != nil {
			return nil, connectError("DATA", err)
		}
		return out, nil
	case accepted == 0:
		// Nothing to send; RSET before the next transaction clears MAIL.
		return out, nil
	case dr.Code == 354:
		if dr, err = c.Body(body); err != nil {
			return nil, connectError("DATA", err)
		}
	case dr.Code != 0:
		// The pipelined DATA was refused.
	default:
		if dr, err = c.Data(body); err != nil {
			var se *smtpclient.Error
			if !errors.As(err, &se) {
				return nil, connectError("DATA", err)
			}
			dr = se.Reply
		}
	}
	suffix := queue.SuccessRelayedDSN
	if !dsn {
		// RFC 3461 5.2.2: a peer without DSN makes the message "relayed".
		suffix = queue.SuccessRelayed
	}
	for i, rr := range replies {
		if rr.Code/100 != 2 {
			continue
		}
		n := idx[i]
		out[i].info = append(out[i].info, queue.Info(n, queue.InfoSent, "DATA"))
		out[i].info = append(out[i].info, replyRecords(n, dr)...)
		out[i].reply = oneLine(dr)
		if dr.Code/100 == 2 {
			out[i].status, out[i].suffix = queue.StatusDelivered, suffix
		} else {
			out[i].status = statusOf(dr.Code)
		}
	}
	return out, nil
}

// login authenticates with the best mechanism both sides know, in the
// original's order: CRAM-MD5, PLAIN, LOGIN.
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

// statusOf maps a reply code to a result (spec esmtp.md §6): 5xx fails,
// anything else not 2xx defers.
func statusOf(code int) queue.Status {
	if code >= 500 {
		return queue.StatusFailed
	}
	return queue.StatusDeferred
}

func oneLine(r smtpclient.Reply) string {
	return strings.ReplaceAll(r.String(), "\n", " ")
}

func replyRecords(n int, r smtpclient.Reply) []queue.Record {
	var out []queue.Record
	for _, l := range strings.Split(r.String(), "\n") {
		out = append(out, queue.Info(n, queue.InfoReply, l))
	}
	return out
}
