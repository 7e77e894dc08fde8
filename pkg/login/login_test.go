package login_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/pkg/login"
	"github.com/gocourier/courier/pkg/passwd"
	"github.com/gocourier/courier/pkg/privsep"
	"github.com/gocourier/courier/pkg/tcpd/handoff"
	"github.com/gocourier/courier/pkg/tlsconf"
	"github.com/gocourier/courier/test/testenv"
)

// The test binary plays two programs, chosen by LOGINTEST_ROLE: "login" is
// imaplogin with a small line protocol as its handler (the real handlers
// are tested with their servers), "server" is the post-login server,
// which reports the session it was given.
func TestMain(m *testing.M) {
	switch os.Getenv("LOGINTEST_ROLE") {
	case "login":
		l, err := layout.ForPreset("sandbox", os.Getenv("LOGINTEST_ROOT"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		layout.Override(l)
		os.Exit(login.Main(append([]string{"imaplogin"}, os.Args[1:]...), "imap", lineHandler))
	case "server":
		os.Exit(lineServer())
	}
	os.Exit(m.Run())
}

// lineHandler: "LOGIN user password", "STARTTLS", "QUIT".
func lineHandler(c *login.Conn) {
	fmt.Fprintf(c, "OK ready\r\n")
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		f := strings.Fields(line)
		switch {
		case len(f) == 1 && f[0] == "QUIT":
			fmt.Fprintf(c, "OK bye\r\n")
			return
		case len(f) == 1 && f[0] == "STARTTLS":
			fmt.Fprintf(c, "OK go\r\n")
			if err := c.StartTLS(); err != nil {
				return
			}
			br = bufio.NewReader(c)
		case len(f) == 3 && f[0] == "LOGIN":
			res, err := c.Login(context.Background(), login.Request{AuthType: "login", AuthData: f[1] + "\n" + f[2] + "\n", Env: []string{"TESTTAG=t1"}})
			switch {
			case err != nil:
				fmt.Fprintf(c, "NO error %v\r\n", err)
			case res.OK:
				return
			case res.Insecure:
				fmt.Fprintf(c, "NO insecure\r\n")
			case res.Disabled:
				fmt.Fprintf(c, "NO disabled\r\n")
			case res.Temporary:
				fmt.Fprintf(c, "NO temporary\r\n")
				return
			default:
				fmt.Fprintf(c, "NO failed %s\r\n", res.User)
			}
		default:
			fmt.Fprintf(c, "BAD\r\n")
		}
	}
}

// lineServer greets each session with what it knows, echoes lines, and
// ends the session at QUIT.
func lineServer() int {
	l, pass, err := handoff.Listen()
	if err != nil || !pass {
		fmt.Fprintln(os.Stderr, "server: not in pass mode", err)
		return 1
	}
	for {
		nc, err := l.Accept()
		if err != nil {
			return 0
		}
		go func(c *handoff.Conn) {
			defer c.Close()
			fmt.Fprintf(c, "HELLO user=%s maildir=%s uid=%d pid=%d tls=%s tag=%s ip=%s\r\n", c.Getenv("AUTHENTICATED"), c.Getenv("MAILDIR"),
				os.Getuid(), os.Getpid(), c.Getenv("IMAP_TLS"), c.Getenv("TESTTAG"), c.Getenv("TCPREMOTEIP"))
			br := bufio.NewReader(c)
			for {
				line, err := br.ReadString('\n')
				if err != nil || strings.TrimSpace(line) == "QUIT" {
					return
				}
				fmt.Fprintf(c, "ECHO %s", line)
			}
		}(nc.(*handoff.Conn))
	}
}

const password = "Secret-pw9"

type rig struct {
	s    *testenv.Sandbox
	addr string
	log  *testenv.SyncBuffer
	home string
	cert string
	tcpd *exec.Cmd
}

// newRig: authdaemond with userdb accounts alice and bob (one uid),
// carol (another uid), dora (disableimap) and erin (disableinsecureimap),
// and couriertcpd running this test binary as imaplogin.
func newRig(t *testing.T, tcpdArgs ...string) *rig {
	s := testenv.NewSandbox(t, "authdaemond", "makeuserdb", "couriertcpd")
	t.Setenv("GORACE", "atexit_sleep_ms=0")
	r := &rig{s: s, log: &testenv.SyncBuffer{}}
	r.home = s.WritableDir(t, "home")
	bin := s.WritableDir(t, "testbin")
	testenv.OpenWay(t, s.Root, bin, r.home)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	testenv.WriteFile(t, filepath.Join(bin, "imaplogin"), string(data), 0o755)
	testenv.WriteFile(t, filepath.Join(bin, "server"), "#!/bin/sh\nLOGINTEST_ROLE=server exec "+filepath.Join(bin, "imaplogin")+" \"$@\"\n", 0o755)
	s.WriteConfig(t, "authdaemonrc", "authmodulelist=\"authuserdb\"\ndaemons=3\n", 0o644)
	pw, err := passwd.Hash("md5", password)
	if err != nil {
		t.Fatal(err)
	}
	var db strings.Builder
	for _, a := range []struct {
		name    string
		uid     int
		options string
	}{{"alice", 60001, ""}, {"bob", 60001, ""}, {"carol", 60002, ""}, {"dora", 60001, "disableimap=1"}, {"erin", 60001, "disableinsecureimap=1"}, {"root", 0, ""}} {
		h := filepath.Join(r.home, a.name)
		os.MkdirAll(h, 0o755)
		opt := ""
		if a.options != "" {
			opt = "|options=" + a.options
		}
		fmt.Fprintf(&db, "%s@example.test\tuid=%d|gid=%d|home=%s|systempw=%s%s\n", a.name, a.uid, a.uid, h, pw, opt)
	}
	s.WriteConfig(t, "userdb", db.String(), 0o600)
	if out, err := exec.Command(s.Path("makeuserdb")).CombinedOutput(); err != nil {
		t.Fatalf("makeuserdb: %v\n%s", err, out)
	}
	auth := exec.Command(s.Path("authdaemond"))
	auth.Stderr = r.log
	if err := auth.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { auth.Process.Signal(syscall.SIGTERM); auth.Wait() })
	testenv.WaitFor(t, "authdaemond's socket", func() bool {
		_, err := os.Stat(filepath.Join(s.Layout.AuthdaemonVar, "socket"))
		return err == nil
	})
	r.cert = filepath.Join(bin, "imapd.pem")
	if err := tlsconf.MakeSelfSigned(r.cert, "imap.example.test"); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		c, err := privsep.MailCredential(s.Layout.MailUser, s.Layout.MailGroup)
		if err != nil {
			t.Fatal(err)
		}
		os.Chown(r.cert, int(c.UID), int(c.GID))
		os.Chown(s.Layout.AuthdaemonVar, 0, int(c.GID))
		os.Chmod(s.Layout.AuthdaemonVar, 0o750)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	r.addr = "127.0.0.1:" + port
	args := append([]string{"-nodnslookup", "-noidentlookup", "-address=127.0.0.1"}, tcpdArgs...)
	args = append(args, port, filepath.Join(bin, "imaplogin"), filepath.Join(bin, "server"), "Maildir")
	r.tcpd = exec.Command(s.Path("couriertcpd"), args...)
	r.tcpd.Env = append(os.Environ(), "LOGINTEST_ROLE=login", "LOGINTEST_ROOT="+s.Root, "TLS_CERTFILE="+r.cert)
	r.tcpd.Stdout, r.tcpd.Stderr = r.log, r.log
	if err := r.tcpd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.tcpd.Process.Signal(syscall.SIGTERM)
		r.tcpd.Wait()
		if t.Failed() {
			t.Logf("log:\n%s", r.log.String())
		}
	})
	testenv.WaitFor(t, "couriertcpd's port", func() bool {
		c, err := net.Dial("tcp", r.addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return r
}

type client struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func (r *rig) dial(t *testing.T) *client {
	c, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cl := &client{t: t, c: c, br: bufio.NewReader(c)}
	cl.expect("OK ready")
	return cl
}

func (c *client) line() string {
	c.t.Helper()
	c.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	l, err := c.br.ReadString('\n')
	if err != nil {
		c.t.Fatalf("reading: %v (after %q)", err, l)
	}
	return strings.TrimRight(l, "\r\n")
}

func (c *client) expect(prefix string) string {
	c.t.Helper()
	l := c.line()
	if !strings.HasPrefix(l, prefix) {
		c.t.Fatalf("got %q, want %q...", l, prefix)
	}
	return l
}

func (c *client) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.c, s+"\r\n"); err != nil {
		c.t.Fatal(err)
	}
}

