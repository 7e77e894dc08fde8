package mailbox

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/gocourier/courier/pkg/maildir"
)

// Mailbox is a selected mailbox: a snapshot of its messages with stable
// sequence numbers, brought up to date by Refresh. Its methods are safe
// for concurrent use, but a session uses one Mailbox from one goroutine.
type Mailbox struct {
	// Name is the canonical IMAP name ("INBOX", "INBOX.Sent").
	Name string
	// UIDValidity of the mailbox (RFC 9051 §2.3.1.1).
	UIDValidity uint32
	// ReadOnly: selected with EXAMINE; Store, Expunge and Move fail.
	ReadOnly bool

	s *Store
	f *folder

	mu sync.Mutex
	st *state // the scan last applied
	// msgs is the snapshot, ascending UIDs; it is replaced, never
	// changed, so that Messages can hand it out.
	msgs     []Msg
	uidNext  uint32
	highest  uint64
	floor    uint64
	expunged []expungedUID
	recent   recentSet // UIDs this session's scans gave out
	// pendingGone says that the last scan kept messages gone from the
	// disk (RefreshKeeping).
	pendingGone bool
	copied      map[uint32]bool // copied in this session: expunged, not moved to Trash
	// next is the state a Store left for the next Refresh, which takes
	// it rather than scanning: the Store's renames may still hold the
	// folder lock (renames.go).
	next *state
	// behind are the renames of this session's last Store still under
	// way; nil when none.
	behind *renames
}

// Msg is one message of a selected mailbox.
type Msg struct {
	UID uint32
	// Recent: this session was the first to see the message (Courier's
	// rule: it moved the message from new/ or first gave it a UID).
	Recent bool
	// File is the message's file name in cur/ as of the last Refresh;
	// another session may rename it (flag changes) at any time: use
	// Mailbox.Open.
	File string
	// Flags are the system flags and keywords, without \Recent. The
	// slice is shared: it must not be changed.
	Flags []imap.Flag
	// ModSeq is the message's mod-sequence (RFC 7162 §3.1).
	ModSeq uint64
}

// unique is the unique part of the message's file name.
func (msg *Msg) unique() string {
	u, _, _ := strings.Cut(msg.File, ":")
	return u
}

