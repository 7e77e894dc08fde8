package pidfile

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParsePID(t *testing.T) {
	for in, want := range map[string]int{"123\n": 123, "  42 \nrest": 42, "4194304": 4194304, "007\n": 7} {
		if got, err := ParsePID([]byte(in)); err != nil || got != want {
			t.Errorf("%q: %d %v", in, got, err)
		}
	}
	for in, want := range map[string]string{
		"":                        "no process id on the first line",
		"\n12\n":                  "no process id on the first line",
		"1\n":                     `"1" is not a valid process id`,
		"0":                       `"0" is not a valid process id`,
		"-5":                      `"-5" is not a process id`,
		"12ab":                    `"12ab" is not a process id`,
		"4194305":                 `"4194305" is not a valid process id`,
		"99999999999999999999999": "is not a valid process id",
	} {
		if _, err := ParsePID([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", in, err, want)
		}
	}
}

func TestLockAndPIDFile(t *testing.T) {
	dir := t.TempDir()
	pf := filepath.Join(dir, "x.pid")
	if held, err := Running(pf); err != nil || held {
		t.Fatalf("Running before any lock: %v %v", held, err)
	}
	l, err := TryLock(pf)
	if err != nil || l == nil {
		t.Fatalf("TryLock: %v %v", l, err)
	}
	if err := l.WritePID(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(pf)
	if string(data) != strconv.Itoa(os.Getpid())+"\n" {
		t.Errorf("pid file %q", data)
	}
	st, err := os.Stat(LockPath(pf))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("lock file: %v %v", st, err)
	}
	if pid, err := ReadPID(pf); err != nil || pid != os.Getpid() {
		t.Errorf("ReadPID: %d %v", pid, err)
	}
	os.WriteFile(pf, []byte("garbage\n"), 0o644)
	if _, err := ReadPID(pf); err == nil || !strings.Contains(err.Error(), pf+`: "garbage" is not a process id`) {
		t.Errorf("ReadPID of garbage: %v", err)
	}
	// POSIX locks belong to the process: another process must see it
	// held; that is checked by the courierlogger tests, which run real
	// daemons.
}

func FuzzParsePID(f *testing.F) {
	f.Add([]byte("123\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pid, err := ParsePID(data)
		if err != nil {
			return
		}
		if pid < 2 || pid > 1<<22 {
			t.Fatalf("accepted pid %d from %q", pid, data)
		}
	})
}

// holdEnv makes the test binary a helper that takes the lock of the pid
// file it names, drops every reference to it and collects garbage.
const holdEnv = "PIDFILE_TEST_HOLD"

func TestMain(m *testing.M) {
	if pf := os.Getenv(holdEnv); pf != "" {
		if l, err := TryLock(pf); err != nil || l == nil || l.WritePID(os.Getpid()) != nil {
			fmt.Printf("TryLock: %v %v\n", l, err)
			os.Exit(1)
		}
		for i := 0; i < 3; i++ {
			runtime.GC()
			time.Sleep(10 * time.Millisecond)
		}
		fmt.Println("locked")
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestLockOutlivesItsValue: a daemon that keeps no reference to its Lock
// still holds it after the garbage collector ran (an unreachable *os.File
// is closed by it, and closing drops the process's locks).
func TestLockOutlivesItsValue(t *testing.T) {
	pf := filepath.Join(t.TempDir(), "held.pid")
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), holdEnv+"="+pf)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if line != "locked\n" {
		t.Fatalf("helper said %q", line)
	}
	if held, err := Running(pf); err != nil || !held {
		t.Errorf("lock of %s after a garbage collection in its holder: held %v, %v", pf, held, err)
	}
	if pid, held, err := Status(pf); err != nil || !held || pid != cmd.Process.Pid {
		t.Errorf("Status of %s held by %d: %d %v %v", pf, cmd.Process.Pid, pid, held, err)
	}
}

// TestStatusOnlyLooks: asking whether a daemon runs creates nothing.
func TestStatusOnlyLooks(t *testing.T) {
	pf := filepath.Join(t.TempDir(), "none.pid")
	if pid, held, err := Status(pf); err != nil || held || pid != 0 {
		t.Errorf("Status without a lock file: %d %v %v", pid, held, err)
	}
	if _, err := os.Stat(LockPath(pf)); !os.IsNotExist(err) {
		t.Errorf("Status created %s: %v", LockPath(pf), err)
	}
	if held, err := Running(filepath.Join(t.TempDir(), "no-such-dir", "x.pid")); err != nil || held {
		t.Errorf("Running in a missing directory: %v %v", held, err)
	}
}
