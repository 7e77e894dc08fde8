package queue

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// recoverQueue opens root with a clock far enough ahead that every leftover
// of the killed helpers counts as stale, and a log captured for the test.
func recoverQueue(t *testing.T, root string, ahead time.Duration) (*Queue, *bytes.Buffer) {
	t.Helper()
	var logBuf bytes.Buffer
	q, err := Open(root, Options{
		Logger: slog.New(slog.NewTextHandler(&logBuf, nil)),
		Now:    func() time.Time { return time.Now().Add(ahead) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return q, &logBuf
}

// TestKilledSubmissions kills submitting processes with SIGKILL at random
// moments, then recovers and checks that every message is either complete
// (control file parses, data byte-identical, schedule link present) or
// absent, that every id a helper printed (Commit returned) is present, and
// that no partial files remain anywhere.
func TestKilledSubmissions(t *testing.T) {
	root := t.TempDir()
	scanQueue := openTest(t, root)
	promised := map[string]int{}
	rounds := 12
	if testing.Short() {
		rounds = 4
	}
	// Submissions take delivered messages' files from the pool (pool.go)
	// while it has some: longer than any message, so that a file not cut
	// to its new message shows.
	fillPool(t, root, 300)
	for r := 0; r < rounds; r++ {
		c := newHelper(t, root, r*1000, 1000)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		// Let the helper queue at least one message, then kill it at a
		// random moment of a later submission.
		before, _ := scanQueue.Scan()
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
			if now, _ := scanQueue.Scan(); len(now) > len(before) {
				break
			}
		}
		time.Sleep(time.Duration(rand.IntN(30000)) * time.Microsecond)
		c.Process.Signal(syscall.SIGKILL)
		c.Wait()
		parseHelperOutput(t, c.stdout.Bytes(), promised)
	}
	// Then one kill exactly after each step of Commit.
	// data-linked comes last: the inode of its unnamed control file is
	// free again, and a later submission would take over its orphan data.
	for i, step := range []string{"synced", "control-linked", "scheduled", "committed", "data-linked"} {
		fillPool(t, root, 2)
		c := newHelper(t, root, 100000+2*i, 2)
		c.Env = append(c.Env, "GO_QUEUE_KILL_AT="+step)
		if err := c.Run(); err == nil {
			t.Fatalf("helper killed at %s exited normally", step)
		}
		// The first message is promised; the kill comes in the second.
		if lines := strings.Count(c.stdout.String(), "\n"); lines != 1 {
			t.Fatalf("helper killed at %s printed %q", step, c.stdout.String())
		}
		parseHelperOutput(t, c.stdout.Bytes(), promised)
	}
	if len(promised) == 0 {
		t.Fatal("no helper completed a submission before being killed; the test proves nothing")
	}
	q, logBuf := recoverQueue(t, root, 2*time.Hour)
	rep, err := q.Recover()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("promised %d messages; recovery: %+v", len(promised), rep)
	if rep.OrphanData < 1 || rep.Relinked < 1 {
		t.Errorf("the kills after the data link and after the control link should leave an orphan data file and a missing schedule link: %+v", rep)
	}
	if rep.Broken != 0 {
		t.Errorf("recovery found broken messages:\n%s", logBuf)
	}
	checkMessages(t, q, promised)
	ents, err := q.Scan()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	for _, e := range ents {
		seen[e.Inode] = true
		c, err := q.Load(e.Inode)
		if err != nil {
			t.Errorf("scheduled message %d: %v", e.Inode, err)
			continue
		}
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(c.Sender, "m"), "@x"))
		if err != nil {
			t.Fatalf("sender %q", c.Sender)
		}
		if data, err := os.ReadFile(q.DataPath(e.Inode)); err != nil || !bytes.Equal(data, messageData(n)) {
			t.Errorf("message %s is partial: data differs (%v)", c.ID, err)
		}
	}
	// Every control or data file in msgs/ belongs to a scheduled message.
	filepath.Walk(filepath.Join(root, "msgs"), func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return nil
		}
		ino, _ := strconv.ParseUint(fi.Name()[1:], 10, 64)
		if !seen[ino] {
			t.Errorf("%s left in msgs/ without a schedule entry", p)
		}
		return nil
	})
	bs, _ := readNames(filepath.Join(root, "tmp"))
	for _, b := range bs {
		if names, _ := readNames(filepath.Join(root, "tmp", b)); b != "broken" && len(names) > 0 {
			t.Errorf("tmp/%s still holds %v after recovery", b, names)
		}
	}
	// A second recovery finds nothing to do.
	rep2, err := q.Recover()
	if err != nil || rep2.TmpRemoved+rep2.OrphanData+rep2.Relinked+rep2.StaleSchedule+rep2.Finished+rep2.Repaired+rep2.Broken != 0 {
		t.Errorf("second recovery %+v %v", rep2, err)
	}
}

