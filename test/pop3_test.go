package test

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gocourier/courier/test/testenv"
)

// pop3Suite is the mail suite with pop3d and pop3d-ssl on free loopback
// ports.
type pop3Suite struct {
	*mailSuite
	pop3, pop3s string
}

var pop3Programs = []string{"couriertcpd", "courierpop3login", "courierpop3d", "mkesmtpdcert", "courierlogger", "makesmtpaccess"}

const pop3Password = "Pop-pw7"

func newPOP3Suite(t *testing.T, accounts []string) *pop3Suite {
	t.Helper()
	s := &pop3Suite{mailSuite: newMailSuite(t, accounts, nil, pop3Programs...)}
	s.pop3 = s.listenOn(t, "pop3d", "", s.ids()+"POP3DSTART=YES\n")
	s.pop3s = s.listenOn(t, "pop3d-ssl", "SSL", "POP3DSSLSTART=YES\n")
	s.linkProgram(t, "mkpop3dcert", "mkesmtpdcert")
	s.certificate(t, "mkpop3dcert", "pop3d.pem")
	return s
}

func (s *pop3Suite) start(t *testing.T) {
	t.Helper()
	s.mailSuite.start(t)
	s.waitListening(t, s.pop3, s.pop3s)
}

// setOption adds options=... to an account's userdb line.
func (s *pop3Suite) setOption(t *testing.T, account, options string) {
	t.Helper()
	b, err := os.ReadFile(s.Layout.Config("userdb"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if strings.HasPrefix(l, account+"@example.test\t") {
			l += "|options=" + options
		}
		out = append(out, l)
	}
	s.WriteConfig(t, "userdb", strings.Join(out, "\n")+"\n", 0o600)
	s.run(t, "makeuserdb")
}

// popConn is a line-level POP3 client.
type popConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialPOP(t *testing.T, addr string, implicitTLS bool) *popConn {
	t.Helper()
	var c net.Conn
	var err error
	if implicitTLS {
		c, err = tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	} else {
		c, err = net.DialTimeout("tcp", addr, 10*time.Second)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	p := newPOPConn(t, c)
	if g := p.line(); g != "+OK Hello there." {
		t.Fatalf("greeting %q", g)
	}
	return p
}

// newPOPConn is a client on a connection whose greeting is still to be
// read.
func newPOPConn(t *testing.T, c net.Conn) *popConn {
	return &popConn{t: t, c: c, r: bufio.NewReader(c)}
}

// ok sends a command whose reply must be +OK.
func (p *popConn) ok(line string) {
	p.t.Helper()
	if got := p.cmd(line); !strings.HasPrefix(got, "+OK") {
		p.t.Fatalf("POP3 %q: %q", line, got)
	}
}

func (p *popConn) line() string {
	p.t.Helper()
	p.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	l, err := p.r.ReadString('\n')
	if err != nil {
		p.t.Fatalf("reading a reply: %v", err)
	}
	return strings.TrimSuffix(l, "\r\n")
}

func (p *popConn) cmd(line string) string {
	p.t.Helper()
	fmt.Fprintf(p.c, "%s\r\n", line)
	return p.line()
}

func (p *popConn) expect(line, want string) {
	p.t.Helper()
	if got := p.cmd(line); got != want {
		p.t.Fatalf("%s: %q, want %q", line, got, want)
	}
}

func (p *popConn) multi() []string {
	p.t.Helper()
	var out []string
	for l := p.line(); l != "."; l = p.line() {
		out = append(out, l)
	}
	return out
}

func TestPOP3Suite(t *testing.T) {
	s := newPOP3Suite(t, []string{"pop1:" + pop3Password, "pop2:" + pop3Password, "popoff:" + pop3Password})
	s.setOption(t, "popoff", "disablepop3=1")
	s.start(t)
	for i := 1; i <= 3; i++ {
		s.sendmail(t, fmt.Sprintf("Subject: pop test %d\n\nbody %d\n", i, i), "pop1@example.test")
	}
	s.waitFor(t, "three deliveries to pop1", func() bool { return len(s.maildir(t, "pop1")) == 3 })

	t.Run("login failures", func(t *testing.T) {
		p := dialPOP(t, s.pop3, false)
		p.expect("PASS x", "-ERR USER/PASS required.")
		p.expect("USER pop1@example.test", "+OK Password required.")
		start := time.Now()
		p.expect("PASS wrong", "-ERR Login failed.")
		if d := time.Since(start); d < 4*time.Second {
			t.Errorf("a failed login was answered after %v, want the original's 5 s", d)
		}
		p.expect("AUTH PLAIN !!!garbage", "-ERR Authentication failed.")
		p.expect("AUTH LOGIN", "+ "+base64.StdEncoding.EncodeToString([]byte("Username:")))
		p.expect("*", "-ERR Authentication aborted.")
		p.expect("AUTH", "-ERR Invalid command.")
		p.expect("RETR 1", "-ERR Invalid command.")
		p.expect(strings.Repeat("x", 5000), "-ERR Command line too long.")
		p.expect("USER popoff@example.test", "+OK Password required.")
		p.expect("PASS "+pop3Password, "-ERR POP3 access disabled for this account.")
	})

	t.Run("session", func(t *testing.T) {
		p := dialPOP(t, s.pop3, false)
		p.expect("CAPA", "+OK Here's what I can do:")
		if capa := strings.Join(p.multi(), ","); !strings.HasPrefix(capa, "STLS,TOP,USER,") {
			t.Fatalf("CAPA before login: %s", capa)
		}
		p.expect("USER pop1@example.test", "+OK Password required.")
		p.expect("PASS "+pop3Password, "+OK logged in.")
		if os.Geteuid() == 0 {
			checkServerUID(t, s, "courierpop3d", s.owner.UID)
		}
		if got := p.cmd("STAT"); !strings.HasPrefix(got, "+OK 3 ") {
			t.Fatalf("STAT: %q", got)
		}
		p.expect("UIDL", "+OK")
		uidl := p.multi()
		if len(uidl) != 3 || !strings.HasPrefix(uidl[0], "1 UID1-") {
			t.Fatalf("UIDL: %q", uidl)
		}
		if got := p.cmd("RETR 2"); !strings.HasSuffix(got, " octets follow.") {
			t.Fatalf("RETR 2: %q", got)
		}
		if msg := strings.Join(p.multi(), "\n"); !strings.Contains(msg, "Subject: pop test ") || !strings.Contains(msg, "Delivered-To: pop1@example.test") {
			t.Fatalf("RETR 2:\n%s", msg)
		}
		p.expect("LIST", "+OK POP3 clients that break here, they violate STD53.")
		if list := p.multi(); len(list) != 3 || !strings.HasPrefix(list[2], "3 ") {
			t.Fatalf("LIST: %q", list)
		}
		if got := p.cmd("LIST 2"); !strings.HasPrefix(got, "+OK 2 ") {
			t.Fatalf("LIST 2: %q", got)
		}
		if got := p.cmd("UIDL 3"); got != "+OK "+uidl[2] {
			t.Fatalf("UIDL 3: %q, want %q", got, "+OK "+uidl[2])
		}
		p.expect("TOP 1 0", "+OK headers follow.")
		if top := p.multi(); len(top) == 0 || top[len(top)-1] != "" || slices.ContainsFunc(top, func(l string) bool { return strings.HasPrefix(l, "body ") }) {
			t.Fatalf("TOP 1 0: %q", top)
		}
		p.expect("NOOP", "+OK Yup.")
		p.expect("DELE 3", "+OK Deleted.")
		p.expect("RSET", "+OK Resurrected.")
		p.expect("UTF8", "+OK UTF8 enabled")
		p.expect("DELE 1", "+OK Deleted.")
		p.expect("QUIT", "+OK Bye-bye.")
		s.waitFor(t, "the deletion", func() bool { return len(s.maildir(t, "pop1")) == 2 })
	})

	t.Run("STLS and AUTH", func(t *testing.T) {
		p := dialPOP(t, s.pop3, false)
		p.expect("USER pop1@example.test", "+OK Password required.")
		p.expect("STLS", "+OK Begin SSL/TLS negotiation now.")
		tc := tls.Client(p.c, &tls.Config{InsecureSkipVerify: true})
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		p.c, p.r = tc, bufio.NewReader(tc)
		p.expect("CAPA", "+OK Here's what I can do:")
		if capa := strings.Join(p.multi(), ","); !strings.HasPrefix(capa, "SASL LOGIN PLAIN,TOP,") {
			t.Fatalf("CAPA after STLS: %s", capa)
		}
		p.expect("STLS", "-ERR TLS support not available.")
		// The USER given before TLS is forgotten.
		p.expect("PASS "+pop3Password, "-ERR USER/PASS required.")
		plain := base64.StdEncoding.EncodeToString([]byte("\x00pop1@example.test\x00" + pop3Password))
		p.expect("AUTH PLAIN "+plain, "+OK logged in.")
		if got := p.cmd("STAT"); !strings.HasPrefix(got, "+OK 2 ") {
			t.Fatalf("STAT: %q", got)
		}
		p.expect("QUIT", "+OK Bye-bye.")
	})

	t.Run("POP3S", func(t *testing.T) {
		p := dialPOP(t, s.pop3s, true)
		p.expect("AUTH LOGIN", "+ "+base64.StdEncoding.EncodeToString([]byte("Username:")))
		p.expect(base64.StdEncoding.EncodeToString([]byte("pop1@example.test")), "+ "+base64.StdEncoding.EncodeToString([]byte("Password:")))
		p.expect(base64.StdEncoding.EncodeToString([]byte(pop3Password)), "+OK logged in.")
		// Message 1 was deleted: the first one left has UID 2.
		if got := p.cmd("UIDL 1"); !strings.HasPrefix(got, "+OK 1 UID2-") {
			t.Fatalf("UIDL 1: %q", got)
		}
		p.expect("QUIT", "+OK Bye-bye.")
	})

	t.Run("fetchmail", func(t *testing.T) {
		testenv.NeedPackage(t, "fetchmail", "fetchmail")
		for i := 1; i <= 5; i++ {
			s.sendmail(t, fmt.Sprintf("Subject: fetch %d\n\nbody\n", i), "pop2@example.test")
		}
		s.waitFor(t, "five deliveries to pop2", func() bool { return len(s.maildir(t, "pop2")) == 5 })
		dir := t.TempDir()
		rc := filepath.Join(dir, "fetchmailrc")
		out := filepath.Join(dir, "mbox")
		host, port, _ := net.SplitHostPort(s.pop3)
		testenv.WriteFile(t, rc, fmt.Sprintf("poll %s protocol pop3 port %s user \"pop2@example.test\" password \"%s\" sslproto \"\" mda \"/bin/sh -c 'cat >> %s'\"\n", host, port, pop3Password, out), 0o600)
		cmd := exec.Command("fetchmail", "-f", rc, "--nosyslog", "-v")
		cmd.Env = append(os.Environ(), "HOME="+dir, "FETCHMAILHOME="+dir)
		stdout, stderr, code := testenv.Run(t, cmd)
		if code != 0 {
			t.Fatalf("fetchmail exit %d\n%s%s", code, stdout, stderr)
		}
		b, _ := os.ReadFile(out)
		if n := strings.Count(string(b), "Subject: fetch "); n != 5 {
			t.Fatalf("fetchmail delivered %d messages, want 5\n%s%s", n, stdout, stderr)
		}
		s.waitFor(t, "fetchmail's deletions", func() bool { return len(s.maildir(t, "pop2")) == 0 })
	})
}

// checkServerUID checks that the running processes named prog below the
// suite run as uid.
func checkServerUID(t *testing.T, s *pop3Suite, prog string, uid uint32) {
	t.Helper()
	found := 0
	for _, p := range testenv.Descendants(s.cmd.Process.Pid) {
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", p.PID))
		if filepath.Base(exe) != prog {
			continue
		}
		found++
		status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.PID))
		for _, l := range strings.Split(string(status), "\n") {
			if f := strings.Fields(l); len(f) == 5 && f[0] == "Uid:" {
				if f[1] != fmt.Sprint(uid) || f[2] != fmt.Sprint(uid) {
					t.Errorf("%s (pid %d) runs with uids %v, want %d", prog, p.PID, f[1:], uid)
				}
			}
		}
	}
	if found == 0 {
		t.Errorf("no %s process found below the supervisor", prog)
	}
}

