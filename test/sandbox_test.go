package test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gocourier/courier/pkg/proc"
	"github.com/gocourier/courier/test/testenv"
)

// TestMakeRun runs the quick start (scripts/sandbox.sh, which `make run`
// calls) into a temporary directory, checks that the supervisor comes up and
// stays up with the demo account usable, and that SIGINT and SIGTERM each
// leave no process of the tree behind within 5 seconds.
func TestMakeRun(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			// As root the deliveries run as the mail user, which must reach
			// the tree.
			os.Chmod(dir, 0o755)
			os.Chmod(filepath.Dir(dir), 0o755)
			root := filepath.Join(dir, "run")
			cmd, out := startSandbox(t, root)
			pidfile := filepath.Join(root, "var/run/courierd.pid")
			waitFor(t, 2*time.Minute, out, func() bool {
				b, err := os.ReadFile(pidfile)
				return err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(cmd.Process.Pid)
			}, "courierd to write its pid file")
			time.Sleep(2 * time.Second)
			if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
				t.Fatalf("courierd did not stay up: %v\n%s", err, out)
			}
			if !strings.Contains(out.String(), "demo@example.test") {
				t.Errorf("make run did not print the demo account:\n%s", out)
			}
			pw, err := os.ReadFile(filepath.Join(root, "demo.password"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(root, "sbin/authdaemond")); err == nil {
				waitFor(t, 30*time.Second, out, func() bool {
					_, err := os.Stat(filepath.Join(root, "var/authdaemon/socket"))
					return err == nil
				}, "authdaemond's socket")
				at := exec.Command(filepath.Join(root, "sbin/authtest"), "-s", "imap", "demo@example.test", strings.TrimSpace(string(pw)))
				if b, err := at.CombinedOutput(); err != nil || !bytes.Contains(b, []byte("Authentication succeeded.")) {
					t.Errorf("authtest for the demo account: %v\n%s", err, b)
				}
			}
			if _, err := os.Stat(filepath.Join(root, "sbin/sendmail")); err == nil {
				// The quick start's local mail line: delivered to the demo
				// maildir by the scheduler and courierlocal.
				sm := exec.Command(filepath.Join(root, "sbin/sendmail"), "demo@example.test")
				sm.Stdin = strings.NewReader("Subject: hello from the quick start\n\nhi\n")
				if b, err := sm.CombinedOutput(); err != nil {
					t.Fatalf("sendmail: %v\n%s", err, b)
				}
				waitFor(t, time.Minute, out, func() bool {
					m, _ := filepath.Glob(filepath.Join(root, "home/demo/Maildir/new/*"))
					return len(m) == 1
				}, "the message in the demo maildir")
			}
			tree := processTree(cmd.Process.Pid, root)
			if len(tree) < 2 {
				t.Errorf("expected courierd and at least one service, found processes %v\n%s", tree, out)
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			deadline := time.Now().Add(5 * time.Second)
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatalf("courierd still running 5 s after %v\n%s", sig, out)
			}
			for {
				left := processTree(-1, root)
				if len(left) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("processes left 5 s after %v: %v\n%s", sig, left, out)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

func startSandbox(t *testing.T, root string) (*exec.Cmd, *testenv.SyncBuffer) {
	t.Helper()
	repo, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := &testenv.SyncBuffer{}
	cmd := exec.Command(filepath.Join(repo, "scripts/sandbox.sh"), root)
	cmd.Dir = repo
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, p := range processTree(-1, root) {
			syscall.Kill(p, syscall.SIGKILL)
		}
		cmd.Process.Kill()
	})
	return cmd, out
}

func waitFor(t *testing.T, limit time.Duration, out *testenv.SyncBuffer, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s\n%s", what, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// processTree lists the processes that descend from pid (pid itself
// included; -1 for none) or whose executable lies under root. Zombies
// count: a zombie is a process its parent failed to reap.
func processTree(pid int, root string) []int {
	in := map[int]bool{}
	for _, p := range testenv.Descendants(pid) {
		in[p.PID] = true
	}
	var out []int
	proc.Scan(func(p proc.Stat) bool {
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", p.PID))
		if p.PID == pid || in[p.PID] || strings.HasPrefix(exe, root+"/") {
			out = append(out, p.PID)
		}
		return true
	})
	return out
}
