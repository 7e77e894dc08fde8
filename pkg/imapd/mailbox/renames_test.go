package mailbox

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"golang.org/x/sys/unix"

	"github.com/gocourier/courier/pkg/maildir"
	"github.com/gocourier/courier/test/testenv"
)

// holdQuotaLock takes the maildir's quota lock (flock of the main
// maildir) exclusively, as a recount does: a rename that sets or clears
// \Deleted waits for it, which holds a Store's renames back.
func holdQuotaLock(t *testing.T, root string) (release func()) {
	t.Helper()
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() { once.Do(func() { unix.Flock(fd, unix.LOCK_UN); unix.Close(fd) }) }
	t.Cleanup(release)
	return release
}

// diskFlags returns the flags of the files of cur/ by unique name.
func diskFlags(t *testing.T, root string) map[string]maildir.Flags {
	t.Helper()
	names, err := os.ReadDir(filepath.Join(root, "cur"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]maildir.Flags{}
	for _, e := range names {
		n, err := maildir.ParseName(e.Name())
		if err != nil {
			t.Fatal(err)
		}
		out[n.Unique] = n.Flags()
	}
	return out
}

// agrees checks that the snapshot's flags are those of the file names.
func agrees(t *testing.T, m *Mailbox) {
	t.Helper()
	disk := diskFlags(t, m.s.Root)
	if len(disk) != len(m.Messages()) {
		t.Fatalf("%d messages in the snapshot, %d files", len(m.Messages()), len(disk))
	}
	for _, msg := range m.Messages() {
		fl, ok := disk[msg.unique()]
		if !ok || !slices.Equal(imapFlags(fl, nil), msg.Flags) {
			t.Fatalf("message %d: flags %v, its file %q", msg.UID, msg.Flags, fl)
		}
	}
}

// within runs fn and fails the test when it takes longer than a STORE
// that waits for nothing would.
func within(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s waited for the renames", what)
	}
}

// waiting starts fn and checks that it is still waiting a while later.
func waiting(t *testing.T, what string, fn func()) chan struct{} {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
		t.Fatalf("%s did not wait for the renames", what)
	case <-time.After(100 * time.Millisecond):
	}
	return done
}

// TestStoreBehind checks that a STORE of system flags answers before its
// renames: its session sees the new flags at once, other sessions of the
// process wait for the renames (with and without Courier's dot-lock) and
// then find them on disk, Close waits for them, and a crash before them
// leaves a maildir whose next scan gives the messages their flags on disk
// and a new modseq.
func TestStoreBehind(t *testing.T) {
	for _, locks := range []string{"1", "0"} {
		t.Run("IMAP_USELOCKS="+locks, func(t *testing.T) {
			s := newStore(t, map[string]string{"IMAP_USELOCKS": locks})
			for i := range 20 {
				deliver(t, s, "", fmt.Sprintf("Subject: %d\n\n%d\n", i, i))
			}
			a, err := s.Select("INBOX", false)
			if err != nil {
				t.Fatal(err)
			}
			before := a.HighestModSeq()
			release := holdQuotaLock(t, s.Root)
			uids := []uint32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
			var changed []uint32
			within(t, "STORE", func() {
				changed, _, err = a.Store(uids, imap.StoreFlagsAdd, []imap.Flag{imap.FlagDeleted}, 0)
			})
			if err != nil || !slices.Equal(changed, uids) {
				t.Fatalf("store: %v %v", changed, err)
			}
			for u, fl := range diskFlags(t, s.Root) {
				if fl != "" {
					t.Fatalf("%s renamed (%q) before the renames were let go", u, fl)
				}
			}
			// What a crash now would leave.
			crashed := filepath.Join(t.TempDir(), "Maildir")
			if err := os.CopyFS(crashed, os.DirFS(s.Root)); err != nil {
				t.Fatal(err)
			}
			os.Remove(filepath.Join(crashed, "tmp", lockFile))

			var ch Changes
			within(t, "the refresh after STORE", func() { ch, err = a.Refresh() })
			if err != nil || !slices.Equal(ch.Updated, uids) {
				t.Fatalf("refresh: %+v %v", ch, err)
			}
			stored := a.HighestModSeq()
			for i, msg := range a.Messages() {
				deleted := slices.Contains(msg.Flags, imap.FlagDeleted)
				if deleted != (i < 10) || deleted && msg.ModSeq != stored || stored <= before {
					t.Fatalf("message %d: flags %v, modseq %d (was %d)", msg.UID, msg.Flags, msg.ModSeq, before)
				}
			}
			var b *Mailbox
			selected := waiting(t, "SELECT in another session", func() { b, err = s.Select("INBOX", false) })
			release()
			<-selected
			if err != nil || b.HighestModSeq() != stored {
				t.Fatalf("select: %v, highest modseq %d, want %d", err, b.HighestModSeq(), stored)
			}
			agrees(t, b)
			agrees(t, a)
			gone, err := a.Expunge(nil)
			if err != nil || !slices.Equal(gone, uids) {
				t.Fatalf("expunge: %v %v", gone, err)
			}
			// Close waits for the renames.
			release = holdQuotaLock(t, s.Root)
			within(t, "STORE", func() {
				_, _, err = a.Store([]uint32{11}, imap.StoreFlagsAdd, []imap.Flag{imap.FlagDeleted}, 0)
			})
			if err != nil {
				t.Fatal(err)
			}
			closed := waiting(t, "Close", func() { a.Close() })
			release()
			<-closed
			if fl := diskFlags(t, s.Root)[b.Messages()[10].unique()]; fl != "T" {
				t.Fatalf("message 11 has %q after Close", fl)
			}

			cs, err := Open(crashed, s.Getenv)
			if err != nil {
				t.Fatal(err)
			}
			c, err := cs.Select("INBOX", false)
			if err != nil {
				t.Fatal(err)
			}
			agrees(t, c)
			for _, msg := range c.Messages()[:10] {
				if msg.ModSeq <= stored {
					t.Fatalf("after the crash, message %d keeps modseq %d (the STORE's %d) with its flags %v", msg.UID, msg.ModSeq, stored, msg.Flags)
				}
			}
		})
	}
}