// TestPOP3UIDLAgainstCourier runs the real Courier's courierpop3d
// (pre-authenticated, on standard input) and ours in turns on the same
// maildirs: the UIDL and LIST answers match line for line, and each keeps
// the UIDs the other recorded in courierpop3dsizelist.
func TestPOP3UIDLAgainstCourier(t *testing.T) {
	const real = "/usr/lib/courier/courier/courierpop3d"
	testenv.NeedPackage(t, "courier-pop", real)
	ours := testenv.Build(t, "courierpop3d")
	session := func(prog, md string) string {
		t.Helper()
		cmd := exec.Command(prog, md)
		cmd.Env = []string{"AUTHENTICATED=u@example.test", "PATH=/usr/bin:/bin"}
		cmd.Stdin = strings.NewReader("UIDL\r\nLIST\r\nSTAT\r\nQUIT\r\n")
		stdout, stderr, code := testenv.Run(t, cmd)
		if code != 0 || !strings.HasPrefix(stdout, "+OK logged in.\r\n") {
			t.Fatalf("%s: exit %d\n%s%s", prog, code, stdout, stderr)
		}
		return stdout
	}
	deliver := func(md string, first, n int) {
		for i := first; i < first+n; i++ {
			// Names as deliveries make them; the third second holds two.
			name := fmt.Sprintf("%d.M%06dP%d.host", 1700000000+i/2, i, 100+i)
			body := fmt.Sprintf("Subject: message %d\nFrom: a@example.test\n\n%s\n", i, strings.Repeat("line\n", i))
			if i == 4 {
				body = "Subject: caf\xc3\xa9\n\nno newline at the end"
			}
			testenv.WriteFile(t, filepath.Join(md, "new", name), body, 0o600)
		}
	}
	for _, first := range []string{real, ours} {
		second := ours
		if first == ours {
			second = real
		}
		name := "courier first"
		if first == ours {
			name = "ours first"
		}
		t.Run(name, func(t *testing.T) {
			md := filepath.Join(t.TempDir(), "Maildir")
			for _, d := range []string{"cur", "new", "tmp"} {
				os.MkdirAll(filepath.Join(md, d), 0o700)
			}
			deliver(md, 1, 6)
			a := session(first, md)
			b := session(second, md)
			if a != b {
				t.Fatalf("%s then %s on the same maildir:\n%s\n---\n%s", first, second, a, b)
			}
			// New mail, seen first by the other server.
			deliver(md, 7, 3)
			os.Remove(filepath.Join(md, "cur", func() string {
				m, _ := filepath.Glob(filepath.Join(md, "cur", "*"))
				return filepath.Base(m[1])
			}()))
			b = session(second, md)
			a = session(first, md)
			if a != b {
				t.Fatalf("%s then %s after new mail and a deletion:\n%s\n---\n%s", second, first, b, a)
			}
			if !strings.Contains(a, "\r\n8 UID9-") {
				t.Fatalf("UIDs not kept:\n%s", a)
			}
		})
	}
}