// keywords are the message's keywords (its flags but the system ones).
func (msg *Msg) keywords() []string {
	var out []string
	for _, f := range msg.Flags {
		if !strings.HasPrefix(string(f), `\`) {
			out = append(out, string(f))
		}
	}
	return out
}

// Changes is what Refresh found, for the untagged responses.
type Changes struct {
	// Expunged are the sequence numbers of the messages gone, highest
	// first, so that each can be sent as it is (RFC 9051 §7.5.1: a later
	// EXPUNGE counts the ones sent before it).
	Expunged []uint32
	// ExpungedUIDs are their UIDs, ascending (QRESYNC VANISHED).
	ExpungedUIDs []uint32
	// Added is the number of messages appended to the end of the
	// sequence; Exists the message count after all changes (EXISTS).
	Added  int
	Exists int
	// Recent counts the messages flagged \Recent.
	Recent int
	// Updated are the UIDs of messages whose flags or keywords changed
	// (FETCH FLAGS, with MODSEQ under CONDSTORE), ascending.
	Updated []uint32
}

// Select opens a mailbox (RFC 9051 §6.3.2, §6.3.3): it purges old files
// from tmp/ as Courier does when it opens a folder, moves new mail into
// cur/ (those messages are \Recent for this session), brings the UID map,
// keywords and modseqs up to date, and returns the snapshot.
func (s *Store) Select(name string, readOnly bool) (*Mailbox, error) {
	f, d, err := s.open(name)
	if err != nil {
		return nil, err
	}
	if _, err := d.PurgeTmp(maildir.TmpMaxAge); err != nil {
		return nil, err
	}
	m := &Mailbox{Name: f.name, ReadOnly: readOnly, s: s, f: f, copied: map[uint32]bool{}}
	st, err := s.scanAt(f, true, time.Now().UnixNano(), true)
	if err != nil {
		return nil, err
	}
	m.UIDValidity = st.uidValidity
	m.apply(st, false)
	return m, nil
}

// Close forgets the snapshot, once the renames of the session's last
// Store are done. A Mailbox is not used after Close.
func (m *Mailbox) Close() error {
	m.settle()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs, m.st, m.next = nil, nil, nil
	return nil
}

// Messages returns the messages in sequence order (ascending UIDs). The
// slice is the snapshot's own: it must not be changed (a Refresh
// replaces it rather than changing it).
func (m *Mailbox) Messages() []Msg {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.msgs
}

// find returns the index of uid in the snapshot; the caller holds m.mu.
func (m *Mailbox) find(uid uint32) (int, bool) {
	return slices.BinarySearchFunc(m.msgs, uid, func(msg Msg, u uint32) int {
		return cmp.Compare(msg.UID, u)
	})
}

// UIDNext is the next UID the mailbox will give out (RFC 9051 §2.3.1.1).
func (m *Mailbox) UIDNext() uint32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.uidNext
}

// HighestModSeq is the highest mod-sequence of the snapshot (RFC 7162
// §3.1.2.1).
func (m *Mailbox) HighestModSeq() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.highest
}

// Keywords returns every keyword set on a message of the snapshot, sorted
// (for the FLAGS and PERMANENTFLAGS responses).
func (m *Mailbox) Keywords() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for i := range m.msgs {
		for _, k := range m.msgs[i].Flags {
			if !strings.HasPrefix(string(k), `\`) && !seen[string(k)] {
				seen[string(k)] = true
				out = append(out, string(k))
			}
		}
	}
	sort.Strings(out)
	return out
}

// Refresh rescans the mailbox and reports what changed since the last
// snapshot: messages expunged by anyone, new messages, and flag changes
// by anyone including this session's Store. The session calls it on NOOP,
// CHECK, IDLE wake-ups and after commands, when it may send untagged
// responses.
func (m *Mailbox) Refresh() (Changes, error) {
	return m.refresh(false)
}

// RefreshKeeping is Refresh for the commands during which the session
// must not report expunges (RFC 9051 §7.5.1: FETCH, STORE and SEARCH by
// sequence number): messages gone from the disk stay in the snapshot,
// with their last flags, until the next Refresh reports them; new
// messages and flag changes are taken in as by Refresh.
func (m *Mailbox) RefreshKeeping() (Changes, error) {
	return m.refresh(true)
}

func (m *Mailbox) refresh(keepGone bool) (Changes, error) {
	m.mu.Lock()
	st, r := m.next, m.behind
	m.next = nil
	exists := len(m.msgs)
	m.mu.Unlock()
	if st == nil && r != nil && r.running() {
		// The folder is locked by the session's own renames, whose state
		// the session has: changes of others are reported by a refresh
		// after them, rather than this one waiting for them.
		return Changes{Exists: exists}, nil
	}
	if st == nil {
		var err error
		if st, err = m.s.scan(m.f, true); err != nil {
			return Changes{}, err
		}
	}
	if st.uidValidity != m.UIDValidity {
		return Changes{}, ErrUIDValidityChanged
	}
	m.mu.Lock()
	same, exists := st == m.st && !m.pendingGone, len(m.msgs)
	m.mu.Unlock()
	if same {
		return Changes{Exists: exists}, nil
	}
	ch := m.apply(st, keepGone)
	m.pendingGone = keepGone && len(m.msgs) != len(st.entries)
	return ch, nil
}

// apply merges a scan into the snapshot; keepGone keeps the messages the
// scan no longer has (see RefreshKeeping). Messages that did not change
// keep their Msg; the snapshot is copied only when something changed.
func (m *Mailbox) apply(st *state, keepGone bool) Changes {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recent.add(st.fresh)
	if !keepGone && m.recent.empty() {
		if ch, ok := m.applyShared(st); ok {
			return ch
		}
	}
	var ch Changes
	var memo flagMemo
	old, ents := m.msgs, st.entries
	var out []Msg // nil while equal to old[:i]
	diverge := func(i int) {
		if out == nil {
			out = make([]Msg, i, max(len(ents), len(old)))
			copy(out, old[:i])
		}
	}
	var last uint32
	j := 0
	for i := range old {
		o := &old[i]
		for j < len(ents) && ents[j].uid < o.UID {
			j++
		}
		if j < len(ents) && ents[j].uid == o.UID {
			e := ents[j]
			j++
			last = o.UID
			if e.modseq != o.ModSeq {
				ch.Updated = append(ch.Updated, o.UID)
			}
			if e.file == o.File && e.modseq == o.ModSeq {
				if out != nil {
					out = append(out, *o)
				}
				continue
			}
			diverge(i)
			out = append(out, m.message(e, &memo))
			continue
		}
		if keepGone {
			last = o.UID
			if out != nil {
				out = append(out, *o)
			}
			continue
		}
		diverge(i)
		ch.Expunged = append(ch.Expunged, uint32(i+1))
		ch.ExpungedUIDs = append(ch.ExpungedUIDs, o.UID)
	}
	slices.Reverse(ch.Expunged)
	for ; j < len(ents); j++ {
		if ents[j].uid <= last {
			continue
		}
		diverge(len(old))
		out = append(out, m.message(ents[j], &memo))
		ch.Added++
	}
	if out != nil {
		m.msgs = out
	}
	for i := range m.msgs {
		if m.msgs[i].Recent {
			ch.Recent++
		}
	}
	m.st = st
	m.uidNext = st.uidNext
	m.highest = st.highest
	m.floor = st.floor
	m.expunged = st.expunged
	ch.Exists = len(m.msgs)
	return ch
}

// applyShared is apply for a session without recent messages that drops
// the messages gone: its snapshot becomes the state's shared one, and
// only the changes are worked out. It reports false, changing nothing,
// when the state has a message amid the snapshot's that the snapshot
// lacks (apply leaves those out). The caller holds m.mu.
func (m *Mailbox) applyShared(st *state) (Changes, bool) {
	msgs := st.snapshot()
	old := m.msgs
	var ch Changes
	j := 0
	for i := range old {
		o := &old[i]
		if j < len(msgs) && msgs[j].UID < o.UID {
			return Changes{}, false
		}
		if j < len(msgs) && msgs[j].UID == o.UID {
			if msgs[j].ModSeq != o.ModSeq {
				ch.Updated = append(ch.Updated, o.UID)
			}
			j++
			continue
		}
		ch.Expunged = append(ch.Expunged, uint32(i+1))
		ch.ExpungedUIDs = append(ch.ExpungedUIDs, o.UID)
	}
	slices.Reverse(ch.Expunged)
	ch.Added = len(msgs) - j
	m.msgs = msgs
	m.st = st
	m.uidNext = st.uidNext
	m.highest = st.highest
	m.floor = st.floor
	m.expunged = st.expunged
	ch.Exists = len(msgs)
	return ch, true
}

func (m *Mailbox) message(e *entry, memo *flagMemo) Msg {
	return Msg{
		UID:    e.uid,
		File:   e.file,
		Flags:  memo.imapFlags(e.flags, e.keywords),
		Recent: m.recent.has(e.uid),
		ModSeq: e.modseq,
	}
}

// flagMemo is imapFlags remembering its last answers without keywords:
// the messages of a folder mostly share a few sets of flags, and a first
// SELECT makes every message's.
type flagMemo struct {
	n       int
	letters [4]maildir.Flags
	flags   [4][]imap.Flag
}

func (f *flagMemo) imapFlags(letters maildir.Flags, keywords []string) []imap.Flag {
	if len(keywords) > 0 {
		return imapFlags(letters, keywords)
	}
	for i := range min(f.n, len(f.letters)) {
		if f.letters[i] == letters {
			return f.flags[i]
		}
	}
	i := f.n % len(f.letters)
	f.letters[i], f.flags[i] = letters, imapFlags(letters, nil)
	f.n++
	return f.flags[i]
}

// ChangedSince returns the UIDs of the snapshot whose modseq is above
// modseq (RFC 7162 §3.1.4 CHANGEDSINCE), ascending.
func (m *Mailbox) ChangedSince(modseq uint64) []uint32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []uint32
	for _, msg := range m.msgs {
		if msg.ModSeq > modseq {
			out = append(out, msg.UID)
		}
	}
	return out
}

// VanishedSince returns the UIDs expunged after modseq (RFC 7162
// §3.2.5.1 VANISHED (EARLIER)). When the store no longer remembers that
// far back, it returns every UID below UIDNEXT that is not in the
// mailbox: a superset, which the RFC allows, since clients ignore UIDs
// they do not have.
func (m *Mailbox) VanishedSince(modseq uint64) imap.UIDSet {
	m.mu.Lock()
	defer m.mu.Unlock()
	var set imap.UIDSet
	if modseq >= m.floor {
		var uids []imap.UID
		for _, e := range m.expunged {
			if e.ModSeq > modseq {
				if _, live := m.find(e.UID); !live {
					uids = append(uids, imap.UID(e.UID))
				}
			}
		}
		sort.Slice(uids, func(i, j int) bool { return uids[i] < uids[j] })
		set.AddNum(uids...)
		return set
	}
	next := uint32(1)
	for _, msg := range m.msgs {
		if msg.UID > next {
			set.AddRange(imap.UID(next), imap.UID(msg.UID-1))
		}
		next = msg.UID + 1
	}
	if m.uidNext > next {
		set.AddRange(imap.UID(next), imap.UID(m.uidNext-1))
	}
	return set
}

// uniqueOf returns the unique name of a message of the snapshot.
func (m *Mailbox) uniqueOf(uid uint32) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i, ok := m.find(uid)
	if !ok {
		return "", false
	}
	return m.msgs[i].unique(), true
}

// Path is the mailbox's maildir directory.
func (m *Mailbox) Path() string { return m.f.path }

// dir is the maildir.Dir of the mailbox.
func (m *Mailbox) dir() *maildir.Dir {
	return &maildir.Dir{Path: m.f.path, Root: m.s.Root, Quota: m.s.quotaOverride(), Log: m.s.Log}
}

// Open opens a message for reading, wherever another session renamed it.
func (m *Mailbox) Open(uid uint32) (*os.File, error) {
	u, file, ok := m.fileOf(uid)
	if !ok {
		return nil, fmt.Errorf("uid %d: %w", uid, maildir.ErrNoMessage)
	}
	// The name of the last scan is right unless another session renamed
	// the file since; only then is the directory searched.
	if f, err := os.Open(file); err == nil {
		return f, nil
	}
	f, _, err := m.dir().Open(u)
	return f, err
}

// fileOf returns a message's unique name and its path as of the last
// scan, or as the session's last Store named it; a message that Store is
// renaming is waited for.
func (m *Mailbox) fileOf(uid uint32) (unique, file string, ok bool) {
	m.mu.Lock()
	r := m.behind
	m.mu.Unlock()
	if r != nil && r.has(uid) {
		m.settle()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	i, ok := m.find(uid)
	if !ok {
		return "", "", false
	}
	name := m.msgs[i].File
	if m.next != nil {
		if e, ok := m.next.find(uid); ok {
			name = e.file
		}
	}
	return m.msgs[i].unique(), filepath.Join(m.f.path, "cur", name), true
}

// Stat returns the file information of a message: by the name of the
// last scan, else (another session renamed it) of the file found under
// its unique name.
func (m *Mailbox) Stat(uid uint32) (os.FileInfo, error) {
	_, file, ok := m.fileOf(uid)
	if !ok {
		return nil, fmt.Errorf("uid %d: %w", uid, maildir.ErrNoMessage)
	}
	if st, err := os.Stat(file); err == nil {
		return st, nil
	}
	f, err := m.Open(uid)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Stat()
}

// InternalDate is the message's modification time, as Courier reports
// INTERNALDATE (fetch.c).
func (m *Mailbox) InternalDate(uid uint32) (time.Time, error) {
	st, err := m.Stat(uid)
	if err != nil {
		return time.Time{}, err
	}
	return st.ModTime(), nil
}

// Size is RFC822.SIZE: the size of the message with CRLF line ends, as
// FETCH sends it. A ",W=" in the name gives it; otherwise the file is
// read once (the result is cached for the life of the process, message
// files never change).
func (m *Mailbox) Size(uid uint32) (int64, error) {
	u, ok := m.uniqueOf(uid)
	if !ok {
		return 0, fmt.Errorf("uid %d: %w", uid, maildir.ErrNoMessage)
	}
	return messageSize(m.dir(), u, func() (*os.File, error) { return m.Open(uid) })
}

// Store changes the flags of the messages uids of the snapshot (RFC 9051
// §6.4.6): system flags are renames of the files (Dir.SetFlagsBatch;
// \Recent is ignored), keywords go to courierimapkeywords
// (Dir.SetKeywords). Messages whose modseq is above unchangedSince (when
// not 0) are left alone and returned in failedModified (RFC 7162 §3.1.3).
// changed lists the messages whose flags did change; all of them share one
// new modseq. The new flags reach the snapshot with the next Refresh.
//
// A change of system flags alone returns once it is in the folder's cache
// and the modseq store; the renames follow under the folder lock
// (renames.go).
func (m *Mailbox) Store(uids []uint32, op imap.StoreFlagsOp, flags []imap.Flag, unchangedSince uint64) (changed, failedModified []uint32, err error) {
	if m.ReadOnly {
		return nil, nil, ErrReadOnly
	}
	letters, kws := splitFlags(flags)
	if !m.s.keywordsEnabled() {
		kws = nil
	}
	unlock, err := m.s.lock(m.f)
	if err != nil {
		return nil, nil, err
	}
	r, changed, failedModified, err := m.storeLocked(uids, op, letters, kws, unchangedSince)
	if r == nil {
		unlock()
		return changed, failedModified, err
	}
	go r.run(unlock)
	return changed, failedModified, err
}

// storeChange is one message's change in a Store.
type storeChange struct {
	e              *entry
	flags          maildir.Flags
	kws            []string
	rename, kwEdit bool
}

// storeLocked is Store under the folder lock. When it leaves the renames
// to be made after the answer, it returns them: their run lets go of the
// lock.
func (m *Mailbox) storeLocked(uids []uint32, op imap.StoreFlagsOp, letters maildir.Flags, kws []string, unchangedSince uint64) (r *renames, changed, failedModified []uint32, err error) {
	st, err := m.s.scanLocked(m.f, true)
	if err != nil {
		return nil, nil, nil, err
	}
	m.claim(st)
	changes := make([]storeChange, 0, len(uids))
	var files []string
	var newFlags []maildir.Flags
	behindOK := true // system flags only, none clearing \Deleted
	m.mu.Lock()
	for _, uid := range uids {
		e, ok := st.find(uid)
		if !ok {
			continue
		}
		if _, ok := m.find(uid); !ok {
			continue
		}
		if unchangedSince > 0 && e.modseq > unchangedSince {
			failedModified = append(failedModified, uid)
			continue
		}
		fl, kw := applyOp(op, e.flags, e.keywords, letters, kws, m.s.keywordsEnabled())
		flagsChanged, kwChanged := fl != e.flags, !slices.Equal(kw, e.keywords)
		if !flagsChanged && !kwChanged {
			continue
		}
		changes = append(changes, storeChange{e, fl, kw, flagsChanged, kwChanged})
		if flagsChanged {
			files = append(files, e.file)
			newFlags = append(newFlags, fl)
		}
		if kwChanged || e.flags.Has(maildir.FlagTrashed) && !fl.Has(maildir.FlagTrashed) {
			behindOK = false
		}
	}
	m.mu.Unlock()
	if behindOK && len(changes) > 0 {
		if r, changed := m.storeBehind(st, changes); r != nil {
			return r, changed, failedModified, nil
		}
	}
	d := m.dir()
	// The renames as one batch: cur/ opened once, the quota file locked
	// and written once.
	names, err := d.SetFlagsBatch(files, newFlags, nil)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	states := make(map[uint32]uint64, len(changes))
	next, renamed := 0, false
	for _, c := range changes {
		if c.rename {
			name := names[next]
			next++
			if name == "" {
				continue
			}
			st.c.renamed(c.e.unique, name)
			renamed = true
		}
		if c.kwEdit {
			if err := d.SetKeywords(c.e.unique, c.kws); err != nil {
				errs = append(errs, err)
			}
		}
		states[c.e.uid] = stateHash(c.flags, c.kws)
		changed = append(changed, c.e.uid)
	}
	if renamed {
		st.c.changedCur()
	}
	if err := st.bump(states, nil); err != nil {
		errs = append(errs, err)
	}
	return nil, changed, failedModified, errors.Join(errs...)
}

// claim records the UIDs a scan made by a command gave out as \Recent
// for this session (they join the snapshot with the next Refresh). A
// state an earlier Store left for the next Refresh is older than the scan:
// the Refresh scans again.
func (m *Mailbox) claim(st *state) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.next = nil
	m.recent.add(st.fresh)
}

// recentSet is a set of UIDs: a run of consecutive ones, which a scan
// giving out UIDs makes (a first SELECT makes every message recent), and a
// map for the others.
type recentSet struct {
	lo, hi uint32 // the run: lo to hi-1
	more   map[uint32]bool
}

// add puts uids into the set.
func (r *recentSet) add(uids []uint32) {
	if len(uids) == 0 {
		return
	}
	if r.empty() && consecutive(uids) {
		r.lo, r.hi = uids[0], uids[len(uids)-1]+1
		return
	}
	if r.more == nil {
		r.more = make(map[uint32]bool, len(uids))
	}
	for _, uid := range uids {
		r.more[uid] = true
	}
}

func (r *recentSet) has(uid uint32) bool {
	return uid >= r.lo && uid < r.hi || r.more[uid]
}

func (r *recentSet) empty() bool {
	return r.lo == r.hi && len(r.more) == 0
}

// consecutive reports whether uids are a run of consecutive UIDs,
// ascending, ending below the largest UID.
func consecutive(uids []uint32) bool {
	for i := 1; i < len(uids); i++ {
		if uids[i] != uids[i-1]+1 {
			return false
		}
	}
	return uids[len(uids)-1] < 1<<32-1
}

// Expunge removes the messages flagged \Deleted (RFC 9051 §6.4.3), or
// only those of them in uids (UID EXPUNGE, RFC 9051 §6.4.9), among the
// messages of the snapshot. With IMAP_MOVE_EXPUNGE_TO_TRASH=1 they move to
// the Trash folder instead, losing \Deleted and \Draft, except messages
// this session copied somewhere (imapd.c do_expunge). The snapshot loses
// them with the next Refresh, which reports them.
func (m *Mailbox) Expunge(uids []uint32) ([]uint32, error) {
	if m.ReadOnly {
		return nil, ErrReadOnly
	}
	var want map[uint32]bool
	if uids != nil {
		want = make(map[uint32]bool, len(uids))
		for _, u := range uids {
			want[u] = true
		}
	}
	var trash *maildir.Dir
	if m.s.Getenv("IMAP_MOVE_EXPUNGE_TO_TRASH") == "1" && m.f.name != m.s.TrashName() {
		// Courier creates the Trash folder when it is missing.
		if err := m.s.Create(m.s.TrashName()); err != nil && !errors.Is(err, ErrExists) {
			return nil, err
		}
		_, d, err := m.s.open(m.s.TrashName())
		if err != nil {
			return nil, err
		}
		trash = d
	}
	unlock, err := m.s.lock(m.f)
	if err != nil {
		return nil, err
	}
	defer unlock()
	st, err := m.s.scanLocked(m.f, true)
	if err != nil {
		return nil, err
	}
	m.claim(st)
	// The messages go in two batches, to Trash and removed, each with
	// one lock of the quota file (and one fsync of Trash's cur/).
	var toTrash, toRemove []*entry
	m.mu.Lock()
	for _, e := range st.entries {
		if !e.flags.Has(maildir.FlagTrashed) || want != nil && !want[e.uid] {
			continue
		}
		if _, ok := m.find(e.uid); !ok {
			continue
		}
		if trash != nil && !m.copied[e.uid] {
			toTrash = append(toTrash, e)
		} else {
			toRemove = append(toRemove, e)
		}
	}
	m.mu.Unlock()
	d := m.dir()
	var errs []error
	done := make(map[*entry]bool, len(toTrash)+len(toRemove))
	if len(toTrash) > 0 {
		files := make([]string, len(toTrash))
		flags := make([]maildir.Flags, len(toTrash))
		for i, e := range toTrash {
			files[i], flags[i] = e.file, e.flags.Without("TD")
		}
		names, err := d.MoveMessages(files, trash, flags)
		if err != nil {
			errs = append(errs, err)
		}
		for i, e := range toTrash {
			if names[i] == "" {
				continue
			}
			done[e] = true
			if len(e.keywords) > 0 {
				if err := trash.SetKeywords(e.unique, e.keywords); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	if len(toRemove) > 0 {
		files := make([]string, len(toRemove))
		for i, e := range toRemove {
			files[i] = e.file
		}
		removed, err := d.RemoveMessages(files)
		if err != nil {
			errs = append(errs, err)
		}
		for i, e := range toRemove {
			if removed[i] {
				done[e] = true
			}
		}
	}
	var gone []uint32
	for _, e := range st.entries {
		if done[e] {
			st.c.removed(e.unique, e.uid)
			gone = append(gone, e.uid)
		}
	}
	if len(gone) > 0 {
		st.c.changedCur()
	}
	if err := st.bump(nil, slices.Clone(gone)); err != nil {
		errs = append(errs, err)
	}
	return gone, errors.Join(errs...)
}

// Copy copies messages of the snapshot into the mailbox dest (RFC 9051
// §6.4.7) with their flags and keywords, as hard links where the file
// system allows. It returns the destination's UIDVALIDITY and the source
// and destination UIDs for COPYUID (RFC 4315). Nothing is left behind
// when it fails; an over-quota failure matches maildir.ErrOverQuota.
func (m *Mailbox) Copy(uids []uint32, dest string) (uidValidity uint32, src, dst []uint32, err error) {
	df, dd, err := m.s.open(dest)
	if err != nil {
		return 0, nil, nil, err
	}
	// The source is not locked: the files are linked by their names, or,
	// for those the session's last Store is still renaming, by either
	// name, the one it most likely has by now first (renames.go).
	srcDir := m.dir()
	var uidsOf []uint32
	var files []string        // in cur/, as of the last scan
	var was []string          // for those being renamed, their other name, or ""
	var flags []maildir.Flags // with was: the flags of the copies
	var kws [][]string
	m.mu.Lock()
	r := m.behind
	for _, uid := range uids {
		i, ok := m.find(uid)
		if !ok {
			continue
		}
		msg := &m.msgs[i]
		uidsOf = append(uidsOf, uid)
		file, other := msg.File, ""
		if r != nil {
			if w, made, ok := r.was(uid); ok {
				other = w
				if !made {
					file, other = w, file
				}
			}
			was = append(was, other)
			flags = append(flags, maildir.NameFlags(msg.File))
		}
		files = append(files, file)
		kws = append(kws, msg.keywords())
	}
	m.mu.Unlock()
	unlock, err := m.s.lock(df)
	if err != nil {
		return 0, nil, nil, err
	}
	defer unlock()
	// One fsync of the destination for all the copies; a message
	// expunged by another session meanwhile is left out.
	names, err := dd.CopyMessages(srcDir, files, was, flags)
	var made []string
	var madeKws [][]string
	for i, name := range names {
		if name != "" {
			made = append(made, name)
			madeKws = append(madeKws, kws[i])
			src = append(src, uidsOf[i])
		}
	}
	abort := func() { dd.Remove(made...) }
	if err != nil {
		abort()
		return 0, nil, nil, err
	}
	if len(made) == 0 {
		return 0, nil, nil, nil
	}
	if m.s.keywordsEnabled() {
		for i, name := range made {
			if len(madeKws[i]) == 0 {
				continue
			}
			if err := dd.SetKeywords(name, madeKws[i]); err != nil {
				abort()
				return 0, nil, nil, err
			}
		}
	}
	uidValidity, dst, err = m.s.assignUIDsLocked(df, made)
	if err != nil {
		abort()
		return 0, nil, nil, err
	}
	m.mu.Lock()
	for _, uid := range src {
		m.copied[uid] = true
	}
	m.mu.Unlock()
	return uidValidity, src, dst, nil
}

// Move moves messages of the snapshot into the mailbox dest (RFC 6851):
// each file is renamed into the destination's cur/ (no copy), given the
// next UIDs there, and recorded as expunged here; the snapshot loses them
// with the next Refresh, which reports them. Moving into the mailbox
// itself copies and expunges.
func (m *Mailbox) Move(uids []uint32, dest string) (uidValidity uint32, src, dst []uint32, err error) {
	if m.ReadOnly {
		return 0, nil, nil, ErrReadOnly
	}
	df, dd, err := m.s.open(dest)
	if err != nil {
		return 0, nil, nil, err
	}
	if df.path == m.f.path {
		uidValidity, src, dst, err = m.Copy(uids, dest)
		if err != nil || len(src) == 0 {
			return uidValidity, src, dst, err
		}
		return uidValidity, src, dst, m.remove(src)
	}
	// Lock both folders in one order, so that two sessions moving in
	// opposite directions cannot deadlock.
	first, second := m.f, df
	if df.path < m.f.path {
		first, second = df, m.f
	}
	unlock1, err := m.s.lock(first)
	if err != nil {
		return 0, nil, nil, err
	}
	defer unlock1()
	unlock2, err := m.s.lock(second)
	if err != nil {
		return 0, nil, nil, err
	}
	defer unlock2()
	st, err := m.s.scanLocked(m.f, true)
	if err != nil {
		return 0, nil, nil, err
	}
	m.claim(st)
	d := m.dir()
	var moving []*entry
	var files []string
	var flags []maildir.Flags
	m.mu.Lock()
	for _, uid := range uids {
		e, ok := st.find(uid)
		if !ok {
			continue
		}
		if _, ok := m.find(uid); !ok {
			continue
		}
		moving = append(moving, e)
		files = append(files, e.file)
		flags = append(flags, e.flags)
	}
	m.mu.Unlock()
	// One fsync of the destination for all the messages.
	names, err := d.MoveMessages(files, dd, flags)
	errs := []error{err}
	var made []string
	for i, e := range moving {
		if names[i] == "" {
			continue
		}
		st.c.removed(e.unique, e.uid)
		if len(e.keywords) > 0 {
			if err := dd.SetKeywords(e.unique, e.keywords); err != nil {
				errs = append(errs, err)
			}
		}
		made = append(made, names[i])
		src = append(src, e.uid)
	}
	if len(made) > 0 {
		uidValidity, dst, err = m.s.assignUIDsLocked(df, made)
		if err != nil {
			errs = append(errs, err)
		}
		st.c.changedCur()
		if err := st.bump(nil, slices.Clone(src)); err != nil {
			errs = append(errs, err)
		}
	}
	return uidValidity, src, dst, errors.Join(errs...)
}

// remove deletes messages of the snapshot and records them as expunged.
func (m *Mailbox) remove(uids []uint32) error {
	unlock, err := m.s.lock(m.f)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := m.s.scanLocked(m.f, true)
	if err != nil {
		return err
	}
	m.claim(st)
	var files []string
	var gone []uint32
	for _, uid := range uids {
		if e, ok := st.find(uid); ok {
			files = append(files, e.file)
			gone = append(gone, uid)
			st.c.removed(e.unique, e.uid)
		}
	}
	err = m.dir().Remove(files...)
	st.c.changedCur()
	return errors.Join(err, st.bump(nil, gone))
}

// Append stores a message into the mailbox name (RFC 9051 §6.3.12) with
// the flags given and date as its internal date (the zero time: now), and
// returns its UIDVALIDITY and UID for APPENDUID (RFC 4315). An
// over-quota failure matches maildir.ErrOverQuota (NO [OVERQUOTA]).
func (s *Store) Append(name string, r io.Reader, flags []imap.Flag, date time.Time) (uidValidity, uid uint32, err error) {
	f, d, err := s.open(name)
	if err != nil {
		return 0, 0, err
	}
	letters, kws := splitFlags(flags)
	p, err := d.Create(r, maildir.DeliverOptions{ModTime: date})
	if err != nil {
		return 0, 0, err
	}
	unlock, err := s.lock(f)
	if err != nil {
		p.Abort()
		return 0, 0, err
	}
	defer unlock()
	path, err := p.CommitCur(letters.With(""))
	if err != nil {
		p.Abort()
		return 0, 0, err
	}
	file := filepath.Base(path)
	if len(kws) > 0 && s.keywordsEnabled() {
		if err := d.SetKeywords(file, kws); err != nil {
			d.Remove(file)
			return 0, 0, err
		}
	}
	uidv, uids, err := s.assignUIDsLocked(f, []string{file})
	if err != nil {
		d.Remove(file)
		return 0, 0, err
	}
	return uidv, uids[0], nil
}

// flagSets interns the flags of messages without keywords, by letters:
// the snapshots of the sessions share them.
var flagSets sync.Map // maildir.Flags → []imap.Flag

// imapFlags converts flag letters and keywords to IMAP flags. The result
// may be shared: it must not be changed.
func imapFlags(letters maildir.Flags, keywords []string) []imap.Flag {
	if len(keywords) > 0 {
		return makeIMAPFlags(letters, keywords)
	}
	if v, ok := flagSets.Load(letters); ok {
		return v.([]imap.Flag)
	}
	out := slices.Clip(makeIMAPFlags(letters, nil))
	flagSets.Store(letters, out)
	return out
}

func makeIMAPFlags(letters maildir.Flags, keywords []string) []imap.Flag {
	var out []imap.Flag
	for i := 0; i < len(letters); i++ {
		switch letters[i] {
		case maildir.FlagDraft:
			out = append(out, imap.FlagDraft)
		case maildir.FlagFlagged:
			out = append(out, imap.FlagFlagged)
		case maildir.FlagReplied:
			out = append(out, imap.FlagAnswered)
		case maildir.FlagSeen:
			out = append(out, imap.FlagSeen)
		case maildir.FlagTrashed:
			out = append(out, imap.FlagDeleted)
		}
	}
	for _, k := range keywords {
		out = append(out, imap.Flag(k))
	}
	return out
}

// splitFlags turns IMAP flags into maildir letters and keywords. \Recent
// and unknown system flags are dropped; keywords are normalized as
// courierimapkeywords keeps them (sorted, without duplicates).
func splitFlags(flags []imap.Flag) (maildir.Flags, []string) {
	var letters []byte
	var kws []string
	for _, f := range flags {
		if strings.HasPrefix(string(f), `\`) {
			switch strings.ToLower(string(f)) {
			case `\draft`:
				letters = append(letters, maildir.FlagDraft)
			case `\flagged`:
				letters = append(letters, maildir.FlagFlagged)
			case `\answered`:
				letters = append(letters, maildir.FlagReplied)
			case `\seen`:
				letters = append(letters, maildir.FlagSeen)
			case `\deleted`:
				letters = append(letters, maildir.FlagTrashed)
			}
			continue
		}
		kws = addKeyword(kws, string(f))
	}
	return maildir.Flags("").With(string(letters)), normalize(kws)
}

// addKeyword adds k unless a keyword equal but for case is there:
// keywords are case-insensitive (RFC 9051 §2.3.2).
func addKeyword(set []string, k string) []string {
	for _, have := range set {
		if strings.EqualFold(have, k) {
			return set
		}
	}
	return append(set, k)
}

func normalize(set []string) []string {
	sort.Strings(set)
	return slices.Compact(set)
}

// applyOp computes a message's new flags and keywords for a STORE.
// The system flags in letters are the six IMAP ones; other letters a
// message has (P, lower-case ones of other software) stay.
func applyOp(op imap.StoreFlagsOp, have maildir.Flags, haveKw []string, letters maildir.Flags, kws []string, keywords bool) (maildir.Flags, []string) {
	newKw := slices.Clone(haveKw)
	switch op {
	case imap.StoreFlagsSet:
		have = have.Without("DFRST").With(string(letters))
		if keywords {
			newKw = slices.Clone(kws)
		}
	case imap.StoreFlagsAdd:
		have = have.With(string(letters))
		for _, k := range kws {
			newKw = addKeyword(newKw, k)
		}
	case imap.StoreFlagsDel:
		have = have.Without(string(letters))
		newKw = slices.DeleteFunc(newKw, func(h string) bool {
			for _, k := range kws {
				if strings.EqualFold(h, k) {
					return true
				}
			}
			return false
		})
	}
	return have, normalize(newKw)
}

// sizes caches RFC822.SIZE by message path and unique name.
var (
	sizesMu sync.Mutex
	sizes   = map[string]int64{}
)

const maxCachedSizes = 200000

// messageSize returns the CRLF size of a message of d.
func messageSize(d *maildir.Dir, unique string, open func() (*os.File, error)) (int64, error) {
	if n, err := maildir.ParseName(unique); err == nil && n.VSize >= 0 {
		return n.VSize, nil
	}
	key := d.Path + "/" + unique
	sizesMu.Lock()
	v, ok := sizes[key]
	sizesMu.Unlock()
	if ok {
		return v, nil
	}
	f, err := open()
	if err != nil {
		return 0, err
	}
	defer f.Close()
	size, err := crlfSize(f)
	if err != nil {
		return 0, err
	}
	sizesMu.Lock()
	if len(sizes) >= maxCachedSizes {
		clear(sizes)
	}
	sizes[key] = size
	sizesMu.Unlock()
	return size, nil
}

// crlfSize counts the bytes of r with every bare LF made CRLF.
func crlfSize(r io.Reader) (int64, error) {
	bp := sizeBufs.Get().(*[]byte)
	defer sizeBufs.Put(bp)
	buf := *bp
	var size int64
	prevCR := false
	for {
		n, err := r.Read(buf)
		for _, c := range buf[:n] {
			if c == '\n' && !prevCR {
				size++
			}
			prevCR = c == '\r'
		}
		size += int64(n)
		if err == io.EOF {
			return size, nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// sizeBufs are crlfSize's read buffers: FETCH of RFC822.SIZE measures
// every message once.
var sizeBufs = sync.Pool{New: func() any { b := make([]byte, 32*1024); return &b }}

func sortUIDs(u []uint32) { slices.Sort(u) }
