package mailq

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gocourier/courier/pkg/queue"
)

// realTree is a queue written by our queue package the way the real one
// looks: owned by courier, messages of root's sendmail and SMTP owned by
// courier, one of a local user (nobody) owned by that user.
func realTree(t *testing.T) (string, []queue.QueueID) {
	t.Helper()
	cuid, cgid := courierIDs(t)
	root := t.TempDir()
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-3 * time.Hour).Truncate(time.Minute)
	courier := &queue.Owner{UID: cuid, GID: cgid}
	msgs := []testMsg{
		{sender: "carol@example.org", rcpts: []string{"r1@remote.example", "r2@remote.example", "r3@other.example", "user1@example.test"}, size: 363, owner: courier, mtime: base.Add(5 * time.Minute)},
		{sender: "size@example.org", rcpts: []string{"m@remote.example"}, size: 1633283, owner: courier, mtime: base},
		{sender: "", rcpts: []string{"postmaster@example.test"}, size: 5254, owner: &queue.Owner{UID: 65534, GID: cgid}, mtime: base.Add(time.Minute)},
		{sender: "a-very-long-sender-address-that-runs-on@a-long-domain.example.org", rcpts: []string{"x@y.example"}, size: 1023, owner: courier, mtime: base.Add(time.Minute)},
		{sender: "u@example.test", rcpts: []string{"a@b.example", "c@d.example"}, size: 1024, owner: &queue.Owner{UID: 65534, GID: cgid}, mtime: base.Add(48 * time.Hour)},
	}
	var ids []queue.QueueID
	for _, m := range msgs {
		ids = append(ids, submit(t, root, m))
	}
	q, err := queue.Open(root, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := q.Append(ids[0].Inode, queue.Info(3, queue.InfoReply, "Message delivered."), queue.Delivered(3, now, queue.SuccessLocal),
		queue.Deferred(0, now), queue.Failed(1, now), queue.PassComplete(now)); err != nil {
		t.Fatal(err)
	}
	if err := q.Append(ids[4].Inode, queue.Failed(1, now), queue.Delivered(0, now, "")); err != nil {
		t.Fatal(err)
	}
	chownTree(t, root, cuid, cgid)
	return root, ids
}

// Our mailq and the real /usr/bin/mailq on the same queue tree print the
// same bytes, for root and for an ordinary user, in every mode.
func TestSameAsReal(t *testing.T) {
	needReal(t, "/usr/bin/mailq")
	root, _ := realTree(t)
	for _, as := range []int{-1, 65534} {
		for _, args := range [][]string{nil, {"-sort"}, {"-batch"}, {"-sort", "-batch"}, {"-batch=1", "-sort"}, {"-all"}, {"--batch"}, {"-", "-x"}} {
			wantOut, wantErr, wantCode := real(t, root, as, append([]string{"/usr/bin/mailq"}, args...)...)
			uid := 0
			if as >= 0 {
				uid = as
			}
			var out, errb bytes.Buffer
			code := run(root, uid, args, &out, &errb)
			if out.String() != wantOut || errb.String() != wantErr || code != wantCode {
				t.Errorf("uid %d, mailq %q:\nours (exit %d):\n%s%s\nreal (exit %d):\n%s%s", uid, args, code, out.String(), errb.String(), wantCode, wantOut, wantErr)
			}
			if args == nil && !strings.Contains(out.String(), " messages.") {
				t.Errorf("no trailer: %q", out.String())
			}
		}
	}
	// The tree has what the comparison is about: both owners, all statuses.
	out, _, _ := real(t, root, -1, "/usr/bin/mailq")
	for _, want := range []string{"   5 messages.", "\ndone             user1@example.test\n", "\nfail             r2@remote.example\n",
		"\n                 r1@remote.example\n", "\nnobody           \n", "1.55M  ", "5.1K  ", "1023  ", "1.0K  "} {
		if !strings.Contains(out, want) {
			t.Errorf("real mailq output lacks %q:\n%s", want, out)
		}
	}
	if out, _, _ := real(t, root, 65534, "/usr/bin/mailq"); !strings.Contains(out, "   2 messages.") {
		t.Errorf("nobody should see its 2 messages:\n%s", out)
	}
}
