package mailbox

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/gocourier/courier/pkg/maildir"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func newStore(t *testing.T, vars map[string]string) *Store {
	t.Helper()
	root := filepath.Join(t.TempDir(), "Maildir")
	if err := maildir.Make(root, 0o700, 0o700, false); err != nil {
		t.Fatal(err)
	}
	s, err := Open(root, env(vars))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func deliver(t *testing.T, s *Store, folder, body string) string {
	t.Helper()
	d, err := maildir.OpenFolder(s.Root, folder)
	if err != nil {
		t.Fatal(err)
	}
	p, err := d.Deliver(strings.NewReader(body), maildir.DeliverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Base(p)
}

func uidsOf(msgs []Msg) []uint32 {
	var out []uint32
	for _, m := range msgs {
		out = append(out, m.UID)
	}
	return out
}

func TestSelectRefreshDeliveryAndExpunge(t *testing.T) {
	s := newStore(t, nil)
	deliver(t, s, "", "Subject: 1\n\none\n")
	deliver(t, s, "", "Subject: 2\n\ntwo\n")
	a, err := s.Select("inbox", false)
	if err != nil {
		t.Fatal(err)
	}
	msgs := a.Messages()
	if !slices.Equal(uidsOf(msgs), []uint32{1, 2}) || !msgs[0].Recent || !msgs[1].Recent {
		t.Fatalf("messages %+v", msgs)
	}
	if a.Name != "INBOX" || a.UIDNext() != 3 {
		t.Fatalf("name %q uidnext %d", a.Name, a.UIDNext())
	}
	b, err := s.Select("INBOX", false)
	if err != nil {
		t.Fatal(err)
	}
	if b.UIDValidity != a.UIDValidity || b.Messages()[0].Recent {
		t.Fatalf("second session: %+v", b.Messages())
	}
	deliver(t, s, "", "Subject: 3\n\nthree\n")
	ch, err := b.Refresh()
	if err != nil {
		t.Fatal(err)
	}
	if ch.Added != 1 || ch.Exists != 3 || ch.Recent != 1 || !b.Messages()[2].Recent {
		t.Fatalf("refresh b: %+v", ch)
	}
	// a marks 1 and 3 deleted and expunges; b hears of it.
	if _, _, err := a.Store([]uint32{1}, imap.StoreFlagsAdd, []imap.Flag{imap.FlagDeleted}, 0); err != nil {
		t.Fatal(err)
	}
	if ch, err = a.Refresh(); err != nil || ch.Added != 1 || !slices.Equal(ch.Updated, []uint32{1}) {
		t.Fatalf("refresh a: %+v %v", ch, err)
	}
	if a.Messages()[2].Recent {
		t.Fatal("message 3 recent in both sessions")
	}
	if _, _, err := a.Store([]uint32{3}, imap.StoreFlagsAdd, []imap.Flag{imap.FlagDeleted}, 0); err != nil {
		t.Fatal(err)
	}
	gone, err := a.Expunge(nil)
	if err != nil || !slices.Equal(gone, []uint32{1, 3}) {
		t.Fatalf("expunge: %v %v", gone, err)
	}
	ch, err = b.Refresh()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ch.Expunged, []uint32{3, 1}) || !slices.Equal(ch.ExpungedUIDs, []uint32{1, 3}) || ch.Exists != 1 {
		t.Fatalf("b after expunge: %+v", ch)
	}
	if got := uidsOf(b.Messages()); !slices.Equal(got, []uint32{2}) {
		t.Fatalf("b messages %v", got)
	}
	if _, err := s.Select("INBOX.Nope", false); !errors.Is(err, ErrNonExistent) {
		t.Fatalf("select missing: %v", err)
	}
}

func TestUIDDBCompatibility(t *testing.T) {
	s := newStore(t, nil)
	n1 := deliver(t, s, "", "a\n")
	n2 := deliver(t, s, "", "b\n")
	// Courier's imapd already served this maildir: message 1 has UID 7,
	// message 2 UID 9, the next UID is 12; both sit in cur/.
	for _, n := range []string{n1, n2} {
		if err := os.Rename(filepath.Join(s.Root, "new", n), filepath.Join(s.Root, "cur", n+":2,S")); err != nil {
			t.Fatal(err)
		}
	}
	db := "1 795317723 12\n7 " + n1 + "\n9 " + n2 + "\n"
	if err := os.WriteFile(filepath.Join(s.Root, "courierimapuiddb"), []byte(db), 0o644); err != nil {
		t.Fatal(err)
	}
	n3 := deliver(t, s, "", "c\n")
	m, err := s.Select("INBOX", false)
	if err != nil {
		t.Fatal(err)
	}
	if m.UIDValidity != 795317723 || !slices.Equal(uidsOf(m.Messages()), []uint32{7, 9, 12}) {
		t.Fatalf("uidv %d uids %v", m.UIDValidity, uidsOf(m.Messages()))
	}
	if m.Messages()[0].Recent || !m.Messages()[2].Recent {
		t.Fatal("recent flags wrong")
	}
	data, _ := os.ReadFile(filepath.Join(s.Root, "courierimapuiddb"))
	want := db[:len("1 795317723 ")] + "13\n7 " + n1 + "\n9 " + n2 + "\n12 " + n3 + "\n"
	if string(data) != want {
		t.Fatalf("uiddb\n%s\nwant\n%s", data, want)
	}
	m.Close()
	again, err := s.Select("INBOX", true)
	if err != nil || !slices.Equal(uidsOf(again.Messages()), []uint32{7, 9, 12}) {
		t.Fatalf("reopen: %v %v", uidsOf(again.Messages()), err)
	}
	if !slices.Contains(again.Messages()[0].Flags, imap.FlagSeen) {
		t.Fatalf("flags %v", again.Messages()[0].Flags)
	}
	if _, _, err := again.Store([]uint32{7}, imap.StoreFlagsAdd, []imap.Flag{imap.FlagFlagged}, 0); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("store on read-only: %v", err)
	}
}

