package queue

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gocourier/courier/pkg/address"
	"github.com/gocourier/courier/test/testenv"
)

func openTest(t testing.TB, dir string) *Queue {
	t.Helper()
	q, err := Open(dir, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func testEnvelope(sender string) *Envelope {
	return &Envelope{
		Sender: sender, ReceivedFrom: "dns; localhost (localhost [127.0.0.1])",
		Recipients: []Recipient{{Address: "a@example.test", Notify: address.NotifyFailure}, {Address: "b@remote.example"}},
		Source:     "local",
	}
}

// messageData is the data the durability helper writes for message n, so
// the parent can check a D file byte for byte.
func messageData(n int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Subject: message %d\n\n", n)
	for i := 0; i < 200+n%50; i++ {
		fmt.Fprintf(&b, "line %d of message %d: lorem ipsum dolor sit amet\n", i, n)
	}
	return b.Bytes()
}

func modeOf(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode()
}

func TestOpenLayout(t *testing.T) {
	root := filepath.Join(t.TempDir(), "courier")
	openTest(t, root)
	for p, want := range map[string]os.FileMode{
		"msgs": os.ModeDir | 0o770, "msgq": os.ModeDir | 0o770, "track": os.ModeDir | 0o750,
		"tmp": os.ModeDir | 0o770, "tmp/broken": os.ModeDir | 0o755, "tmp/trigger": os.ModeNamedPipe | 0o660,
	} {
		if got := modeOf(t, filepath.Join(root, p)); got != want {
			t.Errorf("%s: mode %v, want %v", p, got, want)
		}
	}
	openTest(t, root) // a second Open of an existing queue changes nothing
}

func TestSubmitLoadScan(t *testing.T) {
	root := t.TempDir()
	q := openTest(t, root)
	env := testEnvelope("s@example.test")
	data := messageData(1)
	before := time.Now().Unix()
	id, err := q.Submit(env, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if id.PID != os.Getpid() || id.Time.Unix() < before {
		t.Errorf("id %v", id)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(q.ControlPath(id.Inode), &st); err != nil {
		t.Fatal(err)
	}
	if st.Ino != id.Inode || st.Nlink != 2 {
		t.Errorf("control file inode %d nlink %d; want inode %d and 2 links (msgs + msgq)", st.Ino, st.Nlink, id.Inode)
	}
	want := fmt.Sprintf("%s/msgs/%d/C%d", root, id.Inode%100, id.Inode)
	if q.ControlPath(id.Inode) != want {
		t.Errorf("control path %s, want %s", q.ControlPath(id.Inode), want)
	}
	sched := fmt.Sprintf("%s/msgq/%d/C%d.%d", root, id.Time.Unix()/10000, id.Inode, id.Time.Unix())
	if err := syscall.Stat(sched, &st); err != nil || st.Ino != id.Inode {
		t.Errorf("schedule link %s: %v", sched, err)
	}
	for _, p := range []string{q.ControlPath(id.Inode), q.DataPath(id.Inode)} {
		if m := modeOf(t, p); m != 0o660 {
			t.Errorf("%s: mode %v, want 0660", p, m)
		}
	}
	if m := modeOf(t, filepath.Dir(q.ControlPath(id.Inode))); m != os.ModeDir|0o770 {
		t.Errorf("msgs/<N> mode %v", m)
	}
	// tmp/<T> is where recycled files are named (pool.go).
	if m := modeOf(t, filepath.Join(root, "tmp", bucket(id.Time))); m != os.ModeDir|0o770 {
		t.Errorf("tmp/<T> mode %v", m)
	}
	if names, _ := readNames(filepath.Join(root, "tmp", bucket(id.Time))); len(names) != 0 {
		t.Errorf("tmp/<T> not empty after commit: %v", names)
	}
	got, err := os.ReadFile(q.DataPath(id.Inode))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("data file differs: %v", err)
	}
	c, err := q.Load(id.Inode)
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != id || c.Sender != "s@example.test" || len(c.Recipients) != 2 || !c.NextAttempt.Equal(id.Time) {
		t.Errorf("loaded %+v", c)
	}
	ents, err := q.Scan()
	if err != nil || len(ents) != 1 || ents[0].Inode != id.Inode || !ents[0].NextAttempt.Equal(id.Time) {
		t.Errorf("scan %+v %v", ents, err)
	}
}

func TestAbortAndInvalid(t *testing.T) {
	root := t.TempDir()
	q := openTest(t, root)
	s, err := q.Begin(testEnvelope(""))
	if err != nil {
		t.Fatal(err)
	}
	s.Write([]byte("x"))
	s.Abort()
	if _, err := s.Commit(); err == nil {
		t.Error("commit after abort succeeded")
	}
	if _, err := q.Submit(&Envelope{Sender: "x"}, strings.NewReader("x")); err == nil {
		t.Error("submission without recipients accepted")
	}
	if _, err := q.Submit(testEnvelope("x"), iotestErrReader{}); err == nil {
		t.Error("read error not reported")
	}
	assertEmptyQueue(t, root)
}

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, fmt.Errorf("client went away") }

func assertEmptyQueue(t *testing.T, root string) {
	t.Helper()
	for _, top := range []string{"msgs", "msgq"} {
		filepath.Walk(filepath.Join(root, top), func(p string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				t.Errorf("unexpected file %s", p)
			}
			return nil
		})
	}
	bs, _ := readNames(filepath.Join(root, "tmp"))
	for _, b := range bs {
		if names, _ := readNames(filepath.Join(root, "tmp", b)); b != "broken" && b != poolDir && len(names) > 0 {
			t.Errorf("tmp/%s not empty: %v", b, names)
		}
	}
}

func TestTriggerWakeUp(t *testing.T) {
	q := openTest(t, t.TempDir())
	if err := q.Trigger("FLUSH\n"); err != ErrNoScheduler {
		t.Errorf("trigger without reader: %v, want ErrNoScheduler", err)
	}
	// Submission without a reader must not block or fail.
	if _, err := q.Submit(testEnvelope("a@b"), strings.NewReader("x\n")); err != nil {
		t.Fatal(err)
	}
	f, err := q.ListenTrigger()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := q.Submit(testEnvelope("a@b"), strings.NewReader("x\n")); err != nil {
		t.Fatal(err)
	}
	if err := q.Trigger("FLUSH 00000000000C2166.000000006B025E89.000060DB\n"); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(f)
	for _, want := range []string{"\n", "FLUSH 00000000000C2166.000000006B025E89.000060DB\n"} {
		f.SetReadDeadline(time.Now().Add(5 * time.Second))
		line, err := r.ReadString('\n')
		if err != nil || line != want {
			t.Errorf("read %q %v, want %q", line, err, want)
		}
	}
}

// TestWakeKeepsTheFIFO: Wake keeps the FIFO open between messages, never
// blocks on a full one, and finds the next scheduler after one stopped,
// which does not get what the last one left unread.
func TestWakeKeepsTheFIFO(t *testing.T) {
	q := openTest(t, t.TempDir())
	f, err := q.ListenTrigger()
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Trigger("STOP\n"); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100000 { // more than a FIFO holds: nobody reads
			q.Wake()
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Wake blocked on a full FIFO")
	}
	f.Close() // the scheduler stops without reading
	f, err = q.ListenTrigger()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	q.Wake()
	f.SetReadDeadline(time.Now().Add(5 * time.Second))
	if line, err := bufio.NewReader(f).ReadString('\n'); err != nil || line != "\n" {
		t.Errorf("the new scheduler read %q %v, want only the new wake-up", line, err)
	}
}

func TestConcurrentSubmitGoroutines(t *testing.T) {
	root := t.TempDir()
	q := openTest(t, root)
	const workers, each = 8, 15
	var mu sync.Mutex
	ids := map[string]int{}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				n := w*each + i
				id, err := q.Submit(testEnvelope(fmt.Sprintf("m%d@x", n)), bytes.NewReader(messageData(n)))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				ids[id.String()] = n
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	if len(ids) != workers*each {
		t.Fatalf("%d distinct ids for %d submissions", len(ids), workers*each)
	}
	checkMessages(t, q, ids)
}

// checkMessages verifies that every id is queued with the data written for
// its number.
func checkMessages(t *testing.T, q *Queue, ids map[string]int) {
	t.Helper()
	for s, n := range ids {
		id, err := ParseQueueID(s)
		if err != nil {
			t.Fatal(err)
		}
		c, err := q.Load(id.Inode)
		if err != nil {
			t.Errorf("message %s: %v", s, err)
			continue
		}
		if c.ID.String() != s || c.Sender != fmt.Sprintf("m%d@x", n) {
			t.Errorf("message %s: control file says id %s sender %s", s, c.ID, c.Sender)
		}
		data, err := os.ReadFile(q.DataPath(id.Inode))
		if err != nil || !bytes.Equal(data, messageData(n)) {
			t.Errorf("message %s: data differs (%v)", s, err)
		}
	}
}

// TestHelperProcess is not a test: the process tests re-execute the test
// binary with GO_QUEUE_HELPER set, and this submits messages numbered from
// GO_QUEUE_FIRST, printing "<id> <n>" after each Commit returns.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv("GO_QUEUE_HELPER")
	if dir == "" {
		t.Skip("helper process only")
	}
	q, err := Open(dir, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if step := os.Getenv("GO_QUEUE_KILL_AT"); step != "" {
		// Not in the process's first submission, which takes no files
		// from the pool (pool.go).
		commits := 0
		afterStep = func(s string) {
			if s == "committed" {
				commits++
			}
			if s == step && commits > 0 && (s != "committed" || commits > 1) {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
		}
	}
	first, _ := strconv.Atoi(os.Getenv("GO_QUEUE_FIRST"))
	count, _ := strconv.Atoi(os.Getenv("GO_QUEUE_COUNT"))
	for n := first; n < first+count; n++ {
		id, err := q.Submit(testEnvelope(fmt.Sprintf("m%d@x", n)), bytes.NewReader(messageData(n)))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Printf("%s %d\n", id, n)
	}
	os.Exit(0)
}

func helper(t *testing.T, dir string, first, count int) *osexecCmd {
	return newHelper(t, dir, first, count)
}

func parseHelperOutput(t *testing.T, out []byte, ids map[string]int) {
	t.Helper()
	for _, line := range strings.Split(string(out), "\n") {
		s, n, ok := strings.Cut(line, " ")
		if !ok {
			continue // last line, possibly cut by a kill
		}
		v, err := strconv.Atoi(n)
		if err != nil || len(s) != 42 {
			continue
		}
		if _, dup := ids[s]; dup {
			t.Errorf("queue id %s given twice", s)
		}
		ids[s] = v
	}
}

func TestConcurrentSubmitProcesses(t *testing.T) {
	root := t.TempDir()
	q := openTest(t, root)
	const procs, each = 4, 25
	cmds := make([]*osexecCmd, procs)
	for i := range cmds {
		cmds[i] = helper(t, root, i*each, each)
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	ids := map[string]int{}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("helper: %v: %s", err, c.stderr.String())
		}
		parseHelperOutput(t, c.stdout.Bytes(), ids)
	}
	if len(ids) != procs*each {
		t.Fatalf("%d distinct ids for %d submissions", len(ids), procs*each)
	}
	checkMessages(t, q, ids)
}

// TestCommitFailureKeepsOthers: when a name in msgs/ is taken by a file that
// is not ours (a queue restored from a backup), Commit fails, removes only
// what it linked itself, and leaves the other file alone.
func TestCommitFailureKeepsOthers(t *testing.T) {
	root := t.TempDir()
	q := openTest(t, root)
	s, err := q.Begin(testEnvelope("a@b"))
	if err != nil {
		t.Fatal(err)
	}
	s.Write(messageData(1))
	other := q.ControlPath(s.ID().Inode)
	os.MkdirAll(filepath.Dir(other), 0o755)
	if err := os.WriteFile(other, []byte("not ours"), 0o660); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(); err == nil || !strings.Contains(err.Error(), "linking control file into msgs/") {
		t.Fatalf("commit over a foreign control file: %v", err)
	}
	if data, err := os.ReadFile(other); err != nil || string(data) != "not ours" {
		t.Errorf("foreign file damaged: %q %v", data, err)
	}
	if _, err := os.Lstat(q.DataPath(s.ID().Inode)); err == nil {
		t.Error("data link of the failed commit left in msgs/")
	}
	os.Remove(other)
	assertEmptyQueue(t, root)
}

// TestOwner: a root submitter hands the files to the queue owner, as
// Courier does for SMTP and root's sendmail (spec §1).
func TestOwner(t *testing.T) {
	testenv.NeedRoot(t)
	root := t.TempDir()
	q, err := Open(root, Options{Owner: &Owner{UID: 65534, GID: 65534}})
	if err != nil {
		t.Fatal(err)
	}
	id, err := q.Submit(testEnvelope("a@b"), strings.NewReader("x\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{q.ControlPath(id.Inode), q.DataPath(id.Inode)} {
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err != nil || st.Uid != 65534 || st.Gid != 65534 || st.Mode&0o7777 != 0o660 {
			t.Errorf("%s: uid %d gid %d mode %o (%v), want 65534/65534 0660", p, st.Uid, st.Gid, st.Mode&0o7777, err)
		}
	}
}

// TestOwnerDirectories: a root process (courierlocal, root's sendmail) gives
// every directory and the FIFO it creates to the queue's owner, so the
// scheduler, running as the courier user, can work in them.
func TestOwnerDirectories(t *testing.T) {
	testenv.NeedRoot(t)
	root := filepath.Join(t.TempDir(), "courier")
	owner := &Owner{UID: 65534, GID: 65534}
	q, err := Open(root, Options{Owner: owner})
	if err != nil {
		t.Fatal(err)
	}
	id, err := q.Submit(&Envelope{Sender: "a@example.test", Recipients: []Recipient{{Address: "b@example.test"}}}, strings.NewReader("x\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{root, filepath.Join(root, "msgs"), filepath.Join(root, "msgq"), filepath.Join(root, "tmp"),
		filepath.Join(root, "tmp", "trigger"), filepath.Dir(q.ControlPath(id.Inode)), filepath.Dir(q.schedulePath(id.Inode, id.Time))} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if sys := st.Sys().(*syscall.Stat_t); sys.Uid != 65534 || sys.Gid != 65534 {
			t.Errorf("%s belongs to %d:%d, want the owner 65534:65534", p, sys.Uid, sys.Gid)
		}
	}
}

// TestGroupSyncDir checks the group commit of directory fsyncs: every
// caller returns only after an fsync that began after it called, and
// concurrent callers share fsyncs; a failed fsync reaches its callers.
func TestGroupSyncDir(t *testing.T) {
	var seq atomic.Int64
	type span struct{ start, end int64 }
	var mu sync.Mutex
	var syncs []span
	fail := false
	syncDirFn = func(string) error {
		s := seq.Add(1)
		time.Sleep(2 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		syncs = append(syncs, span{s, seq.Add(1)})
		if fail {
			return errors.New("disk on fire")
		}
		return nil
	}
	defer func() { syncDirFn = syncDir }()
	q := openTest(t, t.TempDir())
	const callers = 50
	calls := make([]span, callers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			calls[i].start = seq.Add(1)
			if err := q.groupSyncDir("msgs/1"); err != nil {
				t.Error(err)
			}
			calls[i].end = seq.Add(1)
		}()
	}
	close(start)
	wg.Wait()
	for i, c := range calls {
		covered := false
		for _, s := range syncs {
			covered = covered || (s.start > c.start && s.end < c.end)
		}
		if !covered {
			t.Errorf("caller %d (events %d..%d) returned without an fsync begun after its call; fsyncs %v", i, c.start, c.end, syncs)
		}
	}
	if len(syncs) > callers/2 {
		t.Errorf("%d fsyncs for %d concurrent callers: not grouped", len(syncs), callers)
	}
	fail = true
	if err := q.groupSyncDir("msgs/1"); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("failed fsync: got %v", err)
	}
}

// TestOrphanDataReplaced: a data file left in msgs/ by a submission killed
// between its two links has the name the next submission with the same
// inode needs (an unnamed control file frees its inode when its process
// dies); Commit replaces it.
func TestOrphanDataReplaced(t *testing.T) {
	q := openTest(t, t.TempDir())
	s, err := q.Begin(testEnvelope("m7@x"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(messageData(7)); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(q.DataPath(s.ID().Inode))
	if err := os.MkdirAll(dir, 0o770); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(q.DataPath(s.ID().Inode), []byte("left by a killed submission\n"), 0o660); err != nil {
		t.Fatal(err)
	}
	id, err := s.Commit()
	if err != nil {
		t.Fatal(err)
	}
	checkMessages(t, q, map[string]int{id.String(): 7})
}

// TestNamedTmpFiles: without /proc (no naming of unnamed files) a
// submission's files start in tmp/<T>/, which is empty after Commit and
// after Abort.
func TestNamedTmpFiles(t *testing.T) {
	anon := anonymousFiles
	anonymousFiles = func() bool { return false }
	defer func() { anonymousFiles = anon }()
	root := t.TempDir()
	q := openTest(t, root)
	id, err := q.Submit(testEnvelope("m3@x"), bytes.NewReader(messageData(3)))
	if err != nil {
		t.Fatal(err)
	}
	checkMessages(t, q, map[string]int{id.String(): 3})
	s, err := q.Begin(testEnvelope("m4@x"))
	if err != nil {
		t.Fatal(err)
	}
	s.Abort()
	tmpT := filepath.Join(root, "tmp", bucket(id.Time))
	if m := modeOf(t, tmpT); m != os.ModeDir|0o770 {
		t.Errorf("tmp/<T> mode %v", m)
	}
	if names, _ := readNames(tmpT); len(names) != 0 {
		t.Errorf("tmp/<T> not empty after a commit and an abort: %v", names)
	}
}

// TestAppendSyncLater appends the results of many concurrent deliveries
// to one control file, as courierlocal does: every caller's records must be
// in the file, together, when its call returns.
func TestAppendSyncLater(t *testing.T) {
	q := openTest(t, t.TempDir())
	id, err := q.Submit(testEnvelope("m1@x"), bytes.NewReader(messageData(1)))
	if err != nil {
		t.Fatal(err)
	}
	path := q.ControlPath(id.Inode)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const deliveries, lines = 40, 3
	var wg sync.WaitGroup
	for n := 0; n < deliveries; n++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var recs []Record
			for i := 0; i < lines; i++ {
				recs = append(recs, Info(n, InfoReply, fmt.Sprintf("line %d", i)))
			}
			if err := q.AppendSyncLater(id.Inode, recs...); err != nil {
				t.Error(err)
				return
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Error(err)
				return
			}
			var want strings.Builder
			for i := 0; i < lines; i++ {
				fmt.Fprintf(&want, "I%d R line %d\n", n, i)
			}
			if !strings.Contains(string(data), want.String()) {
				t.Errorf("after delivery %d returned, the file lacks its records in one piece:\n%s", n, data)
			}
		}()
	}
	wg.Wait()
	data, _ := os.ReadFile(path)
	if got := strings.Count(string(data), "\n") - strings.Count(string(before), "\n"); got != deliveries*lines {
		t.Errorf("%d lines appended, want %d", got, deliveries*lines)
	}
	if err := q.AppendSyncLater(id.Inode, Record{}); err == nil {
		t.Error("an empty record was appended")
	}
}
