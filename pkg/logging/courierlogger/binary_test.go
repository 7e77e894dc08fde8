package courierlogger

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gocourier/courier/pkg/logging"
	"github.com/gocourier/courier/pkg/logging/pidfile"
	"github.com/gocourier/courier/pkg/logging/syslogtest"
	"github.com/gocourier/courier/pkg/privsep"
	"github.com/gocourier/courier/pkg/privsep/privseptest"
	"github.com/gocourier/courier/pkg/proc"
	"github.com/gocourier/courier/test/testenv"
)

const realLogger = "/usr/sbin/courierlogger"

// run runs a courierlogger binary with its syslog socket at sock.
func run(t *testing.T, bin, sock, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runIn(t, "", bin, sock, stdin, args...)
}

// runIn is run in directory dir.
func runIn(t *testing.T, dir, bin, sock, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), logging.SocketEnv+"="+sock, "GORACE=atexit_sleep_ms=0")
	cmd.Stdin = strings.NewReader(stdin)
	return testenv.Run(t, cmd)
}

// expect reads len(want) messages and compares them without timestamps.
func expect(t *testing.T, s *syslogtest.Server, want ...string) {
	t.Helper()
	for _, w := range want {
		if got := s.Next(t).String(); got != w {
			t.Errorf("syslog got  %q\n           want %q", got, w)
		}
	}
}

func TestStandalone(t *testing.T) {
	bin := testenv.Build(t, "courierlogger")
	s := syslogtest.Listen(t)
	in := "plain line\nERR: an error\nWARN:warn x\nALERT: a\nCRIT: c\nDEBUG: d\nINFO:   i\nNOTICE: n\nerr: lower\n\n  lead\n" +
		"cltest[77]: ERR: with pid\nother[77]: no pid\n" + strings.Repeat("A", 600) + "B\nlast without newline"
	_, stderr, code := run(t, bin, s.Path, in, "-name=cltest")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	expect(t, s, "<22>cltest: plain line", "<19>cltest: an error", "<20>cltest: warn x", "<17>cltest: a", "<18>cltest: c",
		"<23>cltest: d", "<22>cltest: i", "<21>cltest: n", "<22>cltest: err: lower", "<22>cltest: ", "<22>cltest: lead",
		"<19>cltest[77]: with pid", "<22>cltest: other[77]: no pid",
		"<22>cltest: "+strings.Repeat("A", 511), "<22>cltest: "+strings.Repeat("A", 89)+"B", "<22>cltest: last without newline")

	run(t, bin, s.Path, "x\n", "-name=fac", "-facility=local3")
	run(t, bin, s.Path, "compat\n", "compatname")
	expect(t, s, "<158>fac: x", "<22>compatname: compat")
	if p := s.Pending(t); len(p) != 0 {
		t.Errorf("unexpected messages %v", p)
	}
}

// TestSameLinesAsOriginal feeds the same input to the original
// courierlogger, with a private /dev/log in a mount namespace, and to ours.
func TestSameLinesAsOriginal(t *testing.T) {
	testenv.NeedPackage(t, "courier-authlib", realLogger)
	testenv.NeedRoot(t)
	testenv.NeedPackage(t, "util-linux", "unshare")
	bin := testenv.Build(t, "courierlogger")
	dir := t.TempDir()
	s := syslogtest.ListenAt(t, filepath.Join(dir, "log"))
	in := "plain\nERR: e\nWARN:w\nALERT: a\nCRIT: c\nDEBUG: d\nINFO:   i\nerr: x\n\n  lead\n" + strings.Repeat("x", 600) + "\nend"
	// Bind our socket over /dev/log (created on a private tmpfs /dev)
	// for the original only.
	script := `set -e
mkdir -p "$1/olddev"; mount --bind /dev "$1/olddev"; mount -t tmpfs none /dev
touch /dev/null; mount --bind "$1/olddev/null" /dev/null
touch /dev/log; mount --bind "$1/log" /dev/log
printf '%s' "$2" | ` + realLogger + ` -name=same
` + realLogger + ` -facility=local5 /bin/sh -c 'echo "$0" >&2; echo out' "$2"`
	cmd := exec.Command("unshare", "-m", "sh", "-c", script, "sh", dir, in)
	if out, err := cmd.CombinedOutput(); err != nil {
		testenv.Skip(t, fmt.Sprintf("cannot give the original a private /dev/log (needs mount namespaces): %v: %s", err, out))
	}
	var orig []string
	for _, m := range s.Pending(t) {
		orig = append(orig, m.String())
	}
	// Datagrams from one process arrive in order; wait for the last.
	for len(orig) < 26 {
		orig = append(orig, s.Next(t).String())
	}
	run(t, bin, s.Path, in, "-name=same")
	run(t, bin, s.Path, "", "-facility=local5", "/bin/sh", "-c", `echo "$0" >&2; echo out`, in)
	var ours []string
	for len(ours) < len(orig) {
		ours = append(ours, s.Next(t).String())
	}
	if strings.Join(ours, "\n") != strings.Join(orig, "\n") {
		t.Errorf("original:\n%s\nours:\n%s", strings.Join(orig, "\n"), strings.Join(ours, "\n"))
	}
}

