package inflow

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func newQueueDir(t *testing.T) string {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestGate(t *testing.T) {
	dir := newQueueDir(t)
	g := NewGate(dir)
	if d := g.Wait(time.Second); d != 0 {
		t.Errorf("no flag file: waited %v", d)
	}
	fl, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d := g.Wait(time.Second); d != 0 {
		t.Errorf("flag clear: waited %v", d)
	}
	if err := fl.Set(true); err != nil {
		t.Fatal(err)
	}
	if d := g.Wait(100 * time.Millisecond); d < 100*time.Millisecond {
		t.Errorf("flag set and never cleared: waited %v, want the whole 100ms", d)
	}
	// Cleared while sessions wait: all of them go on, well before the
	// limit.
	done := make(chan time.Duration)
	for range 3 {
		go func() { done <- g.Wait(time.Minute) }()
	}
	time.Sleep(50 * time.Millisecond)
	if err := fl.Set(false); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if d := <-done; d < 40*time.Millisecond || d > 30*time.Second {
			t.Errorf("waiter went on after %v, want when the flag cleared (50ms)", d)
		}
	}
	if err := fl.Set(true); err != nil {
		t.Fatal(err)
	}
	// A scheduler that stops clears the flag.
	if err := fl.Close(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(Path(dir)); string(b) != "0" {
		t.Errorf("flag after Close: %q, want \"0\"", b)
	}
	if d := g.Wait(time.Second); d != 0 {
		t.Errorf("after Close: waited %v", d)
	}
}

func TestCreateClearsAStaleFlag(t *testing.T) {
	dir := newQueueDir(t)
	if err := os.WriteFile(Path(dir), []byte("1"), 0o644); err != nil {
		t.Fatal(err)
	}
	fl, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	if d := NewGate(dir).Wait(time.Second); d != 0 {
		t.Errorf("flag left set by a scheduler that died, after a new Create: waited %v", d)
	}
}

func TestCreateError(t *testing.T) {
	if _, err := Create(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("Create without the queue's tmp/ succeeded")
	}
}
