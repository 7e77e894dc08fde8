package mailq

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gocourier/courier/pkg/queue"
)

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 301: "301", 1023: "1023", 1024: "1.0K", 5254: "5.1K",
		1048575: "1023.9K", 1048576: "1.00M", 1633283: "1.55M", 10 << 30: "10240.00M"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// The layout of spec §5, character for character.
func TestWriteLayout(t *testing.T) {
	d1 := time.Date(2026, 11, 22, 3, 55, 0, 0, time.Local)
	d2 := time.Date(2026, 11, 22, 3, 56, 0, 0, time.Local)
	msgs := []Message{
		{Size: 363, ID: "00000000000C2005.000000006B0267A1.00007614", Date: d1, User: "courier", Sender: "carol@example.org",
			Recipients: []Recipient{{"", "r1@remote.example"}, {"", "r2@remote.example"}, {"", "r3@other.example"}, {"done", "user1@example.test"}}},
		{Size: 1633283, ID: "00000000000C202B.000000006B0267D1.00007849", Date: d2, User: "courier", Sender: "size@example.org",
			Recipients: []Recipient{{"", "m@remote.example"}}},
	}
	want := `Size             Queue ID                                                    Date
User             From
Status           Recipient
---------------- ---------------------------------------------------------
363              00000000000C2005.000000006B0267A1.00007614                  Nov 22 03:55
courier          carol@example.org
                 r1@remote.example
                 r2@remote.example
                 r3@other.example
done             user1@example.test

1.55M            00000000000C202B.000000006B0267D1.00007849                  Nov 22 03:56
courier          size@example.org
                 m@remote.example

   2 messages.
`
	var b bytes.Buffer
	if err := Write(&b, msgs, false); err != nil {
		t.Fatal(err)
	}
	if b.String() != want {
		t.Errorf("layout:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	Write(&b, msgs[:1], true)
	wantBatch := "363             ;00000000000C2005.000000006B0267A1.00007614;Nov 22 03:55;courier;carol@example.org;;r1@remote.example;;r2@remote.example;;r3@other.example;done;user1@example.test;\nmessages: 1\n"
	if b.String() != wantBatch {
		t.Errorf("batch:\n%q\nwant\n%q", b.String(), wantBatch)
	}
	b.Reset()
	Write(&b, nil, false)
	if !strings.HasSuffix(b.String(), "---------------------------------------------------------\n   0 messages.\n") {
		t.Errorf("empty queue: %q", b.String())
	}
}

func TestArgs(t *testing.T) {
	root := t.TempDir()
	if _, err := queue.Open(root, queue.Options{}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"-all"}, 1, "", "mailq: ERR: Invalid argument: -all\n"},
		{[]string{"--batch"}, 1, "", "mailq: ERR: Invalid argument: --batch\n"},
		{[]string{"-sortx"}, 1, "", "mailq: ERR: Invalid argument: -sortx\n"},
		{[]string{"-batch=yes"}, 0, "messages: 0\n", ""},
		{[]string{"-", "-all"}, 0, "   0 messages.\n", ""},
		{[]string{"foo", "-all"}, 0, "   0 messages.\n", ""},
	} {
		var out, errb bytes.Buffer
		code := run(root, 0, c.args, &out, &errb)
		if code != c.code || !strings.HasSuffix(out.String(), c.stdout) || (c.stdout == "" && out.Len() > 0) || errb.String() != c.stderr {
			t.Errorf("mailq %q: exit %d, %q, %q", c.args, code, out.String(), errb.String())
		}
	}
	var out, errb bytes.Buffer
	if code := run(t.TempDir()+"/none", 0, nil, &out, &errb); code != 1 || out.Len() > 0 || !strings.Contains(errb.String(), "mailq: cannot read the mail queue: open ") {
		t.Errorf("missing queue: exit %d, %q %q", code, out.String(), errb.String())
	}
}

// Statuses, ownership and the order: as the original computes them.
func TestList(t *testing.T) {
	root := t.TempDir()
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	uid := os.Getuid()
	a := submit(t, root, testMsg{sender: "a@x.example", rcpts: []string{"r0@x", "r1@x", "r2@x"}, size: 400, mtime: base.Add(2 * time.Minute)})
	b := submit(t, root, testMsg{sender: "", rcpts: []string{"r@y"}, size: 2000, mtime: base})
	q, _ := queue.Open(root, queue.Options{})
	if err := q.Append(a.Inode, queue.Delivered(0, base, queue.SuccessLocal), queue.Failed(1, base), queue.Deferred(2, base)); err != nil {
		t.Fatal(err)
	}
	// A torn last line (an interrupted append) does not hide the message.
	f, _ := os.OpenFile(q.ControlPath(b.Inode), os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString("D0 17")
	f.Close()
	msgs, err := List(root, ListOptions{UID: uid, Sort: true})
	if err != nil || len(msgs) != 2 {
		t.Fatalf("List: %v %+v", err, msgs)
	}
	if msgs[0].ID != b.String() || msgs[1].ID != a.String() {
		t.Errorf("-sort order: %s %s", msgs[0].ID, msgs[1].ID)
	}
	got := msgs[1]
	if got.Size != 400 || got.Sender != "a@x.example" || len(got.Recipients) != 3 ||
		got.Recipients[0] != (Recipient{"done", "r0@x"}) || got.Recipients[1] != (Recipient{"fail", "r1@x"}) || got.Recipients[2] != (Recipient{"", "r2@x"}) {
		t.Errorf("message: %+v", got)
	}
	if msgs[0].Sender != "" || msgs[0].Size != 2000 {
		t.Errorf("<> message: %+v", msgs[0])
	}
	if others, _ := List(root, ListOptions{UID: uid + 12345}); len(others) != 0 {
		t.Errorf("another user sees %d messages", len(others))
	}
}
