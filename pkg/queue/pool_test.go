package queue

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gocourier/courier/test/testenv"
)

// clockQueue opens a queue whose clock the test sets.
func clockQueue(t *testing.T, now *time.Time) (*Queue, string) {
	t.Helper()
	root := t.TempDir()
	q, err := Open(root, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return *now }})
	if err != nil {
		t.Fatal(err)
	}
	return q, root
}

func inodeOf(t *testing.T, p string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func poolNames(t *testing.T, root string) []string {
	t.Helper()
	names, err := readNames(filepath.Join(root, "tmp", poolDir))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// firstSubmission makes q's first submission, which takes no files from
// the pool.
func firstSubmission(t *testing.T, q *Queue) {
	t.Helper()
	if _, err := q.Submit(testEnvelope("first@x"), strings.NewReader("first\n")); err != nil {
		t.Fatal(err)
	}
}

// A process's first submission makes new files even when the pool has
// some: a one-message sendmail would spend more reading the pool.
func TestFirstSubmissionNew(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	q, root := clockQueue(t, &now)
	fillPool(t, root, 2)
	firstSubmission(t, q)
	if got := poolNames(t, root); len(got) != 2 {
		t.Errorf("the first submission took pool files: %v left", got)
	}
	firstSubmission(t, q)
	if got := poolNames(t, root); len(got) != 0 {
		t.Errorf("the second submission took none: %v left", got)
	}
}

// A delivered message's files serve the next submission of a later
// second, written over; a submission of the same second gets new ones, so
// no queue id repeats.
func TestRecycle(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	q, root := clockQueue(t, &now)
	long := bytes.Repeat([]byte("the first message, longer than the next\n"), 200)
	a, err := q.Submit(testEnvelope("a@x"), bytes.NewReader(long))
	if err != nil {
		t.Fatal(err)
	}
	aFiles := map[uint64]bool{inodeOf(t, q.ControlPath(a.Inode)): true, inodeOf(t, q.DataPath(a.Inode)): true}
	c, err := q.Load(a.Inode)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Remove(a.Inode, c.NextAttempt); err != nil {
		t.Fatal(err)
	}
	stamp := strconv.FormatInt(now.Unix(), 10)
	want := []string{stamp + "." + strconv.FormatUint(a.Inode, 10) + "C", stamp + "." + strconv.FormatUint(a.Inode, 10) + "D"}
	if got := poolNames(t, root); !slices.Equal(slices.Sorted(slices.Values(got)), want) {
		t.Fatalf("pool after the removal: %v, want %v", got, want)
	}

	same, err := q.Submit(testEnvelope("b@x"), strings.NewReader("same second\n"))
	if err != nil {
		t.Fatal(err)
	}
	if aFiles[same.Inode] || aFiles[inodeOf(t, q.DataPath(same.Inode))] {
		t.Errorf("a submission in the second the files were released took one (id %s, first %s)", same, a)
	}
	if got := poolNames(t, root); len(got) != 2 {
		t.Errorf("pool after a same-second submission: %v", got)
	}

	now = now.Add(time.Second)
	b, err := q.Submit(testEnvelope("c@x"), strings.NewReader("short\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !aFiles[b.Inode] || !aFiles[inodeOf(t, q.DataPath(b.Inode))] {
		t.Errorf("the next second's submission did not take the released files (inodes %v, got %d and %d)", aFiles, b.Inode, inodeOf(t, q.DataPath(b.Inode)))
	}
	if b.String() == a.String() {
		t.Errorf("recycled files repeat the queue id %s", a)
	}
	if data, err := os.ReadFile(q.DataPath(b.Inode)); err != nil || string(data) != "short\n" {
		t.Errorf("recycled data file holds %q, %v", data, err)
	}
	if cb, err := q.Load(b.Inode); err != nil || cb.Sender != "c@x" || cb.ID != b {
		t.Errorf("recycled control file: %+v, %v", cb, err)
	}
	if got := poolNames(t, root); len(got) != 0 {
		t.Errorf("pool after reuse: %v", got)
	}
	if names, _ := readNames(filepath.Join(root, "tmp", bucket(now))); len(names) != 0 {
		t.Errorf("claimed names left in tmp/<T>: %v", names)
	}
}

// A pool file that is still linked elsewhere is never emptied or used.
func TestRecycleSkipsLinkedFile(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	q, root := clockQueue(t, &now)
	firstSubmission(t, q)
	other := filepath.Join(t.TempDir(), "mail")
	if err := os.WriteFile(other, []byte("still somebody's mail\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(other, filepath.Join(root, "tmp", poolDir, "1799999990.77C")); err != nil {
		t.Fatal(err)
	}
	id, err := q.Submit(testEnvelope("a@x"), strings.NewReader("new\n"))
	if err != nil {
		t.Fatal(err)
	}
	if id.Inode == inodeOf(t, other) || inodeOf(t, q.DataPath(id.Inode)) == inodeOf(t, other) {
		t.Error("a file with another link was used")
	}
	if data, _ := os.ReadFile(other); string(data) != "still somebody's mail\n" {
		t.Errorf("the linked file now holds %q", data)
	}
	if names, _ := readNames(filepath.Join(root, "tmp", bucket(now))); len(names) != 0 {
		t.Errorf("tmp/<T> keeps %v", names)
	}
}

// Large data files and files past a full pool are deleted, not kept.
func TestReleaseLimits(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	q, root := clockQueue(t, &now)
	big, err := q.Submit(testEnvelope("a@x"), bytes.NewReader(bytes.Repeat([]byte("x"), poolMaxSize+1)))
	if err != nil {
		t.Fatal(err)
	}
	if err := q.RemoveFiles(big.Inode); err != nil {
		t.Fatal(err)
	}
	if got := poolNames(t, root); len(got) != 1 || !strings.HasSuffix(got[0], "C") {
		t.Errorf("pool after a large message: %v, want its control file only", got)
	}
	small, err := q.Submit(testEnvelope("a@x"), strings.NewReader("x\n"))
	if err != nil {
		t.Fatal(err)
	}
	q.pool.size.Store(poolMax)
	if err := q.RemoveFiles(small.Inode); err != nil {
		t.Fatal(err)
	}
	if got := poolNames(t, root); len(got) != 1 {
		t.Errorf("a full pool took more files: %v", got)
	}
	for _, p := range []string{q.DataPath(small.Inode), q.ControlPath(small.Inode), q.DataPath(big.Inode)} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s still there: %v", p, err)
		}
	}
}

// Recover counts the pool and deletes what it kept longer than an hour;
// a submission's claimed file is a tmp/ leftover like any other.
func TestRecoverPrunesPool(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	q, root := clockQueue(t, &now)
	dir := filepath.Join(root, "tmp", poolDir)
	old := strconv.FormatInt(now.Add(-poolMaxAge-time.Second).Unix(), 10)
	young := strconv.FormatInt(now.Add(-time.Minute).Unix(), 10)
	for _, n := range []string{old + ".5C", old + ".5D", young + ".6C", "junk"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("old mail\n"), 0o660); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := q.Recover()
	if err != nil {
		t.Fatal(err)
	}
	if rep.PoolPruned != 3 {
		t.Errorf("pruned %d, want 3", rep.PoolPruned)
	}
	if got := poolNames(t, root); len(got) != 1 || got[0] != young+".6C" {
		t.Errorf("pool after Recover: %v", got)
	}
	if n := q.pool.size.Load(); n != 1 {
		t.Errorf("pool size %d, want 1", n)
	}
}

// A process whose files would belong to someone else than the pool's owner
// (a user's sendmail) takes nothing from it.
func TestPoolOnlyForItsOwner(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	q, root := clockQueue(t, &now)
	if err := os.WriteFile(filepath.Join(root, "tmp", poolDir, "1799999990.5C"), nil, 0o660); err != nil {
		t.Fatal(err)
	}
	other, err := Open(root, Options{Owner: &Owner{UID: os.Geteuid() + 1, GID: os.Getegid()}, Now: q.opt.Now})
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(root, "tmp", "claimed")
	if f, _ := other.claim(now, dst); f != nil {
		f.Close()
		t.Fatal("a process with another owner took a pool file")
	}
	if f, _ := q.claim(now, dst); f == nil {
		t.Fatal("the pool's owner took nothing")
	} else {
		f.Close()
	}
}

// A file of another owner in the pool (a user's sendmail's, released by
// the scheduler) is not taken: the new message would be that user's.
func TestPoolSkipsOtherOwners(t *testing.T) {
	testenv.NeedRoot(t)
	now := time.Unix(1_800_000_000, 0)
	q, root := clockQueue(t, &now)
	firstSubmission(t, q)
	p := filepath.Join(root, "tmp", poolDir, "1799999990.5C")
	if err := os.WriteFile(p, []byte("a user's message\n"), 0o660); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	id, err := q.Submit(testEnvelope("a@x"), strings.NewReader("new\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{q.ControlPath(id.Inode), q.DataPath(id.Inode)} {
		var st syscall.Stat_t
		if err := syscall.Stat(f, &st); err != nil || int(st.Uid) != os.Geteuid() {
			t.Errorf("%s: uid %d (%v), want %d", f, st.Uid, err, os.Geteuid())
		}
	}
}

// Names of files released in the current second are kept aside and tried
// once that second is over, without reading the pool again.
func TestPoolKeepsYoungNames(t *testing.T) {
	dir := t.TempDir()
	now := time.Unix(1_800_000_000, 0)
	for i := range 3 {
		name := strconv.FormatInt(now.Unix(), 10) + "." + strconv.Itoa(100+i) + "C"
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var p pool
	if n, ok := p.take(dir, now); ok {
		t.Fatalf("took %s, released in the same second", n)
	}
	// Gone from the directory: only the names kept aside can give them.
	names, err := readNames(dir)
	if err != nil || len(names) != 3 {
		t.Fatalf("pool %q %v", names, err)
	}
	for _, n := range names {
		os.Remove(filepath.Join(dir, n))
	}
	var got []string
	for {
		n, ok := p.take(dir, now.Add(time.Second))
		if !ok {
			break
		}
		got = append(got, n)
	}
	if len(got) != 3 {
		t.Fatalf("a second later: %q, want the 3 names kept aside", got)
	}
}
