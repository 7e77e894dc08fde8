package maildir

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestDeliver(t *testing.T) {
	d := newMaildir(t)
	msg := "Subject: a\n\nhello\n"
	p := deliver(t, d, msg)
	if filepath.Dir(p) != filepath.Join(d.Path, "new") {
		t.Fatalf("delivered to %s, want new/", p)
	}
	m := courierName.FindStringSubmatch(filepath.Base(p))
	if m == nil {
		t.Fatalf("name %q is not in Courier's form", filepath.Base(p))
	}
	if m[8] != strconv.Itoa(len(msg)) {
		t.Errorf(",S=%s, want %d", m[8], len(msg))
	}
	if m[6] != "" {
		t.Errorf("deliverquota-style name has a _ part: %q", m[6])
	}
	data, err := os.ReadFile(p)
	if err != nil || string(data) != msg {
		t.Fatalf("content %q, %v", data, err)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	sys := st.Sys().(*syscall.Stat_t)
	if m[4] != fmt.Sprintf("%016X", uint64(sys.Dev)) || m[5] != fmt.Sprintf("%016X", uint64(sys.Ino)) {
		t.Errorf("V%s I%s, but the file is dev %X inode %X", m[4], m[5], sys.Dev, sys.Ino)
	}
	if got := ls(t, filepath.Join(d.Path, "tmp")); len(got) != 0 {
		t.Errorf("tmp/ not empty after delivery: %v", got)
	}
}

func TestDeliverOptions(t *testing.T) {
	d := newMaildir(t)
	msg := "a\nb\r\nc\n"
	when := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	p, err := d.Deliver(strings.NewReader(msg), DeliverOptions{Uniq: "7", Size: int64(len(msg)), VSize: true, ModTime: when, Mode: 0o640})
	if err != nil {
		t.Fatal(err)
	}
	n, err := ParseName(filepath.Base(p))
	if err != nil {
		t.Fatal(err)
	}
	if n.Size != 7 || n.VSize != 9 {
		t.Errorf("S=%d W=%d, want 7 and 9 (two bare LFs)", n.Size, n.VSize)
	}
	if !strings.Contains(n.Unique, "_7.") {
		t.Errorf("name %q lacks _7", n.Unique)
	}
	st, _ := os.Stat(p)
	if !st.ModTime().Equal(when) {
		t.Errorf("mtime %v, want %v", st.ModTime(), when)
	}
	if st.Mode().Perm()&0o040 == 0 {
		t.Errorf("mode %v, want group read from 0640", st.Mode().Perm())
	}
	// An empty message still gets its size, and counts.
	p, err = d.Deliver(strings.NewReader(""), DeliverOptions{})
	if err != nil || !strings.HasSuffix(p, ",S=0") {
		t.Errorf("empty message: %s %v", p, err)
	}
}

func TestCreateCommitCurAbort(t *testing.T) {
	d := newMaildir(t)
	p, err := d.Create(strings.NewReader("x\n"), DeliverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p.TmpPath()); err != nil {
		t.Fatalf("pending message not in tmp/: %v", err)
	}
	path, err := p.CommitCur("SF")
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(path) != p.Unique()+":2,FS" || filepath.Dir(path) != filepath.Join(d.Path, "cur") {
		t.Errorf("committed to %s", path)
	}
	if _, err := p.Commit(); err == nil {
		t.Error("second commit succeeded")
	}
	if err := p.Abort(); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Error("abort after commit removed the message")
	}

	p, err = d.Create(strings.NewReader("y\n"), DeliverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Abort(); err != nil {
		t.Fatal(err)
	}
	if got := ls(t, filepath.Join(d.Path, "tmp")); len(got) != 0 {
		t.Errorf("tmp/ after abort: %v", got)
	}
}

type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, errors.New("connection reset")
	}
	k := min(len(p), r.n)
	r.n -= k
	return k, nil
}

func TestDeliverReadErrorLeavesNothing(t *testing.T) {
	d := newMaildir(t)
	_, err := d.Deliver(&failingReader{n: 100000}, DeliverOptions{})
	if err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("err = %v", err)
	}
	for _, sub := range []string{"tmp", "new", "cur"} {
		if got := ls(t, filepath.Join(d.Path, sub)); len(got) != 0 {
			t.Errorf("%s/ after a failed delivery: %v", sub, got)
		}
	}
}

func TestNamesUniqueAcrossGoroutines(t *testing.T) {
	d := newMaildir(t)
	const workers, each = 8, 50
	var wg sync.WaitGroup
	names := make(chan string, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				p, err := d.Deliver(strings.NewReader("m\n"), DeliverOptions{})
				if err != nil {
					t.Error(err)
					return
				}
				names <- filepath.Base(p)
			}
		}()
	}
	wg.Wait()
	close(names)
	seen := map[string]bool{}
	for n := range names {
		if seen[n] {
			t.Errorf("name %s delivered twice", n)
		}
		seen[n] = true
	}
	if got := ls(t, filepath.Join(d.Path, "new")); len(got) != workers*each || len(seen) != workers*each {
		t.Errorf("%d files in new/, %d distinct names, want %d", len(got), len(seen), workers*each)
	}
}