func field(line, name string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, name+"="); ok {
			return v
		}
	}
	return ""
}

// TestLogin: failures keep the connection, a good login reaches the
// server as the account's uid with its maildir, accounts of one uid share
// one server, another uid gets its own, and options refuse.
func TestLogin(t *testing.T) {
	r := newRig(t, "-maxperip=20")
	a := r.dial(t)
	a.send("LOGIN alice@example.test wrong")
	a.expect("NO failed alice@example.test")
	a.send("LOGIN nosuch@example.test " + password)
	a.expect("NO failed")
	a.send("LOGIN alice@example.test " + password)
	hello := a.expect("HELLO user=alice@example.test ")
	if got, want := field(hello, "maildir"), filepath.Join(r.home, "alice", "Maildir"); got != want {
		t.Errorf("maildir %s, want %s", got, want)
	}
	if field(hello, "tls") != "0" || field(hello, "tag") != "t1" || !strings.HasSuffix(field(hello, "ip"), "127.0.0.1") {
		t.Errorf("session variables: %s", hello)
	}
	a.send("ping")
	a.expect("ECHO ping")

	b := r.dial(t)
	b.send("LOGIN bob@example.test " + password)
	hb := b.expect("HELLO user=bob@example.test ")
	c := r.dial(t)
	c.send("LOGIN carol@example.test " + password)
	hc := c.expect("HELLO user=carol@example.test ")
	if field(hb, "pid") != field(hello, "pid") {
		t.Errorf("alice and bob (one uid) are served by two processes: %s / %s", hello, hb)
	}
	if field(hc, "pid") == field(hello, "pid") {
		t.Errorf("alice and carol (two uids) share a process: %s / %s", hello, hc)
	}
	if os.Geteuid() == 0 {
		if field(hello, "uid") != "60001" || field(hc, "uid") != "60002" {
			t.Errorf("server uids: %s / %s", hello, hc)
		}
		// The stage is the only child of imaplogin that runs as the
		// mail user; it must not be root.
		mail, _ := privsep.MailCredential(r.s.Layout.MailUser, r.s.Layout.MailGroup)
		found := false
		for _, p := range testenv.Descendants(r.tcpd.Process.Pid) {
			st, err := privsep.ReadTasks(p.PID)
			if err != nil || len(st) == 0 {
				continue
			}
			if st[0].UID == [4]uint32{mail.UID, mail.UID, mail.UID, mail.UID} {
				found = true
			}
		}
		if !found {
			t.Errorf("no process of the login stage runs as the mail user %s", r.s.Layout.MailUser)
		}
		d := r.dial(t)
		d.send("LOGIN root@example.test " + password)
		d.expect("NO failed")
	}
	e := r.dial(t)
	e.send("LOGIN dora@example.test " + password)
	e.expect("NO disabled")
	e.send("LOGIN erin@example.test " + password)
	e.expect("NO insecure")
	e.send("QUIT")
	e.expect("OK bye")
	a.send("QUIT")
	b.send("QUIT")
	c.send("QUIT")
}

