package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/gocourier/courier/pkg/address"
	"github.com/gocourier/courier/pkg/authlib"
	"github.com/gocourier/courier/pkg/queue"
	"github.com/gocourier/courier/pkg/rfc2045"
	"github.com/gocourier/courier/pkg/submit"
	"github.com/gocourier/courier/pkg/track"
)

// session is one client connection from the first HELO or EHLO (and again
// after STARTTLS, when go-smtp starts a new one).
type session struct {
	d    *Daemon
	c    *smtp.Conn
	cc   *clientConn
	ip   string
	port string
	host string // TCPREMOTEHOST: "" when unknown
	helo string // the first HELO/EHLO argument, made safe for the Received line
	auth authlib.Client

	authUser, authMech string
	tarpit             time.Duration

	// The transaction in progress.
	inTx  bool
	from  string // canonical sender, "" for <>
	opts  smtp.MailOptions
	rcpts []queue.Recipient
	spam  bool // a recipient is a spam trap
}

// NewSession implements smtp.Backend.
func (d *Daemon) NewSession(c *smtp.Conn) (smtp.Session, error) {
	cc := findConn(c.Conn())
	if cc == nil {
		return nil, errors.New("internal error: the connection is not courieresmtpd's")
	}
	s := &session{d: d, c: c, cc: cc, auth: *d.Auth, tarpit: d.TarpitDelay}
	s.ip = s.getenv("TCPREMOTEIP")
	s.port = s.getenv("TCPREMOTEPORT")
	if a, ok := cc.raw.RemoteAddr().(*net.TCPAddr); ok && s.ip == "" {
		s.ip, s.port = a.IP.String(), strconv.Itoa(a.Port)
	}
	s.host = s.getenv("TCPREMOTEHOST")
	s.auth.RemoteIP = s.ip
	s.helo = safeHelo(c.Hostname())
	return s, nil
}

// findConn finds courieresmtpd's connection under go-smtp's STARTTLS.
func findConn(c net.Conn) *clientConn {
	for {
		switch x := c.(type) {
		case *clientConn:
			return x
		case *tls.Conn:
			c = x.NetConn()
		default:
			return nil
		}
	}
}

// safeHelo is the HELO argument as the original keeps it: white space and
// control characters become '_'.
func safeHelo(h string) string {
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f {
			return '_'
		}
		return r
	}, strings.TrimLeft(h, " "))
}

// lookupEnv reads the connection's environment, then the process's, then
// the bofh file's "opt" lines.
func (s *session) lookupEnv(name string) (string, bool) {
	if v, ok := s.cc.env.LookupEnv(name); ok {
		return v, true
	}
	return s.d.Bofh.Opt(name)
}

func (s *session) getenv(name string) string {
	v, _ := s.lookupEnv(name)
	return v
}

// envTrue is the original's test of a numeric flag: set, and not 0.
func (s *session) envTrue(name string) bool {
	n, err := strconv.Atoi(strings.TrimSpace(s.getenv(name)))
	return err == nil && n != 0
}

// relayClient: RELAYCLIENT is set (the access file), or the client has
// authenticated (the original then sets RELAYCLIENT itself).
func (s *session) relayClient() bool {
	_, set := s.lookupEnv("RELAYCLIENT")
	return set || s.authUser != ""
}

func (s *session) tlsState() (tls.ConnectionState, bool) {
	if cs, ok := s.c.TLSConnectionState(); ok {
		return cs, true
	}
	if s.cc.tls != nil {
		return s.cc.tls.ConnectionState(), true
	}
	return tls.ConnectionState{}, false
}

func reply(code int, text string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.NoEnhancedCode, Message: text}
}

// replyText turns a reply as the original's programs write it ("550 text",
// or several lines "550-a\n550 b") into an SMTP error; text without a code
// gets def.
func replyText(text string, def int) *smtp.SMTPError {
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(text, "\r", ""), "\n"), "\n")
	code := def
	if l := lines[0]; len(l) >= 3 {
		if c, err := strconv.Atoi(l[:3]); err == nil && c >= 400 && c < 600 && (len(l) == 3 || l[3] == ' ' || l[3] == '-') {
			code = c
		}
	}
	for i, l := range lines {
		if len(l) >= 4 && l[:3] == strconv.Itoa(code) && (l[3] == ' ' || l[3] == '-') {
			lines[i] = l[4:]
		} else if l == strconv.Itoa(code) {
			lines[i] = ""
		}
	}
	return reply(code, strings.Join(lines, "\n"))
}

