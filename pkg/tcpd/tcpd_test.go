package tcpd_test

import (
	"bufio"
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

	"github.com/gocourier/courier/pkg/access"
	"github.com/gocourier/courier/pkg/privsep"
	"github.com/gocourier/courier/pkg/tcpd"
	"github.com/gocourier/courier/pkg/tcpd/handoff"
	"github.com/gocourier/courier/test/testenv"
)

// The test binary doubles as a pass-mode server (linked as
// "courieresmtpd", a name couriertcpd passes connections to): it writes
// each connection's environment and its own uid to the client, then
// closes it; a client that sends "crash" makes it exit.
func TestMain(m *testing.M) {
	if os.Getenv("TCPD_TEST_SERVER") == "1" {
		l, ok, err := handoff.Listen()
		if err != nil || !ok {
			fmt.Fprintln(os.Stderr, "test server: not in pass mode:", err)
			os.Exit(3)
		}
		for {
			c, err := l.Accept()
			if err != nil {
				os.Exit(0)
			}
			go func(c net.Conn) {
				hc := c.(*handoff.Conn)
				fmt.Fprintf(c, "uid=%d\n", os.Getuid())
				for _, kv := range hc.Env {
					fmt.Fprintln(c, kv)
				}
				fmt.Fprintln(c, "end")
				line, _ := bufio.NewReader(c).ReadString('\n')
				if strings.TrimSpace(line) == "crash" {
					os.Exit(4)
				}
				c.Close()
			}(c)
		}
	}
	os.Exit(m.Run())
}

type daemon struct {
	cmd  *exec.Cmd
	addr string
	log  *testenv.SyncBuffer
}

// start runs couriertcpd with args before the port and program.
func start(t *testing.T, program string, args ...string) *daemon {
	t.Helper()
	bin := testenv.Build(t, "couriertcpd")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, port, _ := net.SplitHostPort(addr)
	d := &daemon{addr: addr, log: &testenv.SyncBuffer{}}
	d.cmd = exec.Command(bin, append(append(args, "-address=127.0.0.1", port), program)...)
	d.cmd.Env = append(os.Environ(), "TCPD_TEST_SERVER=1")
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.cmd.Process.Signal(syscall.SIGTERM)
		d.cmd.Wait()
	})
	testenv.WaitFor(t, "couriertcpd to listen (log: "+d.log.String()+")", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return d
}

// passServer is the test binary linked under a pass-mode server's name.
func passServer(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// A copy, not a link: as root the server runs as another user, who
	// must reach the program (t.TempDir's parents are private).
	dir, err := os.MkdirTemp("", "tcpdtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "courieresmtpd")
	testenv.WriteFile(t, p, string(data), 0o755)
	return p
}

// session connects and reads what the server says up to "end".
func session(t *testing.T, addr, from string) map[string]string {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	env := map[string]string{}
	sc := bufio.NewScanner(c)
	for sc.Scan() && sc.Text() != "end" {
		k, v, _ := strings.Cut(sc.Text(), "=")
		env[k] = v
	}
	return env
}

func accessDB(t *testing.T, src string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tcpdtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	testenv.WriteFile(t, filepath.Join(dir, "smtpaccess"), src, 0o644)
	if _, err := access.Compile(filepath.Join(dir, "smtpaccess"), filepath.Join(dir, "smtpaccess.dat")); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "smtpaccess.dat")
}

// TestExecMode runs /usr/bin/env per connection and checks the TCP*
// variables and the access file's.
func TestExecMode(t *testing.T) {
	db := accessDB(t, "127.0.0.1\tallow,RELAYCLIENT,SIZELIMIT=1000\n")
	d := start(t, "/usr/bin/env", "-nodnslookup", "-noidentlookup", "-access="+db)
	c, err := net.Dial("tcp", d.addr)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(c)
	c.Close()
	lp := strings.Split(c.LocalAddr().String(), ":")
	_, port, _ := net.SplitHostPort(d.addr)
	for _, want := range []string{"TCPREMOTEIP=::ffff:127.0.0.1\n", "TCPREMOTEPORT=" + lp[len(lp)-1] + "\n", "TCPLOCALIP=::ffff:127.0.0.1\n", "TCPLOCALPORT=" + port + "\n", "RELAYCLIENT=\n", "SIZELIMIT=1000\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the program's environment lacks %q:\n%s", want, out)
		}
	}
}