// TestStoreBehindMeanwhile checks the messages another program removes or
// renames between a STORE's answer and its renames: the renames find a
// renamed message under its new name, a removed one is logged, and the
// next scan has the folder as it is on disk. Opening a message being
// renamed waits for the renames.
func TestStoreBehindMeanwhile(t *testing.T) {
	s := newStore(t, nil)
	var log testenv.SyncBuffer
	s.Log = slog.New(slog.NewTextHandler(&log, nil))
	var files []string
	for i := range 5 {
		files = append(files, deliver(t, s, "", fmt.Sprintf("Subject: %d\n\n%d\n", i, i)))
	}
	a, err := s.Select("INBOX", false)
	if err != nil {
		t.Fatal(err)
	}
	release := holdQuotaLock(t, s.Root)
	within(t, "STORE", func() {
		_, _, err = a.Store([]uint32{1, 2, 3}, imap.StoreFlagsAdd, []imap.Flag{imap.FlagDeleted}, 0)
	})
	if err != nil {
		t.Fatal(err)
	}
	within(t, "the refresh after STORE", func() { _, err = a.Refresh() })
	if err != nil {
		t.Fatal(err)
	}
	var opened *os.File
	openDone := waiting(t, "opening a message being renamed", func() { opened, err = a.Open(1) })
	// Another program removes message 2 and gives message 3 \Seen.
	cur := filepath.Join(s.Root, "cur")
	if err := os.Remove(filepath.Join(cur, files[1]+":2,")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(cur, files[2]+":2,"), filepath.Join(cur, files[2]+":2,S")); err != nil {
		t.Fatal(err)
	}
	release()
	<-openDone
	if err != nil {
		t.Fatal(err)
	}
	opened.Close()
	if filepath.Base(opened.Name()) != files[0]+":2,T" {
		t.Fatalf("opened %s", opened.Name())
	}
	if got := log.String(); !strings.Contains(got, files[1]) || !strings.Contains(got, "STORE in "+s.Root) {
		t.Fatalf("log %q", got)
	}
	b, err := s.Select("INBOX", false)
	if err != nil {
		t.Fatal(err)
	}
	agrees(t, b)
	if got := uidsOf(b.Messages()); !slices.Equal(got, []uint32{1, 3, 4, 5}) {
		t.Fatalf("messages %v", got)
	}
	if got := b.Messages()[1].Flags; !slices.Equal(got, []imap.Flag{imap.FlagDeleted}) {
		t.Fatalf("message 3: %v", got)
	}
}