// refuse logs a refusal for the admin and returns it as the reply, after
// the TARPIT delay for a permanent one (as the original: 8 s, doubling up
// to 128 s, for each 5xx reply of the session).
func (s *session) refuse(e *smtp.SMTPError, cmd, why string) error {
	s.d.Log.Info("refused", "relay", s.ip, "port", s.port, "cmd", cmd, "reply", fmt.Sprintf("%d %s", e.Code, strings.ReplaceAll(e.Message, "\n", " / ")), "reason", why)
	if e.Code/100 == 5 && s.envTrue("TARPIT") && s.tarpit > 0 {
		time.Sleep(s.tarpit)
		s.tarpit = min(2*s.tarpit, 16*s.d.TarpitDelay)
	}
	return e
}

// gate is what every mail command checks first: ESMTP_TLS_REQUIRED and
// AUTH_REQUIRED (esmtpd-msa).
func (s *session) gate(cmd string) error {
	if _, ok := s.tlsState(); !ok && s.envTrue("ESMTP_TLS_REQUIRED") {
		return s.refuse(reply(400, "STARTTLS is required first."), cmd, "ESMTP_TLS_REQUIRED is set and the client has not used STARTTLS")
	}
	if s.authUser == "" && s.envTrue("AUTH_REQUIRED") {
		return s.refuse(reply(535, "Authentication required."), cmd, "AUTH_REQUIRED is set and the client has not authenticated")
	}
	return nil
}

// sizeLimit is the largest message accepted: SIZELIMIT of the connection,
// else the daemon's (sizelimit); 0 for no limit.
func (s *session) sizeLimit() int64 {
	if v := strings.TrimSpace(s.getenv("SIZELIMIT")); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			return n
		}
		s.d.Log.Warn("SIZELIMIT="+v+" is not a number of bytes: the sizelimit control file applies", "relay", s.ip)
	}
	return s.d.SizeLimit
}

// parsePath turns a path as go-smtp hands it over (the local part without
// its quotes) back into an address.
func parsePath(p string, utf8 bool) (address.Address, error) {
	at := strings.LastIndexByte(p, '@')
	if at < 0 {
		return address.Address{}, errors.New("the address has no domain")
	}
	return address.ParseAddress(address.FormatLocal(p[:at])+"@"+p[at+1:], utf8)
}

// Mail implements smtp.Session.
func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	s.Reset()
	if s.helo == "" {
		s.helo = safeHelo(s.c.Hostname())
	}
	cmd := "MAIL FROM:<" + from + ">"
	if err := s.gate(cmd); err != nil {
		return err
	}
	if s.d.Inflow != nil {
		// Deliveries are behind: this sender waits, up to the delay, so
		// that the queue does not grow faster than it drains.
		s.d.Inflow.Wait(s.d.InflowDelay)
	}
	if opts == nil {
		opts = &smtp.MailOptions{}
	}
	if lim := s.sizeLimit(); lim > 0 && opts.Size > lim {
		return s.refuse(reply(534, "SIZE=Message too big."), cmd, fmt.Sprintf("SIZE=%d is above the limit of %d bytes", opts.Size, lim))
	}
	if from != "" {
		a, err := parsePath(from, opts.UTF8)
		if err == nil && !validDomain(a.Domain.String()) {
			err = errors.New("the domain is not a fully qualified domain name")
		}
		if err != nil {
			return s.refuse(reply(517, "Syntax error."), cmd, "sender address: "+err.Error())
		}
		from = a.String()
		if err := s.checkSender(cmd, from, a.Domain.ASCII()); err != nil {
			return err
		}
	}
	s.inTx, s.from, s.opts = true, from, *opts
	return nil
}

// validDomain is the original's sender check: a domain of at least two
// labels, or an address literal.
func validDomain(d string) bool {
	return strings.HasPrefix(d, "[") || strings.Contains(strings.Trim(d, "."), ".")
}

