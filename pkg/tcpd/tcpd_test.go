package tcpd_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/gocourier/courier/pkg/access"
	"github.com/gocourier/courier/pkg/privsep"
	"github.com/gocourier/courier/pkg/tcpd"
	"github.com/gocourier/courier/pkg/tcpd/handoff"
	"github.com/gocourier/courier/test/testenv"
)

// The test binary doubles as a pass-mode server (copied as
// "courieresmtpd", a name couriertcpd passes connections to): for each
// connection it writes its own pid and uid and the connection's
// environment, "end", then waits for a line: "crash" makes it exit,
// anything else (or EOF) closes the connection.
func TestMain(m *testing.M) {
	if os.Getenv("TCPD_TEST_SERVER") == "1" {
		l, ok, err := handoff.Listen()
		if err != nil || !ok {
			fmt.Fprintln(os.Stderr, "test server: not in pass mode:", err)
			os.Exit(3)
		}
		fmt.Fprintln(os.Stderr, "test server: started")
		// As courieresmtpd, it takes SIGHUP to re-read its configuration.
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		go func() {
			for range hup {
				fmt.Fprintln(os.Stderr, "test server: SIGHUP")
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				os.Exit(0)
			}
			go func(c net.Conn) {
				hc := c.(*handoff.Conn)
				fmt.Fprintf(c, "pid=%d\nuid=%d\n", os.Getpid(), os.Getuid())
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

// freePort returns a TCP port free on 127.0.0.1 at the moment.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// start runs couriertcpd (in the foreground, as the supervisor does) on
// 127.0.0.1 with args before the port and program args after it.
func start(t testing.TB, env []string, args []string, program ...string) *daemon {
	t.Helper()
	bin := testenv.Build(t, "couriertcpd")
	port := freePort(t)
	d := &daemon{addr: "127.0.0.1:" + port, log: &testenv.SyncBuffer{}}
	d.cmd = exec.Command(bin, append(append(args, "-address=127.0.0.1", port), program...)...)
	d.cmd.Env = append(append(os.Environ(), "TCPD_TEST_SERVER=1"), env...)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.cmd.Process.Signal(syscall.SIGTERM)
		d.cmd.Wait()
	})
	for _, a := range args {
		if strings.HasPrefix(a, "-stderrlogger=") {
			return d // its log goes to the logger: the caller waits
		}
	}
	testenv.WaitFor(t, "couriertcpd to listen", func() bool {
		return strings.Contains(d.log.String(), "listening on")
	})
	return d
}

// passServer is the test binary copied under a pass-mode server's name.
func passServer(t testing.TB) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// A copy in a directory everyone can reach: as root the server runs
	// as another user (t.TempDir's parents are private).
	dir := publicDir(t)
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "courieresmtpd")
	testenv.WriteFile(t, p, string(data), 0o755)
	return p
}

func publicDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tcpdtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	return dir
}

// dial connects from the address from (one of 127.0.0.0/8).
func dial(t testing.TB, addr, from string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return c
}

// readEnv reads NAME=value lines up to "end" (or EOF).
func readEnv(r *bufio.Reader) map[string]string {
	env := map[string]string{}
	for {
		line, err := r.ReadString('\n')
		line = strings.TrimSuffix(line, "\n")
		if line == "end" || (err != nil && line == "") {
			return env
		}
		k, v, _ := strings.Cut(line, "=")
		env[k] = v
		if err != nil {
			return env
		}
	}
}

// session connects from an address and reads what the program says.
func session(t *testing.T, addr, from string) map[string]string {
	t.Helper()
	c := dial(t, addr, from)
	defer c.Close()
	return readEnv(bufio.NewReader(c))
}

// accessDB compiles an access file in a directory everyone can read.
func accessDB(t *testing.T, src string) string {
	t.Helper()
	dir := publicDir(t)
	testenv.WriteFile(t, filepath.Join(dir, "smtpaccess"), src, 0o644)
	if _, err := access.Compile(filepath.Join(dir, "smtpaccess"), filepath.Join(dir, "smtpaccess.dat")); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "smtpaccess.dat")
}

