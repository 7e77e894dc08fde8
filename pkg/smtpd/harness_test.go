package smtpd_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/gocourier/courier/pkg/access"
	"github.com/gocourier/courier/pkg/passwd"
	"github.com/gocourier/courier/pkg/privsep"
	"github.com/gocourier/courier/pkg/queue"
	"github.com/gocourier/courier/test/testenv"
)

const password = "Secret-pw1"

// accessSource is the access file of every test daemon: 127.0.0.1 may
// relay, 127.0.0.2 is a stranger, 127.0.0.3 is blocked, 127.0.0.4 has a
// small size limit, 127.0.0.5 must use TLS, 127.0.0.6 gets Message-ID and
// Date added (the daemons' default is not to).
const accessSource = "127.0.0.1\tallow,RELAYCLIENT\n" +
	"127.0.0.3\tallow,BLOCK=550 Mail from your network is refused.\n" +
	"127.0.0.4\tallow,SIZELIMIT=2000\n" +
	"127.0.0.5\tallow,ESMTP_TLS_REQUIRED=1\n" +
	"127.0.0.6\tallow,NOADDMSGID=0,NOADDDATE=0\n"

// env is a sandbox with authdaemond (userdb accounts alice, bob and trap
// in the hosted domain example.test, with passwords), the aliases "team"
// (alice and bob) and "solo" (bob), a bofh file, an access database, a
// certificate, and the queue.
type env struct {
	seen map[uint64]bool // messages message has returned
	s    *testenv.Sandbox
	q    *queue.Queue
	dat  string // the compiled access file
	cert string
	pool *x509.CertPool
}

func newEnv(t testing.TB, bofh string) *env {
	t.Helper()
	s := testenv.NewSandbox(t, "authdaemond", "makeuserdb", "makehosteddomains", "makealiases", "couriertcpd", "courieresmtpd")
	e := &env{s: s, seen: map[uint64]bool{}}
	t.Setenv("GORACE", "atexit_sleep_ms=0")
	home := s.WritableDir(t, "home") // also opens the way to the tree for the mail user
	s.WriteConfig(t, "me", "mx.example.test\n", 0o644)
	s.WriteConfig(t, "defaultdomain", "example.test\n", 0o644)
	s.WriteConfig(t, "locals", "mx.example.test\n", 0o644)
	s.WriteConfig(t, "hosteddomains", "example.test\nother.example\n", 0o644)
	s.WriteConfig(t, "esmtpacceptmailfor", "backup.example\n", 0o644)
	s.WriteConfig(t, "esmtppercentrelay", "backup.example\n", 0o644)
	s.WriteConfig(t, "aliases/test", "team: alice@example.test, bob@example.test\nsolo: bob@example.test\nstaff@other.example: alice@example.test\n", 0o644)
	s.WriteConfig(t, "bofh", bofh, 0o644)
	s.WriteConfig(t, "authdaemonrc", "authmodulelist=\"authuserdb\"\ndaemons=3\n", 0o644)
	var db strings.Builder
	for _, u := range []string{"alice", "bob", "trap"} {
		pw, err := passwd.Hash("md5", password)
		if err != nil {
			t.Fatal(err)
		}
		cram, err := passwd.Hash("hmac-md5", password)
		if err != nil {
			t.Fatal(err)
		}
		h := filepath.Join(home, u)
		if err := os.MkdirAll(filepath.Join(h, "Maildir", "new"), 0o755); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&db, "%s@example.test\tuid=%d|gid=%d|home=%s|systempw=%s|hmac-md5pw=%s\n", u, 60000, 60000, h, pw, cram)
	}
	s.WriteConfig(t, "userdb", db.String(), 0o600)
	for _, p := range []string{"makeuserdb", "makehosteddomains", "makealiases"} {
		if out, err := exec.Command(s.Path(p)).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", p, err, out)
		}
	}
	src := s.WriteConfig(t, "smtpaccess", accessSource, 0o644)
	e.dat = src + ".dat"
	if _, err := access.Compile(src, e.dat); err != nil {
		t.Fatal(err)
	}
	e.cert, e.pool = makeCert(t, s.Layout.Config("esmtpd.pem"))
	q, err := queue.Open(s.Layout.LocalstateDir, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.q = q
	e.chownQueue(t)
	if os.Geteuid() == 0 {
		gid, err := privsep.LookupGroup(s.Layout.MailGroup)
		if err != nil {
			t.Fatal(err)
		}
		os.Chown(e.cert, 0, int(gid))
		os.Chmod(e.cert, 0o640)
	}
	e.startAuth(t)
	return e
}