func TestProgram(t *testing.T) {
	bin := testenv.Build(t, "courierlogger")
	s := syslogtest.Listen(t)
	// Standard output and input of the program are /dev/null.
	stdout, stderr, code := run(t, bin, s.Path, "never read\n", "/bin/sh", "-c",
		`echo fromchild >&2; echo to-stdout; read x; echo "read=$?" >&2; echo "sh[$$]: WARN: own pid" >&2; printf "ERR: no newline" >&2`)
	if code != 0 || stdout != "" || stderr != "" {
		t.Fatalf("exit %d stdout %q stderr %q", code, stdout, stderr)
	}
	expect(t, s, "<22>sh: fromchild", "<22>sh: read=1")
	m := s.Next(t)
	if m.Ident != "sh" || m.PID == 0 || m.Severity != logging.SevWarning || m.Text != "own pid" {
		t.Errorf("pid line: %+v", m)
	}
	expect(t, s, "<19>sh: no newline")

	// A program that cannot be started.
	_, stderr, code = run(t, bin, s.Path, "", "-name=x", "/nonexistent/prog")
	if code != 1 || !strings.Contains(stderr, "/nonexistent/prog") {
		t.Errorf("missing program: exit %d, stderr %q", code, stderr)
	}
}

func TestArgErrorsAsOriginal(t *testing.T) {
	testenv.NeedPackage(t, "courier-authlib", realLogger)
	bin := testenv.Build(t, "courierlogger")
	dir := t.TempDir()
	pf := filepath.Join(dir, "pid")
	for _, args := range [][]string{
		{}, {"-x"}, {"-start"}, {"-pid=" + pf}, {"-facility=security", "-name=x"}, {"-facility=console"},
		{"-pid=", "a", "b"}, {"-name=", "a", "b"}, {"-name=x", "-start", "prog"}, {"-stop"}, {"-restart"},
		{"-name=n", "-pid=" + pf, "-start"}, {"--help", "x"},
	} {
		_, oe, oc := run(t, realLogger, "/nonexistent", "", args...)
		_, we, wc := run(t, bin, "/nonexistent", "", args...)
		if oe != we || oc != wc {
			t.Errorf("%q: original exit %d %q, ours exit %d %q", args, oc, oe, wc, we)
		}
	}
	// --help alone is ours: usage on standard output, status 0.
	stdout, _, code := run(t, bin, "/nonexistent", "", "--help")
	if code != 0 || !strings.HasPrefix(stdout, "Usage: courierlogger") {
		t.Errorf("--help: %d %q", code, stdout)
	}
	// Stopping or restarting what is not running succeeds at once.
	for _, op := range []string{"-stop", "-restart"} {
		if _, e, c := run(t, bin, "/nonexistent", "", "-pid="+pf, op); c != 0 || e != "" {
			t.Errorf("%s of nothing: %d %q", op, c, e)
		}
	}
}