// TestExecMode runs /usr/bin/env per connection and checks the TCP*
// variables and the access file's; -stderr=socket puts the program's
// standard error on the connection.
func TestExecMode(t *testing.T) {
	db := accessDB(t, "127.0.0.1\tallow,RELAYCLIENT,SIZELIMIT=1000,MSG=\"a, b\"\n")
	d := start(t, nil, []string{"-nodnslookup", "-noidentlookup", "-access=" + db, "-stderr=socket"}, "/bin/sh", "-c", "env; echo oops >&2; read x; echo got $x")
	c := dial(t, d.addr, "127.0.0.1")
	time.Sleep(100 * time.Millisecond) // the program's read must wait for the line (a blocking socket)
	fmt.Fprintln(c, "hello")
	out, _ := io.ReadAll(c)
	c.Close()
	_, lport, _ := net.SplitHostPort(c.LocalAddr().String())
	_, port, _ := net.SplitHostPort(d.addr)
	for _, want := range []string{"TCPREMOTEIP=::ffff:127.0.0.1\n", "TCPREMOTEPORT=" + lport + "\n", "TCPLOCALIP=::ffff:127.0.0.1\n",
		"TCPLOCALPORT=" + port + "\n", "RELAYCLIENT=\n", "SIZELIMIT=1000\n", "MSG=a, b\n", "TCPD_TEST_SERVER=1\n", "oops\n", "got hello\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the program's output lacks %q:\n%s", want, out)
		}
	}
	for _, unwanted := range []string{"TCPREMOTEHOST=", "TCPLOCALHOST=", "TCPREMOTEINFO=", handoff.EnvFD} {
		if strings.Contains(string(out), unwanted) {
			t.Errorf("the program's environment has %s:\n%s", unwanted, out)
		}
	}
}

// TestPassMode hands connections to one server with the environment,
// counts live connections for -maxperip (the access file's MAXCPERIP
// overriding it), refuses denied clients with -denymsg, and starts the
// server again when it dies.
func TestPassMode(t *testing.T) {
	db := accessDB(t, "127.0.0.1\tallow,RELAYCLIENT\n127.0.0.9\tdeny\n127.0.0.3\tallow,MAXCPERIP=2\n")
	d := start(t, nil, []string{"-nodnslookup", "-noidentlookup", "-access=" + db, "-maxperip=1", "-denymsg=421 go away"}, passServer(t))
	env := session(t, d.addr, "127.0.0.1")
	if env["TCPREMOTEIP"] != "::ffff:127.0.0.1" || env["TCPLOCALIP"] != "::ffff:127.0.0.1" || env["TCPLOCALPORT"] == "" || env["TCPREMOTEPORT"] == "" {
		t.Errorf("environment handed over: %v", env)
	}
	if v, ok := env["RELAYCLIENT"]; !ok || v != "" {
		t.Errorf("RELAYCLIENT from the access file is missing: %v", env)
	}
	if env := session(t, d.addr, "127.0.0.2"); env["TCPREMOTEIP"] != "::ffff:127.0.0.2" {
		t.Errorf("127.0.0.2: %v", env)
	} else if _, ok := env["RELAYCLIENT"]; ok {
		t.Errorf("127.0.0.2 got RELAYCLIENT: %v", env)
	}

	// -maxperip=1: while one connection from 127.0.0.1 is open (the
	// server holds it until it gets a line), a second one is closed at
	// once. The server reports the first closed when it is, so a third
	// is served again.
	// The server may not have reported the sessions above closed yet:
	// until it has, a connection from 127.0.0.1 is refused.
	var first net.Conn
	var firstR *bufio.Reader
	testenv.WaitFor(t, "a connection from 127.0.0.1 once the sessions above are closed", func() bool {
		c := dial(t, d.addr, "127.0.0.1")
		r := bufio.NewReader(c)
		if env := readEnv(r); env["TCPREMOTEIP"] != "" {
			first, firstR = c, r
			return true
		}
		c.Close()
		return false
	})
	second := dial(t, d.addr, "127.0.0.1")
	if b, _ := io.ReadAll(second); len(b) != 0 {
		t.Errorf("a second connection from one address under -maxperip=1 was served: %q", b)
	}
	second.Close()
	testenv.WaitFor(t, "the ALERT for the refused connection", func() bool {
		return strings.Contains(d.log.String(), "ALERT: Maximum connection limit reached for ::ffff:127.0.0.1")
	})
	// MAXCPERIP=2 for 127.0.0.3: two at once.
	var held []net.Conn
	for i := 0; i < 2; i++ {
		c := dial(t, d.addr, "127.0.0.3")
		if env := readEnv(bufio.NewReader(c)); env["MAXCPERIP"] != "2" {
			t.Errorf("127.0.0.3 connection %d: %v", i, env)
		}
		held = append(held, c)
	}
	c3 := dial(t, d.addr, "127.0.0.3")
	if b, _ := io.ReadAll(c3); len(b) != 0 {
		t.Errorf("a third connection under MAXCPERIP=2 was served: %q", b)
	}
	for _, c := range append(held, c3) {
		c.Close()
	}
	fmt.Fprintln(first, "bye")
	io.ReadAll(firstR)
	first.Close()
	testenv.WaitFor(t, "the first connection to be counted out", func() bool {
		return session(t, d.addr, "127.0.0.1")["TCPREMOTEIP"] != ""
	})

	// Denied by the access file: the -denymsg text and a newline, then the close.
	c := dial(t, d.addr, "127.0.0.9")
	if b, _ := io.ReadAll(c); string(b) != "421 go away\n" {
		t.Errorf("denied client got %q", b)
	}
	c.Close()

	// The server dies with a connection open; couriertcpd forgets that
	// connection and starts the server again.
	c = dial(t, d.addr, "127.0.0.5")
	r := bufio.NewReader(c)
	oldPid := readEnv(r)["pid"]
	fmt.Fprintln(c, "crash")
	io.ReadAll(r)
	c.Close()
	testenv.WaitFor(t, "a new server after the crash", func() bool {
		return strings.Contains(d.log.String(), "starting it again in 1s")
	})
	testenv.WaitFor(t, "the new server to serve", func() bool {
		c := dial(t, d.addr, "127.0.0.6")
		defer c.Close()
		pid := readEnv(bufio.NewReader(c))["pid"]
		return pid != "" && pid != oldPid
	})
	if n := strings.Count(d.log.String(), "test server: started"); n != 2 {
		t.Errorf("the server was started %d times, want 2:\n%s", n, d.log)
	}
}

