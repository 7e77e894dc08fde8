package mailq

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gocourier/courier/pkg/queue"
)

// listen opens the trigger FIFO as the scheduler does.
func listen(t *testing.T, root string) *os.File {
	t.Helper()
	q, err := queue.Open(root, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := q.ListenTrigger()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// readTrigger returns what is waiting in the FIFO ("" after a short wait if
// nothing).
func readTrigger(t *testing.T, f *os.File) string {
	t.Helper()
	var got []byte
	buf := make([]byte, 4096)
	for {
		f.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, err := f.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			return string(got)
		}
	}
}

func controlTail(t *testing.T, root string, id queue.QueueID) string {
	t.Helper()
	q, _ := queue.Open(root, queue.Options{})
	data, err := os.ReadFile(q.ControlPath(id.Inode))
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	return s[strings.Index(s, "\nA")+1:]
}

func TestCancel(t *testing.T) {
	root := t.TempDir()
	id := submit(t, root, testMsg{sender: "s@x.example", rcpts: []string{"a@y.example"}, size: 100})
	id2 := submit(t, root, testMsg{sender: "s@x.example", rcpts: []string{"a@y.example"}, size: 100})
	fifo := listen(t, root)
	uid := os.Getuid()
	try := func(args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := cancel(root, uid, args, &out, &errb)
		return out.String(), errb.String(), code
	}
	if out, errOut, code := try(); code != 0 || out+errOut != "" {
		t.Errorf("no arguments: exit %d %q %q", code, out, errOut)
	}
	for _, bad := range []string{"garbage", strings.ToLower(id.String()), "00000000000FFFFF.000000006B0267A1.00007614", id.Short()} {
		if out, errOut, code := try(bad); code != 1 || out != "" || errOut != "Message not found.\n" {
			t.Errorf("cancelmsg %s: exit %d %q %q", bad, code, out, errOut)
		}
	}
	if got := readTrigger(t, fifo); got != "" {
		t.Errorf("a failed cancel wrote %q to the trigger", got)
	}
	if out, errOut, code := try(id.String(), "Cancelled by the admin", "second\nreason line"); code != 0 || out != "Message scheduled for cancellation.\n" || errOut != "" {
		t.Errorf("cancelmsg: exit %d %q %q", code, out, errOut)
	}
	if got, want := readTrigger(t, fifo), "FLUSH "+id.String()+"\n"; got != want {
		t.Errorf("trigger %q, want %q", got, want)
	}
	if tail := controlTail(t, root, id); !strings.HasSuffix(tail, "\nXCancelled by the admin\nXsecond reason line\n") {
		t.Errorf("control file ends:\n%s", tail)
	}
	if _, errOut, code := try(id.String()); code != 1 || errOut != "Message not found.\n" {
		t.Errorf("second cancel: exit %d %q", code, errOut)
	}
	var out, errb bytes.Buffer
	if code := cancel(root, uid+12345, []string{id2.String()}, &out, &errb); code != 1 || errb.String() != "Message not found.\n" {
		t.Errorf("another user's message: exit %d %q", code, errb.String())
	}
	if _, _, code := try(id2.String()); code != 0 {
		t.Fatalf("cancel own message: exit %d", code)
	}
	if tail := controlTail(t, root, id2); !strings.HasSuffix(tail, "\nXMessage cancelled.\n") {
		t.Errorf("default reason:\n%s", tail)
	}
}

// Without a scheduler the cancel is still recorded, and the user is told
// when it takes effect.
func TestCancelNoScheduler(t *testing.T) {
	root := t.TempDir()
	id := submit(t, root, testMsg{sender: "s@x.example", rcpts: []string{"a@y.example"}, size: 100})
	var out, errb bytes.Buffer
	if code := cancel(root, os.Getuid(), []string{id.String()}, &out, &errb); code != 0 || out.String() != "Message scheduled for cancellation.\n" ||
		errb.String() != "cancelmsg: courierd is not running; the message is cancelled when it starts.\n" {
		t.Errorf("exit %d %q %q", code, out.String(), errb.String())
	}
}

func TestFlush(t *testing.T) {
	root := t.TempDir()
	id := submit(t, root, testMsg{sender: "s@x.example", rcpts: []string{"a@y.example"}, size: 100})
	uid := os.Getuid()
	try := func(uid int, args ...string) (string, int) {
		var errb bytes.Buffer
		code := flush(root, uid, args, &errb)
		return errb.String(), code
	}
	if errOut, code := try(uid); code != 1 || errOut != "courier: courierd is not running: nothing was flushed (start it with courier start).\n" {
		t.Errorf("no scheduler: exit %d %q", code, errOut)
	}
	fifo := listen(t, root)
	if errOut, code := try(uid + 12345); code != 1 || errOut != "courier flush can be executed only by the superuser.\n" {
		t.Errorf("another user: exit %d %q", code, errOut)
	}
	if errOut, code := try(uid); code != 0 || errOut != "" {
		t.Errorf("flush: exit %d %q", code, errOut)
	}
	if errOut, code := try(uid, id.String()); code != 0 || errOut != "" {
		t.Errorf("flush id: exit %d %q", code, errOut)
	}
	for _, bad := range []string{"nonsense", strings.ToLower(id.String()), "0000000000000001.000000006B0267A1.00007614"} {
		if errOut, code := try(uid, bad); code != 1 || errOut != "No such message.\n" {
			t.Errorf("flush %s: exit %d %q", bad, code, errOut)
		}
	}
	if got, want := readTrigger(t, fifo), "FLUSH\nFLUSH"+id.String()+"\n"; got != want {
		t.Errorf("trigger %q, want %q", got, want)
	}
}

// The real cancelmsg and courier flush on a queue of ours: same messages,
// same records, same trigger lines as ours.
func TestCancelFlushSameAsReal(t *testing.T) {
	needReal(t, "/usr/bin/cancelmsg", "/usr/sbin/courier")
	root, ids := realTree(t)
	fifo := listen(t, root)

	out, errOut, code := real(t, root, -1, "/usr/bin/cancelmsg", ids[1].String(), "Cancelled by the admin", "second reason line")
	if code != 0 || out != "Message scheduled for cancellation.\n" || errOut != "" {
		t.Fatalf("real cancelmsg: exit %d %q %q", code, out, errOut)
	}
	realTail := controlTail(t, root, ids[1])
	realTrigger := readTrigger(t, fifo)
	var o, e bytes.Buffer
	if code := cancel(root, 0, []string{ids[3].String(), "Cancelled by the admin", "second reason line"}, &o, &e); code != 0 {
		t.Fatalf("our cancel: %d %q", code, e.String())
	}
	ourTail := controlTail(t, root, ids[3])
	if want := "FLUSH " + ids[1].String() + "\n"; realTrigger != want {
		t.Errorf("real cancelmsg trigger %q, want %q", realTrigger, want)
	}
	if got, want := readTrigger(t, fifo), "FLUSH "+ids[3].String()+"\n"; got != want {
		t.Errorf("our trigger %q, want %q", got, want)
	}
	if !strings.HasSuffix(realTail, "\nXCancelled by the admin\nXsecond reason line\n") || realTail[strings.Index(realTail, "\nX"):] != ourTail[strings.Index(ourTail, "\nX"):] {
		t.Errorf("records differ:\nreal:\n%s\nours:\n%s", realTail, ourTail)
	}
	// Our parser reads what the real one wrote.
	q, _ := queue.Open(root, queue.Options{})
	if c, err := q.Load(ids[1].Inode); err != nil || !c.Cancelled() || len(c.CancelReasons) != 2 {
		t.Errorf("control file after the real cancelmsg: %v %+v", err, c)
	}

	// Already cancelled, lower case, another user's message: the same answer.
	// A user's own message: the real one cancels ids[2], ours ids[4].
	for _, c := range []struct {
		uid        int
		args, ours []string
	}{{-1, []string{ids[1].String()}, nil}, {-1, []string{strings.ToLower(ids[0].String())}, nil}, {65534, []string{ids[0].String()}, nil},
		{-1, nil, nil}, {65534, []string{ids[2].String(), "mine"}, []string{ids[4].String(), "mine"}}} {
		wantOut, wantErr, wantCode := real(t, root, c.uid, append([]string{"/usr/bin/cancelmsg"}, c.args...)...)
		uid := max(c.uid, 0)
		if c.ours == nil {
			c.ours = c.args
		}
		var o, e bytes.Buffer
		code := cancel(root, uid, c.ours, &o, &e)
		if o.String() != wantOut || e.String() != wantErr || code != wantCode {
			t.Errorf("uid %d cancelmsg %q: ours exit %d %q %q, real exit %d %q %q", uid, c.args, code, o.String(), e.String(), wantCode, wantOut, wantErr)
		}
		readTrigger(t, fifo)
	}

	for _, args := range [][]string{{"flush"}, {"flush", ids[0].String()}, {"flush", "nonsense"}, {"flush", strings.ToLower(ids[0].String())}} {
		wantOut, wantErr, wantCode := real(t, root, -1, append([]string{"/usr/sbin/courier"}, args...)...)
		realTrigger := readTrigger(t, fifo)
		var e bytes.Buffer
		code := flush(root, 0, args[1:], &e)
		ourTrigger := readTrigger(t, fifo)
		if wantOut != "" || e.String() != wantErr || code != wantCode || ourTrigger != realTrigger {
			t.Errorf("courier %q: ours exit %d %q trigger %q, real exit %d %q %q trigger %q", args, code, e.String(), ourTrigger, wantCode, wantOut, wantErr, realTrigger)
		}
	}
	if _, wantErr, wantCode := real(t, root, 65534, "/usr/sbin/courier", "flush"); wantCode != 1 || wantErr != msgFlushRoot+"\n" {
		t.Errorf("real courier flush as nobody: %d %q", wantCode, wantErr)
	}
}