// TestTLSSession: after STARTTLS the stage keeps the TLS session and the
// server is reached through it; disableinsecureimap then lets erin in.
func TestTLSSession(t *testing.T) {
	r := newRig(t)
	a := r.dial(t)
	a.send("STARTTLS")
	a.expect("OK go")
	tc := tls.Client(a.c, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	a.c, a.br = tc, bufio.NewReader(tc)
	a.send("LOGIN erin@example.test " + password)
	h := a.expect("HELLO user=erin@example.test ")
	if field(h, "tls") != "1" {
		t.Errorf("TLS session reported as %s", h)
	}
	a.send("through tls")
	a.expect("ECHO through tls")
	a.send("QUIT")
	if _, err := a.br.ReadString('\n'); err == nil {
		t.Error("the session did not end at QUIT")
	}
}

// TestConnectionCount: couriertcpd's per-address limit counts sessions
// until they end, wherever they end (stage or server).
func TestConnectionCount(t *testing.T) {
	r := newRig(t, "-maxperip=1")
	for i := 0; i < 3; i++ {
		a := r.dialWhenAllowed(t)
		a.send("LOGIN alice@example.test " + password)
		a.expect("HELLO")
		a.send("QUIT")
		if _, err := a.br.ReadString('\n'); err == nil {
			t.Fatal("the session did not end at QUIT")
		}
		a.c.Close()
		// The next connection is refused until couriertcpd has heard
		// that this one ended; the one after it ends in the stage.
		b := r.dialWhenAllowed(t)
		b.send("QUIT")
		b.expect("OK bye")
		b.c.Close()
		r.dialWhenAllowed(t).c.Close()
	}
}

// dialWhenAllowed connects until couriertcpd lets the connection through.
func (r *rig) dialWhenAllowed(t *testing.T) *client {
	var cl *client
	testenv.WaitFor(t, "couriertcpd to allow a connection", func() bool {
		c, err := net.Dial("tcp", r.addr)
		if err != nil {
			return false
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(c)
		if l, _ := br.ReadString('\n'); !strings.HasPrefix(l, "OK ready") {
			c.Close()
			return false
		}
		cl = &client{t: t, c: c, br: br}
		return true
	})
	t.Cleanup(func() { cl.c.Close() })
	return cl
}