// TestMaxProcs: at -maxprocs couriertcpd stops accepting; the next client
// waits in the listen queue and is served when a connection ends.
// -maxperc counts a /24.
func TestMaxProcs(t *testing.T) {
	d := start(t, nil, []string{"-nodnslookup", "-noidentlookup", "-maxprocs=2", "-maxperc=2", "-maxperip=5"}, passServer(t))
	a, b := dial(t, d.addr, "127.0.0.1"), dial(t, d.addr, "127.0.0.2")
	ar, br := bufio.NewReader(a), bufio.NewReader(b)
	readEnv(ar)
	readEnv(br)
	third := dial(t, d.addr, "127.1.0.1")
	got := make(chan map[string]string, 1)
	go func() { got <- readEnv(bufio.NewReader(third)) }()
	select {
	case env := <-got:
		t.Fatalf("a third connection under -maxprocs=2 was served at once: %v", env)
	case <-time.After(300 * time.Millisecond):
	}
	testenv.WaitFor(t, "the ALERT at -maxprocs", func() bool {
		return strings.Contains(d.log.String(), "ALERT: 2 maximum active connections.")
	})
	fmt.Fprintln(a, "bye")
	io.ReadAll(ar)
	a.Close()
	if env := <-got; env["TCPREMOTEIP"] != "::ffff:127.1.0.1" {
		t.Errorf("the waiting client: %v", env)
	}
	third.Close()
	b.Close()

	// -maxperc=2: 127.0.0.2 and 127.0.0.3 are open, 127.0.0.4 is one too
	// many from 127.0.0.0/24; 127.0.1.4 is not.
	e := start(t, nil, []string{"-nodnslookup", "-noidentlookup", "-maxprocs=10", "-maxperc=2"}, passServer(t))
	for _, from := range []string{"127.0.0.2", "127.0.0.3"} {
		c := dial(t, e.addr, from)
		defer c.Close()
		if env := readEnv(bufio.NewReader(c)); env["TCPREMOTEIP"] != "::ffff:"+from {
			t.Fatalf("%s: %v", from, env)
		}
	}
	if env := session(t, e.addr, "127.0.0.4"); len(env) != 0 {
		t.Errorf("a third connection from 127.0.0.0/24 under -maxperc=2 was served: %v", env)
	}
	if env := session(t, e.addr, "127.0.1.4"); env["TCPREMOTEIP"] != "::ffff:127.0.1.4" {
		t.Errorf("127.0.1.4 under -maxperc=2: %v", env)
	}
	testenv.WaitFor(t, "the -maxperc warning", func() bool {
		return strings.Contains(e.log.String(), "WARN: connection from ::ffff:127.0.0.4 refused: 2 connections from its /24 already (-maxperc)")
	})
}

// TestDrop: -drop closes a connection whose BLOCK (here from the access
// file) is set, with the -denymsg text; -drop=X,Y tests those variables.
func TestDrop(t *testing.T) {
	db := accessDB(t, "127.0.0.2\tallow,BLOCK=550 go away\n127.0.0.3\tallow,BLOCK\n127.0.0.4\tallow,Y=1\n")
	d := start(t, nil, []string{"-nodnslookup", "-noidentlookup", "-access=" + db, "-drop", "-denymsg=550 dropped"}, passServer(t))
	if env := session(t, d.addr, "127.0.0.1"); env["TCPREMOTEIP"] == "" {
		t.Errorf("127.0.0.1 not served: %v", env)
	}
	c := dial(t, d.addr, "127.0.0.2")
	if b, _ := io.ReadAll(c); string(b) != "550 dropped\n" {
		t.Errorf("BLOCK set: got %q", b)
	}
	c.Close()
	if env := session(t, d.addr, "127.0.0.3"); env["TCPREMOTEIP"] == "" {
		t.Errorf("an empty BLOCK dropped the connection: %v", env)
	}
	testenv.WaitFor(t, "the warning for the drop", func() bool {
		return strings.Contains(d.log.String(), "WARN: dropped blocked connection from ::ffff:127.0.0.2")
	})
	d2 := start(t, nil, []string{"-nodnslookup", "-noidentlookup", "-access=" + db, "-drop=X,Y"}, passServer(t))
	if env := session(t, d2.addr, "127.0.0.2"); env["BLOCK"] != "550 go away" {
		t.Errorf("-drop=X,Y dropped for BLOCK: %v", env)
	}
	if env := session(t, d2.addr, "127.0.0.4"); len(env) != 0 {
		t.Errorf("-drop=X,Y did not drop for Y=1: %v", env)
	}
}

