package supervise

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gocourier/courier/pkg/logging/pidfile"
)

// record is one captured log record.
type record struct {
	Level slog.Level
	Msg   string
	Attrs map[string]any
}

// recorder is a slog.Handler that keeps every record, so that tests can
// check what the supervisor told the admin.
type recorder struct {
	mu      sync.Mutex
	records []record
	t       testing.TB
	// infoUp makes the handler say it takes Info and above only, as
	// courierd's own logger does.
	infoUp bool
}

func (r *recorder) Enabled(_ context.Context, l slog.Level) bool {
	return !r.infoUp || l >= slog.LevelInfo
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	m := map[string]any{}
	rec.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.Any()
		return true
	})
	r.mu.Lock()
	r.records = append(r.records, record{rec.Level, rec.Message, m})
	r.mu.Unlock()
	return nil
}

// find returns the records whose message contains s.
func (r *recorder) find(s string) []record {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []record
	for _, rec := range r.records {
		if strings.Contains(rec.Msg, s) {
			out = append(out, rec)
		}
	}
	return out
}

func (r *recorder) dump() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, rec := range r.records {
		fmt.Fprintf(&b, "%s %s %v\n", rec.Level, rec.Msg, rec.Attrs)
	}
	return b.String()
}

func newTestSupervisor(t *testing.T) (*Supervisor, *recorder) {
	t.Helper()
	rec := &recorder{t: t}
	s, err := New(Options{Logger: slog.New(rec)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s, rec
}

// script writes an executable shell script and returns its path.
func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// readPid reads a pid file written by a test service; 0 if absent.
func readPid(p string) int {
	pid, _ := pidfile.ReadPID(p)
	return pid
}

// lines returns the non-empty lines of a file.
func lines(p string) []string {
	data, _ := os.ReadFile(p)
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}