// TestPassMode hands connections to one server, with the environment,
// applies the limits to live connections, refuses denied clients with
// -denymsg, and starts the server again when it dies.
func TestPassMode(t *testing.T) {
	db := accessDB(t, "127.0.0.1\tallow,RELAYCLIENT\n127.0.0.9\tdeny\n")
	args := []string{"-nodnslookup", "-noidentlookup", "-access=" + db, "-maxperip=1", "-denymsg=421 go away"}
	if os.Geteuid() == 0 {
		args = append(args, "-user=nobody")
	}
	d := start(t, passServer(t), args...)
	// start's probe may still count against -maxperip for a moment.
	var env map[string]string
	testenv.WaitFor(t, "a served session", func() bool {
		env = session(t, d.addr, "127.0.0.1")
		return len(env) > 0
	})
	if env["TCPREMOTEIP"] != "::ffff:127.0.0.1" || env["RELAYCLIENT"] != "" || len(env) < 5 {
		t.Errorf("environment handed over: %v", env)
	}
	if _, ok := env["RELAYCLIENT"]; !ok {
		t.Errorf("RELAYCLIENT from the access file is missing: %v", env)
	}
	if os.Geteuid() == 0 {
		u, _ := privsep.LookupUser("nobody")
		if env["uid"] != fmt.Sprint(u.UID) {
			t.Errorf("the server runs as uid %s, want nobody's %d", env["uid"], u.UID)
		}
	}
	if env := session(t, d.addr, "127.0.0.2"); env["RELAYCLIENT"] != "" || env["TCPREMOTEIP"] != "::ffff:127.0.0.2" {
		t.Errorf("127.0.0.2: %v", env)
	} else if _, ok := env["RELAYCLIENT"]; ok {
		t.Errorf("127.0.0.2 got RELAYCLIENT: %v", env)
	}

	// -maxperip=1: a second connection from the same address while the
	// first is open is closed at once.
	// The first must be served: the connections before it may still be
	// counted for a moment.
	var first net.Conn
	testenv.WaitFor(t, "a held connection", func() bool {
		c, err := net.Dial("tcp", d.addr)
		if err != nil {
			return false
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if line, _ := bufio.NewReader(c).ReadString('\n'); strings.HasPrefix(line, "uid=") {
			first = c
			return true
		}
		c.Close()
		return false
	})
	second, err := net.Dial("tcp", d.addr)
	if err != nil {
		t.Fatal(err)
	}
	second.SetDeadline(time.Now().Add(10 * time.Second))
	if b, _ := io.ReadAll(second); len(b) != 0 {
		t.Errorf("a second connection from one address under -maxperip=1 was served: %q\nlog:\n%s", b, d.log)
	}
	first.Close()
	testenv.WaitFor(t, "the first connection to be counted out", func() bool {
		return session(t, d.addr, "127.0.0.1")["TCPREMOTEIP"] != ""
	})

	// Denied by the access file: the -denymsg text, then the close.
	dl := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.9")}}
	c, err := dl.Dial("tcp", d.addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if b, _ := io.ReadAll(c); string(b) != "421 go away\r\n" {
		t.Errorf("denied client got %q", b)
	}

	// The server dies; couriertcpd starts it again.
	c, err = net.Dial("tcp", d.addr)
	if err != nil {
		t.Fatal(err)
	}
	bufio.NewReader(c).ReadString('\n')
	fmt.Fprintln(c, "crash")
	c.Close()
	testenv.WaitFor(t, "a new server after the crash", func() bool {
		return strings.Contains(d.log.String(), "starting it again")
	})
	testenv.WaitFor(t, "the new server to serve", func() bool {
		c, err := net.Dial("tcp", d.addr)
		if err != nil {
			return false
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		return strings.HasPrefix(line, "uid=")
	})
}

// TestPidStopRestart: -pid detaches and writes the pid file; -restart
// re-opens the access database (a changed entry applies); -stop ends it.
func TestPidStopRestart(t *testing.T) {
	bin := testenv.Build(t, "couriertcpd")
	dir := t.TempDir()
	src := filepath.Join(dir, "smtpaccess")
	testenv.WriteFile(t, src, "127.0.0.1\tallow,FIRST\n", 0o644)
	dat := src + ".dat"
	if _, err := access.Compile(src, dat); err != nil {
		t.Fatal(err)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	_, port, _ := net.SplitHostPort(addr)
	pid := filepath.Join(dir, "tcpd.pid")
	cmd := exec.Command(bin, "-pid="+pid, "-nodnslookup", "-noidentlookup", "-access="+dat, "-address=127.0.0.1", port, passServer(t))
	cmd.Env = append(os.Environ(), "TCPD_TEST_SERVER=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("couriertcpd -pid: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command(bin, "-pid="+pid, "-stop").Run() })
	if env := session(t, addr, "127.0.0.1"); env["FIRST"] != "" {
		t.Fatalf("before -restart: %v", env)
	} else if _, ok := env["FIRST"]; !ok {
		t.Fatalf("before -restart, FIRST missing: %v", env)
	}
	testenv.WriteFile(t, src, "127.0.0.1\tallow,SECOND\n", 0o644)
	if _, err := access.Compile(src, dat); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-pid="+pid, "-restart").CombinedOutput(); err != nil {
		t.Fatalf("-restart: %v %s", err, out)
	}
	testenv.WaitFor(t, "the new access database", func() bool {
		_, ok := session(t, addr, "127.0.0.1")["SECOND"]
		return ok
	})
	if out, err := exec.Command(bin, "-pid="+pid, "-stop").CombinedOutput(); err != nil {
		t.Fatalf("-stop: %v %s", err, out)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("still listening after -stop")
	}
}

func TestParseArgs(t *testing.T) {
	o, err := tcpd.ParseArgs([]string{"-maxprocs=40", "-maxperip=5", "-block=bl.example,BLOCK2/127.0.0.2,go away @", "-drop", "-user=courier", "127.0.0.1.25,587", "/usr/sbin/courieresmtpd", "x"})
	if err != nil {
		t.Fatal(err)
	}
	if o.MaxProcs != 40 || o.MaxPerIP != 5 || o.Warn != 36 || o.Drop != "BLOCK" || o.Ports != "127.0.0.1.25,587" || o.Program != "/usr/sbin/courieresmtpd" || len(o.Args) != 1 {
		t.Errorf("%+v", o)
	}
	if b := o.Blocks[0]; b.Zone != "bl.example" || b.Var != "BLOCK2" || b.IP.String() != "127.0.0.2" || b.Msg != "go away @" {
		t.Errorf("block %+v", b)
	}
	for _, bad := range [][]string{{"-maxprocs=x", "25", "p"}, {"-frob", "25", "p"}, {"25"}, {"-stop"}, {"-accesslocal", "25", "p"}, {"-block=,X", "25", "p"}} {
		if _, err := tcpd.ParseArgs(bad); err == nil {
			t.Errorf("ParseArgs(%q) accepted", bad)
		}
	}
}

func FuzzParseArgs(f *testing.F) {
	f.Add("-maxprocs=40\x00-block=bl.example=BL,VAR/1.2.3.4,msg\x0025,smtp\x00prog")
	f.Add("-pid=/x\x00-stop")
	f.Fuzz(func(t *testing.T, s string) {
		tcpd.ParseArgs(strings.Split(s, "\x00"))
	})
}