// TestPidStopRestart: -pid detaches and writes the pid file; -restart
// (SIGHUP) re-opens the access database and passes SIGHUP on to the
// pass-mode courieresmtpd, and both go on; -stop ends it and its server.
func TestPidStopRestart(t *testing.T) {
	bin := testenv.Build(t, "couriertcpd")
	dir := publicDir(t)
	src := filepath.Join(dir, "smtpaccess")
	testenv.WriteFile(t, src, "127.0.0.1\tallow,FIRST\n", 0o644)
	dat := src + ".dat"
	if _, err := access.Compile(src, dat); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	addr := "127.0.0.1:" + port
	pid := filepath.Join(dir, "tcpd.pid")
	logf := filepath.Join(dir, "log")
	cmd := exec.Command(bin, "-pid="+pid, "-stderr="+logf, "-nodnslookup", "-noidentlookup", "-access="+dat, "-address=127.0.0.1", port, passServer(t))
	cmd.Env = append(os.Environ(), "TCPD_TEST_SERVER=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("couriertcpd -pid: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command(bin, "-pid="+pid, "-stop").Run() })
	data, err := os.ReadFile(pid)
	if err != nil {
		t.Fatal(err)
	}
	daemonPid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	env := session(t, addr, "127.0.0.1")
	if v, ok := env["FIRST"]; !ok || v != "" {
		t.Fatalf("before -restart: %v", env)
	}
	serverPid, _ := strconv.Atoi(env["pid"])
	testenv.WriteFile(t, src, "127.0.0.1\tallow,SECOND\n", 0o644)
	if _, err := access.Compile(src, dat); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-pid="+pid, "-restart").CombinedOutput(); err != nil {
		t.Fatalf("-restart: %v %s", err, out)
	}
	testenv.WaitFor(t, "the access database to be re-opened and the server told", func() bool {
		b, _ := os.ReadFile(logf)
		return strings.Contains(string(b), "SIGHUP: re-opened the access database "+dat) && strings.Contains(string(b), "test server: SIGHUP")
	})
	if env := session(t, addr, "127.0.0.1"); env["pid"] != strconv.Itoa(serverPid) {
		t.Errorf("after -restart: %v (server pid was %d)", env, serverPid)
	} else if _, ok := env["SECOND"]; !ok {
		t.Errorf("after -restart the new entry does not apply: %v", env)
	}
	if err := syscall.Kill(daemonPid, 0); err != nil {
		t.Errorf("the daemon (pid %d) is gone after -restart: %v", daemonPid, err)
	}
	if out, err := exec.Command(bin, "-pid="+pid, "-stop").CombinedOutput(); err != nil {
		t.Fatalf("-stop: %v %s", err, out)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("still listening after -stop")
	}
	testenv.WaitFor(t, "the server to stop with couriertcpd", func() bool {
		return syscall.Kill(serverPid, 0) != nil
	})
	// Nothing runs: -restart and -stop succeed quietly, as the original's.
	for _, verb := range []string{"-restart", "-stop"} {
		if out, err := exec.Command(bin, "-pid="+pid, verb).CombinedOutput(); err != nil || len(out) != 0 {
			t.Errorf("%s with nothing running: %v %q", verb, err, out)
		}
	}
}