// fillPool puts n files into the pool of the queue at root, released
// long ago and longer than any test message.
func fillPool(t *testing.T, root string, n int) {
	t.Helper()
	junk := bytes.Repeat([]byte("left over from a delivered message\n"), 200)
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("1000000000.%d%c", rand.Uint64(), "CD"[i%2])
		if err := os.WriteFile(filepath.Join(root, "tmp", poolDir, name), junk, 0o660); err != nil {
			t.Fatal(err)
		}
	}
}

func submitN(t *testing.T, q *Queue, n int) QueueID {
	t.Helper()
	id, err := q.Submit(testEnvelope(fmt.Sprintf("m%d@x", n)), bytes.NewReader(messageData(n)))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestRecoverCases(t *testing.T) {
	root := t.TempDir()
	q := openTest(t, root)
	now := time.Now()

	// 1. queued, schedule link lost: relinked.
	relink := submitN(t, q, 1)
	os.Remove(q.schedulePath(relink.Inode, relink.Time))
	// 2. all recipients done: deleted.
	done := submitN(t, q, 2)
	if err := q.Append(done.Inode, Delivered(0, now, SuccessLocal), Failed(1, now), PassComplete(now)); err != nil {
		t.Fatal(err)
	}
	// 3. malformed control file: moved to tmp/broken/ with its data.
	broken := submitN(t, q, 3)
	f, _ := os.OpenFile(q.ControlPath(broken.Inode), os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString("D9 123\n")
	f.Close()
	// 4. torn append: repaired, stays queued.
	torn := submitN(t, q, 4)
	f, _ = os.OpenFile(q.ControlPath(torn.Inode), os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString("D0 12")
	f.Close()
	// 5. crash inside Reschedule: A appended, link still has the old name.
	resched := submitN(t, q, 5)
	next := resched.Time.Add(30 * time.Minute)
	q.Append(resched.Inode, NextAttempt(next))
	// 6. stale schedule link of a vanished message.
	os.MkdirAll(filepath.Join(root, "msgq", "1"), 0o755)
	stale := filepath.Join(root, "msgq", "1", "C123456.10000")
	os.WriteFile(stale, nil, 0o660)
	// 7. data file without control file, old: removed; young: kept.
	oldData := filepath.Join(root, "msgs", "55", "D955")
	os.MkdirAll(filepath.Dir(oldData), 0o755)
	os.WriteFile(oldData, []byte("x"), 0o660)
	// 8. tmp leftovers, old and young (ages by mtime; the clock below is
	// 2 hours ahead, so "young" is written with a future mtime).
	oldTmp := filepath.Join(root, "tmp", "1", "1.2.3.C")
	youngTmp := filepath.Join(root, "tmp", bucket(now), "9.9.9.D")
	os.MkdirAll(filepath.Dir(oldTmp), 0o770)
	os.MkdirAll(filepath.Dir(youngTmp), 0o770)
	os.WriteFile(oldTmp, nil, 0o660)
	os.WriteFile(youngTmp, nil, 0o660)
	os.Chtimes(youngTmp, now.Add(3*time.Hour), now.Add(3*time.Hour))
	// 9. control file whose data file is missing: broken.
	nodata := submitN(t, q, 9)
	os.Remove(q.DataPath(nodata.Inode))

	rq, logBuf := recoverQueue(t, root, 2*time.Hour)
	rep, err := rq.Recover()
	if err != nil {
		t.Fatal(err)
	}
	want := RecoverReport{TmpRemoved: 1, OrphanData: 1, Relinked: 2, StaleSchedule: 1, Finished: 1, Repaired: 1, Broken: 2, Queued: 3}
	if rep != want {
		t.Errorf("report %+v, want %+v\nlog:\n%s", rep, want, logBuf)
	}
	exists := func(p string) bool { _, err := os.Lstat(p); return err == nil }
	checks := []struct {
		what string
		ok   bool
	}{
		{"relinked", exists(q.schedulePath(relink.Inode, relink.Time))},
		{"done message deleted", !exists(q.ControlPath(done.Inode)) && !exists(q.DataPath(done.Inode)) && !exists(q.schedulePath(done.Inode, done.Time))},
		{"broken moved", exists(filepath.Join(root, "tmp", "broken", "C"+strconv.FormatUint(broken.Inode, 10))) &&
			exists(filepath.Join(root, "tmp", "broken", "D"+strconv.FormatUint(broken.Inode, 10))) &&
			!exists(q.ControlPath(broken.Inode)) && !exists(q.schedulePath(broken.Inode, broken.Time))},
		{"rescheduled link renamed", exists(q.schedulePath(resched.Inode, next)) && !exists(q.schedulePath(resched.Inode, resched.Time))},
		{"stale link removed", !exists(stale)},
		{"old orphan data removed", !exists(oldData)},
		{"old tmp removed", !exists(oldTmp) && !exists(filepath.Dir(oldTmp))},
		{"young tmp kept", exists(youngTmp)},
		{"no-data control moved", !exists(q.ControlPath(nodata.Inode)) && exists(filepath.Join(root, "tmp", "broken", "C"+strconv.FormatUint(nodata.Inode, 10)))},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: not as expected", c.what)
		}
	}
	c, err := rq.Load(torn.Inode)
	if err != nil || c.Recipients[0].Status != StatusPending {
		t.Errorf("torn message after repair: %v", err)
	}
	log := logBuf.String()
	for _, w := range []string{"moved_to=", "recipient \\\"9\\\"", "resubmit the message by hand", "no data file"} {
		if !strings.Contains(log, w) {
			t.Errorf("recovery log lacks %q:\n%s", w, log)
		}
	}
	ents, _ := rq.Scan()
	if len(ents) != 3 {
		t.Errorf("scan after recovery: %+v", ents)
	}
}

func TestAppendRescheduleRemove(t *testing.T) {
	root := t.TempDir()
	q := openTest(t, root)
	id := submitN(t, q, 1)
	if err := q.Append(id.Inode); err != nil {
		t.Fatal(err)
	}
	if err := q.Append(id.Inode, Record{}); err == nil {
		t.Error("zero Record appended")
	}
	t0 := id.Time
	if err := AppendFile(q.ControlPath(id.Inode), Info(0, InfoReply, "Message delivered."), Delivered(0, t0, SuccessLocal), Deferred(1, t0), PassComplete(t0)); err != nil {
		t.Fatal(err)
	}
	next := t0.Add(5 * time.Hour) // crosses into another msgq/<T> bucket in most cases
	if err := q.Reschedule(id.Inode, t0, next); err != nil {
		t.Fatal(err)
	}
	ents, _ := q.Scan()
	if len(ents) != 1 || !ents[0].NextAttempt.Equal(next) {
		t.Errorf("scan after reschedule %+v", ents)
	}
	c, err := q.Load(id.Inode)
	if err != nil || !c.NextAttempt.Equal(next) || c.Passes != 1 || c.Recipients[0].Status != StatusDelivered || c.Recipients[1].Status != StatusDeferred {
		t.Fatalf("after reschedule %+v %v", c, err)
	}
	data, _ := os.ReadFile(q.ControlPath(id.Inode))
	if !strings.HasSuffix(string(data), fmt.Sprintf("A%d\nI0 R Message delivered.\nS0 %d l\nD1 %d\nC%d\nA%d\n", t0.Unix(), t0.Unix(), t0.Unix(), t0.Unix(), next.Unix())) {
		t.Errorf("control file tail:\n%s", data)
	}
	if err := q.Remove(id.Inode, next); err != nil {
		t.Fatal(err)
	}
	assertEmptyQueue(t, root)
	if _, err := q.Load(id.Inode); err == nil {
		t.Error("removed message still loads")
	}
}

func TestLoadChecksInode(t *testing.T) {
	root := t.TempDir()
	q := openTest(t, root)
	a := submitN(t, q, 1)
	b := submitN(t, q, 2)
	data, _ := os.ReadFile(q.ControlPath(a.Inode))
	f, _ := os.OpenFile(q.ControlPath(b.Inode), os.O_WRONLY|os.O_TRUNC, 0)
	f.Write(data)
	f.Close()
	if _, err := q.Load(b.Inode); err == nil || !strings.Contains(err.Error(), "does not match the file's inode") {
		t.Errorf("mismatched M record: %v", err)
	}
}

// TestRecoverKeepsYoung: with the real clock, files of submissions that may
// still be in progress are left alone.
func TestRecoverKeepsYoung(t *testing.T) {
	root := t.TempDir()
	q := openTest(t, root)
	data := filepath.Join(root, "msgs", "56", "D956")
	tmp := filepath.Join(root, "tmp", bucket(time.Now()), "9.9.9.D")
	os.MkdirAll(filepath.Dir(data), 0o755)
	os.MkdirAll(filepath.Dir(tmp), 0o770)
	os.WriteFile(data, []byte("x"), 0o660)
	os.WriteFile(tmp, []byte("x"), 0o660)
	rep, err := q.Recover()
	if err != nil || rep != (RecoverReport{}) {
		t.Errorf("recover %+v %v", rep, err)
	}
	for _, p := range []string{data, tmp} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s removed: %v", p, err)
		}
	}
}

