package track

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func newTracker(t *testing.T) *Tracker {
	t.Helper()
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "track"), 0o750); err != nil {
		t.Fatal(err)
	}
	tr := Open(root)
	tr.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	return tr
}

func readHour(t *testing.T, tr *Tracker, now time.Time) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(tr.Dir(), strconv.FormatInt(now.Unix()/3600, 10)))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// The file format and name of spec §1/§8: track/<time/3600>, mode 0644,
// lines "<time> <kind><address>" with the domain lower-cased.
func TestRecordFormat(t *testing.T) {
	tr := newTracker(t)
	now := time.Unix(1795319713, 0)
	if err := tr.Record("User3-BSFail@Example.TEST", Failed, now); err != nil {
		t.Fatal(err)
	}
	if err := tr.Record("user3-bsdefer@example.test", Deferred, now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	want := "1795319713 FUser3-BSFail@example.test\n1795319714 Duser3-bsdefer@example.test\n"
	if got := readHour(t, tr, now); got != want {
		t.Errorf("track file:\n%q\nwant\n%q", got, want)
	}
	st, err := os.Stat(filepath.Join(tr.Dir(), "498699"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}
	if k, ok := tr.Lookup("User3-BSFail@EXAMPLE.test", now.Add(time.Minute)); !ok || k != Failed {
		t.Errorf("Lookup failed address: %q %v", k, ok)
	}
	if k, ok := tr.Lookup("user3-bsdefer@example.test", now.Add(time.Minute)); !ok || k != Deferred {
		t.Errorf("Lookup deferred address: %q %v", k, ok)
	}
	if _, ok := tr.Lookup("user3-bsfail@example.test", now); ok {
		t.Error("the local part must keep its case")
	}
}

// Listed for 2 h after the record, then forgotten; files beyond the window
// are purged when a new hour's file is started.
func TestExpiry(t *testing.T) {
	tr := newTracker(t)
	t0 := time.Unix(1795319713, 0)
	if err := tr.Record("a@x.example", Failed, t0); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		after  time.Duration
		listed bool
	}{{0, true}, {time.Hour, true}, {2*time.Hour - time.Second, true}, {2 * time.Hour, true}, {2*time.Hour + time.Second, false}, {5 * time.Hour, false}} {
		if _, ok := tr.Lookup("a@x.example", t0.Add(c.after)); ok != c.listed {
			t.Errorf("%v after the failure: listed %v, want %v", c.after, ok, c.listed)
		}
	}
	if l, _ := tr.List(t0.Add(90 * time.Minute)); !reflect.DeepEqual(l, []string{"a@x.example"}) {
		t.Errorf("List within the window: %q", l)
	}
	later := t0.Add(4 * time.Hour)
	if err := tr.Record("b@x.example", Deferred, later); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(tr.Dir(), strconv.FormatInt(t0.Unix()/3600, 10))); !os.IsNotExist(err) {
		t.Errorf("an hour file 4 h old was not purged: %v", err)
	}
	if l, _ := tr.List(later); !reflect.DeepEqual(l, []string{"b@x.example"}) {
		t.Errorf("List after expiry: %q", l)
	}
}

// A failure of a listed address is written again only after half the window;
// a success writes A only for a listed address and clears it.
func TestRecordRules(t *testing.T) {
	tr := newTracker(t)
	t0 := time.Unix(1795312800, 0) // at the start of an hour
	steps := []struct {
		at   time.Duration
		kind byte
	}{
		{0, Accepted},                // not listed: nothing
		{time.Second, Failed},        // written
		{30 * time.Minute, Deferred}, // listed 30 min ago: nothing
		{61 * time.Minute, Deferred}, // older than 1 h: written (next hour file)
		{62 * time.Minute, Accepted}, // listed: written
		{63 * time.Minute, Accepted}, // no longer listed: nothing
		{64 * time.Minute, Failed},   // written again
	}
	for _, s := range steps {
		if err := tr.Record("r@x.example", s.kind, t0.Add(s.at)); err != nil {
			t.Fatal(err)
		}
	}
	got := readHour(t, tr, t0) + readHour(t, tr, t0.Add(time.Hour))
	want := fmt.Sprintf("%d Fr@x.example\n%d Dr@x.example\n%d Ar@x.example\n%d Fr@x.example\n",
		t0.Unix()+1, t0.Unix()+61*60, t0.Unix()+62*60, t0.Unix()+64*60)
	if got != want {
		t.Errorf("records:\n%s\nwant\n%s", got, want)
	}
	if err := tr.Record("r@x.example", 'S', t0); err == nil {
		t.Error("Record accepted kind S")
	}
}

