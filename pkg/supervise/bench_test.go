package supervise

import (
	"io"
	"log/slog"
	"testing"
	"time"
)

// BenchmarkRestartCycle measures one exit-reap-restart cycle of a service
// that exits at once (/bin/true) with a negligible backoff: the cost the
// supervisor adds to fork/exec.
func BenchmarkRestartCycle(b *testing.B) {
	s, err := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	spec := Spec{Name: "true", Path: "/bin/true", Backoff: Backoff{Min: time.Nanosecond, Max: time.Nanosecond}}
	b.ResetTimer()
	if err := s.Start([]Spec{spec}); err != nil {
		b.Fatal(err)
	}
	for s.Status()[0].Starts < b.N {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	s.Stop()
}