// readPID reads a pid file that must name a live process, and makes sure
// that process and its children are gone when the test ends.
func readPID(t *testing.T, pf string) int {
	t.Helper()
	pid, err := pidfile.ReadPID(pf)
	if err != nil {
		t.Fatal(err)
	}
	if !proc.Alive(pid) {
		t.Fatalf("pid file %s names %d, which does not run", pf, pid)
	}
	t.Cleanup(func() {
		if !proc.Alive(pid) {
			return
		}
		for _, c := range proc.Children(pid) {
			syscall.Kill(c.PID, syscall.SIGKILL)
		}
		syscall.Kill(pid, syscall.SIGKILL)
	})
	return pid
}

// childOf returns the only child process of pid.
func childOf(t *testing.T, pid int) int {
	t.Helper()
	kids := proc.Children(pid)
	if len(kids) != 1 {
		t.Fatalf("process %d has children %+v", pid, kids)
	}
	return kids[0].PID
}

const loopScript = `trap "echo got-term >&2; exit 0" TERM; trap "echo got-hup >&2" HUP; echo "started $$" >&2; while :; do sleep 0.05; done`

func TestStartStopRestart(t *testing.T) {
	t.Parallel()
	bin := testenv.Build(t, "courierlogger")
	s := syslogtest.Listen(t)
	dir := t.TempDir()
	pf := filepath.Join(dir, "logger.pid")
	stdout, stderr, code := run(t, bin, s.Path, "", "-pid="+pf, "-name=svc", "-start", "/bin/sh", "-c", loopScript)
	if code != 0 || stdout != "" || stderr != "" {
		t.Fatalf("-start: exit %d stdout %q stderr %q", code, stdout, stderr)
	}
	pid := readPID(t, pf)
	child := childOf(t, pid)
	if m := s.Next(t); m.String() != "<22>svc: started "+strconv.Itoa(child) {
		t.Errorf("got %q", m)
	}
	if st, err := os.Stat(pidfile.LockPath(pf)); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("lock file: %v %v", st, err)
	}
	if held, err := pidfile.Running(pf); err != nil || !held {
		t.Errorf("lock not held: %v %v", held, err)
	}
	// Detached: its own session, parent gone.
	if sid, _ := unix.Getsid(pid); sid != pid {
		t.Errorf("daemon session %d, want its own", sid)
	}

	// A second copy quietly does nothing.
	if _, e, c := run(t, bin, s.Path, "", "-pid="+pf, "-name=svc", "-start", "/bin/sh", "-c", "echo second >&2"); c != 0 || e != "" {
		t.Errorf("second -start: %d %q", c, e)
	}
	if p := readPID(t, pf); p != pid {
		t.Errorf("pid file changed to %d", p)
	}

	// -restart: SIGHUP to the program, which keeps running.
	if _, e, c := run(t, bin, s.Path, "", "-pid="+pf, "-restart"); c != 0 || e != "" {
		t.Errorf("-restart: %d %q", c, e)
	}
	expect(t, s, "<22>svc: got-hup")

	// -stop: SIGTERM passed on; returns once the daemon is gone.
	if _, e, c := run(t, bin, s.Path, "", "-pid="+pf, "-stop"); c != 0 || e != "" {
		t.Errorf("-stop: %d %q", c, e)
	}
	if proc.Alive(pid) {
		t.Errorf("daemon %d still runs after -stop returned", pid)
	}
	expect(t, s, "<22>svc: got-term")
	if p := s.Pending(t); len(p) != 0 {
		t.Errorf("unexpected messages %v (the second copy must not have run)", p)
	}
	if held, _ := pidfile.Running(pf); held {
		t.Error("lock still held")
	}
}