// makeCert writes a self-signed certificate for mx.example.test with its
// key, as mkesmtpdcert does, and returns a pool that trusts it.
func makeCert(t testing.TB, path string) (string, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mx.example.test"},
		DNSNames: []string{"mx.example.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	data := append(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	testenv.WriteFile(t, path, string(data), 0o600)
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return path, pool
}

func (e *env) startAuth(t testing.TB) {
	sock := filepath.Join(e.s.Layout.AuthdaemonVar, "socket")
	cmd := exec.Command(e.s.Path("authdaemond"))
	cmd.Stderr = &testenv.SyncBuffer{}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	testenv.WaitFor(t, "authdaemond's socket", func() bool {
		_, err := os.Stat(sock)
		return err == nil
	})
}

// daemon is one couriertcpd running courieresmtpd.
type daemon struct {
	addr string
	log  *testenv.SyncBuffer
	cmd  *exec.Cmd
}

// defaultVars is the esmtpd configuration of the test daemons.
var defaultVars = []string{"BOFHCHECKDNS=0", "TARPIT=0", "ESMTPAUTH=", "ESMTPAUTH_TLS=PLAIN LOGIN CRAM-MD5", "NOADDMSGID=1", "NOADDDATE=1"}

// start runs couriertcpd on a free loopback port with courieresmtpd and the
// configuration variables vars (after defaultVars); tcpdArgs go before the
// port (-exec for exec mode).
func (e *env) start(t testing.TB, vars []string, tcpdArgs ...string) *daemon {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	d := &daemon{addr: "127.0.0.1:" + port, log: &testenv.SyncBuffer{}}
	args := append([]string{"-nodnslookup", "-noidentlookup", "-access=" + e.dat}, tcpdArgs...)
	if os.Geteuid() == 0 {
		args = append(args, "-user="+e.s.Layout.MailUser, "-group="+e.s.Layout.MailGroup)
	}
	args = append(args, "-address=127.0.0.1", port, e.s.Path("courieresmtpd"))
	d.cmd = exec.Command(e.s.Path("couriertcpd"), args...)
	d.cmd.Env = append(append(append(os.Environ(), "TLS_CERTFILE="+e.cert), defaultVars...), vars...)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.cmd.Process.Signal(syscall.SIGTERM)
		d.cmd.Wait()
		if t.Failed() {
			t.Logf("couriertcpd and courieresmtpd on %s:\n%s", d.addr, d.log.String())
		}
	})
	testenv.WaitFor(t, "couriertcpd to listen on "+d.addr, func() bool {
		c, err := net.Dial("tcp", d.addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return d
}

// dialRaw connects from the loopback address from.
func dialRaw(t testing.TB, from, addr string) net.Conn {
	t.Helper()
	dl := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
	c, err := dl.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(60 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

// client is a go-smtp client connected from from, after EHLO.
func client(t testing.TB, from, addr string) *smtp.Client {
	t.Helper()
	c := smtp.NewClient(dialRaw(t, from, addr))
	if err := c.Hello("client.example"); err != nil {
		t.Fatalf("EHLO to %s from %s: %v", addr, from, err)
	}
	return c
}

// tlsConfig trusts the test certificate.
func (e *env) tlsConfig() *tls.Config {
	return &tls.Config{ServerName: "mx.example.test", RootCAs: e.pool}
}

// code splits an error of go-smtp's client into code and text.
func code(err error) (int, string) {
	if err == nil {
		return 250, ""
	}
	if se, ok := err.(*smtp.SMTPError); ok {
		return se.Code, se.Message
	}
	return 0, err.Error()
}

// dialogue is a raw SMTP conversation: send a line, read the whole reply.
type dialogue struct {
	t  testing.TB
	c  net.Conn
	rd *bufio.Reader
}

func newDialogue(t testing.TB, from, addr string) *dialogue {
	c := dialRaw(t, from, addr)
	return &dialogue{t: t, c: c, rd: bufio.NewReader(c)}
}

// reply reads one reply, all its lines joined by "\n".
func (d *dialogue) reply() string {
	d.t.Helper()
	var lines []string
	for {
		l, err := d.rd.ReadString('\n')
		if err != nil {
			d.t.Fatalf("reading a reply: %v (so far %q)", err, lines)
		}
		l = strings.TrimRight(l, "\r\n")
		lines = append(lines, l)
		if len(l) < 4 || l[3] != '-' {
			return strings.Join(lines, "\n")
		}
	}
}

func (d *dialogue) send(s string) {
	d.t.Helper()
	if _, err := d.c.Write([]byte(s)); err != nil {
		d.t.Fatal(err)
	}
}

// cmd sends a command line and returns the reply.
func (d *dialogue) cmd(line string) string {
	d.t.Helper()
	d.send(line + "\r\n")
	return d.reply()
}

// messages loads every queued message's control file.
func (e *env) messages(t testing.TB) []*queue.Control {
	t.Helper()
	ents, err := e.q.Scan()
	if err != nil {
		t.Fatal(err)
	}
	var out []*queue.Control
	for _, en := range ents {
		c, err := e.q.Load(en.Inode)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// message finds the queued message whose id ends with short (the part of
// the 250 reply, which messages of the same second share) that it has not
// returned before, and its data.
func (e *env) message(t testing.TB, short string) (*queue.Control, string) {
	t.Helper()
	for _, c := range e.messages(t) {
		if strings.HasSuffix(c.ID.String(), short) && !e.seen[c.ID.Inode] {
			e.seen[c.ID.Inode] = true
			data, err := os.ReadFile(e.q.DataPath(c.ID.Inode))
			if err != nil {
				t.Fatal(err)
			}
			return c, string(data)
		}
	}
	t.Fatalf("no queued message with id ending %s", short)
	return nil, ""
}

// queueID is the id part of a "250 Ok. <id>" reply.
func queueID(t testing.TB, reply string) string {
	t.Helper()
	id, ok := strings.CutPrefix(reply, "250 Ok. ")
	if !ok {
		t.Fatalf("DATA reply %q, want 250 Ok. <id>", reply)
	}
	return id
}

// startTLS upgrades the dialogue after "STARTTLS" and a new EHLO.
func (d *dialogue) startTLS(cfg *tls.Config) {
	d.t.Helper()
	if r := d.cmd("STARTTLS"); !strings.HasPrefix(r, "220 ") {
		d.t.Fatalf("STARTTLS: %q", r)
	}
	tc := tls.Client(d.c, cfg)
	if err := tc.Handshake(); err != nil {
		d.t.Fatal(err)
	}
	d.c, d.rd = tc, bufio.NewReader(tc)
	if r := d.cmd("EHLO client.example"); !strings.HasPrefix(r, "250") {
		d.t.Fatalf("EHLO after STARTTLS: %q", r)
	}
}

// hello reads the greeting and sends EHLO.
func (d *dialogue) hello() {
	d.t.Helper()
	if r := d.reply(); !strings.HasPrefix(r, "220") {
		d.t.Fatalf("greeting %q", r)
	}
	if r := d.cmd("EHLO client.example"); !strings.HasPrefix(r, "250") {
		d.t.Fatalf("EHLO: %q", r)
	}
}

// expect sends a command and fails unless the reply is want (or starts with
// it when want ends in "*").
func (d *dialogue) expect(line, want string) string {
	d.t.Helper()
	r := d.cmd(line)
	if p, ok := strings.CutSuffix(want, "*"); ok && strings.HasPrefix(r, p) || r == want {
		return r
	}
	d.t.Errorf("%s: reply %q, want %q", line, r, want)
	return r
}

// data sends DATA, the message (CRLF line ends, dot-stuffed by the caller)
// and the final dot, and returns the reply.
func (d *dialogue) data(msg string) string {
	d.t.Helper()
	if r := d.cmd("DATA"); !strings.HasPrefix(r, "354") {
		d.t.Fatalf("DATA: %q", r)
	}
	d.send(msg + ".\r\n")
	return d.reply()
}

// chownQueue gives the queue (and the track files the test wrote) to the
// mail user, as root.
func (e *env) chownQueue(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	mail, err := privsep.LookupUser(e.s.Layout.MailUser)
	if err != nil {
		t.Fatal(err)
	}
	gid, err := privsep.LookupGroup(e.s.Layout.MailGroup)
	if err != nil {
		t.Fatal(err)
	}
	filepath.Walk(e.s.Layout.LocalstateDir, func(p string, _ os.FileInfo, _ error) error { return os.Chown(p, int(mail.UID), int(gid)) })
}
