package testenv

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDescendantsAndZombies starts a real process tree (a shell with a
// sleeping child) and a child left unreaped.
func TestDescendantsAndZombies(t *testing.T) {
	sh := exec.Command("sh", "-c", "sleep 1000 & echo $!; wait")
	out, err := sh.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sh.Process.Kill()
		sh.Wait()
	})
	line := make([]byte, 32)
	n, _ := out.Read(line)
	sleeper, err := strconv.Atoi(strings.TrimSpace(string(line[:n])))
	if err != nil {
		t.Fatalf("shell said %q", line[:n])
	}
	defer syscall.Kill(sleeper, syscall.SIGKILL)
	found := map[int]int{}
	for _, p := range Descendants(os.Getpid()) {
		found[p.PID] = p.PPID
	}
	if found[sh.Process.Pid] != os.Getpid() || found[sleeper] != sh.Process.Pid {
		t.Errorf("descendants of the test %v lack the shell %d or its sleep %d", found, sh.Process.Pid, sleeper)
	}
	if d := Descendants(sleeper); len(d) != 0 {
		t.Errorf("a childless process has descendants %+v", d)
	}

	if z := ZombieChildren(os.Getpid(), 0); len(z) != 0 {
		t.Fatalf("zombie children before any: %+v", z)
	}
	done := exec.Command("true")
	if err := done.Start(); err != nil {
		t.Fatal(err)
	}
	var z []int
	for deadline := time.Now().Add(10 * time.Second); len(z) == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, p := range ZombieChildren(os.Getpid(), 50*time.Millisecond) {
			z = append(z, p.PID)
		}
	}
	if len(z) != 1 || z[0] != done.Process.Pid {
		t.Errorf("zombie children %v, want the unreaped %d", z, done.Process.Pid)
	}
	done.Wait()
	if z := ZombieChildren(os.Getpid(), 0); len(z) != 0 {
		t.Errorf("zombie children after reaping: %+v", z)
	}
}