// courier clear: A for one address or for every listed one; a clear in a
// later hour wins over an earlier failure.
func TestClear(t *testing.T) {
	tr := newTracker(t)
	t0 := time.Unix(1795312800+3000, 0)
	for i, a := range []string{"c@x.example", "a@x.example", "b@x.example"} {
		if err := tr.Record(a, Failed, t0.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	t1 := t0.Add(20 * time.Minute) // the next hour
	if err := tr.Clear("b@X.EXAMPLE", t1); err != nil {
		t.Fatal(err)
	}
	if _, ok := tr.Lookup("b@x.example", t1); ok {
		t.Error("cleared address still listed")
	}
	l, err := tr.List(t1)
	if err != nil || !reflect.DeepEqual(l, []string{"a@x.example", "c@x.example"}) {
		t.Errorf("List: %q %v", l, err)
	}
	if err := tr.ClearAll(t1); err != nil {
		t.Fatal(err)
	}
	if l, err := tr.List(t1); err != nil || len(l) != 0 {
		t.Errorf("List after clear all: %q %v", l, err)
	}
	want := fmt.Sprintf("%d Ab@x.example\n%d Aa@x.example\n%d Ac@x.example\n", t1.Unix(), t1.Unix(), t1.Unix())
	if got := readHour(t, tr, t1); got != want {
		t.Errorf("hour file:\n%s\nwant\n%s", got, want)
	}
}

// Malformed lines are reported with file:line and skipped; the rest counts.
func TestMalformedLines(t *testing.T) {
	tr := newTracker(t)
	now := time.Unix(1795319713, 0)
	p := filepath.Join(tr.Dir(), strconv.FormatInt(now.Unix()/3600, 10))
	content := "1795319700 Fgood@x.example\ngarbage\n1795319701 F\n12x4 Fa@b\n1795319702 Dother@x.example\n1795319703 Ftorn@x"
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := tr.List(now)
	if !reflect.DeepEqual(l, []string{"good@x.example", "other@x.example"}) {
		t.Errorf("List: %q", l)
	}
	if err == nil {
		t.Fatal("no error for malformed lines")
	}
	for _, want := range []string{p + ":2: no space after the time", p + ":3: no address", p + `:4: bad time "12x4"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "torn") {
		t.Errorf("an unterminated last line is not an error: %v", err)
	}
	if k, ok := tr.Lookup("other@x.example", now); !ok || k != Deferred {
		t.Errorf("Lookup with malformed lines around: %q %v", k, ok)
	}
}

// The original never lets root create files in the courier user's track
// directory; neither do we.
func TestForeignOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	tr := newTracker(t)
	if err := os.Chown(tr.Dir(), 65534, 65534); err != nil {
		t.Fatal(err)
	}
	err := tr.Clear("a@x.example", time.Now())
	if err == nil || !strings.Contains(err.Error(), "belongs to uid 65534") {
		t.Errorf("Clear in a foreign directory: %v", err)
	}
}

// Writers in several goroutines never tear a line (one O_APPEND write each).
func TestConcurrentWriters(t *testing.T) {
	tr := newTracker(t)
	now := time.Unix(1795319713, 0)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if err := tr.Clear(fmt.Sprintf("g%d-%d@x.example", g, i), now); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	data := readHour(t, tr, now)
	es, err := ParseFile("hour", []byte(data))
	if err != nil || len(es) != 400 {
		t.Errorf("%d entries, err %v", len(es), err)
	}
}

func FuzzParseLine(f *testing.F) {
	for _, s := range []string{"1795319713 Fa@b.example", "1 Dx", "", " F", "99999999999999999999 Fa", "1 1a", "12 A\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		e, err := ParseLine(line)
		if err != nil {
			return
		}
		if e.Address == "" || strings.ContainsAny(e.Address, "\n\x00") {
			t.Fatalf("accepted %q as %+v", line, e)
		}
		again, err := ParseLine(e.Line())
		if err != nil || again != e {
			t.Fatalf("%q: reformatted %q parses as %+v, %v", line, e.Line(), again, err)
		}
	})
}