// TestStderrLogger: one logger process gets every program's standard
// error and couriertcpd's own log, with the program's base name (or
// -stderrloggername) as its argument.
func TestStderrLogger(t *testing.T) {
	dir := publicDir(t)
	out := filepath.Join(dir, "logged")
	logger := filepath.Join(dir, "logger")
	testenv.WriteFile(t, logger, "#!/bin/sh\necho \"name=$1\" >>"+out+"\nexec cat >>"+out+"\n", 0o755)
	d := start(t, nil, []string{"-nodnslookup", "-noidentlookup", "-stderrlogger=" + logger}, "/bin/sh", "-c", "echo to the client; echo complaint $TCPREMOTEIP >&2")
	testenv.WaitFor(t, "couriertcpd to log that it listens", func() bool {
		b, _ := os.ReadFile(out)
		return strings.Contains(string(b), "listening on")
	})
	for _, from := range []string{"127.0.0.1", "127.0.0.2"} {
		c := dial(t, d.addr, from)
		if b, _ := io.ReadAll(c); string(b) != "to the client\n" {
			t.Errorf("client got %q", b)
		}
		c.Close()
	}
	testenv.WaitFor(t, "the programs' complaints in the log", func() bool {
		b, _ := os.ReadFile(out)
		return strings.Contains(string(b), "complaint ::ffff:127.0.0.1\n") && strings.Contains(string(b), "complaint ::ffff:127.0.0.2\n")
	})
	b, _ := os.ReadFile(out)
	if !strings.HasPrefix(string(b), "name=sh\n") || strings.Count(string(b), "name=") != 1 {
		t.Errorf("the logger did not run once with the program's name:\n%s", b)
	}
	start(t, nil, []string{"-nodnslookup", "-noidentlookup", "-stderrlogger=" + logger, "-stderrloggername=esmtpd-ssl"}, "/bin/true")
	testenv.WaitFor(t, "the second logger", func() bool {
		b, _ := os.ReadFile(out)
		return strings.Contains(string(b), "name=esmtpd-ssl\n") && strings.Count(string(b), "listening on") == 2
	})
}

// TestAsRoot: couriertcpd binds as root, then it and every program it
// starts run as -user (its group and supplementary groups), in both
// modes.
func TestAsRoot(t *testing.T) {
	group := testenv.NewSystemAccount(t, "cgtest-tcpd")
	u, err := privsep.LookupUser("cgtest-tcpd")
	if err != nil {
		t.Fatal(err)
	}
	cred, err := privsep.CredentialFor(u)
	if err != nil {
		t.Fatal(err)
	}
	gid, _ := privsep.LookupGroup(group)
	if !reflect.DeepEqual(sortedIDs(cred.Groups), sortedIDs([]uint32{u.GID, gid})) {
		t.Fatalf("the test account's groups: %v", cred.Groups)
	}
	d := start(t, nil, []string{"-nodnslookup", "-noidentlookup", "-user=cgtest-tcpd"}, passServer(t))
	env := session(t, d.addr, "127.0.0.1")
	spid, _ := strconv.Atoi(env["pid"])
	c := dial(t, d.addr, "127.0.0.1")
	defer c.Close()
	readEnv(bufio.NewReader(c))
	if err := privsep.VerifyProcess(spid, cred); err != nil {
		t.Errorf("the pass-mode server: %v", err)
	}
	if err := privsep.VerifyProcess(d.cmd.Process.Pid, cred); err != nil {
		t.Errorf("couriertcpd itself: %v", err)
	}
	e := start(t, nil, []string{"-nodnslookup", "-noidentlookup", "-user=cgtest-tcpd", "-exec"}, "/bin/sh", "-c", "grep -E '^(Uid|Gid|Groups):' /proc/$$/status")
	c2 := dial(t, e.addr, "127.0.0.1")
	b, _ := io.ReadAll(c2)
	c2.Close()
	want := fmt.Sprintf("Uid:\t%[1]d\t%[1]d\t%[1]d\t%[1]d\nGid:\t%[2]d\t%[2]d\t%[2]d\t%[2]d\n", u.UID, u.GID)
	if !strings.HasPrefix(string(b), want) {
		t.Errorf("the exec-mode program's ids:\n%s\nwant\n%s", b, want)
	}
}

func sortedIDs(ids []uint32) []uint32 {
	out := append([]uint32(nil), ids...)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// TestLikeTheOriginal runs the real couriertcpd and ours side by side
// with /usr/bin/env as the program, the same access file (compiled by
// the original's makedat and by access.Compile) and the same options,
// and compares the TCP* and access variables each gives for
// connections from the same addresses, and what a denied client gets.
func TestLikeTheOriginal(t *testing.T) {
	testenv.NeedPackage(t, "courier-mta", "/usr/sbin/couriertcpd", "/usr/bin/makedat")
	dir := publicDir(t)
	src := filepath.Join(dir, "smtpaccess")
	testenv.WriteFile(t, src, "127.0.0.1\tallow,RELAYCLIENT,SIZELIMIT=100\n127.0.0.3\tdeny\n127.0.0\tallow,NET=\"a, b\"\n", 0o644)
	_, errOut, code := testenv.Run(t, exec.Command("/usr/bin/makedat", "-src="+src, "-file="+filepath.Join(dir, "real.dat"), "-tmp="+filepath.Join(dir, "real.tmp"), "-cidr"))
	if code != 0 {
		t.Fatalf("makedat: %s", errOut)
	}
	if _, err := access.Compile(src, src+".dat"); err != nil {
		t.Fatal(err)
	}
	t.Run("nodnslookup", func(t *testing.T) { sideBySide(t, dir, src, "-nodnslookup") })
	// With DNS lookups both ask the servers of /etc/resolv.conf (not
	// /etc/hosts) about 127.0.0.x, when they answer.
	t.Run("dnslookup", func(t *testing.T) {
		cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil || len(cc.Servers) == 0 {
			testenv.Skip(t, "no DNS server in /etc/resolv.conf")
		}
		m := new(dns.Msg)
		m.SetQuestion("1.0.0.127.in-addr.arpa.", dns.TypePTR)
		if _, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, net.JoinHostPort(cc.Servers[0], cc.Port)); err != nil {
			testenv.Skip(t, "the DNS server of /etc/resolv.conf does not answer: "+err.Error())
		}
		sideBySide(t, dir, src)
	})
}

