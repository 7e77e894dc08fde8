package esmtp_test

import (
	"crypto/tls"
	"encoding/pem"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/gocourier/courier/pkg/esmtp"
	"github.com/gocourier/courier/pkg/module"
	"github.com/gocourier/courier/pkg/module/moduletest"
	"github.com/gocourier/courier/pkg/privsep"
	"github.com/gocourier/courier/pkg/queue"
	"github.com/gocourier/courier/pkg/tlsconf"
	"github.com/gocourier/courier/test/testenv"
)

// receiver is a real SMTP server (go-smtp) on loopback that refuses
// "bad@" recipients with 550 and defers "later@" with 451.
type receiver struct {
	addr     string
	auth     string // "user:password" the receiver demands, "" for none
	mu       sync.Mutex
	sessions int
	msgs     []string // "from rcpt,rcpt\ndata"
	tls      []bool
	cert     string // the PEM file of its certificate, with TLS
}

func newReceiver(t *testing.T, withTLS bool) *receiver {
	t.Helper()
	r := &receiver{}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		r.mu.Lock()
		r.sessions++
		r.mu.Unlock()
		return &rsession{r: r, c: c}, nil
	}))
	s.Domain = "receiver.test"
	s.AllowInsecureAuth = true
	s.EnableDSN = true
	if withTLS {
		pem := filepath.Join(t.TempDir(), "cert.pem")
		r.cert = pem
		if err := tlsconf.MakeSelfSigned(pem, "receiver.test"); err != nil {
			t.Fatal(err)
		}
		kp, err := tls.LoadX509KeyPair(pem, pem)
		if err != nil {
			t.Fatal(err)
		}
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{kp}}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = l.Addr().String()
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return r
}

type rsession struct {
	r      *receiver
	c      *smtp.Conn
	from   string
	rcpts  []string
	authed bool
}

func (s *rsession) AuthMechanisms() []string {
	if s.r.auth == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *rsession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user+":"+pass != s.r.auth {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.NoEnhancedCode, Message: "Authentication failed."}
		}
		s.authed = true
		return nil
	}), nil
}

func (s *rsession) Reset()        { s.from, s.rcpts = "", nil }
func (s *rsession) Logout() error { return nil }
func (s *rsession) Mail(from string, _ *smtp.MailOptions) error {
	if s.r.auth != "" && !s.authed {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.NoEnhancedCode, Message: "Authentication required."}
	}
	s.from = from
	return nil
}
func (s *rsession) Rcpt(to string, _ *smtp.RcptOptions) error {
	switch {
	case strings.HasPrefix(to, "bad@"):
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.NoEnhancedCode, Message: "User <" + to + "> unknown"}
	case strings.HasPrefix(to, "later@"):
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.NoEnhancedCode, Message: "Try again later"}
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}
func (s *rsession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := s.c.TLSConnectionState()
	s.r.mu.Lock()
	s.r.msgs = append(s.r.msgs, s.from+" "+strings.Join(s.rcpts, ",")+"\n"+string(b))
	s.r.tls = append(s.r.tls, isTLS)
	s.r.mu.Unlock()
	return nil
}

type env struct {
	s *testenv.Sandbox
	q *queue.Queue
	m *moduletest.Proc
}

func newEnv(t *testing.T, routes string, extra ...string) *env {
	t.Helper()
	return newEnvResolver(t, routes, "", extra...)
}

// newEnvResolver is newEnv with the module asking the DNS server ns.
func newEnvResolver(t *testing.T, routes, ns string, extra ...string) *env {
	t.Helper()
	return newEnvFull(t, routes, ns, nil, extra...)
}

// newEnvFull is newEnvResolver with more environment variables for the
// module.
func newEnvFull(t *testing.T, routes, ns string, environ []string, extra ...string) *env {
	t.Helper()
	s := testenv.NewSandbox(t, "courieresmtp")
	for i := 0; i+1 < len(extra); i += 2 {
		s.WriteConfig(t, extra[i], extra[i+1], 0o644)
	}
	s.WriteConfig(t, "me", "sender.test\n", 0o644)
	s.WriteConfig(t, "esmtproutes", routes, 0o644)
	var owner *queue.Owner
	if privsep.IsRoot() {
		// courieresmtp becomes the mail user: the queue and the way to it
		// must be theirs.
		testenv.OpenWay(t, filepath.Dir(s.Root), s.Layout.LocalstateDir, s.Layout.SysconfDir, s.Layout.LibexecDir)
		c, err := privsep.MailCredential(s.Layout.MailUser, s.Layout.MailGroup)
		if err != nil {
			t.Fatal(err)
		}
		owner = &queue.Owner{UID: int(c.UID), GID: int(c.GID)}
		os.Chown(s.Layout.LocalstateDir, owner.UID, owner.GID)
	}
	q, err := queue.Open(s.Layout.LocalstateDir, queue.Options{Owner: owner})
	if err != nil {
		t.Fatal(err)
	}
	m := moduletest.Start(t, s.Path("courieresmtp"), append([]string{"PATH=/usr/bin:/bin", "MAXDELS=4", "MAXHOST=4", "MAXRCPT=100", "COURIER_MODULE=esmtp", "ESMTP_USE_STARTTLS=1", "ESMTP_RESOLVER=" + ns}, environ...))
	t.Cleanup(func() { m.Stop(t) })
	return &env{s: s, q: q, m: m}
}