// TestRecoverInterruptedRemove: Remove deletes the data file before the
// control file (the inode, which is the queue id, stays taken until the very
// end), so a crash between the two leaves a finished control file without
// data, which recovery deletes rather than calling it broken.
func TestRecoverInterruptedRemove(t *testing.T) {
	q := openTest(t, filepath.Join(t.TempDir(), "courier"))
	id, err := q.Submit(&Envelope{Sender: "a@example.test", Recipients: []Recipient{{Address: "b@example.test"}}}, strings.NewReader("x\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Append(id.Inode, Delivered(0, id.Time, SuccessLocal)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(q.DataPath(id.Inode)); err != nil {
		t.Fatal(err)
	}
	rep, err := q.Recover()
	if err != nil {
		t.Fatal(err)
	}
	if rep.Finished != 1 || rep.Broken != 0 {
		t.Errorf("report %+v, want the message finished, nothing broken", rep)
	}
	if _, err := os.Lstat(q.ControlPath(id.Inode)); !os.IsNotExist(err) {
		t.Errorf("the control file is still there: %v", err)
	}
	// A message that is not finished and lost its data is still broken.
	id2, err := q.Submit(&Envelope{Sender: "a@example.test", Recipients: []Recipient{{Address: "b@example.test"}}}, strings.NewReader("x\n"))
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(q.DataPath(id2.Inode))
	if rep, err = q.Recover(); err != nil || rep.Broken != 1 {
		t.Errorf("unfinished message without data: %+v %v", rep, err)
	}
}
