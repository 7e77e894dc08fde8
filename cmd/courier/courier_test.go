package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gocourier/courier/pkg/logging/pidfile"
	"github.com/gocourier/courier/pkg/mailq"
	"github.com/gocourier/courier/pkg/proc"
	"github.com/gocourier/courier/pkg/queue"
	"github.com/gocourier/courier/pkg/supervise"
	"github.com/gocourier/courier/pkg/track"
	"github.com/gocourier/courier/test/testenv"
)

func newSandbox(t *testing.T) (*testenv.Sandbox, string) {
	t.Helper()
	sb := testenv.NewSandbox(t, "courier", "courierd")
	tmp := sb.WritableDir(t, "pids")
	script := filepath.Join(sb.Layout.LibexecDir, "idle.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho $$ > \"$1\"\nexec sleep 1000\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Whatever happened, leave no courierd behind.
		pidFile := supervise.PidPath(sb.Layout.RunDir)
		if pid, running, _ := pidfile.Status(pidFile); running {
			syscall.Kill(pid, syscall.SIGTERM)
			for i := 0; i < 500 && proc.Alive(pid); i++ {
				time.Sleep(20 * time.Millisecond)
			}
		}
	})
	return sb, tmp
}

func idleService(t *testing.T, sb *testenv.Sandbox, tmp, version string) {
	t.Helper()
	sb.WriteConfig(t, "supervise.d/idle", fmt.Sprintf("PROGRAM=%s\nARGS=%s\nVERSION=%s\n",
		filepath.Join(sb.Layout.LibexecDir, "idle.sh"), filepath.Join(tmp, "idle.pid"), version), 0o644)
}

// courier runs the sandbox's courier command.
func courier(t *testing.T, sb *testenv.Sandbox, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return testenv.Run(t, exec.Command(sb.Path("courier"), args...))
}

// readPid reads a pid file written by the test service; 0 if absent.
func readPid(p string) int {
	pid, _ := pidfile.ReadPID(p)
	return pid
}

