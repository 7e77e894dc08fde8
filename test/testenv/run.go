package testenv

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// Run runs cmd to its end with its standard output and error captured, for
// tests that compare what a program printed and how it exited (often ours
// side by side with the original). A program that cannot be run at all
// fails the test; an exit status other than 0 is only reported in code.
func Run(t testing.TB, cmd *exec.Cmd) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running %q: %v", cmd.Args, err)
	}
	return o.String(), e.String(), code
}

// SyncBuffer collects the output of a running program, or of goroutines,
// for a test to read while it grows: Write and String may be called
// concurrently.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Has reports whether what was written holds s, waiting for it up to
// five seconds: a program's output reaches the buffer through a pipe and
// a goroutine, after whatever the program did next.
func (b *SyncBuffer) Has(s string) bool {
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if strings.Contains(b.String(), s) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}