// checkSender applies the bofh rules to a sender (submit.C checkdns).
func (s *session) checkSender(cmd, from, domainACE string) error {
	b := s.d.Bofh
	if b.IsBadFrom(from) {
		return s.refuse(reply(517, "Sender rejected: "+from), cmd, "bofh badfrom")
	}
	if _, relay := s.lookupEnv("RELAYCLIENT"); !relay && s.ip != "" {
		if fm, ok := b.FreemailFor(from); ok && !fm.FromRelay(s.host) {
			return s.refuse(reply(517, "Sender rejected: "+from+" can be accepted only from\n"+fm.Domain+"'s mail relays."), cmd,
				fmt.Sprintf("bofh freemail %s: the client's host name %q is not in the domain's relays", fm.Domain, s.host))
		}
	}
	if !s.envTrue("BOFHCHECKDNS") || s.getenv("BLOCK") != "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if e, why := s.checkDNS(ctx, domainACE); e != nil {
		return s.refuse(e, cmd, why)
	}
	return nil
}

// Rcpt implements smtp.Session.
func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	cmd := "RCPT TO:<" + to + ">"
	if err := s.gate(cmd); err != nil {
		return err
	}
	if b := s.getenv("BLOCK"); b != "" && s.authUser == "" {
		return s.refuse(replyText(b, 550), cmd, "BLOCK is set for this client (access file or DNS block list)")
	}
	if n := s.d.Bofh.MaxRcpts; len(s.rcpts) >= n {
		if s.d.Bofh.MaxHard {
			return s.refuse(reply(531, "Too many recipients."), cmd, fmt.Sprintf("bofh maxrcpts %d hard", n))
		}
		return s.refuse(reply(431, "Too many recipients."), cmd, fmt.Sprintf("bofh maxrcpts %d", n))
	}
	a, err := parsePath(to, s.opts.UTF8)
	if err != nil {
		return s.refuse(reply(513, "Syntax error."), cmd, "recipient address: "+err.Error())
	}
	rules := s.d.Files.Rules
	if p, ok := rules.PercentHack(a); ok {
		a = p
	}
	res, err := s.d.Submit.Check("esmtp", a.String())
	if err != nil {
		var se *submit.Error
		if errors.As(err, &se) {
			return s.refuse(reply(se.Code, se.Text), cmd, "the address")
		}
		s.d.Log.Error("RCPT TO:<"+to+">: "+err.Error(), "relay", s.ip)
		return reply(432, "Service temporarily unavailable.")
	}
	canon, err := address.ParseAddress(res.Address, true)
	if err != nil {
		return s.refuse(reply(513, "Syntax error."), cmd, "canonical address "+res.Address+": "+err.Error())
	}
	if !res.Local && !s.relayClient() && !rules.AcceptsMailFor(canon.Domain) {
		return s.refuse(reply(513, "Relaying denied."), cmd, "not a local domain nor in esmtpacceptmailfor, and the client has neither RELAYCLIENT nor AUTH")
	}
	if res.Local && !res.Alias {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		r := s.d.Verifier.Verify(ctx, res.Address)
		cancel()
		if r != "" {
			return s.refuse(replyText(r, 550), cmd, "local account lookup")
		}
	}
	if s.suppressBackscatter() {
		for _, addr := range append([]string{res.Address}, res.Members...) {
			if kind, listed := s.d.Track.Lookup(addr, time.Now()); listed {
				if kind == track.Failed {
					return s.refuse(reply(556, "Address unavailable."), cmd, "<"+addr+"> failed in the last 2 hours (backscatter suppression)")
				}
				return s.refuse(reply(456, "Address temporarily unavailable."), cmd, "<"+addr+"> was deferred in the last 2 hours (backscatter suppression)")
			}
		}
	}
	for _, addr := range append([]string{res.Address}, res.Members...) {
		if s.d.Bofh.IsSpamtrap(addr) {
			s.spam = true
			s.d.Log.Info("spam trap recipient: the message will be refused after DATA", "relay", s.ip, "rcpt", addr)
		}
	}
	r := queue.Recipient{Address: a.String()}
	if opts != nil {
		if len(opts.Notify) > 0 {
			var n []string
			for _, v := range opts.Notify {
				n = append(n, string(v))
			}
			if nn, err := address.ParseNotify(strings.Join(n, ",")); err == nil {
				r.Notify = nn
			}
		}
		if opts.OriginalRecipient != "" {
			r.ORCPT = strings.ToLower(string(opts.OriginalRecipientType)) + ";" + opts.OriginalRecipient
		}
	}
	s.rcpts = append(s.rcpts, r)
	return nil
}