func TestStoreFlagsKeywordsModSeq(t *testing.T) {
	s := newStore(t, nil)
	n := deliver(t, s, "", "x\n")
	m, err := s.Select("INBOX", false)
	if err != nil {
		t.Fatal(err)
	}
	ms0 := m.Messages()[0].ModSeq
	changed, failed, err := m.Store([]uint32{1}, imap.StoreFlagsAdd, []imap.Flag{imap.FlagSeen, imap.FlagAnswered, "$Label1", "Custom"}, 0)
	if err != nil || !slices.Equal(changed, []uint32{1}) || len(failed) != 0 {
		t.Fatalf("store: %v %v %v", changed, failed, err)
	}
	if _, err := os.Stat(filepath.Join(s.Root, "cur", n+":2,RS")); err != nil {
		t.Fatal(err)
	}
	kw, err := os.ReadFile(filepath.Join(s.Root, "courierimapkeywords", n))
	if err != nil || string(kw) != "$Label1\nCustom\n" {
		t.Fatalf("keywords file %q %v", kw, err)
	}
	ch, err := m.Refresh()
	if err != nil || !slices.Equal(ch.Updated, []uint32{1}) {
		t.Fatalf("refresh %+v %v", ch, err)
	}
	msg := m.Messages()[0]
	if msg.ModSeq <= ms0 || m.HighestModSeq() != msg.ModSeq {
		t.Fatalf("modseq %d -> %d, highest %d", ms0, msg.ModSeq, m.HighestModSeq())
	}
	want := []imap.Flag{imap.FlagAnswered, imap.FlagSeen, "$Label1", "Custom"}
	if !slices.Equal(msg.Flags, want) {
		t.Fatalf("flags %v", msg.Flags)
	}
	if got := m.ChangedSince(ms0); !slices.Equal(got, []uint32{1}) {
		t.Fatalf("changedsince %v", got)
	}
	if got := m.ChangedSince(msg.ModSeq); len(got) != 0 {
		t.Fatalf("changedsince highest %v", got)
	}
	// UNCHANGEDSINCE below the message's modseq fails it.
	changed, failed, err = m.Store([]uint32{1}, imap.StoreFlagsDel, []imap.Flag{"custom"}, ms0)
	if err != nil || len(changed) != 0 || !slices.Equal(failed, []uint32{1}) {
		t.Fatalf("unchangedsince: %v %v %v", changed, failed, err)
	}
	changed, _, err = m.Store([]uint32{1}, imap.StoreFlagsDel, []imap.Flag{"custom", imap.FlagAnswered}, msg.ModSeq)
	if err != nil || len(changed) != 1 {
		t.Fatalf("del: %v %v", changed, err)
	}
	// A change made by another program (Courier's imapd) gets a modseq.
	if _, err := m.Refresh(); err != nil {
		t.Fatal(err)
	}
	before := m.HighestModSeq()
	if err := os.Rename(filepath.Join(s.Root, "cur", n+":2,S"), filepath.Join(s.Root, "cur", n+":2,FS")); err != nil {
		t.Fatal(err)
	}
	ch, err = m.Refresh()
	if err != nil || !slices.Equal(ch.Updated, []uint32{1}) || m.HighestModSeq() <= before {
		t.Fatalf("external change: %+v %v", ch, err)
	}
	if got := m.Messages()[0].Flags; !slices.Equal(got, []imap.Flag{imap.FlagFlagged, imap.FlagSeen, "$Label1"}) {
		t.Fatalf("flags %v", got)
	}
	// The modseqs survive re-opening; a lost store starts above them.
	high := m.HighestModSeq()
	m2, err := s.Select("INBOX", false)
	if err != nil || m2.HighestModSeq() != high || m2.Messages()[0].ModSeq != high {
		t.Fatalf("reopen: %d want %d (%v)", m2.HighestModSeq(), high, err)
	}
	if err := os.Remove(filepath.Join(s.Root, ModSeqFile)); err != nil {
		t.Fatal(err)
	}
	m3, err := s.Select("INBOX", false)
	if err != nil || m3.HighestModSeq() <= high {
		t.Fatalf("rebuilt: %d, was %d (%v)", m3.HighestModSeq(), high, err)
	}
	// A damaged store too.
	if err := os.WriteFile(filepath.Join(s.Root, ModSeqFile), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	m4, err := s.Select("INBOX", false)
	if err != nil || m4.HighestModSeq() <= m3.HighestModSeq() {
		t.Fatalf("damaged: %d (%v)", m4.HighestModSeq(), err)
	}
	// Set replaces system flags and keywords.
	if _, _, err := m4.Store([]uint32{1}, imap.StoreFlagsSet, []imap.Flag{imap.FlagDraft}, 0); err != nil {
		t.Fatal(err)
	}
	m4.Refresh()
	if got := m4.Messages()[0].Flags; !slices.Equal(got, []imap.Flag{imap.FlagDraft}) {
		t.Fatalf("after set %v", got)
	}
}

func TestAppendCopyMove(t *testing.T) {
	s := newStore(t, nil)
	if err := s.Create("INBOX.Archive"); err != nil {
		t.Fatal(err)
	}
	date := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	uidv, uid, err := s.Append("INBOX", strings.NewReader("Subject: a\n\nbody\n"), []imap.Flag{imap.FlagSeen, "Work"}, date)
	if err != nil || uid != 1 {
		t.Fatalf("append: %d %d %v", uidv, uid, err)
	}
	_, uid2, err := s.Append("INBOX", strings.NewReader("Subject: b\r\n\r\nb\r\n"), nil, time.Time{})
	if err != nil || uid2 != 2 {
		t.Fatalf("append 2: %d %v", uid2, err)
	}
	m, err := s.Select("INBOX", false)
	if err != nil {
		t.Fatal(err)
	}
	if m.UIDValidity != uidv || len(m.Messages()) != 2 || m.Messages()[0].Recent {
		t.Fatalf("select after append: %+v", m.Messages())
	}
	if d, err := m.InternalDate(1); err != nil || !d.Equal(date) {
		t.Fatalf("internal date %v %v", d, err)
	}
	if n, err := m.Size(1); err != nil || n != int64(len("Subject: a\r\n\r\nbody\r\n")) {
		t.Fatalf("size %d %v", n, err)
	}
	if n, err := m.Size(2); err != nil || n != int64(len("Subject: b\r\n\r\nb\r\n")) {
		t.Fatalf("size 2 %d %v", n, err)
	}
	if !slices.Equal(m.Messages()[0].Flags, []imap.Flag{imap.FlagSeen, "Work"}) {
		t.Fatalf("appended flags %v", m.Messages()[0].Flags)
	}
	cv, src, dst, err := m.Copy([]uint32{1, 2}, "INBOX.Archive")
	if err != nil || !slices.Equal(src, []uint32{1, 2}) || !slices.Equal(dst, []uint32{1, 2}) {
		t.Fatalf("copy %v %v %v", src, dst, err)
	}
	arch, err := s.Select("INBOX.Archive", false)
	if err != nil || arch.UIDValidity != cv || !slices.Equal(uidsOf(arch.Messages()), []uint32{1, 2}) {
		t.Fatalf("archive %v %v", uidsOf(arch.Messages()), err)
	}
	if !slices.Equal(arch.Messages()[0].Flags, []imap.Flag{imap.FlagSeen, "Work"}) || arch.Messages()[0].Recent {
		t.Fatalf("copied flags %+v", arch.Messages()[0])
	}
	if d, _ := arch.InternalDate(1); !d.Equal(date) {
		t.Fatalf("copy lost the internal date: %v", d)
	}
	if _, _, _, err := m.Copy([]uint32{1}, "INBOX.Missing"); !errors.Is(err, ErrNonExistent) {
		t.Fatalf("copy to missing: %v", err)
	}
	mv, src, dst, err := m.Move([]uint32{2}, "INBOX.Archive")
	if err != nil || mv != cv || !slices.Equal(src, []uint32{2}) || !slices.Equal(dst, []uint32{3}) {
		t.Fatalf("move %v %v %v", src, dst, err)
	}
	ch, err := m.Refresh()
	if err != nil || !slices.Equal(ch.Expunged, []uint32{2}) {
		t.Fatalf("refresh after move %+v %v", ch, err)
	}
	ch, err = arch.Refresh()
	if err != nil || ch.Added != 1 || arch.Messages()[2].UID != 3 {
		t.Fatalf("archive refresh %+v %v", ch, err)
	}
	// VANISHED: UID 2 went at the modseq after the move.
	if got := m.VanishedSince(m.Messages()[0].ModSeq); got.String() != "2" {
		t.Fatalf("vanished %v", got)
	}
	if got := m.VanishedSince(m.HighestModSeq()); len(got) != 0 {
		t.Fatalf("vanished since highest %v", got)
	}
	// Before the store's memory: every UID not present.
	if got := m.VanishedSince(1); got.String() != "2" {
		t.Fatalf("vanished fallback %v", got)
	}
	// Move within the mailbox: new UID.
	_, src, dst, err = arch.Move([]uint32{1}, "INBOX.Archive")
	if err != nil || !slices.Equal(src, []uint32{1}) || !slices.Equal(dst, []uint32{4}) {
		t.Fatalf("self move %v %v %v", src, dst, err)
	}
}

func TestOverQuota(t *testing.T) {
	s := newStore(t, map[string]string{"MAILDIRQUOTA": "10S"})
	if _, _, err := s.Append("INBOX", strings.NewReader(strings.Repeat("x", 100)), nil, time.Time{}); !errors.Is(err, maildir.ErrOverQuota) {
		t.Fatalf("append over quota: %v", err)
	}
	st, ok, err := s.Quota()
	if err != nil || !ok || st.Quota.Bytes != 10 {
		t.Fatalf("quota %+v %v %v", st, ok, err)
	}
}

func TestFolders(t *testing.T) {
	s := newStore(t, map[string]string{"IMAP_TRASHFOLDERNAME": "Bin"})
	for _, n := range []string{"INBOX.Sent", "INBOX.Work.Projects", "INBOX.Café", "inbox.Bin"} {
		if err := s.Create(n); err != nil {
			t.Fatalf("create %s: %v", n, err)
		}
	}
	if err := s.Create("INBOX.Sent"); !errors.Is(err, ErrExists) {
		t.Fatalf("create twice: %v", err)
	}
	if err := s.Create("INBOX"); !errors.Is(err, ErrExists) {
		t.Fatalf("create INBOX: %v", err)
	}
	if err := s.Create("Other"); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("create outside INBOX.: %v", err)
	}
	if err := s.Create("INBOX.Dir."); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.Root, ".Café", "courierimapuiddb")); err != nil {
		t.Fatalf("UTF-8 folder on disk: %v", err)
	}
	deliver(t, s, "", "new\n")
	if err := s.Subscribe("INBOX.Sent"); err != nil {
		t.Fatal(err)
	}
	if err := s.Subscribe("inbox.Sent"); err != nil {
		t.Fatal(err)
	}
	if err := s.Subscribe("INBOX.Gone"); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(s.Root, "courierimapsubscribed"))
	if string(data) != "INBOX.Sent\nINBOX.Gone\n" {
		t.Fatalf("subscriptions %q", data)
	}
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Info{}
	for _, i := range list {
		got[i.Name] = i
	}
	check := func(name string, want Info) {
		t.Helper()
		want.Name = name
		if got[name] != want {
			t.Errorf("%s: %+v, want %+v", name, got[name], want)
		}
	}
	check("INBOX", Info{HasChildren: true, Marked: true})
	check("INBOX.Sent", Info{Subscribed: true, SpecialUse: `\Sent`})
	check("INBOX.Work", Info{NoSelect: true, HasChildren: true})
	check("INBOX.Work.Projects", Info{})
	check("INBOX.Café", Info{})
	check("INBOX.Bin", Info{SpecialUse: `\Trash`})
	check("INBOX.Gone", Info{Subscribed: true, NonExistent: true})
	if len(list) != 7 {
		t.Errorf("%d entries: %+v", len(list), list)
	}
	if err := s.Unsubscribe("INBOX.Gone"); err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(filepath.Join(s.Root, "courierimapsubscribed"))
	if string(data) != "INBOX.Sent\n" {
		t.Fatalf("subscriptions after unsubscribe %q", data)
	}

	deliver(t, s, "Work.Projects", "p\n")
	if _, err := s.Select("INBOX.Work.Projects", false); err != nil {
		t.Fatal(err)
	}
	if err := s.Rename("INBOX.Work", "INBOX.Job"); err != nil {
		t.Fatal(err)
	}
	moved, err := s.Select("INBOX.Job.Projects", false)
	if err != nil || len(moved.Messages()) != 1 {
		t.Fatalf("renamed: %v", err)
	}
	if err := s.Rename("INBOX.Sent", "INBOX.Job.Projects"); !errors.Is(err, ErrExists) {
		t.Fatalf("rename onto existing: %v", err)
	}
	if err := s.Rename("INBOX.Nope", "INBOX.Nope2"); !errors.Is(err, ErrNonExistent) {
		t.Fatalf("rename missing: %v", err)
	}
	// Renaming INBOX moves its messages.
	if err := s.Rename("INBOX", "INBOX.Old"); err != nil {
		t.Fatal(err)
	}
	inbox, _ := s.Select("INBOX", false)
	oldInbox, err := s.Select("INBOX.Old", false)
	if err != nil || len(inbox.Messages()) != 0 || len(oldInbox.Messages()) != 1 {
		t.Fatalf("INBOX rename: %d left, %v", len(inbox.Messages()), err)
	}
	if err := s.Delete("INBOX"); !errors.Is(err, ErrInbox) {
		t.Fatalf("delete INBOX: %v", err)
	}
	if err := s.Delete("INBOX.Bin"); !errors.Is(err, ErrReserved) {
		t.Fatalf("delete Trash: %v", err)
	}
	if err := s.Delete("INBOX.Café"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("INBOX.Café"); !errors.Is(err, ErrNonExistent) {
		t.Fatalf("delete twice: %v", err)
	}
}