func TestStartRestartStop(t *testing.T) {
	sb, tmp := newSandbox(t)
	idleService(t, sb, tmp, "1")
	pidFile := supervise.PidPath(sb.Layout.RunDir)
	svcPid := filepath.Join(tmp, "idle.pid")

	out, errOut, code := courier(t, sb, "start")
	if code != 0 {
		t.Fatalf("courier start: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "started idle") || !strings.Contains(out, "courierd is running 1 of 1 configured services") {
		t.Errorf("courier start does not report what it started:\n%s", out)
	}
	pid, running, err := pidfile.Status(pidFile)
	if err != nil || !running || !proc.Alive(pid) {
		t.Fatalf("after courier start: pid %d running %v err %v", pid, running, err)
	}
	testenv.WaitFor(t, "the service", func() bool { return readPid(svcPid) > 0 })
	first := readPid(svcPid)
	if sid, _ := unix.Getsid(pid); sid != pid {
		t.Errorf("courierd (pid %d) is in session %d, not its own", pid, sid)
	}

	out, _, code = courier(t, sb, "start")
	if code != 0 || out != fmt.Sprintf("courierd is already running (pid %d)\n", pid) {
		t.Errorf("second courier start: exit %d, %q", code, out)
	}

	idleService(t, sb, tmp, "2")
	if out, errOut, code := courier(t, sb, "restart"); code != 0 || out+errOut != "" {
		t.Fatalf("courier restart: exit %d, %q %q", code, out, errOut)
	}
	testenv.WaitFor(t, "the changed service to restart", func() bool { n := readPid(svcPid); return n != first && n > 0 })
	if !proc.Alive(pid) {
		t.Error("courier restart stopped courierd")
	}
	second := readPid(svcPid)

	if out, errOut, code := courier(t, sb, "stop"); code != 0 || out+errOut != "" {
		t.Fatalf("courier stop: exit %d, %q %q", code, out, errOut)
	}
	if proc.Alive(pid) || proc.Alive(second) {
		t.Errorf("after courier stop: courierd alive %v, service alive %v", proc.Alive(pid), proc.Alive(second))
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("pid file left: %v", err)
	}
	if out, _, code := courier(t, sb, "stop"); code != 0 || out != "courierd is not running\n" {
		t.Errorf("courier stop when stopped: exit %d, %q", code, out)
	}
	if _, errOut, code := courier(t, sb, "restart"); code != 1 || !strings.Contains(errOut, "courierd is not running") {
		t.Errorf("courier restart when stopped: exit %d, %q", code, errOut)
	}
}

// A courierd that cannot start: courier start fails and shows why.
func TestStartFailureShowsLog(t *testing.T) {
	sb, _ := newSandbox(t)
	sb.WriteConfig(t, "supervise.d/broken", "# broken\nPROGRAM=/bin/true\nSTOPTIMEOUT=forever\n", 0o644)
	out, errOut, code := courier(t, sb, "start")
	if code != 1 {
		t.Fatalf("courier start with a broken configuration: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"courierd's log:",
		sb.Layout.Config("supervise.d/broken") + `:3: STOPTIMEOUT="forever"`,
		"courier: courierd failed to start: exited with status 1",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if _, running, _ := pidfile.Status(supervise.PidPath(sb.Layout.RunDir)); running {
		t.Error("a courierd runs after a failed start")
	}
}

func TestUsage(t *testing.T) {
	bin := testenv.Build(t, "courier")
	out, err := exec.Command(bin, "--help").Output()
	if err != nil || !strings.HasPrefix(string(out), "Usage: courier start|stop|restart") {
		t.Errorf("--help: %v %q", err, out)
	}
	for _, args := range [][]string{{}, {"flush", "a", "b"}, {"clear"}, {"show", "some"}, {"start", "now"}} {
		cmd := exec.Command(bin, args...)
		var e bytes.Buffer
		cmd.Stderr = &e
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(e.String(), "Usage: courier") {
			t.Errorf("courier %q: %v %q, want exit 1 with the usage", args, err, e.String())
		}
	}
}

func TestVersion(t *testing.T) {
	out, err := exec.Command(testenv.Build(t, "courier"), "--version").Output()
	if err != nil || string(out) != mailq.VersionLine+"\n" {
		t.Errorf("--version: %v %q", err, out)
	}
}

// courier flush writes the trigger lines of spec §3 for the scheduler.
func TestFlush(t *testing.T) {
	sb := testenv.NewSandbox(t, "courier")
	q, err := queue.Open(sb.Layout.LocalstateDir, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	id, err := q.Submit(&queue.Envelope{Sender: "s@x.example", Source: "local", Recipients: []queue.Recipient{{Address: "r@y.example"}}}, strings.NewReader("Subject: x\n\nbody\n"))
	if err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := courier(t, sb, "flush"); code != 1 || out != "" || !strings.Contains(errOut, "courierd is not running") {
		t.Errorf("flush without a scheduler: exit %d %q %q", code, out, errOut)
	}
	fifo, err := q.ListenTrigger()
	if err != nil {
		t.Fatal(err)
	}
	defer fifo.Close()
	for _, args := range [][]string{{"flush"}, {"flush", id.String()}} {
		if out, errOut, code := courier(t, sb, args...); code != 0 || out+errOut != "" {
			t.Errorf("courier %q: exit %d %q %q", args, code, out, errOut)
		}
	}
	if out, errOut, code := courier(t, sb, "flush", "0000000000000001.000000006B0267A1.00007614"); code != 1 || out != "" || errOut != "No such message.\n" {
		t.Errorf("flush of an unknown message: exit %d %q %q", code, out, errOut)
	}
	want := "FLUSH\nFLUSH" + id.String() + "\n"
	buf := make([]byte, 200)
	fifo.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := ""
	for len(got) < len(want) {
		n, err := fifo.Read(buf)
		if err != nil {
			break
		}
		got += string(buf[:n])
	}
	if got != want {
		t.Errorf("trigger got %q, want %q", got, want)
	}
}

// courier clear and show all on the backscatter list (spec §4, §8).
func TestClearShow(t *testing.T) {
	sb := testenv.NewSandbox(t, "courier")
	if _, err := queue.Open(sb.Layout.LocalstateDir, queue.Options{}); err != nil {
		t.Fatal(err)
	}
	tr := track.Open(sb.Layout.LocalstateDir)
	// An hour ago, so the current hour's file is created by courier clear.
	hourAgo := time.Now().Add(-time.Hour)
	for _, a := range []string{"zed@x.example", "Bob@X.example", "al@y.example"} {
		if err := tr.Record(a, track.Failed, hourAgo); err != nil {
			t.Fatal(err)
		}
	}
	// Run as root, courier works on the track files as the mail user, who
	// owns the queue in an installed tree.
	if os.Getuid() == 0 {
		sb.WritableDir(t, "mailuser") // makes the tree's parents reachable by the mail user
		owner := sb.Layout.MailUser + ":" + sb.Layout.MailGroup
		if out, err := exec.Command("chown", "-R", owner, sb.Layout.LocalstateDir).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v %s", err, out)
		}
	}
	if out, errOut, code := courier(t, sb, "show", "all"); code != 0 || out != "Bob@x.example\nal@y.example\nzed@x.example\n" || errOut != "" {
		t.Errorf("show all: exit %d %q %q", code, out, errOut)
	}
	if out, errOut, code := courier(t, sb, "clear", "Bob@X.EXAMPLE"); code != 0 || out != "Bob@X.EXAMPLE cleared.\n" || errOut != "" {
		t.Errorf("clear: exit %d %q %q", code, out, errOut)
	}
	if os.Getuid() == 0 {
		// The A record was written by the mail user, not by root.
		u, err := user.Lookup(sb.Layout.MailUser)
		if err != nil {
			t.Fatal(err)
		}
		hour := filepath.Join(tr.Dir(), fmt.Sprint(time.Now().Unix()/3600))
		st, err := os.Stat(hour)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(st.Sys().(*syscall.Stat_t).Uid); got != u.Uid {
			t.Errorf("%s belongs to uid %s, want the mail user's %s", hour, got, u.Uid)
		}
	}
	if k, ok := tr.Lookup("Bob@x.example", time.Now()); ok {
		t.Errorf("cleared address still listed as %c", k)
	}
	if out, errOut, code := courier(t, sb, "clear", "all"); code != 0 || out+errOut != "" {
		t.Errorf("clear all: exit %d %q %q", code, out, errOut)
	}
	if out, _, _ := courier(t, sb, "show", "all"); out != "" {
		t.Errorf("show all after clear all: %q", out)
	}
}
