package scheduler

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gocourier/courier/pkg/controlfiles"
	"github.com/gocourier/courier/pkg/module"
)

// TestRetryNext checks the schedule the spec derives from cdmsgq3.C and
// observed: gaps of 5, 5, 30, 5, 5, 60, 5, 5, 120, 5, 5, 120 minutes.
func TestRetryNext(t *testing.T) {
	now := time.Unix(1795319713, 0)
	want := []int{5, 5, 30, 5, 5, 60, 5, 5, 120, 5, 5, 120, 5}
	for i, w := range want {
		got := DefaultRetry.Next(now, i+1).Sub(now)
		if got != time.Duration(w)*time.Minute {
			t.Errorf("after pass %d: next in %v, want %d minutes", i+1, got, w)
		}
	}
}

func TestLoadRetry(t *testing.T) {
	dir := t.TempDir()
	for name, v := range map[string]string{"retryalpha": "2s", "retrybeta": "2", "retrygamma": "3s", "retrymaxdelta": "1"} {
		os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o644)
	}
	f, err := controlfiles.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := LoadRetry(f, []module.Config{{MaxDels: 10}, {MaxDels: 4}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(0, 0)
	var gaps []time.Duration
	for c := 1; c <= 6; c++ {
		gaps = append(gaps, r.Next(now, c).Sub(now))
	}
	want := []time.Duration{2 * time.Second, 6 * time.Second, 2 * time.Second, 6 * time.Second, 2 * time.Second, 6 * time.Second}
	for i := range want {
		if gaps[i] != want[i] {
			t.Fatalf("gaps %v, want %v", gaps, want)
		}
	}
	if r.QueueLo != 200 || r.QueueHi != 400 {
		t.Errorf("queuelo %d queuehi %d, want 200 and 400", r.QueueLo, r.QueueHi)
	}
	os.WriteFile(filepath.Join(dir, "retrybeta"), []byte("three\n"), 0o644)
	if _, err := LoadRetry(f, nil); err == nil {
		t.Error("a bad retrybeta was accepted")
	}
}

// TestModuleLimits checks MAXDELS and MAXHOST and that hosts take turns.
func TestModuleLimits(t *testing.T) {
	m := &Module{Config: module.Config{Name: "local", MaxDels: 3, MaxHost: 2}, perHost: map[string]int{}, waiting: map[string][]*delivery{}}
	add := func(host string, n int) {
		for range n {
			m.wait(&delivery{line: module.Delivery{Host: host}})
		}
	}
	add("a", 4)
	add("b", 1)
	var got []string
	var taken []*delivery
	for d := m.next(); d != nil; d = m.next() {
		got = append(got, d.line.Host)
		taken = append(taken, d)
	}
	if len(got) != 3 || got[0] != "a" || got[1] != "b" || got[2] != "a" {
		t.Fatalf("first round %v, want [a b a]", got)
	}
	m.done(taken[1]) // b finished: a is at MAXHOST, nothing may start
	if d := m.next(); d != nil {
		t.Fatalf("started %s beyond MAXHOST", d.line.Host)
	}
	m.done(taken[0])
	if d := m.next(); d == nil || d.line.Host != "a" {
		t.Fatalf("after a finished: %v", d)
	}
}