func TestStatus(t *testing.T) {
	s := newStore(t, nil)
	deliver(t, s, "", "one\n")
	m, err := s.Select("INBOX", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Store([]uint32{1}, imap.StoreFlagsAdd, []imap.Flag{imap.FlagSeen, imap.FlagDeleted}, 0); err != nil {
		t.Fatal(err)
	}
	m.Refresh()
	high := m.HighestModSeq()
	deliver(t, s, "", "two\nlines\n")
	st, err := s.Status("INBOX", true)
	if err != nil {
		t.Fatal(err)
	}
	want := Status{Messages: 2, Recent: 1, Unseen: 1, Deleted: 1, UIDNext: 3, UIDValidity: m.UIDValidity, HighestModSeq: high + 1, Size: 5 + 12}
	if st != want {
		t.Fatalf("status %+v, want %+v", st, want)
	}
	ch, err := m.Refresh()
	if err != nil || ch.Added != 1 || m.Messages()[1].ModSeq <= st.HighestModSeq {
		t.Fatalf("the new message's modseq %d is not above STATUS's %d", m.Messages()[1].ModSeq, st.HighestModSeq)
	}
	if _, err := s.Status("INBOX.x", false); !errors.Is(err, ErrNonExistent) {
		t.Fatalf("status missing: %v", err)
	}
}

func TestWatch(t *testing.T) {
	s := newStore(t, nil)
	// A maildir shared with its group: the keywords directory the watch
	// makes has the maildir's mode.
	if err := os.Chmod(s.Root, 0o750); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := s.Watch(ctx, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(s.Root, maildir.KeywordsDir)); err != nil || st.Mode().Perm() != 0o750 {
		t.Fatalf("keywords directory: %v %v", st, err)
	}
	deliver(t, s, "", "hello\n")
	select {
	case <-ch:
	case <-time.After(time.Second):
		t.Fatal("no signal within a second of a delivery")
	}
	cancel()
	for range ch {
	}
}

func TestPurgeTrash(t *testing.T) {
	s := newStore(t, map[string]string{"IMAP_EMPTYTRASH": "Trash:7,Sent:30"})
	for _, n := range []string{"INBOX.Trash", "INBOX.Sent"} {
		if err := s.Create(n); err != nil {
			t.Fatal(err)
		}
	}
	deliver(t, s, "Trash", "old\n")
	deliver(t, s, "Sent", "recent\n")
	// ctime cannot be set back: fresh mail stays, and the same purge
	// with a negative age (what PurgeTrash delegates to) removes it.
	n, err := s.PurgeTrash()
	if err != nil || n != 0 {
		t.Fatalf("purge: %d %v", n, err)
	}
	if got := atoiPrefix("12x"); got != 12 {
		t.Fatalf("atoi %d", got)
	}
	d, _ := maildir.OpenFolder(s.Root, "Trash")
	if removed, err := d.PurgeOlder(-time.Hour); err != nil || removed != 1 {
		t.Fatalf("purge older: %d %v", removed, err)
	}
}

func TestExpungeToTrash(t *testing.T) {
	s := newStore(t, map[string]string{"IMAP_MOVE_EXPUNGE_TO_TRASH": "1"})
	deliver(t, s, "", "a\n")
	deliver(t, s, "", "b\n")
	m, err := s.Select("INBOX", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Store([]uint32{1, 2}, imap.StoreFlagsAdd, []imap.Flag{imap.FlagDeleted, imap.FlagDraft, "K"}, 0); err != nil {
		t.Fatal(err)
	}
	gone, err := m.Expunge([]uint32{1})
	if err != nil || !slices.Equal(gone, []uint32{1}) {
		t.Fatalf("uid expunge %v %v", gone, err)
	}
	trash, err := s.Select("INBOX.Trash", false)
	if err != nil || len(trash.Messages()) != 1 {
		t.Fatalf("trash: %v", err)
	}
	if got := trash.Messages()[0].Flags; !slices.Equal(got, []imap.Flag{"K"}) {
		t.Fatalf("trash flags %v", got)
	}
	// Expunging in Trash deletes.
	if _, _, err := trash.Store([]uint32{1}, imap.StoreFlagsAdd, []imap.Flag{imap.FlagDeleted}, 0); err != nil {
		t.Fatal(err)
	}
	if gone, err := trash.Expunge(nil); err != nil || len(gone) != 1 {
		t.Fatalf("trash expunge %v %v", gone, err)
	}
	trash.Refresh()
	if len(trash.Messages()) != 0 {
		t.Fatal("trash not empty")
	}
}

func TestACL(t *testing.T) {
	s := newStore(t, nil)
	if err := s.Create("INBOX.Shared"); err != nil {
		t.Fatal(err)
	}
	acl, err := s.ACL("INBOX")
	if err != nil || len(acl) != 2 || acl[0] != (maildir.ACLEntry{Identifier: "owner", Rights: "aceilrstwx"}) {
		t.Fatalf("default acl %+v %v", acl, err)
	}
	if got := RFC2086Rights(acl[0].Rights); got != "acdilrsw" {
		t.Fatalf("rfc 2086 view %q", got)
	}
	if err := s.SetACL("INBOX.Shared", "user=bob", "lr"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetACL("INBOX.Shared", "user=bob", "+s"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetACL("INBOX.Shared", "-anyone", "w"); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(s.Root, ".Shared", "courierimapacl"))
	if string(data) != "-anyone w\nadministrators aceilrstwx\nowner aceilrstwx\nuser=bob lrs\n" {
		t.Fatalf("acl file %q", data)
	}
	if r, err := s.MyRights("INBOX.Shared", "me"); err != nil || r != "aceilrstx" {
		t.Fatalf("myrights %q %v", r, err)
	}
	if err := s.SetACL("INBOX.Shared", "user=bob", ""); err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(filepath.Join(s.Root, ".Shared", "courierimapacl"))
	if strings.Contains(string(data), "bob") {
		t.Fatalf("deleteacl left %q", data)
	}
}

func TestFolderLock(t *testing.T) {
	s := newStore(t, nil)
	// A lock left by a process that is gone is broken.
	lock := filepath.Join(s.Root, "tmp", lockFile)
	host, _ := os.Hostname()
	if err := os.WriteFile(lock, []byte("999999999:"+host), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Select("INBOX", false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(lock); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("lock left behind: %v", err)
	}
}

// settle waits for what a SELECT of the folder at path left for after it
// returned (scanLockedLater): the goroutine holds the folder's lock.
func settle(path string) {
	if v, ok := folderMutexes.Load(filepath.Clean(path)); ok {
		mu := v.(*sync.Mutex)
		mu.Lock()
		defer mu.Unlock()
	}
}

// TestModSeqOtherBoot checks that a store written before the last boot
// (not fsynced, so perhaps an older version) is trusted only so far: its
// messages keep their modseqs, but the highest modseq and the floor rise
// to the clock, and once written again in this boot it is trusted.
func TestModSeqOtherBoot(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	old := "courierimapmodseq 2 7 100 50 00000000-0000-0000-0000-000000000000\n1 90 0000000000000001\nx 2 95\n"
	if err := os.WriteFile(filepath.Join(dir, ModSeqFile), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	before := uint64(time.Now().UnixMicro())
	db, rebuilt, adopted, err := readModSeq(dir, 7)
	if err != nil || rebuilt || !adopted {
		t.Fatalf("rebuilt %v, adopted %v, %v", rebuilt, adopted, err)
	}
	if db.Highest < before || db.Floor != db.Highest || len(db.Expunged) != 0 || db.Msgs[1].ModSeq != 90 {
		t.Fatalf("highest %d (clock %d), floor %d, expunged %v, msgs %v", db.Highest, before, db.Floor, db.Expunged, db.Msgs)
	}
	if err := encodeModSeq(db, nil).write(dir); err != nil {
		t.Fatal(err)
	}
	again, rebuilt, adopted, err := readModSeq(dir, 7)
	if err != nil || rebuilt || adopted || again.Highest != db.Highest {
		t.Fatalf("again: highest %d want %d, rebuilt %v, adopted %v, %v", again.Highest, db.Highest, rebuilt, adopted, err)
	}
}

// TestCatchUp checks how the events of cur/ change the cache's listing: a
// rename is the same message, whatever the order of its events, and an
// event older than the listing's name of a message is ignored.
func TestCatchUp(t *testing.T) {
	c := &folderCache{files: map[string]string{"a": "a:2,", "b": "b:2,S", "c": "c:2,"}}
	c.catchUp([]curEvent{
		{name: "a:2,", gone: true}, {name: "a:2,F"}, // a flag change
		{name: "b:2,", gone: true}, // older than the listing
		{name: "d:2,"},             // new
		{name: "c:2,", gone: true}, // expunged
	})
	want := map[string]string{"a": "a:2,F", "b": "b:2,S", "d": "d:2,"}
	if !maps.Equal(c.files, want) || !c.dirty["a"] || !c.setDirty {
		t.Fatalf("files %v, dirty %v, setDirty %v", c.files, c.dirty, c.setDirty)
	}
	c = &folderCache{files: map[string]string{"a": "a:2,"}}
	c.catchUp([]curEvent{{name: "a:2,S"}, {name: "a:2,", gone: true}})
	if c.files["a"] != "a:2,S" || c.setDirty {
		t.Fatalf("rename with its events reversed: files %v, setDirty %v", c.files, c.setDirty)
	}
}

// TestStateHashSame checks that stateHash is FNV-1a of the flags and the
// keywords, each after a NUL, as courierimapmodseq documents it.
func TestStateHashSame(t *testing.T) {
	for _, c := range []struct {
		f  string
		kw []string
	}{{"", nil}, {"FS", nil}, {"S", []string{"a", "bcd"}}, {"", []string{""}}} {
		h := fnv.New64a()
		h.Write([]byte(c.f))
		for _, k := range c.kw {
			h.Write([]byte{0})
			h.Write([]byte(k))
		}
		if h.Sum64() != stateHash(maildir.Flags(c.f), c.kw) {
			t.Fatal(c)
		}
	}
}

// TestModSeqJournal checks the changes appended to courierimapmodseq: a
// STORE and an EXPUNGE append lines that a new process reads back as they
// were, the parser takes them only in order, and a part of a line left by
// a crash is dropped with the file trusted only so far.
func TestModSeqJournal(t *testing.T) {
	if bootID() == "" {
		t.Skip("no boot_id: the store is written whole")
	}
	s := newStore(t, nil)
	deliver(t, s, "", "a\n")
	deliver(t, s, "", "b\n")
	m, err := s.Select("INBOX", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Store([]uint32{1, 2}, imap.StoreFlagsAdd, []imap.Flag{imap.FlagDeleted}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Expunge([]uint32{2}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Refresh(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(s.Root, ModSeqFile)
	data, err := os.ReadFile(p)
	if err != nil || !strings.Contains(string(data), "\n= 1 ") || !strings.Contains(string(data), "\n- 2 ") {
		t.Fatalf("no appended changes in\n%s(%v)", data, err)
	}
	db, rebuilt, adopted, err := readModSeq(s.Root, m.UIDValidity)
	if err != nil || rebuilt || adopted {
		t.Fatalf("rebuilt %v, adopted %v, %v", rebuilt, adopted, err)
	}
	if db.Highest != m.HighestModSeq() || db.Msgs[1].ModSeq != m.Messages()[0].ModSeq || len(db.Msgs) != 1 || len(db.Expunged) != 1 || db.Expunged[0].UID != 2 {
		t.Fatalf("read back %+v, mailbox highest %d, messages %v", db, m.HighestModSeq(), m.Messages())
	}

	boot := bootID()
	head := "courierimapmodseq 2 7 100 50 " + boot + "\n1 90 0000000000000001\n2 95 0000000000000002\n"
	db, err = parseModSeq("f", []byte(head+"= 1 101 0000000000000003\n- 2 102\n"))
	if err != nil || db.Highest != 102 || db.Msgs[1] != (msgModSeq{101, 3}) || len(db.Msgs) != 1 || len(db.Expunged) != 1 || db.journal != 2 {
		t.Fatalf("parsed %+v, %v", db, err)
	}
	for _, bad := range []string{
		head + "= 1 100 0000000000000003\n",                              // not above the file's highest
		head + "- 2 105\n= 1 104 0000000000000003\n",                     // below the one before
		head + "- 2 105\nx 3 5\n",                                        // a line after the changes
		head + "= 1 101\n",                                               // no state
		"courierimapmodseq 1 7 100 50\n1 90 0000000000000001\n- 1 101\n", // version 1
	} {
		if _, err := parseModSeq("f", []byte(bad)); err == nil {
			t.Errorf("parsed %q", bad)
		}
	}
	if err := os.WriteFile(p, []byte(head+"= 1 101 0000000000000003\n- 2 1"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := uint64(time.Now().UnixMicro())
	db, rebuilt, adopted, err = readModSeq(s.Root, 7)
	if err != nil || rebuilt || !adopted || db.Highest < before || db.Floor != db.Highest || db.Msgs[1].ModSeq != 101 || len(db.Msgs) != 2 {
		t.Fatalf("partial line: %+v, rebuilt %v, adopted %v, %v", db, rebuilt, adopted, err)
	}
}

// TestRemovalIncremental checks that the scan after this process's
// EXPUNGE or MOVE, which takes the removals out of the cached UID map and
// state instead of rebuilding them, gives what a full rebuild from the
// disk gives, and leaves the same files: the full rebuild that follows
// finds nothing to change.
func TestRemovalIncremental(t *testing.T) {
	for _, tc := range []struct {
		name   string
		remove func(t *testing.T, m *Mailbox)
	}{
		{"expunge", func(t *testing.T, m *Mailbox) {
			del := []uint32{2, 3, 4, 9, 15, 16, 30}
			if _, _, err := m.Store(del, imap.StoreFlagsAdd, []imap.Flag{imap.FlagDeleted}, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := m.Refresh(); err != nil {
				t.Fatal(err)
			}
			gone, err := m.Expunge(nil)
			if err != nil || !slices.Equal(gone, del) {
				t.Fatalf("expunge %v %v", gone, err)
			}
		}},
		{"move", func(t *testing.T, m *Mailbox) {
			if err := m.s.Create("INBOX.Dest"); err != nil {
				t.Fatal(err)
			}
			_, src, _, err := m.Move([]uint32{1, 3, 4, 10, 29}, "INBOX.Dest")
			if err != nil || len(src) != 5 {
				t.Fatalf("move %v %v", src, err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t, nil)
			for i := 0; i < 30; i++ {
				deliver(t, s, "", "Subject: "+string(rune('a'+i%26))+"\n\nbody\n")
			}
			m, err := s.Select("INBOX", false)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := m.Store([]uint32{3, 5, 6}, imap.StoreFlagsAdd, []imap.Flag{"$Work", imap.FlagSeen}, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := m.Refresh(); err != nil {
				t.Fatal(err)
			}
			tc.remove(t, m)
			// A flag change by another program, seen in the same scan.
			c := cacheOf(m.f.path)
			before := c.st
			e, _ := before.find(20)
			if err := os.Rename(filepath.Join(m.f.path, "cur", e.file), filepath.Join(m.f.path, "cur", e.unique+":2,F")); err != nil {
				t.Fatal(err)
			}
			if len(c.gone) == 0 {
				t.Fatal("the removals were not recorded as such")
			}
			if _, err := m.Refresh(); err != nil {
				t.Fatal(err)
			}
			st := c.st
			if len(st.entries) == 0 || st.entries[0] != before.entries[slices.IndexFunc(before.entries, func(e *entry) bool { return e.uid == st.entries[0].uid })] {
				t.Fatal("the state was computed again rather than updated")
			}
			if e, _ := st.find(20); e.flags != "F" {
				t.Fatalf("the rename: %+v", e)
			}
			files := func() map[string]string {
				out := map[string]string{}
				for _, n := range []string{maildir.UIDDBFile, ModSeqFile, filepath.Join(maildir.KeywordsDir, ":list")} {
					b, _ := os.ReadFile(filepath.Join(m.f.path, n))
					out[n] = string(b)
				}
				return out
			}
			after := files()
			caches.Delete(m.f.path)
			full, err := s.scan(m.f, true)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(files(), after) {
				t.Errorf("files after the update %v, after a full rebuild %v", after, files())
			}
			if full.uidValidity != st.uidValidity || full.uidNext != st.uidNext || full.highest != st.highest ||
				full.floor != st.floor || !slices.Equal(full.expunged, st.expunged) || len(full.entries) != len(st.entries) {
				t.Fatalf("full rebuild %+v, update %+v", full, st)
			}
			for i, e := range full.entries {
				if u := st.entries[i]; e.uid != u.uid || e.unique != u.unique || e.file != u.file || e.flags != u.flags ||
					!slices.Equal(e.keywords, u.keywords) || e.modseq != u.modseq {
					t.Errorf("full rebuild %+v, update %+v", e, u)
				}
			}
		})
	}
}

// TestFirstScan checks the first scan of a folder without UID map, which
// takes the files and flags from the sorted listing rather than look them
// up: UIDs in the order of the unique names, each message's file and
// flags, the files written, and the same state from a scan that reads
// them (with two files of one message, the listing's map is used).
func TestFirstScan(t *testing.T) {
	for _, twice := range []bool{false, true} {
		s := newStore(t, nil)
		cur := filepath.Join(s.Root, "cur")
		var uniques []string
		for i := 0; i < 300; i++ {
			u := strconv.Itoa(1700000000+i*7919%300) + ".M" + strconv.Itoa(i*31%97) + "P" + strconv.Itoa(i) + ".h,S=4"
			if i%50 == 1 {
				u = uniques[i-1] + "0" // sorted after uniques[i-1], its file name before
			}
			uniques = append(uniques, u)
			if err := os.WriteFile(filepath.Join(cur, u+":2,"+[]string{"", "S", "FS", "RT"}[i%4]), []byte("x\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if twice {
			if err := os.WriteFile(filepath.Join(cur, uniques[7]+":2,D"), []byte("x\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		slices.Sort(uniques)
		m, err := s.Select("INBOX", false)
		if err != nil {
			t.Fatal(err)
		}
		c := cacheOf(m.f.path)
		st := c.st
		if len(st.entries) != len(uniques) || len(c.files) != len(uniques) {
			t.Fatalf("twice %v: %d entries, %d files, want %d", twice, len(st.entries), len(c.files), len(uniques))
		}
		for i, e := range st.entries {
			n, err := maildir.ParseName(e.file)
			if e.uid != uint32(i+1) || e.unique != uniques[i] || n.Unique != e.unique || err != nil || e.flags != n.Flags() || c.files[e.unique] != e.file {
				t.Fatalf("twice %v: entry %d %+v (%v)", twice, i, e, err)
			}
		}
		caches.Delete(m.f.path)
		again, err := s.scan(m.f, true)
		if err != nil {
			t.Fatal(err)
		}
		if again.uidValidity != st.uidValidity || again.highest != st.highest || len(again.entries) != len(st.entries) {
			t.Fatalf("twice %v: read again %+v, first %+v", twice, again, st)
		}
		for i, e := range again.entries {
			if u := st.entries[i]; e.uid != u.uid || e.unique != u.unique || e.file != u.file || e.flags != u.flags || e.modseq != u.modseq {
				t.Errorf("twice %v: read again %+v, first %+v", twice, e, u)
			}
		}
	}
}

// TestSelectModSeqLater: a first SELECT writes the modseq store it made
// after it returned, with the modseqs it answered; a store that could not
// be written is made again by the next scan, above them.
func TestSelectModSeqLater(t *testing.T) {
	defer func(n int) { laterFrom = n }(laterFrom)
	laterFrom = 5
	s := newStore(t, nil)
	for i := 0; i < 5; i++ {
		name := fmt.Sprintf("%d.M%dP1.h,S=2:2,S", 1700000000+i, i)
		if err := os.WriteFile(filepath.Join(s.Root, "cur", name), []byte("x\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	m, err := s.Select("INBOX", false)
	if err != nil {
		t.Fatal(err)
	}
	settle(s.Root)
	db, rebuilt, _, err := readModSeq(s.Root, m.UIDValidity)
	if err != nil || rebuilt || db.Highest != m.HighestModSeq() || len(db.Msgs) != 5 {
		t.Fatalf("store after SELECT: %+v, rebuilt %v (%v); SELECT said %d", db, rebuilt, err, m.HighestModSeq())
	}
	// The messages, put in after the answer, are as a scan found them:
	// the next scan changes no modseq.
	for _, msg := range m.Messages() {
		if rec := db.Msgs[msg.UID]; rec != (msgModSeq{db.Highest, stateHash("S", nil)}) || msg.ModSeq != db.Highest || !msg.Recent {
			t.Fatalf("UID %d: store has %+v, snapshot %+v", msg.UID, rec, msg)
		}
	}
	if ch, err := m.Refresh(); err != nil || len(ch.Updated) != 0 || m.HighestModSeq() != db.Highest {
		t.Fatalf("Refresh after SELECT: %+v, %v; highest %d", ch, err, m.HighestModSeq())
	}

	// The store cannot replace a directory of its name.
	if err := os.Remove(filepath.Join(s.Root, ModSeqFile)); err != nil {
		t.Fatal(err)
	}
	caches.Delete(s.Root)
	f, _, err := s.open("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := s.lock(f)
	if err != nil {
		t.Fatal(err)
	}
	var rest func()
	st, err := s.scanLockedLater(f, true, time.Now().UnixNano(), &rest)
	if err != nil || rest == nil {
		t.Fatalf("scan: %v, later %v", err, rest != nil)
	}
	if err := os.MkdirAll(filepath.Join(s.Root, ModSeqFile, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	rest()
	unlock()
	if c := cacheOf(s.Root); c.st != nil || c.ms != nil {
		t.Fatalf("the cache kept a state whose store was not written")
	}
	if err := os.RemoveAll(filepath.Join(s.Root, ModSeqFile)); err != nil {
		t.Fatal(err)
	}
	m2, err := s.Select("INBOX", false)
	if err != nil || m2.HighestModSeq() <= st.highest || m2.UIDValidity != m.UIDValidity {
		t.Fatalf("after the lost store: %d, was %d (%v)", m2.HighestModSeq(), st.highest, err)
	}
	settle(s.Root)
}

// TestRelistStale: a folder emptied and filled again while its listing
// was cached, with no watch to tell, is listed again whole.
func TestRelistStale(t *testing.T) {
	s := newStore(t, nil)
	write := func(base int) {
		for i := 0; i < 50; i++ {
			name := fmt.Sprintf("%d.M%dP1.h,S=2:2,", base+i, i)
			if err := os.WriteFile(filepath.Join(s.Root, "cur", name), []byte("x\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(1700000000)
	m, err := s.Select("INBOX", false)
	if err != nil {
		t.Fatal(err)
	}
	settle(s.Root)
	names, err := os.ReadDir(filepath.Join(s.Root, "cur"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		os.Remove(filepath.Join(s.Root, "cur", n.Name()))
	}
	write(1800000000)
	cacheOf(s.Root).watch = nil
	ch, err := m.Refresh()
	if err != nil || len(ch.Expunged) != 50 || ch.Added != 50 || ch.Exists != 50 {
		t.Fatalf("refresh: %+v (%v)", ch, err)
	}
	for _, msg := range m.Messages() {
		if !strings.HasPrefix(msg.File, "18") || msg.UID <= 50 {
			t.Fatalf("message %+v", msg)
		}
	}
}

func TestRecentSet(t *testing.T) {
	var r recentSet
	if !r.empty() || r.has(0) || r.has(1) {
		t.Fatal("empty set")
	}
	r.add([]uint32{5, 6, 7})
	r.add([]uint32{9, 12})
	r.add(nil)
	for uid := uint32(0); uid < 15; uid++ {
		want := uid >= 5 && uid <= 7 || uid == 9 || uid == 12
		if r.has(uid) != want || r.empty() {
			t.Errorf("has(%d) = %v", uid, !want)
		}
	}
	var gaps recentSet
	gaps.add([]uint32{1, 3})
	gaps.add([]uint32{4})
	if gaps.has(2) || !gaps.has(1) || !gaps.has(3) || !gaps.has(4) {
		t.Errorf("not consecutive: %+v", gaps)
	}
	var top recentSet
	top.add([]uint32{1<<32 - 2, 1<<32 - 1})
	if !top.has(1<<32-1) || !top.has(1<<32-2) || top.has(0) {
		t.Errorf("at the top: %+v", top)
	}
}
