package testenv

import (
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

func TestRun(t *testing.T) {
	out, errOut, code := Run(t, exec.Command("sh", "-c", "echo out; echo err >&2; exit 3"))
	if out != "out\n" || errOut != "err\n" || code != 3 {
		t.Errorf("Run: %q %q %d", out, errOut, code)
	}
	if out, _, code := Run(t, exec.Command("true")); out != "" || code != 0 {
		t.Errorf("Run true: %q %d", out, code)
	}
}

func TestSyncBuffer(t *testing.T) {
	var b SyncBuffer
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				fmt.Fprintf(&b, "%d\n", i)
				_ = b.String()
			}
		}()
	}
	wg.Wait()
	if n := strings.Count(b.String(), "\n"); n != 800 {
		t.Errorf("%d lines, want 800", n)
	}
}