// source is the message's source as the original's courieresmtpd tells
// submit: authsmtp for a client that may relay, else smtp.
func (s *session) source() string {
	if s.relayClient() {
		return "authsmtp"
	}
	return "smtp"
}

// suppressBackscatter: the source is listed in BOFHSUPPRESSBACKSCATTER
// (default "smtp").
func (s *session) suppressBackscatter() bool {
	list, ok := s.lookupEnv("BOFHSUPPRESSBACKSCATTER")
	if !ok {
		list = "smtp"
	}
	for _, src := range strings.Split(list, ",") {
		if strings.TrimSpace(src) == s.source() {
			return true
		}
	}
	return false
}

// errTooBig stops Submit when the message passes the size limit.
var errTooBig = errors.New("the message is larger than the size limit")

// limitReader counts the message and fails once it passes the limit,
// after reading the rest so that the reply can give the whole size.
type limitReader struct {
	r     io.Reader
	limit int64
	n     int64
	over  bool
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.over {
		return 0, errTooBig
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.limit > 0 && l.n > l.limit {
		l.over = true
		rest, _ := io.Copy(io.Discard, l.r)
		l.n += rest
		return 0, errTooBig
	}
	return n, err
}

// copyBufs are spoolCopy's buffers, reused: every message passes through
// one. Reads come from go-smtp's 4 KiB buffer, so a larger one would only
// cost the allocations the pool makes again after every collection.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 4<<10); return &b }}

// queueSlots bounds the sessions queueing a message at once. Each one
// waits for fsyncs in a system call, and Go gives every such wait its own
// OS thread: unbounded, 200 sessions made about 100 threads, each with its
// stacks, while the disk serialises the fsyncs anyway and the queue's
// group commit lets a few concurrent commits share them.
var queueSlots = make(chan struct{}, 16)

// spoolCopy copies the client's message into the spool and the checker;
// rerr is a failure to read it, werr one to spool it (the rest is still
// read, to stay in step with the client).
func spoolCopy(sp *spool, chk *rfc2045.Checker, r io.Reader) (rerr, werr error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	for {
		n, err := r.Read(buf)
		if n > 0 && werr == nil {
			chk.Write(buf[:n])
			_, werr = sp.Write(buf[:n])
		}
		if err == io.EOF {
			return nil, werr
		}
		if err != nil {
			return err, werr
		}
	}
}

// Data implements smtp.Session: the message is queued, and the reply is
// the original's "250 Ok. <time>.<pid>" part of the queue id.
func (s *session) Data(r io.Reader) error {
	s.d.busy.Add(1)
	defer s.d.busy.Add(-1)
	cmd := "DATA"
	lr := &limitReader{r: r, limit: s.sizeLimit()}
	if s.spam {
		io.Copy(io.Discard, r)
		return s.refuse(reply(550, "Spam refused."), cmd, "a recipient is a bofh spamtrap")
	}
	env := queue.Envelope{Sender: s.from, Recipients: s.rcpts, Source: s.source(), AuthUser: s.authUser,
		Track: s.suppressBackscatter(), SMTPUTF8: s.opts.UTF8, EightBit: s.opts.Body == smtp.Body8BitMIME, EnvID: s.opts.EnvelopeID}
	host := ""
	if s.host != "" {
		host = s.host + " "
	}
	env.ReceivedFrom = "dns; " + s.helo + " (" + host + "[" + s.ip + "])"
	switch s.opts.Return {
	case smtp.DSNReturnFull:
		env.Ret = "F"
	case smtp.DSNReturnHeaders:
		env.Ret = "H"
	}
	if env.EnvID != "" {
		env.EnvID = address.XtextEncode(env.EnvID)
	}
	// The message is spooled and its MIME structure checked (pkg/rfc2045)
	// before it is queued, as the original's submit does it after the
	// whole message is in its data file.
	sp := s.d.newSpool()
	defer sp.Close()
	chk := rfc2045.NewChecker()
	rerr, werr := spoolCopy(sp, chk, lr)
	if lr.over {
		return s.refuse(reply(523, fmt.Sprintf("Message length (%d bytes) exceeds administrative limit(%d).", lr.n, lr.limit)), cmd, "sizelimit")
	}
	if rerr != nil {
		s.d.Log.Warn("the client's message could not be read to its end: "+rerr.Error(), "relay", s.ip, "from", "<"+s.from+">")
		return reply(451, "Error reading the message, try again.")
	}
	if werr != nil {
		s.d.Log.Error("message not spooled: "+werr.Error(), "relay", s.ip, "from", "<"+s.from+">")
		return reply(432, "Service temporarily unavailable.")
	}
	res := chk.Close()
	if res.Flags&rfc2045.ErrTooComplex != 0 {
		return s.refuse(reply(550, "Message MIME complexity exceeds the policy maximum."), cmd, fmt.Sprintf("MIME: more than %d parts", rfc2045.MaxParts))
	}
	// 8-bit bytes in any header, the message's or a part's, make it an
	// SMTPUTF8 message (the original's m record); 8-bit text an 8-bit one.
	env.SMTPUTF8 = env.SMTPUTF8 || res.Flags&rfc2045.Err8BitHeader != 0
	env.EightBit = env.EightBit || res.Has8bitChars
	if res.NeedRewrite {
		s.d.Log.Info("MIME headers rewritten", "relay", s.ip, "from", "<"+s.from+">", "flags", int(res.Flags))
	}
	body := mimeReader(sp, res, time.Now().Unix())
	defer body.Close()
	trace := &submit.Trace{With: s.with(), Ident: s.ident()}
	queueSlots <- struct{}{}
	id, err := s.d.Submit.Submit(&submit.Message{Module: "esmtp", Envelope: env, Trace: trace, AddHeaders: true, Getenv: s.getenv}, body)
	<-queueSlots
	if err != nil {
		var se *submit.Error
		if errors.As(err, &se) {
			return s.refuse(reply(se.Code, se.Text), cmd, "the message")
		}
		if errors.Is(err, submit.ErrRead) {
			s.d.Log.Warn("the client's message could not be read to its end: "+err.Error(), "relay", s.ip, "from", "<"+s.from+">")
			return reply(451, "Error reading the message, try again.")
		}
		s.d.Log.Error("message not queued: "+err.Error(), "relay", s.ip, "from", "<"+s.from+">")
		return reply(432, "Service temporarily unavailable.")
	}
	attrs := []any{"id", id.String(), "relay", s.ip, "from", "<" + s.from + ">", "rcpts", len(s.rcpts), "bytes", lr.n}
	if s.authUser != "" {
		attrs = append(attrs, "auth", s.authUser)
	}
	s.d.Log.Info("message queued", attrs...)
	return reply(250, "Ok. "+id.Short())
}

// with is the Received line's protocol (RFC 3848, RFC 6531): SMTP after
// HELO; after EHLO ESMTP, with S under TLS, A after AUTH, and the UTF8
// prefix for an SMTPUTF8 transaction.
func (s *session) with() string {
	if !s.cc.ehlo {
		return "SMTP"
	}
	w := "ESMTP"
	if _, ok := s.tlsState(); ok {
		w += "S"
	}
	if s.authUser != "" {
		w += "A"
	}
	if s.opts.UTF8 {
		w = "UTF8" + w[1:]
	}
	return w
}

// ident is the Received line's parenthesised line: the ident answer, the
// authenticated user and the TLS parameters.
func (s *session) ident() string {
	var info []string
	if id := s.getenv("TCPREMOTEINFO"); id != "" {
		info = append(info, "IDENT: "+id)
	}
	if s.authUser != "" {
		info = append(info, "AUTH: "+s.authMech+" "+s.authUser)
	}
	if cs, ok := s.tlsState(); ok {
		info = append(info, "TLS: "+describeTLS(cs))
	}
	return strings.Join(info, ", ")
}

// Reset implements smtp.Session.
func (s *session) Reset() {
	s.inTx, s.from, s.opts, s.rcpts, s.spam = false, "", smtp.MailOptions{}, nil, false
}

// Logout implements smtp.Session.
func (s *session) Logout() error { return nil }