// sideBySide runs both couriertcpds with the access file src (src.dat
// ours, dir/real.dat the original's) and extra options, and compares.
func sideBySide(t *testing.T, dir, src string, extra ...string) {
	opts := append([]string{"-noidentlookup", "-maxprocs=10", "-denymsg=421 not you"}, extra...)
	port := freePort(t)
	real := exec.Command("/usr/sbin/couriertcpd", append(append([]string{}, opts...), "-access="+filepath.Join(dir, "real.dat"), "-address=127.0.0.1", port, "/usr/bin/env")...)
	real.Env = []string{"PATH=/usr/bin:/bin", "KEEP=1"}
	realLog := &testenv.SyncBuffer{}
	real.Stderr = realLog
	if err := real.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		real.Process.Signal(syscall.SIGTERM)
		real.Wait()
	}()
	realAddr := "127.0.0.1:" + port
	testenv.WaitFor(t, "the real couriertcpd to listen", func() bool {
		c, err := net.Dial("tcp", realAddr)
		if err == nil {
			io.ReadAll(c)
			c.Close()
		}
		return err == nil
	})
	ours := start(t, []string{"KEEP=1"}, append(opts, "-access="+src+".dat"), "/usr/bin/env")
	defer func() {
		ours.cmd.Process.Signal(syscall.SIGTERM)
		ours.cmd.Wait()
	}()
	tcpVars := func(addr, from string) (map[string]string, string) {
		c := dial(t, addr, from)
		defer c.Close()
		b, _ := io.ReadAll(c)
		_, lport, _ := net.SplitHostPort(c.LocalAddr().String())
		env := map[string]string{}
		for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			k, v, ok := strings.Cut(line, "=")
			if ok && (strings.HasPrefix(k, "TCP") && k != "TCPD_TEST_SERVER" || k == "RELAYCLIENT" || k == "SIZELIMIT" || k == "NET" || k == "KEEP") {
				env[k] = v
			}
		}
		if len(env) == 0 {
			return nil, string(b)
		}
		// The ports differ by nature: check them, then set them aside.
		if env["TCPREMOTEPORT"] != lport {
			t.Errorf("%s from %s: TCPREMOTEPORT=%s, the client's port is %s", addr, from, env["TCPREMOTEPORT"], lport)
		}
		_, port, _ := net.SplitHostPort(addr)
		if env["TCPLOCALPORT"] != port {
			t.Errorf("%s from %s: TCPLOCALPORT=%s, want %s", addr, from, env["TCPLOCALPORT"], port)
		}
		delete(env, "TCPREMOTEPORT")
		delete(env, "TCPLOCALPORT")
		return env, ""
	}
	for _, from := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.1.1"} {
		want, wantRaw := tcpVars(realAddr, from)
		got, gotRaw := tcpVars(ours.addr, from)
		if !reflect.DeepEqual(got, want) || gotRaw != wantRaw {
			t.Errorf("from %s: ours %v %q, the original's %v %q", from, got, gotRaw, want, wantRaw)
		} else {
			t.Logf("from %s: both give %v %q", from, got, gotRaw)
		}
	}
}