// TestStartStopScripts runs "pop3d start|stop" and "imapd start|stop" as
// an admin would, outside courierd: the service answers on its port after
// start and is gone after stop.
func TestStartStopScripts(t *testing.T) {
	s := newPOP3Suite(t, nil)
	s.Install(t, "esmtpd")
	s.Install(t, "imaplogin")
	s.linkProgram(t, "pop3d", "esmtpd")
	imapd := s.Install(t, "imapd")
	run := filepath.Join(s.Root, "var", "run")
	os.MkdirAll(run, 0o755)
	s.appendConfig(t, "pop3d", "PIDFILE="+filepath.Join(run, "pop3d.pid")+"\n")
	imapAddr := s.listenOn(t, "imapd", "", s.ids()+"PIDFILE="+filepath.Join(run, "imapd.pid")+"\n")
	s.WriteConfig(t, "imapaccess/default", "", 0o644)
	s.linkProgram(t, "makeimapaccess", "makesmtpaccess")
	s.run(t, "makeimapaccess")
	for _, svc := range []struct {
		prog, addr, greeting string
	}{{s.Path("pop3d"), s.pop3, "+OK Hello there."}, {imapd, imapAddr, "* OK [CAPABILITY "}} {
		stop := func() { exec.Command(svc.prog, "stop").Run() }
		t.Cleanup(stop)
		if out, err := exec.Command(svc.prog, "start").CombinedOutput(); err != nil {
			t.Fatalf("%s start: %v\n%s", svc.prog, err, out)
		}
		var greeting string
		s.waitFor(t, svc.prog+" start to listen on "+svc.addr, func() bool {
			c, err := net.DialTimeout("tcp", svc.addr, time.Second)
			if err != nil {
				return false
			}
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			greeting, _ = bufio.NewReader(c).ReadString('\n')
			return true
		})
		if !strings.HasPrefix(greeting, svc.greeting) {
			t.Errorf("%s greets %q", svc.prog, greeting)
		}
		if out, err := exec.Command(svc.prog, "stop").CombinedOutput(); err != nil {
			t.Fatalf("%s stop: %v\n%s", svc.prog, err, out)
		}
		s.waitFor(t, svc.prog+" stop to close "+svc.addr, func() bool {
			c, err := net.DialTimeout("tcp", svc.addr, time.Second)
			if err == nil {
				c.Close()
			}
			return err != nil
		})
	}
}
