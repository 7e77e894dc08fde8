package imapd

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/emersion/go-imap/v2"
	"golang.org/x/sys/unix"

	"github.com/gocourier/courier/pkg/maildir"
)

// TestMsgFileEnd checks that a message file whose name gives its size is
// read whole in one call, and that a wrong size only costs a read.
func TestMsgFileEnd(t *testing.T) {
	dir := t.TempDir()
	data := []byte("Subject: x\n\nbody\n")
	for _, tc := range []struct {
		name  string
		reads int
	}{
		{fmt.Sprintf("1.M1P1.h,S=%d:2,", len(data)), 1},
		{fmt.Sprintf("1.M2P1.h,S=%d:2,", len(data)+1), 2},
		{"1.M3P1.h:2,", 2},
	} {
		if err := os.WriteFile(filepath.Join(dir, tc.name), data, 0o600); err != nil {
			t.Fatal(err)
		}
		fd, err := openAt(unix.AT_FDCWD, filepath.Join(dir, tc.name))
		if err != nil {
			t.Fatal(err)
		}
		f := &msgFile{fd: fd, size: maildir.NameSize(tc.name)}
		buf := make([]byte, 64)
		var got []byte
		reads := 0
		for {
			n, err := f.Read(buf)
			reads++
			got = append(got, buf[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		f.Close()
		if string(got) != string(data) || reads != tc.reads {
			t.Errorf("%s: read %q in %d calls, want %d", tc.name, got, reads, tc.reads)
		}
	}
}

// TestFetchDuringWarmUp fetches envelopes and sizes right after SELECT,
// while the warm-up reads the messages the FETCH waits for (and reads
// itself), and checks every answer.
func TestFetchDuringWarmUp(t *testing.T) {
	const n = 700
	var msgs []string
	size := map[string]int64{} // by subject
	for i := range n {
		subject := fmt.Sprintf("message %d", i)
		msgs = append(msgs, msg(subject, "", "body"))
		size[subject] = int64(len(msgs[i]) + 7) // CRLF
	}
	root := newMaildir(t, msgs...)
	c := dial(t, serve(t, root, testEnv), nil)
	must(c.Select("INBOX", nil).Wait())
	var all imap.SeqSet
	all.AddRange(1, 0)
	got := must(c.Fetch(all, &imap.FetchOptions{RFC822Size: true, Envelope: true}).Collect())
	if len(got) != n {
		t.Fatalf("%d messages, want %d", len(got), n)
	}
	for _, m := range got {
		if m.Envelope == nil || m.RFC822Size != size[m.Envelope.Subject] {
			t.Fatalf("message %d: %+v, size %d", m.SeqNum, m.Envelope, m.RFC822Size)
		}
		delete(size, m.Envelope.Subject)
	}
	if len(size) > 0 {
		t.Errorf("%d messages missing", len(size))
	}
	waitWarm(root)
}
