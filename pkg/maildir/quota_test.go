package maildir

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func withQuota(t *testing.T, spec string) *Dir {
	t.Helper()
	d := newMaildir(t)
	q, err := ParseQuotaSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := SetQuota(d.Path, q); err != nil {
		t.Fatal(err)
	}
	return d
}

func fileText(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSetQuotaWritesCourierFile(t *testing.T) {
	d := withQuota(t, "1000000S,500C")
	// Exactly what maildirmake -q 1000000S,500C writes (spec/maildir.md §3).
	if got, want := fileText(t, filepath.Join(d.Path, "maildirsize")), "1000000S,500C\n           0            0\n"; got != want {
		t.Errorf("maildirsize = %q, want %q", got, want)
	}
	st, _ := os.Stat(filepath.Join(d.Path, "maildirsize"))
	if st.Mode().Perm() != 0o644 {
		t.Errorf("maildirsize mode %v, want 0644", st.Mode().Perm())
	}
	if got := ls(t, filepath.Join(d.Path, "tmp")); len(got) != 0 {
		t.Errorf("tmp/ after SetQuota: %v", got)
	}
	if err := SetQuota(d.Path, QuotaSpec{}); err == nil {
		t.Error("SetQuota accepted a spec without limits")
	}
}

func TestFullMaildirDefersAndFreedSpaceAllows(t *testing.T) {
	d := withQuota(t, "100S,3C")
	msg := "Subject: a\n\nhello\n" // 18 bytes, as in the Debian experiment
	var names []string
	for i := 0; i < 3; i++ {
		names = append(names, filepath.Base(deliver(t, d, msg)))
	}
	if got, want := fileText(t, filepath.Join(d.Path, "maildirsize")),
		"100S,3C\n           0            0\n          18            1\n          18            1\n          18            1\n"; got != want {
		t.Errorf("maildirsize = %q, want %q", got, want)
	}
	_, err := d.Deliver(strings.NewReader(msg), DeliverOptions{})
	var qe *QuotaError
	if !errors.Is(err, ErrOverQuota) || !errors.As(err, &qe) || !qe.Temporary() {
		t.Fatalf("fourth delivery: %v, want a temporary *QuotaError", err)
	}
	if qe.Usage != (Usage{54, 3}) || qe.Add != (Usage{18, 1}) || qe.Root != d.Path {
		t.Errorf("QuotaError %+v", qe)
	}
	if !strings.Contains(err.Error(), d.Path) || !strings.Contains(err.Error(), "100S,3C") {
		t.Errorf("message does not name the maildir and quota: %v", err)
	}
	// Refused: nothing written; the over-quota check recounted the file,
	// as Courier did in the same experiment ("54 3").
	if got := ls(t, filepath.Join(d.Path, "new")); len(got) != 3 {
		t.Errorf("new/ = %v", got)
	}
	if got := ls(t, filepath.Join(d.Path, "tmp")); len(got) != 0 {
		t.Errorf("tmp/ = %v", got)
	}
	if got, want := fileText(t, filepath.Join(d.Path, "maildirsize")), "100S,3C\n          54            3\n"; got != want {
		t.Errorf("maildirsize after the refusal = %q, want %q", got, want)
	}
	// A known size is refused before anything is written.
	if _, err := d.Deliver(strings.NewReader(msg), DeliverOptions{Size: 18}); !errors.Is(err, ErrOverQuota) {
		t.Errorf("with Size: %v", err)
	}

	if err := d.Remove(names[0]); err != nil {
		t.Fatal(err)
	}
	if sf := readSizeFile(t, d.Path); sf.Usage != (Usage{36, 2}) || sf.Lines != 2 {
		t.Errorf("after removal %+v, want 36 bytes 2 messages in 2 lines", sf)
	}
	deliver(t, d, msg)
	if sf := readSizeFile(t, d.Path); sf.Usage != recount(t, d.Path) {
		t.Errorf("maildirsize %+v, recount %+v", sf.Usage, recount(t, d.Path))
	}
}

// Eight goroutines deliver and delete at once, many times over the 5120
// bytes that force recounts: the file must still agree with a recount.
func TestConcurrentDeliveriesKeepMaildirsizeExact(t *testing.T) {
	d := withQuota(t, "100000000S,100000C")
	if err := CreateFolder(d.Path, "Lists"); err != nil {
		t.Fatal(err)
	}
	lists, err := OpenFolder(d.Path, "Lists")
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 40
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			target := d
			if w%2 == 1 {
				target = lists
			}
			for i := 0; i < each; i++ {
				p, err := target.Deliver(strings.NewReader(strings.Repeat("x", w*10+i)+"\n"), DeliverOptions{})
				if err != nil {
					t.Error(err)
					return
				}
				if i%5 == 0 {
					if err := target.Remove(filepath.Base(p)); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}(w)
	}
	wg.Wait()
	sf := readSizeFile(t, d.Path)
	want := recount(t, d.Path)
	if sf.Usage != want {
		t.Fatalf("maildirsize says %+v, the messages add up to %+v", sf.Usage, want)
	}
	if want.Messages != workers*each*4/5 {
		t.Errorf("%d messages, want %d", want.Messages, workers*each*4/5)
	}
	// 384 lines of 26 bytes: recounts must have run amid the deliveries.
	if sf.Lines >= workers*each*6/5 {
		t.Errorf("maildirsize has all %d lines: no recount happened, the test proves nothing", sf.Lines)
	}
}

// The same across processes.
func TestConcurrentProcessesKeepMaildirsizeExact(t *testing.T) {
	d := withQuota(t, "100000000S")
	const procs, each = 8, 40
	deliverInProcesses(t, d.Path, procs, each)
	sf := readSizeFile(t, d.Path)
	if want := recount(t, d.Path); sf.Usage != want || want.Messages != procs*each {
		t.Fatalf("maildirsize says %+v, the messages add up to %+v (want %d messages)", sf.Usage, want, procs*each)
	}
	if sf.Lines >= procs*each {
		t.Errorf("maildirsize has all %d lines: no recount happened, the test proves nothing", sf.Lines)
	}
}

func TestTrashAndDeletedFlagOutsideQuota(t *testing.T) {
	d := withQuota(t, "1000S")
	for _, f := range []string{"Trash", "Sent"} {
		if err := CreateFolder(d.Path, f); err != nil {
			t.Fatal(err)
		}
	}
	trash, _ := OpenFolder(d.Path, "Trash")
	sent, _ := OpenFolder(d.Path, "Sent")
	deliver(t, trash, "Subject: a\n\nhello\n")
	deliver(t, sent, "Subject: a\n\nhello\n")
	p := deliver(t, d, "Subject: a\n\nhello\n")
	if sf := readSizeFile(t, d.Path); sf.Usage != (Usage{36, 2}) {
		t.Errorf("usage %+v: Trash must not count", sf.Usage)
	}
	f, err := d.SetFlags(filepath.Base(p), "T")
	if err != nil {
		t.Fatal(err)
	}
	if sf := readSizeFile(t, d.Path); sf.Usage != (Usage{18, 1}) {
		t.Errorf("usage %+v after flagging T", sf.Usage)
	}
	// Recount agrees: Trash and T-flagged messages are left out, as the
	// Debian experiment showed.
	if got := recount(t, d.Path); got != (Usage{18, 1}) {
		t.Errorf("recount %+v", got)
	}
	// Removing a T-flagged message changes nothing.
	if err := d.Remove(f); err != nil {
		t.Fatal(err)
	}
	if sf := readSizeFile(t, d.Path); sf.Usage != (Usage{18, 1}) || sf.Lines != 4 {
		t.Errorf("usage %+v after removing a T message", sf)
	}
	// Clearing T puts the message back, unless it no longer fits.
	big := deliver(t, d, strings.Repeat("y", 900))
	f, err = d.SetFlags(filepath.Base(big), "T")
	if err != nil {
		t.Fatal(err)
	}
	deliver(t, d, strings.Repeat("z", 500))
	if _, err := d.SetFlags(f, "S"); !errors.Is(err, ErrOverQuota) {
		t.Fatalf("undelete over quota: %v", err)
	}
	if _, err := d.Find(f); err != nil {
		t.Fatalf("the refused undelete lost the message: %v", err)
	}
	if m, _ := d.Find(f); m.Flags() != "T" {
		t.Errorf("flags %q after a refused undelete", m.Flags())
	}
	if sf := readSizeFile(t, d.Path); sf.Usage != recount(t, d.Path) {
		t.Errorf("maildirsize %+v, recount %+v", sf.Usage, recount(t, d.Path))
	}
}

func TestRecountRules(t *testing.T) {
	sizePath := func(d *Dir) string { return filepath.Join(d.Path, "maildirsize") }

	t.Run("fresh single line over quota is trusted", func(t *testing.T) {
		d := withQuota(t, "100S")
		os.WriteFile(sizePath(d), []byte("100S\n         200            1\n"), 0o644)
		if _, err := d.Deliver(strings.NewReader("x\n"), DeliverOptions{}); !errors.Is(err, ErrOverQuota) {
			t.Fatalf("err = %v: a recount younger than 15 minutes is trusted", err)
		}
		old := time.Now().Add(-16 * time.Minute)
		os.Chtimes(sizePath(d), old, old)
		if _, err := d.Deliver(strings.NewReader("x\n"), DeliverOptions{}); err != nil {
			t.Fatalf("after 16 minutes the file is recounted: %v", err)
		}
		if got := fileText(t, sizePath(d)); got != "100S\n           0            0\n           2            1\n" {
			t.Errorf("maildirsize = %q", got)
		}
	})

	t.Run("negative total", func(t *testing.T) {
		d := withQuota(t, "100S")
		deliver(t, d, "abc\n")
		os.WriteFile(sizePath(d), []byte("100S\n          -50           -1\n"), 0o644)
		st, ok, err := GetQuota(d.Path, QuotaSpec{})
		if err != nil || !ok || st.Usage != (Usage{4, 1}) {
			t.Fatalf("GetQuota = %+v %v %v", st, ok, err)
		}
		if got := fileText(t, sizePath(d)); got != "100S\n           4            1\n" {
			t.Errorf("maildirsize = %q", got)
		}
	})

	t.Run("5120 bytes", func(t *testing.T) {
		d := withQuota(t, "100000S")
		for i := 0; i < 200; i++ { // 26 bytes a line
			deliver(t, d, "m\n")
		}
		st, _ := os.Stat(sizePath(d))
		if st.Size() >= sizeFileMax+26 {
			t.Errorf("maildirsize grew to %d bytes without a recount", st.Size())
		}
		if sf := readSizeFile(t, d.Path); sf.Usage != (Usage{400, 200}) {
			t.Errorf("usage %+v", sf.Usage)
		}
	})

	t.Run("damaged data line", func(t *testing.T) {
		d := withQuota(t, "100S")
		deliver(t, d, "abc\n")
		os.WriteFile(sizePath(d), []byte("100S\n   4   1\ngarbage\n"), 0o644)
		if _, err := d.Deliver(strings.NewReader("x\n"), DeliverOptions{}); err != nil {
			t.Fatal(err)
		}
		if sf := readSizeFile(t, d.Path); sf.Usage != (Usage{6, 2}) {
			t.Errorf("usage %+v", sf.Usage)
		}
	})

	t.Run("damaged quota line", func(t *testing.T) {
		d := withQuota(t, "100S")
		os.WriteFile(sizePath(d), []byte("100X\n   0   0\n"), 0o644)
		_, err := d.Deliver(strings.NewReader("x\n"), DeliverOptions{})
		if err == nil || !strings.Contains(err.Error(), "maildirsize:1:") {
			t.Fatalf("err = %v, want one naming maildirsize:1", err)
		}
		if got := ls(t, filepath.Join(d.Path, "tmp")); len(got) != 0 {
			t.Errorf("tmp/ = %v", got)
		}
		// The account's quota repairs it.
		d.Quota = QuotaSpec{Bytes: 500}
		if _, err := d.Deliver(strings.NewReader("x\n"), DeliverOptions{}); err != nil {
			t.Fatal(err)
		}
		if sf := readSizeFile(t, d.Path); sf.Quota != (QuotaSpec{Bytes: 500}) || sf.Usage != (Usage{2, 1}) {
			t.Errorf("after repair %+v", sf)
		}
	})

	t.Run("account quota replaces and creates", func(t *testing.T) {
		d := newMaildir(t)
		deliver(t, d, "abc\n")
		d.Quota = QuotaSpec{Bytes: 500, Messages: 10}
		deliver(t, d, "de\n")
		// Courier: "500S,10C", the recount, then the new line.
		if got := fileText(t, sizePath(d)); got != "500S,10C\n           4            1\n           3            1\n" {
			t.Errorf("maildirsize = %q", got)
		}
		d.Quota = QuotaSpec{Messages: 2}
		if _, err := d.Deliver(strings.NewReader("f\n"), DeliverOptions{}); !errors.Is(err, ErrOverQuota) {
			t.Errorf("third message under 2C: %v", err)
		}
		if sf := readSizeFile(t, d.Path); sf.Quota != (QuotaSpec{Messages: 2}) {
			t.Errorf("quota line %+v", sf.Quota)
		}
	})

	t.Run("no quota", func(t *testing.T) {
		d := newMaildir(t)
		deliver(t, d, "abc\n")
		if _, ok, err := GetQuota(d.Path, QuotaSpec{}); ok || err != nil {
			t.Errorf("GetQuota without maildirsize: %v %v", ok, err)
		}
		if _, err := os.Stat(sizePath(d)); !errors.Is(err, os.ErrNotExist) {
			t.Error("a delivery created maildirsize")
		}
	})
}

func TestGetQuotaPercent(t *testing.T) {
	d := withQuota(t, "1000S,10C")
	deliver(t, d, strings.Repeat("a", 499)+"\n")
	st, ok, err := GetQuota(d.Path, QuotaSpec{})
	if err != nil || !ok || st.Percent != 50 || st.Quota != (QuotaSpec{1000, 10}) || st.Usage != (Usage{500, 1}) {
		t.Fatalf("GetQuota = %+v %v %v", st, ok, err)
	}
	for i := 0; i < 7; i++ {
		deliver(t, d, "b\n")
	}
	if st, _, _ := GetQuota(d.Path, QuotaSpec{}); st.Percent != 80 {
		t.Errorf("8 of 10 messages: %d%%, want 80", st.Percent)
	}
	// Above 20000000 Courier divides by 1024 first.
	if _, pct := (QuotaSpec{Bytes: 30000000}).exceeds(Usage{Bytes: 15000000}); pct != 50 {
		t.Errorf("large quota percent %d", pct)
	}
}

func TestFolderDeliveryCountsInRoot(t *testing.T) {
	d := withQuota(t, "1000S")
	if err := CreateFolder(d.Path, "Work.Projects"); err != nil {
		t.Fatal(err)
	}
	// A folder opened by path finds its main maildir by maildirfolder.
	f, err := OpenDir(filepath.Join(d.Path, ".Work.Projects"))
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Clean(f.Root) != filepath.Clean(d.Path) {
		t.Fatalf("Root = %s, want %s", f.Root, d.Path)
	}
	deliver(t, f, "12345\n")
	if sf := readSizeFile(t, d.Path); sf.Usage != (Usage{6, 1}) {
		t.Errorf("usage %+v", sf.Usage)
	}
	if _, err := os.Stat(filepath.Join(f.Path, "maildirsize")); err == nil {
		t.Error("the folder got its own maildirsize")
	}
}

var warnHeader = regexp.MustCompile(`^Date: [A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}\nMessage-Id: <(\d+)\.overquota@[^>]+>\n`)

func TestQuotaWarning(t *testing.T) {
	d := withQuota(t, "100S")
	if err := CreateFolder(d.Path, "Sub"); err != nil {
		t.Fatal(err)
	}
	sub, _ := OpenFolder(d.Path, "Sub")
	msgFile := filepath.Join(t.TempDir(), "quotawarnmsg")
	os.WriteFile(msgFile, []byte("Subject: quota\n\nwarn body\n"), 0o644)
	missing := filepath.Join(t.TempDir(), "none")

	if p, err := QuotaWarning(d.Path, 10, msgFile, missing); p != "" || err != nil {
		t.Fatalf("empty maildir got a warning: %q %v", p, err)
	}
	deliver(t, sub, "Subject: a\n\nhello\n") // 18%
	if p, err := QuotaWarning(sub.Path, 20, msgFile, missing); p != "" || err != nil {
		t.Fatalf("18%% full, threshold 20: %q %v", p, err)
	}
	p, err := QuotaWarning(sub.Path, 10, "", msgFile) // the default file
	if err != nil || p == "" {
		t.Fatalf("QuotaWarning = %q, %v", p, err)
	}
	if filepath.Dir(p) != filepath.Join(d.Path, "new") || !strings.Contains(filepath.Base(p), "_warn.") {
		t.Errorf("warning delivered as %s, want the main maildir's new/ with _warn", p)
	}
	body := fileText(t, p)
	if !warnHeader.MatchString(body) || !strings.HasSuffix(body, "Subject: quota\n\nwarn body\n") {
		t.Errorf("warning message %q", body)
	}
	if st, err := os.Stat(filepath.Join(d.Path, "quotawarn")); err != nil || st.Size() != 1 {
		t.Errorf("quotawarn stamp: %v", err)
	}
	// 18 + 102 bytes exceed 100: delivered but, as in Courier, not counted.
	if sf := readSizeFile(t, d.Path); sf.Usage != (Usage{18, 1}) {
		t.Errorf("usage %+v", sf.Usage)
	}
	if p, _ := QuotaWarning(d.Path, 10, msgFile, missing); p != "" {
		t.Error("a second warning within 24 hours")
	}
	old := time.Now().Add(-25 * time.Hour)
	os.Chtimes(filepath.Join(d.Path, "quotawarn"), old, old)
	if p, _ := QuotaWarning(d.Path, 10, missing, msgFile); p == "" {
		t.Error("no warning after 25 hours")
	}
	if _, err := QuotaWarning(d.Path, 0, missing, missing); err == nil || !strings.Contains(err.Error(), "no quota warning can be sent") {
		t.Errorf("missing message file: %v", err)
	}
}