// send queues a message and delivers it to domain, returning the
// recipients' states.
func (e *env) send(t *testing.T, domain, data string, rcpts ...string) []queue.RecipientState {
	t.Helper()
	return e.sendEnv(t, domain, data, nil, rcpts...)
}

// sendEnv is send for a message whose envelope set changes (marks it
// 8-bit, gives it another source).
func (e *env) sendEnv(t *testing.T, domain, data string, set func(*queue.Envelope), rcpts ...string) []queue.RecipientState {
	t.Helper()
	env := &queue.Envelope{Sender: "alice@sender.test", ReceivedFrom: "dns; localhost ([127.0.0.1])", Source: "local"}
	if set != nil {
		set(env)
	}
	d := module.Delivery{Sender: "alice@sender.test", Host: domain}
	for i, r := range rcpts {
		env.Recipients = append(env.Recipients, queue.Recipient{Address: r})
		d.Recipients = append(d.Recipients, module.Recipient{Index: i, Address: r})
	}
	id, err := e.q.Submit(env, strings.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	d.Inode, d.QueueID = id.Inode, id.String()
	e.m.Deliver(t, d)
	ctl, err := e.q.Load(id.Inode)
	if err != nil {
		t.Fatal(err)
	}
	return ctl.Recipients
}

func replyText(r queue.RecipientState) string {
	var out []string
	for _, in := range r.Info {
		out = append(out, string(in.Code)+" "+in.Text)
	}
	return strings.Join(out, "\n")
}

// TestPerRecipientOutcomes: one receiver, three recipients: accepted
// (delivered, relayed to a DSN peer), refused with 550 (failed, with the
// peer's reply recorded for the bounce), deferred with 451.
func TestPerRecipientOutcomes(t *testing.T) {
	r := newReceiver(t, true)
	host, port, _ := net.SplitHostPort(r.addr)
	e := newEnv(t, "example.test: ["+host+"],"+port+"\n")
	states := e.send(t, "example.test", "Subject: hi\n\n.leading dot\nbody\n", "good@example.test", "bad@example.test", "later@example.test")
	want := []queue.Status{queue.StatusDelivered, queue.StatusFailed, queue.StatusDeferred}
	for i, st := range states {
		if st.Status != want[i] {
			t.Errorf("recipient %s: status %v, want %v; info:\n%s", st.Address, st.Status, want[i], replyText(st))
		}
	}
	if !strings.Contains(replyText(states[1]), "R 550 User <bad@example.test> unknown") {
		t.Errorf("the 550 reply is not recorded:\n%s", replyText(states[1]))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.msgs) != 1 || !strings.HasPrefix(r.msgs[0], "alice@sender.test good@example.test\n") || !strings.Contains(r.msgs[0], "\r\n.leading dot\r\n") {
		t.Fatalf("received %q", r.msgs)
	}
	if !r.tls[0] {
		t.Error("STARTTLS was offered but not used")
	}
}

// TestRouteDemandsTLS: a route with /SECURITY=STARTTLS or REQUIRED, or a
// message with SECURITY=STARTTLS, to a receiver without STARTTLS fails,
// with the reason recorded, and sends nothing.
func TestRouteDemandsTLS(t *testing.T) {
	r := newReceiver(t, false)
	host, port, _ := net.SplitHostPort(r.addr)
	for sec, text := range map[string]string{
		"STARTTLS": "/SECURITY set, but TLS is not available",
		"REQUIRED": "/SECURITY=REQUIRED set, but TLS is not available",
	} {
		e := newEnv(t, "example.test: ["+host+"],"+port+" /SECURITY="+sec+"\n")
		st := e.send(t, "example.test", "Subject: secret\n\nx\n", "good@example.test")[0]
		if st.Status != queue.StatusFailed || !strings.Contains(replyText(st), text) || !strings.Contains(replyText(st), "not sent in clear") {
			t.Errorf("%s: status %v, info:\n%s", sec, st.Status, replyText(st))
		}
	}
	// The message's own SECURITY=STARTTLS (sendmail -S STARTTLS) demands
	// the same on a route that says nothing.
	e := newEnv(t, "example.test: ["+host+"],"+port+"\n")
	secure := func(env *queue.Envelope) { env.Security = "STARTTLS" }
	st := e.sendEnv(t, "example.test", "Subject: secret\n\nx\n", secure, "good@example.test")[0]
	if st.Status != queue.StatusFailed || !strings.Contains(replyText(st), "the message's SECURITY=STARTTLS demands TLS") {
		t.Errorf("message SECURITY=STARTTLS: status %v, info:\n%s", st.Status, replyText(st))
	}
	if len(r.msgs) != 0 {
		t.Errorf("sent in clear: %q", r.msgs)
	}
}

// certOnly writes the certificate of a key+certificate PEM file to a
// file that the module, running as the mail user, can read.
func certOnly(t *testing.T, pemFile string) string {
	t.Helper()
	data, err := os.ReadFile(pemFile)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			out = append(out, pem.EncodeToMemory(b)...)
		}
	}
	dir, err := os.MkdirTemp("", "esmtp-trust-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	path := filepath.Join(dir, "trust.pem")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestVerifyDomain: with ESMTP_TLS_VERIFY_DOMAIN=1 the receiver's
// certificate must chain to TLS_TRUSTCERTS and name the host: a trusted
// certificate gets the mail over TLS; an untrusted one defers it, and
// nothing goes in clear.
func TestVerifyDomain(t *testing.T) {
	r := newReceiver(t, true)
	_, port, _ := net.SplitHostPort(r.addr)
	ns := testenv.DNSServer(t, "receiver.test. 60 IN A 127.0.0.1")
	other := filepath.Join(t.TempDir(), "other.pem")
	if err := tlsconf.MakeSelfSigned(other, "receiver.test"); err != nil {
		t.Fatal(err)
	}
	trusted, untrusted := certOnly(t, r.cert), certOnly(t, other)
	route := "verified.test: receiver.test," + port + "\n"
	e := newEnvFull(t, route, ns, []string{"ESMTP_TLS_VERIFY_DOMAIN=1", "TLS_TRUSTCERTS=" + trusted})
	if st := e.send(t, "verified.test", "Subject: verified\n\nx\n", "good@verified.test")[0]; st.Status != queue.StatusDelivered {
		t.Errorf("trusted certificate: status %v, info:\n%s", st.Status, replyText(st))
	}
	e2 := newEnvFull(t, route, ns, []string{"ESMTP_TLS_VERIFY_DOMAIN=1", "TLS_TRUSTCERTS=" + untrusted})
	if st := e2.send(t, "verified.test", "Subject: untrusted\n\nx\n", "good@verified.test")[0]; st.Status != queue.StatusDeferred || !strings.Contains(replyText(st), "certificate") {
		t.Errorf("untrusted certificate: status %v, info:\n%s", st.Status, replyText(st))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.msgs) != 1 || !r.tls[0] {
		t.Errorf("received %d messages, TLS %v; want the trusted one over TLS", len(r.msgs), r.tls)
	}
}

// TestBlockBackscatter: with ESMTP_BLOCKBACKSCATTER=smtp/dsn a report
// about mail from an unauthenticated SMTP client is not sent: no
// connection, success recorded with the original's reply. Other sources
// are sent.
func TestBlockBackscatter(t *testing.T) {
	r := newReceiver(t, true)
	host, port, _ := net.SplitHostPort(r.addr)
	e := newEnvFull(t, ": ["+host+"],"+port+"\n", "", []string{"ESMTP_BLOCKBACKSCATTER=local/dsn,smtp/dsn"})
	dsn := func(env *queue.Envelope) { env.Sender, env.Source = "", "smtp/dsn" }
	st := e.sendEnv(t, "forged.example", "Subject: Delivery failure\n\nx\n", dsn, "victim@forged.example")[0]
	if st.Status != queue.StatusDelivered || replyText(st) != "T smtp\nR 250 Backscatter bounce dropped." {
		t.Errorf("smtp/dsn report: status %v, info:\n%s", st.Status, replyText(st))
	}
	auth := func(env *queue.Envelope) { env.Sender, env.Source = "", "authsmtp/dsn" }
	if st := e.sendEnv(t, "forged.example", "Subject: Delivery failure\n\nx\n", auth, "victim@forged.example")[0]; st.Status != queue.StatusDelivered {
		t.Errorf("authsmtp/dsn report: status %v, info:\n%s", st.Status, replyText(st))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.msgs) != 1 {
		t.Errorf("the receiver got %d messages, want only the authsmtp/dsn one: %q", len(r.msgs), r.msgs)
	}
}

// TestNoServer: nobody listens: the recipients are deferred with the
// connection error.
func TestNoServer(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	host, port, _ := net.SplitHostPort(addr)
	e := newEnv(t, ": ["+host+"],"+port+"\n")
	st := e.send(t, "anywhere.test", "Subject: x\n\nx\n", "someone@anywhere.test")[0]
	if st.Status != queue.StatusDeferred || !strings.Contains(replyText(st), "Connection refused") {
		t.Errorf("status %v, info:\n%s", st.Status, replyText(st))
	}
}

// TestSmarthostAuth: a smarthost that wants AUTH gets the login of its
// esmtpauthclient line, after STARTTLS; a wrong password defers the mail
// with a message that names the file.
func TestSmarthostAuth(t *testing.T) {
	r := newReceiver(t, true)
	r.auth = "relayuser:relay-pw"
	host, port, _ := net.SplitHostPort(r.addr)
	route := ": [" + host + "]," + port + "\n"
	e := newEnv(t, route, "esmtpauthclient", "["+host+"] relayuser relay-pw\n")
	if st := e.send(t, "far.example", "Subject: via smarthost\n\nx\n", "someone@far.example")[0]; st.Status != queue.StatusDelivered {
		t.Errorf("with the right login: status %v, info:\n%s", st.Status, replyText(st))
	}
	r.mu.Lock()
	if len(r.msgs) != 1 || !r.tls[0] {
		t.Errorf("the smarthost got %d messages (TLS %v)", len(r.msgs), r.tls)
	}
	r.mu.Unlock()
	e2 := newEnv(t, route, "esmtpauthclient", "["+host+"] relayuser wrong\n")
	if st := e2.send(t, "far.example", "Subject: x\n\nx\n", "someone@far.example")[0]; st.Status != queue.StatusDeferred || !strings.Contains(replyText(st), "esmtpauthclient") {
		t.Errorf("with a wrong password: status %v, info:\n%s", st.Status, replyText(st))
	}
}

func TestParseAuthClient(t *testing.T) {
	if _, err := esmtp.ParseAuthClient("esmtpauthclient", []byte("# x\nrelay.example user\n")); err == nil || !strings.HasPrefix(err.Error(), "esmtpauthclient:2:") {
		t.Errorf("a short line: %v", err)
	}
	m, err := esmtp.ParseAuthClient("esmtpauthclient", []byte("Relay.Example user pw\n"))
	if err != nil || m["relay.example"].Password != "pw" {
		t.Errorf("%v %v", m, err)
	}
}

func FuzzParseAuthClient(f *testing.F) {
	f.Add([]byte("relay.example user secret\n# comment\n[192.0.2.1] u p\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := esmtp.ParseAuthClient("fuzz", data); err != nil && !strings.HasPrefix(err.Error(), "fuzz:") {
			t.Fatalf("error without file:line: %v", err)
		}
	})
}

// TestConnectionReuse: messages to one host one after the other share a
// session (esmtptimeoutkeepalive); after a transaction that every
// recipient refused, RSET clears it.
func TestConnectionReuse(t *testing.T) {
	r := newReceiver(t, false)
	host, port, _ := net.SplitHostPort(r.addr)
	e := newEnv(t, ": ["+host+"],"+port+"\n")
	for i := 0; i < 5; i++ {
		if st := e.send(t, "far.example", "Subject: reuse\n\nx\n", "someone@far.example", "bad@far.example")[0]; st.Status != queue.StatusDelivered {
			t.Fatalf("message %d: status %v, info:\n%s", i, st.Status, replyText(st))
		}
		if st := e.send(t, "far.example", "Subject: refused\n\nx\n", "bad@far.example")[0]; st.Status != queue.StatusFailed {
			t.Fatalf("refused message %d: status %v, info:\n%s", i, st.Status, replyText(st))
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.msgs) != 5 || r.sessions != 1 {
		t.Errorf("%d messages over %d sessions, want 5 over 1", len(r.msgs), r.sessions)
	}
}