func TestNamesUniqueAcrossProcesses(t *testing.T) {
	d := newMaildir(t)
	const procs, each = 4, 50
	seen := map[string]bool{}
	for _, name := range deliverInProcesses(t, d.Path, procs, each) {
		if seen[name] {
			t.Errorf("name %s delivered twice", name)
		}
		seen[name] = true
	}
	files := ls(t, filepath.Join(d.Path, "new"))
	if len(files) != procs*each || len(seen) != procs*each {
		t.Fatalf("%d files, %d distinct names reported, want %d", len(files), len(seen), procs*each)
	}
	for _, f := range files {
		if !seen[f] {
			t.Errorf("file %s was not reported by any process", f)
		}
	}
}

// A delivery killed while writing leaves its file in tmp/ and nothing in
// new/; the file is purged once old enough.
func TestKilledDeliveryLeavesOnlyTmp(t *testing.T) {
	d := newMaildir(t)
	c := helper(t, "deliver-stdin", d.Path)
	in, err := c.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	chunk := strings.Repeat("x", 4096) + "\n"
	tmp := filepath.Join(d.Path, "tmp")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := io.WriteString(in, chunk); err != nil {
			t.Fatal(err)
		}
		if files := ls(t, tmp); len(files) == 1 {
			if st, err := os.Stat(filepath.Join(tmp, files[0])); err == nil && st.Size() > 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the delivering process wrote nothing into tmp/")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := c.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	c.Wait()
	in.Close()
	if got := ls(t, filepath.Join(d.Path, "new")); len(got) != 0 {
		t.Fatalf("new/ after a killed delivery: %v", got)
	}
	if got := ls(t, filepath.Join(d.Path, "cur")); len(got) != 0 {
		t.Fatalf("cur/ after a killed delivery: %v", got)
	}
	if got := ls(t, tmp); len(got) != 1 {
		t.Fatalf("tmp/ after a killed delivery: %v", got)
	}
	if n, err := d.PurgeTmp(TmpMaxAge); err != nil || n != 0 {
		t.Fatalf("PurgeTmp(36h) removed %d, %v; the file is fresh", n, err)
	}
	time.Sleep(10 * time.Millisecond)
	if n, err := d.PurgeTmp(time.Millisecond); err != nil || n != 1 {
		t.Fatalf("PurgeTmp(1ms) removed %d, %v", n, err)
	}
	if got := ls(t, tmp); len(got) != 0 {
		t.Fatalf("tmp/ after purge: %v", got)
	}
}

func TestScanNewFlagsFindRemove(t *testing.T) {
	d := newMaildir(t)
	a := filepath.Base(deliver(t, d, "A\n"))
	b := filepath.Base(deliver(t, d, "B\n"))
	// A file another program put into new/ with experimental info.
	foreign := "1.M1P1.other,S=2:1,x"
	if err := os.WriteFile(filepath.Join(d.Path, "new", foreign), []byte("C\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	moved, err := d.ScanNew()
	if err != nil {
		t.Fatal(err)
	}
	if len(moved) != 3 {
		t.Fatalf("moved %v", moved)
	}
	// ls sorts by name, and delivery order is not name order (M98156
	// sorts after M100001).
	want := []string{"1.M1P1.other,S=2:2,", a + ":2,", b + ":2,"}
	sort.Strings(want)
	if got := ls(t, filepath.Join(d.Path, "cur")); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("cur/ = %v, want %v", got, want)
	}
	if got := ls(t, filepath.Join(d.Path, "new")); len(got) != 0 {
		t.Fatalf("new/ = %v", got)
	}

	// Flags by unique part, then by the full current name.
	f, err := d.SetFlags(a, "SR")
	if err != nil || f != a+":2,RS" {
		t.Fatalf("SetFlags = %q, %v", f, err)
	}
	f, err = d.SetFlags(f, "F")
	if err != nil || f != a+":2,F" {
		t.Fatalf("SetFlags = %q, %v", f, err)
	}
	// Another session renamed b meanwhile: its old name still finds it.
	if err := os.Rename(filepath.Join(d.Path, "cur", b+":2,"), filepath.Join(d.Path, "cur", b+":2,D")); err != nil {
		t.Fatal(err)
	}
	f, err = d.SetFlags(b+":2,", "DS")
	if err != nil || f != b+":2,DS" {
		t.Fatalf("SetFlags after a foreign rename = %q, %v", f, err)
	}
	m, err := d.Find(b)
	if err != nil || m.Sub != "cur" || m.File != b+":2,DS" || m.Flags() != "DS" || m.Name.Size != 2 {
		t.Fatalf("Find = %+v, %v", m, err)
	}
	fh, m2, err := d.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(fh)
	fh.Close()
	if string(data) != "B\n" || m2.File != m.File {
		t.Errorf("Open read %q from %s", data, m2.File)
	}

	msgs, err := d.Messages()
	if err != nil || len(msgs) != 3 {
		t.Fatalf("Messages = %v, %v", msgs, err)
	}
	if err := d.Remove(a, b+":2,DS", "nonexistent"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Find(a); !errors.Is(err, ErrNoMessage) {
		t.Errorf("Find after Remove: %v", err)
	}
	if got := ls(t, filepath.Join(d.Path, "cur")); len(got) != 1 {
		t.Errorf("cur/ after Remove: %v", got)
	}
	// Flags on a message still in new/ move it to cur/.
	c := filepath.Base(deliver(t, d, "C\n"))
	if f, err := d.SetFlags(c, "S"); err != nil || f != c+":2,S" {
		t.Fatalf("SetFlags from new/ = %q, %v", f, err)
	}
	if _, err := os.Stat(filepath.Join(d.Path, "cur", c+":2,S")); err != nil {
		t.Error(err)
	}
}