func TestParseArgs(t *testing.T) {
	o, err := tcpd.ParseArgs([]string{"-maxprocs=50", "-maxperip=5", "-block=bl.example=Shown,BLOCK2/127.0.0.2,go away @", "-allow=wl.example,W,", "-drop", "-user=courier", "-accesslocal", "-access=/x.dat", "127.0.0.1.25,587,smtp,0.465,::1.26", "/usr/sbin/courieresmtpd", "x"})
	if err != nil {
		t.Fatal(err)
	}
	if o.MaxProcs != 50 || o.MaxPerIP != 5 || o.MaxPerC != 50 || o.Warn != 44 || !reflect.DeepEqual(o.Drop, []string{"BLOCK"}) || !o.AccessLocal || o.Program != "/usr/sbin/courieresmtpd" || len(o.Args) != 1 {
		t.Errorf("%+v", o)
	}
	wantPorts := []tcpd.Port{{Addr: "127.0.0.1", Port: 25}, {Port: 587}, {Port: 25}, {Port: 465}, {Addr: "::1", Port: 26}}
	if !reflect.DeepEqual(o.Ports, wantPorts) {
		t.Errorf("ports %+v, want %+v", o.Ports, wantPorts)
	}
	if b := o.Blocks[0]; b.Zone != "bl.example" || b.Display != "Shown" || b.Var != "BLOCK2" || b.IP.String() != "127.0.0.2" || b.Msg != "go away @" || b.Allow {
		t.Errorf("block %+v", b)
	}
	if b := o.Blocks[1]; b.Zone != "wl.example" || b.Display != "wl.example" || b.Var != "W" || !b.HasMsg || !b.Allow {
		t.Errorf("allow %+v", b)
	}
	o, err = tcpd.ParseArgs([]string{"-address=10.0.0.1", "-drop=A,B", "-warn=0", "25,0.26,127.0.0.1.27", "p"})
	if err != nil || !reflect.DeepEqual(o.Ports, []tcpd.Port{{Addr: "10.0.0.1", Port: 25}, {Addr: "10.0.0.1", Port: 26}, {Addr: "127.0.0.1", Port: 27}}) ||
		!reflect.DeepEqual(o.Drop, []string{"A", "B"}) || o.Warn != 0 || o.MaxProcs != 40 || o.MaxPerIP != 4 || o.MaxPerC != 40 {
		t.Errorf("%+v %v", o, err)
	}
	if o, err := tcpd.ParseArgs([]string{"-pid=/run/x.pid", "-stop"}); err != nil || !o.Stop {
		t.Errorf("-stop: %+v %v", o, err)
	}
	for bad, why := range map[string]string{
		"-maxprocs=x 25 p":          "-maxprocs=x: not a positive number",
		"-maxperip=0 25 p":          "-maxperip=0",
		"-warn=41 25 p":             "-warn=41",
		"-frob 25 p":                "unknown option -frob",
		"25":                        "missing PORTLIST and PROGRAM",
		"-stop":                     "need -pid",
		"-accesslocal 25 p":         "-accesslocal requires -access",
		"-block=,X 25 p":            "DNS zone",
		"-block=z,9X 25 p":          `"9X" is not a variable name`,
		"-block=z,X/1.2.3 25 p":     "not an IPv4 address",
		"-haproxy=x 25 p":           "PROXY protocol",
		"-address=nowhere 25 p":     "-address=nowhere: not an IP address",
		"example.com.25 p":          `"example.com" is not an IP address`,
		"nosuchservice p":           `"nosuchservice" is not a port number`,
		"70000 p":                   `"70000" is not a port number`,
		", p":                       "names no port",
		"-nodnslookup=yes 25 p":     "takes no value",
		"-pid=x -stop -restart":     "not both",
		"-access= 25 p":             "needs a value",
		"-listen=-5 25 p":           "-listen=-5",
		"127.0.0.1.x,26 /bin/true":  `"x" is not a port number`,
		"-stderrlogger 25 /bin/cat": "needs a value",
	} {
		if _, err := tcpd.ParseArgs(strings.Fields(bad)); err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("ParseArgs(%q) = %v; want an error saying %q", bad, err, why)
		}
	}
}

func TestHelp(t *testing.T) {
	out, _, code := testenv.Run(t, exec.Command(testenv.Build(t, "couriertcpd"), "--help"))
	if code != 0 || !strings.HasPrefix(out, "Usage: couriertcpd [options] PORTLIST PROGRAM [ARG...]\n") {
		t.Errorf("--help: %d %q", code, out)
	}
}

func FuzzParseArgs(f *testing.F) {
	f.Add("-maxprocs=40\x00-block=bl.example=BL,VAR/1.2.3.4,msg\x0025,smtp\x00prog")
	f.Add("-pid=/x\x00-stop")
	f.Add("-drop=A,,B\x00-address=::1\x00127.0.0.1.25,::1.587,0.26\x00p\x00a")
	f.Fuzz(func(t *testing.T, s string) {
		o, err := tcpd.ParseArgs(strings.Split(s, "\x00"))
		if err != nil {
			return
		}
		if o.Stop || o.Restart {
			if o.PidFile == "" {
				t.Fatalf("-stop/-restart without -pid accepted: %q", s)
			}
			return
		}
		if o.MaxProcs <= 0 || o.MaxPerIP <= 0 || o.MaxPerC <= 0 || o.Warn < 0 || o.Warn > o.MaxProcs || len(o.Ports) == 0 || o.Program == "" {
			t.Fatalf("ParseArgs(%q) = %+v", s, o)
		}
		for _, p := range o.Ports {
			if p.Port <= 0 || p.Port > 65535 || (p.Addr != "" && net.ParseIP(p.Addr) == nil) {
				t.Fatalf("ParseArgs(%q): port %+v", s, p)
			}
		}
	})
}

