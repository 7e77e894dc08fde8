package mailbox

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/gocourier/courier/pkg/maildir"
)

// benchStore makes a maildir whose INBOX holds n messages in cur/, as
// imapbench fills it (file names with ,S= but no ,W=), and selects it once
// so that the UID map exists.
func benchStore(b *testing.B, n int) *Store {
	b.Helper()
	root := filepath.Join(b.TempDir(), "Maildir")
	if err := maildir.Make(root, 0o700, 0o700, false); err != nil {
		b.Fatal(err)
	}
	benchFill(b, root, n)
	s, err := Open(root, env(nil))
	if err != nil {
		b.Fatal(err)
	}
	m, err := s.Select("INBOX", false)
	if err != nil {
		b.Fatal(err)
	}
	m.Close()
	return s
}

// BenchmarkSelect10k is SELECT of a 10,000-message INBOX.
func BenchmarkSelect10k(b *testing.B) {
	s := benchStore(b, 10000)
	b.ResetTimer()
	for b.Loop() {
		m, err := s.Select("INBOX", false)
		if err != nil {
			b.Fatal(err)
		}
		m.Close()
	}
}

// BenchmarkStoreRefresh10k is one session's STORE of a flag on one
// message followed by its Refresh and another session's: the mix's STORE.
func BenchmarkStoreRefresh10k(b *testing.B) {
	s := benchStore(b, 10000)
	a, err := s.Select("INBOX", false)
	if err != nil {
		b.Fatal(err)
	}
	o, err := s.Select("INBOX", false)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	i := 0
	for b.Loop() {
		flagAndRefresh(b, a, []uint32{a.Messages()[i%100].UID}, i)
		if _, err := o.Refresh(); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkStore1000 is STORE +FLAGS on 1,000 messages of 10,000.
func BenchmarkStore1000(b *testing.B) {
	s := benchStore(b, 10000)
	a, err := s.Select("INBOX", false)
	if err != nil {
		b.Fatal(err)
	}
	var uids []uint32
	for _, m := range a.Messages()[:1000] {
		uids = append(uids, m.UID)
	}
	b.ResetTimer()
	i := 0
	for b.Loop() {
		flagAndRefresh(b, a, uids, i)
		i++
	}
}

// flagAndRefresh is the i-th STORE of the STORE benchmarks: \Flagged
// added to the messages on even rounds and taken away on odd ones,
// followed by the session's Refresh.
func flagAndRefresh(b *testing.B, m *Mailbox, uids []uint32, i int) {
	op := imap.StoreFlagsAdd
	if i%2 == 1 {
		op = imap.StoreFlagsDel
	}
	if _, _, err := m.Store(uids, op, []imap.Flag{imap.FlagFlagged}, 0); err != nil {
		b.Fatal(err)
	}
	if _, err := m.Refresh(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkRefreshUnchanged10k is the rescan between commands when
// nothing changed.
func BenchmarkRefreshUnchanged10k(b *testing.B) {
	s := benchStore(b, 10000)
	a, err := s.Select("INBOX", false)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := a.Refresh(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSize10k is RFC822.SIZE of every message (names without ,W=).
func BenchmarkSize10k(b *testing.B) {
	s := benchStore(b, 10000)
	a, err := s.Select("INBOX", false)
	if err != nil {
		b.Fatal(err)
	}
	msgs := a.Messages()
	b.ResetTimer()
	for b.Loop() {
		for _, m := range msgs {
			if _, err := a.Size(m.UID); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkCopyMove500 is COPY of 500 messages of 10,000 to another
// folder, then MOVE of 500, then the Refresh that reports them.
func BenchmarkCopyMove500(b *testing.B) {
	s := benchStore(b, 10000)
	if err := s.Create("INBOX.Dest"); err != nil {
		b.Fatal(err)
	}
	a, err := s.Select("INBOX", false)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		var uids []uint32
		for _, m := range a.Messages()[:500] {
			uids = append(uids, m.UID)
		}
		if _, _, _, err := a.Copy(uids, "INBOX.Dest"); err != nil {
			b.Fatal(err)
		}
		if _, _, _, err := a.Move(uids, "INBOX.Dest"); err != nil {
			b.Fatal(err)
		}
		if _, err := a.Refresh(); err != nil {
			b.Fatal(err)
		}
		if len(a.Messages()) < 600 {
			b.StopTimer()
			a.Close()
			// The messages moved keep their names: refilled, they would
			// meet them in Dest, where MOVE never replaces a file.
			if err := s.Delete("INBOX.Dest"); err != nil {
				b.Fatal(err)
			}
			if err := s.Create("INBOX.Dest"); err != nil {
				b.Fatal(err)
			}
			benchFill(b, s.Root, 10000)
			if a, err = s.Select("INBOX", false); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	}
}

// benchFill writes n messages into root's cur/ (again: the names of those
// there stay).
func benchFill(b *testing.B, root string, n int) {
	b.Helper()
	for i := 0; i < n; i++ {
		msg := fmt.Sprintf("From: Sender %d <sender%d@example.test>\nSubject: message %d\n\nHello %d.\n", i%50, i%50, i, i)
		name := fmt.Sprintf("%d.M%06dP1.bench,S=%d:2,", 1700000000+i, i, len(msg))
		if i%3 == 0 {
			name += "S"
		}
		if _, err := os.Stat(filepath.Join(root, "cur", name)); err == nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(root, "cur", name), []byte(msg), 0o600); err != nil {
			b.Fatal(err)
		}
	}
}