func TestHUPRestartsProgramThatExits(t *testing.T) {
	t.Parallel()
	bin := testenv.Build(t, "courierlogger")
	s := syslogtest.Listen(t)
	dir := t.TempDir()
	pf := filepath.Join(dir, "pid")
	// The shell dies of SIGHUP (no trap); courierlogger starts it again,
	// by its relative path although it works in / by then.
	script := "#!/bin/sh\n" + `trap "echo got-term >&2; exit 0" TERM; echo "started $$" >&2; while :; do sleep 0.05; done` + "\n"
	if err := os.WriteFile(filepath.Join(dir, "loop.sh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, e, c := runIn(t, dir, bin, s.Path, "", "-pid=pid", "-name=hup", "./loop.sh"); c != 0 || e != "" {
		t.Fatalf("start (implied by -pid): %d %q", c, e)
	}
	pid := readPID(t, pf)
	first := s.Next(t).Text
	syscall.Kill(pid, syscall.SIGHUP)
	second := s.Next(t).Text
	if !strings.HasPrefix(second, "started ") || second == first {
		t.Errorf("after SIGHUP: %q (before: %q)", second, first)
	}
	if _, e, c := run(t, bin, s.Path, "", "-pid="+pf, "-stop"); c != 0 || e != "" {
		t.Errorf("-stop: %d %q", c, e)
	}
	expect(t, s, "<22>hup: got-term")
}

func TestStopIgnoredTERMAndOrphans(t *testing.T) {
	t.Parallel()
	bin := testenv.Build(t, "courierlogger")
	s := syslogtest.Listen(t)
	dir := t.TempDir()
	pf := filepath.Join(dir, "pid")
	orphan := filepath.Join(dir, "orphan")
	// The program ignores SIGTERM (killed after 8 seconds) and leaves a
	// background process holding its standard error.
	script := `trap "" TERM; sleep 60 & echo $! > ` + orphan + `; echo ready >&2; while :; do sleep 0.05; done`
	if _, e, c := run(t, bin, s.Path, "", "-pid="+pf, "-name=stubborn", "-start", "/bin/sh", "-c", script); c != 0 || e != "" {
		t.Fatalf("-start: %d %q", c, e)
	}
	pid := readPID(t, pf)
	expect(t, s, "<22>stubborn: ready")
	data, _ := os.ReadFile(orphan)
	opid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	if opid > 1 {
		t.Cleanup(func() { syscall.Kill(opid, syscall.SIGKILL) })
	}
	if _, e, c := run(t, bin, s.Path, "", "-pid="+pf, "-stop"); c != 0 || e != "" {
		t.Errorf("-stop: %d %q", c, e)
	}
	if proc.Alive(pid) {
		t.Errorf("daemon %d still runs after -stop returned", pid)
	}
}

func TestRespawn(t *testing.T) {
	t.Parallel()
	bin := testenv.Build(t, "courierlogger")
	s := syslogtest.Listen(t)
	pf := filepath.Join(t.TempDir(), "pid")
	if _, e, c := run(t, bin, s.Path, "", "-pid="+pf, "-name=rs", "-respawn", "-start", "/bin/sh", "-c", `echo "run $$" >&2`); c != 0 || e != "" {
		t.Fatalf("-start: %d %q", c, e)
	}
	pid := readPID(t, pf)
	a, b := s.Next(t).Text, s.Next(t).Text
	if !strings.HasPrefix(a, "run ") || !strings.HasPrefix(b, "run ") || a == b {
		t.Errorf("respawned runs %q %q", a, b)
	}
	if _, e, c := run(t, bin, s.Path, "", "-pid="+pf, "-stop"); c != 0 || e != "" {
		t.Errorf("-stop: %d %q", c, e)
	}
	if proc.Alive(pid) {
		t.Errorf("daemon still runs")
	}
}

// TestInteropWithOriginal: each -stop stops the other's daemon, since both
// use the same lock protocol.
func TestInteropWithOriginal(t *testing.T) {
	testenv.NeedPackage(t, "courier-authlib", realLogger)
	t.Parallel()
	bin := testenv.Build(t, "courierlogger")
	s := syslogtest.Listen(t)
	pf := filepath.Join(t.TempDir(), "pid")
	for _, c := range []struct{ starter, stopper string }{{realLogger, bin}, {bin, realLogger}} {
		if _, e, code := run(t, c.starter, s.Path, "", "-pid="+pf, "-name=io", "-start", "/bin/sh", "-c", loopScript); code != 0 || e != "" {
			t.Fatalf("%s -start: %d %q", c.starter, code, e)
		}
		pid := readPID(t, pf)
		// The other one sees it running: a second start does nothing.
		if _, e, code := run(t, c.stopper, s.Path, "", "-pid="+pf, "-name=io", "-start", "/bin/true"); code != 0 || e != "" {
			t.Errorf("%s second -start: %d %q", c.stopper, code, e)
		}
		if p := readPID(t, pf); p != pid {
			t.Errorf("%s replaced the pid file of a running daemon", c.stopper)
		}
		if _, e, code := run(t, c.stopper, s.Path, "", "-pid="+pf, "-stop"); code != 0 || e != "" {
			t.Errorf("%s -stop: %d %q", c.stopper, code, e)
		}
		if proc.Alive(pid) {
			t.Errorf("%s -stop left %s's daemon %d running", c.stopper, c.starter, pid)
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func TestUserDropRoot(t *testing.T) {
	acct := privseptest.NewAccount(t, "cgtest-clog")
	bin := testenv.Build(t, "courierlogger")
	s := syslogtest.Listen(t)
	// The socket's directory must let the unprivileged logger in.
	os.Chmod(filepath.Dir(s.Path), 0o755)
	os.Chmod(s.Path, 0o666)
	want := acct.Credential()
	root := privsep.Credential{UID: 0, GID: 0, Groups: []uint32{}}
	for _, c := range []struct {
		args         []string
		logger, prog privsep.Credential
	}{
		{[]string{"-user=" + acct.Name, "-droproot"}, want, want},
		{[]string{"-user=" + acct.Name}, want, root},
		{[]string{"-user=" + strconv.Itoa(int(acct.UID)), "-group=" + acct.Group},
			privsep.Credential{UID: acct.UID, GID: acct.SuppGID, Groups: []uint32{acct.SuppGID}}, root},
		{[]string{"-group=" + acct.Group, "-droproot"},
			privsep.Credential{UID: 0, GID: acct.SuppGID, Groups: []uint32{acct.SuppGID}},
			privsep.Credential{UID: 0, GID: acct.SuppGID, Groups: []uint32{acct.SuppGID}}},
	} {
		pf := filepath.Join(t.TempDir(), "pid")
		args := append([]string{"-pid=" + pf, "-name=drop"}, c.args...)
		args = append(args, "-start", "/bin/sh", "-c", loopScript)
		if _, e, code := run(t, bin, s.Path, "", args...); code != 0 || e != "" {
			t.Fatalf("%q: %d %q", args, code, e)
		}
		pid := readPID(t, pf)
		child := childOf(t, pid)
		s.Next(t) // started
		// The logger drops after starting the program: wait for that.
		var err error
		for i := 0; i < 100; i++ {
			if err = privsep.VerifyProcess(pid, c.logger); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Errorf("%q: logger: %v", c.args, err)
		}
		if c.prog.UID == 0 {
			// Root keeps its capabilities; compare the ids only.
			tasks, err := privsep.ReadTasks(child)
			if err != nil {
				t.Fatal(err)
			}
			for _, task := range tasks {
				if task.UID != [4]uint32{} || task.GID[0] != c.prog.GID || len(task.Groups) != len(c.prog.Groups) {
					t.Errorf("%q: program thread %+v, want %v", c.args, task, c.prog)
				}
			}
		} else if err := privsep.VerifyProcess(child, c.prog); err != nil {
			t.Errorf("%q: program: %v", c.args, err)
		}
		// The logger still forwards after its drop.
		syscall.Kill(child, syscall.SIGHUP)
		expect(t, s, "<22>drop: got-hup")
		if c.prog.UID != c.logger.UID {
			// As in the original (see courierlogger(1)), a logger
			// that dropped root cannot signal a root program: -stop
			// would only kill the logger. The program ends by
			// itself, and the logger with it.
			syscall.Kill(child, syscall.SIGTERM)
		}
		if _, e, code := run(t, bin, s.Path, "", "-pid="+pf, "-stop"); code != 0 || e != "" {
			t.Errorf("-stop: %d %q", code, e)
		}
		expect(t, s, "<22>drop: got-term")
		if proc.Alive(pid) || proc.Alive(child) {
			t.Errorf("%q: processes left after -stop: logger %d gone %v, program %d gone %v", c.args, pid, !proc.Alive(pid), child, !proc.Alive(child))
		}
	}
}
