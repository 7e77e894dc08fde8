package mbox

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func deliver(t *testing.T, path, msg string) {
	t.Helper()
	m, err := Open(context.Background(), path, Options{Retry: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Append("From a@example.com Sat Nov 22 03:14:07 2025", []string{"Delivered-To: u@example.test", "Return-Path: <a@example.com>"}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
}

func TestAppendQuotesFromLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mbox")
	deliver(t, path, "Subject: x\n\nFrom here\n>From there\n>>From x\nFromage\n From not\nlast line without newline")
	deliver(t, path, "Subject: y\n\nbody\n")
	got, _ := os.ReadFile(path)
	want := "From a@example.com Sat Nov 22 03:14:07 2025\nDelivered-To: u@example.test\nReturn-Path: <a@example.com>\n" +
		"Subject: x\n\n>From here\n>>From there\n>>>From x\nFromage\n From not\nlast line without newline" +
		"From a@example.com Sat Nov 22 03:14:07 2025\nDelivered-To: u@example.test\nReturn-Path: <a@example.com>\nSubject: y\n\nbody\n"
	if string(got) != want {
		t.Errorf("mbox:\n%q\nwant\n%q", got, want)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("new mailbox mode %v, want 0600", st.Mode().Perm())
	}
	if _, err := os.Stat(path + ".lock"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dot-lock left behind: %v", err)
	}
	left, _ := filepath.Glob(path + ".lock.*")
	if len(left) != 0 {
		t.Errorf("temporary lock files left: %v", left)
	}
}

type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, errors.New("disk on fire")
	}
	r.n--
	return copy(p, strings.Repeat("x", 100)+"\n"), nil
}

func TestFailureTruncatesBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mbox")
	deliver(t, path, "first\n")
	before, _ := os.ReadFile(path)
	m, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = m.Append("From x", nil, &failingReader{n: 2000})
	m.Close()
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("Append = %v, want the reader's error", err)
	}
	after, _ := os.ReadFile(path)
	if string(after) != string(before) {
		t.Errorf("mailbox not truncated back: %d bytes, had %d", len(after), len(before))
	}
}

func TestDotlockExcludes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mbox")
	first, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := os.ReadFile(path + ".lock"); !strings.HasPrefix(string(id), strconv.Itoa(os.Getpid())+":") {
		t.Errorf("dot-lock content %q, want <pid>:<host>", id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	// Our own pid in the lock counts as stale (a recycled pid), as in the
	// original; hold it with another process's id to see the wait.
	host, _ := os.Hostname()
	sleeper := exec.Command("sleep", "30")
	sleeper.Start()
	defer sleeper.Process.Kill()
	os.WriteFile(path+".lock", []byte(strconv.Itoa(sleeper.Process.Pid)+":"+host), 0o644)
	if _, err := Open(ctx, path, Options{Retry: 20 * time.Millisecond}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("second Open while locked = %v, want a timeout", err)
	}
	first.Close()
	// The dead-owner lock: a finished process's pid is stale.
	done := exec.Command("true")
	done.Run()
	os.WriteFile(path+".lock", []byte(strconv.Itoa(done.Process.Pid)+":"+host), 0o644)
	m, err := Open(context.Background(), path, Options{Retry: 20 * time.Millisecond})
	if err != nil {
		t.Fatalf("stale lock of a dead process not removed: %v", err)
	}
	m.Close()
}

func TestKernelLockAgainstLockmail(t *testing.T) {
	if _, err := exec.LookPath("lockmail"); err != nil {
		t.Skip("lockmail (courier-maildrop) not installed")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "mbox")
	os.WriteFile(path, nil, 0o600)
	// The real Courier's lockmail holds the dot-lock and the fcntl lock
	// while it runs its command.
	done := filepath.Join(dir, "done")
	hold := exec.Command("lockmail", path, "sh", "-c", "sleep 0.5; touch "+done)
	if err := hold.Start(); err != nil {
		t.Fatal(err)
	}
	defer hold.Wait()
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(path + ".lock"); err == nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	m, err := Open(context.Background(), path, Options{Retry: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	if _, err := os.Stat(done); err != nil {
		t.Error("locked the mailbox while lockmail still held it")
	}
}

func TestRealLockmailWaitsForUs(t *testing.T) {
	if _, err := exec.LookPath("lockmail"); err != nil {
		t.Skip("lockmail (courier-maildrop) not installed")
	}
	path := filepath.Join(t.TempDir(), "mbox")
	m, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(filepath.Dir(path), "ran")
	c := exec.Command("lockmail", path, "touch", out)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := os.Stat(out); err == nil {
		t.Error("lockmail ran its command while we held the mailbox")
	}
	m.Close()
	if err := c.Wait(); err != nil {
		t.Fatalf("lockmail: %v", err)
	}
	if _, err := os.Stat(out); err != nil {
		t.Error("lockmail did not run after we released the mailbox")
	}
}

func FuzzAppend(f *testing.F) {
	f.Add([]byte("From x\n>From y\nbody"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		path := filepath.Join(t.TempDir(), "mbox")
		m, err := Open(context.Background(), path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Append("From s", nil, strings.NewReader(string(msg))); err != nil {
			t.Fatal(err)
		}
		m.Close()
		got, _ := os.ReadFile(path)
		body := strings.TrimPrefix(string(got), "From s\n")
		// Unquoting every "^>+From " line by one '>' gives the message back.
		lines := strings.SplitAfter(body, "\n")
		for i, l := range lines {
			j := 0
			for j < len(l) && l[j] == '>' {
				j++
			}
			if strings.HasPrefix(l[j:], "From ") {
				if j == 0 {
					t.Fatalf("unquoted From line %q", l)
				}
				lines[i] = l[1:]
			}
		}
		if strings.Join(lines, "") != string(msg) {
			t.Fatalf("round trip: %q -> %q", msg, body)
		}
	})
}