// TestWildcard: without an address couriertcpd listens on the IPv6
// wildcard, which takes IPv4 clients too: they appear IPv4-mapped, IPv6
// ones as they are, each looked up in the access file in its own form.
func TestWildcard(t *testing.T) {
	v6, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		testenv.Skip(t, "no IPv6 loopback: "+err.Error())
	}
	v6.Close()
	db := accessDB(t, "127.0.0.1\tallow,V4\n:0000:0000:0000:0000:0000:0000:0000:0001\tallow,V6\n")
	bin := testenv.Build(t, "couriertcpd")
	port := freePort(t)
	log := &testenv.SyncBuffer{}
	cmd := exec.Command(bin, "-nodnslookup", "-noidentlookup", "-access="+db, port, passServer(t))
	cmd.Env = append(os.Environ(), "TCPD_TEST_SERVER=1")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	testenv.WaitFor(t, "couriertcpd to listen", func() bool { return strings.Contains(log.String(), "listening on [::]:"+port) })
	if env := session(t, "127.0.0.1:"+port, "127.0.0.1"); env["TCPREMOTEIP"] != "::ffff:127.0.0.1" || env["TCPLOCALIP"] != "::ffff:127.0.0.1" || env["V4"] != "" {
		t.Errorf("IPv4 client: %v", env)
	} else if _, ok := env["V4"]; !ok {
		t.Errorf("IPv4 client without its access entry: %v", env)
	}
	if env := session(t, "[::1]:"+port, "::1"); env["TCPREMOTEIP"] != "::1" || env["TCPLOCALIP"] != "::1" || env["TCPLOCALPORT"] != port {
		t.Errorf("IPv6 client: %v", env)
	} else if _, ok := env["V6"]; !ok {
		t.Errorf("IPv6 client without its access entry: %v", env)
	}
}

// BenchmarkPassMode measures whole connections through couriertcpd in
// pass mode: connect, receive the environment from the server, close.
func BenchmarkPassMode(b *testing.B) {
	benchConnections(b, nil, passServer(b))
}

// BenchmarkExecMode is the same with a program run per connection.
func BenchmarkExecMode(b *testing.B) {
	benchConnections(b, []string{"-exec"}, "/bin/echo", "end")
}

func benchConnections(b *testing.B, args []string, program ...string) {
	args = append([]string{"-nodnslookup", "-noidentlookup", "-maxprocs=400", "-maxperip=400", "-maxperc=400"}, args...)
	d := start(b, nil, args, program...)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c := dial(b, d.addr, "127.0.0.1")
			r := bufio.NewReader(c)
			if line, err := r.ReadString('\n'); err != nil || line == "" {
				b.Errorf("nothing from the server: %v", err)
			}
			readEnv(r)
			fmt.Fprintln(c, "bye")
			c.Close()
		}
	})
}

// BenchmarkRealExecMode is BenchmarkExecMode against the original
// couriertcpd, for comparison.
func BenchmarkRealExecMode(b *testing.B) {
	testenv.NeedPackage(b, "courier-mta", "/usr/sbin/couriertcpd")
	port := freePort(b)
	cmd := exec.Command("/usr/sbin/couriertcpd", "-nodnslookup", "-noidentlookup", "-maxprocs=400", "-maxperip=400", "-maxperc=400", "-address=127.0.0.1", port, "/bin/echo", "end")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	addr := "127.0.0.1:" + port
	testenv.WaitFor(b, "the real couriertcpd to listen", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c := dial(b, addr, "127.0.0.1")
			if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || line != "end\n" {
				b.Errorf("from the server: %q %v", line, err)
			}
			c.Close()
		}
	})
}

// TestCouriertls: "couriertls -server -tcpd [options] PROGRAM" (the -ssl
// wrappers' command) runs PROGRAM itself, here in pass mode; -exec keeps
// a pass-mode server in exec mode.
func TestCouriertls(t *testing.T) {
	server := passServer(t)
	d := start(t, nil, []string{"-nodnslookup", "-noidentlookup"}, "/usr/bin/couriertls", "-server", "-tcpd", "-user=courier", server)
	if env := session(t, d.addr, "127.0.0.1"); env["TCPREMOTEIP"] != "::ffff:127.0.0.1" {
		t.Errorf("through couriertls: %v", env)
	}
	if !strings.Contains(d.log.String(), "for "+server+" (pass mode)") {
		t.Errorf("log: %s", d.log)
	}
	e := start(t, nil, []string{"-nodnslookup", "-noidentlookup", "-exec"}, server)
	if !strings.Contains(e.log.String(), "for "+server+" (exec mode)") {
		t.Errorf("log: %s", e.log)
	}
}
