package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gocourier/courier/pkg/logging/pidfile"
	"github.com/gocourier/courier/pkg/proc"
	"github.com/gocourier/courier/pkg/supervise"
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
	for _, args := range [][]string{{}, {"flush"}, {"start", "now"}} {
		cmd := exec.Command(bin, args...)
		var e bytes.Buffer
		cmd.Stderr = &e
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(e.String(), "Usage: courier") {
			t.Errorf("courier %q: %v %q, want exit 1 with the usage", args, err, e.String())
		}
	}
}
