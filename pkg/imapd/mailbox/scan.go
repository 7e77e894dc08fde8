package mailbox

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gocourier/courier/pkg/maildir"
)

// entry is one message as a scan found it.
type entry struct {
	uid      uint32
	unique   string
	file     string // name in cur/
	flags    maildir.Flags
	keywords []string
	modseq   uint64
}

// state is the result of a scan, taken under the folder lock.
type state struct {
	uidValidity uint32
	uidNext     uint32
	entries     []entry // ascending UIDs
	byUID       map[uint32]int
	fresh       []uint32 // UIDs this scan gave out (Courier: \Recent)
	waiting     []string // files left in new/ (moveNew false)
	ms          *modseqDB
	kw          maildir.Keywords
}

func (st *state) find(uid uint32) (*entry, bool) {
	i, ok := st.byUID[uid]
	if !ok {
		return nil, false
	}
	return &st.entries[i], true
}

// scan locks the folder and scans it. The sessions of one user share a
// process, and many of them may watch one large folder: a scan whose
// folder has not changed since another session's (the same stamps, old
// enough to be trusted) reuses that one. Only SELECT and the rescans
// between commands come here; the scans under which the folder changes
// (Store, Expunge, Copy, Move) always read the disk.
func (s *Store) scan(f *folder, moveNew bool) (*state, error) {
	before, settled := stampsOf(f.path)
	return s.scanAt(f, moveNew, before, settled)
}

// scanAt is scan for a caller that has read the folder's stamps already.
func (s *Store) scanAt(f *folder, moveNew bool, before folderStamps, settled bool) (*state, error) {
	key := scanKey{f.path, moveNew, s.keywordsEnabled()}
	if settled {
		if c, ok := scanCache.Load(key); ok && c.(*cachedScan).stamps == before {
			st := *c.(*cachedScan).st
			st.fresh = nil
			return &st, nil
		}
	}
	unlock, err := s.lock(f)
	if err != nil {
		return nil, err
	}
	defer unlock()
	st, err := s.scanLocked(f, moveNew)
	if err == nil && settled && len(st.fresh) == 0 {
		scanCache.Store(key, &cachedScan{before, st})
	}
	return st, err
}

// scanCache holds the last scan of each folder of this process: scanKey
// → *cachedScan. The states in it are never changed.
var scanCache sync.Map

type scanKey struct {
	path             string
	moveNew, keyword bool
}

type cachedScan struct {
	stamps folderStamps
	st     *state
}

// folderStamps are the modification times of what a change to a folder
// touches: a delivery (new/), a flag change or expunge (cur/), a keyword
// (courierimapkeywords/), a rebuilt or extended UID map.
type folderStamps struct {
	cur, new, keywords, uiddb int64
}

// stampSettle is how old stamps must be to be trusted: file systems keep
// times with the granularity of the kernel's tick (up to 10 ms), so a
// change right after a scan may leave a stamp as it was.
const stampSettle = 100 * time.Millisecond

// stampsOf returns a folder's stamps, and whether they are settled.
func stampsOf(path string) (folderStamps, bool) {
	var st folderStamps
	settled := true
	limit := time.Now().Add(-stampSettle).UnixNano()
	for _, x := range []struct {
		name string
		to   *int64
	}{{"cur", &st.cur}, {"new", &st.new}, {maildir.KeywordsDir, &st.keywords}, {maildir.UIDDBFile, &st.uiddb}} {
		fi, err := os.Stat(filepath.Join(path, x.name))
		if err != nil {
			continue
		}
		*x.to = fi.ModTime().UnixNano()
		if *x.to > limit {
			settled = false
		}
	}
	return st, settled
}

// scanLocked is Courier's imapscan_maildir (imapscanclient.c) plus our
// modseq bookkeeping; the caller holds the folder lock:
//
//  1. with moveNew, new/ moves into cur/ (Dir.ScanNew);
//  2. courierimapuiddb is brought up to date: gone messages are dropped,
//     the others keep their UIDs, messages new to the map get the next
//     UIDs in file name order, and these are \Recent for the caller. A
//     missing or unreadable map is rebuilt with a new UIDVALIDITY;
//  3. the keywords are read (folding pending updates, Dir.ReadKeywords);
//  4. every message whose flags or keywords differ from what
//     courierimapmodseq recorded gets a new modseq, and UIDs gone from the
//     map are recorded as expunged.
func (s *Store) scanLocked(f *folder, moveNew bool) (*state, error) {
	d := &maildir.Dir{Path: f.path, Root: s.Root, Quota: s.quotaOverride()}
	st := &state{}
	if moveNew {
		if _, err := d.ScanNew(); err != nil {
			return nil, err
		}
	} else {
		names, err := d.Files("new")
		if err != nil {
			return nil, err
		}
		st.waiting = names
	}
	curNames, err := d.Files("cur")
	if err != nil {
		return nil, err
	}
	fileOf := make(map[string]string, len(curNames))
	for _, n := range curNames {
		unique, _, _ := strings.Cut(n, ":")
		fileOf[unique] = n
	}

	db, err := d.ReadUIDDB()
	changed := false
	if err != nil || db == nil {
		// Courier rebuilds a map it cannot read (imapscanclient.c).
		db = &maildir.UIDDB{UIDValidity: maildir.NewUIDValidity(time.Now()), NextUID: 1}
		changed = true
	}
	before := len(db.Entries)
	added, err := db.Sync(curNames)
	if errors.Is(err, maildir.ErrUIDsExhausted) {
		db = &maildir.UIDDB{UIDValidity: maildir.NewUIDValidity(time.Now()), NextUID: 1}
		added, err = db.Sync(curNames)
	}
	if err != nil {
		return nil, err
	}
	if changed || len(added) > 0 || len(db.Entries) != before+len(added) {
		if err := d.WriteUIDDB(db); err != nil {
			return nil, err
		}
	}
	for _, e := range added {
		st.fresh = append(st.fresh, e.UID)
	}

	st.kw = maildir.Keywords{}
	if s.keywordsEnabled() {
		if st.kw, err = d.ReadKeywords(); err != nil {
			return nil, err
		}
	}

	ms, rebuilt, err := readModSeq(f.path, db.UIDValidity)
	if err != nil {
		return nil, err
	}
	next := ms.Highest + 1
	bumped := false
	st.uidValidity, st.uidNext, st.ms = db.UIDValidity, db.NextUID, ms
	st.entries = make([]entry, 0, len(db.Entries))
	st.byUID = make(map[uint32]int, len(db.Entries))
	present := make(map[uint32]bool, len(db.Entries))
	for _, e := range db.Entries {
		file := fileOf[e.Unique]
		n, perr := maildir.ParseName(file)
		var flags maildir.Flags
		if perr == nil {
			flags = n.Flags()
		}
		kws := st.kw[e.Unique]
		h := stateHash(flags, kws)
		rec, ok := ms.Msgs[e.UID]
		switch {
		case rebuilt:
			rec = msgModSeq{ms.Highest, h}
		case !ok || rec.State != h:
			rec = msgModSeq{next, h}
			bumped = true
		}
		ms.Msgs[e.UID] = rec
		present[e.UID] = true
		st.byUID[e.UID] = len(st.entries)
		st.entries = append(st.entries, entry{uid: e.UID, unique: e.Unique, file: file, flags: flags, keywords: kws, modseq: rec.ModSeq})
	}
	var gone []uint32
	for uid := range ms.Msgs {
		if !present[uid] {
			gone = append(gone, uid)
		}
	}
	if len(gone) > 0 {
		sortUIDs(gone)
		ms.expunge(gone, next)
		bumped = true
	}
	if bumped {
		ms.Highest = next
	}
	if rebuilt || bumped {
		if err := writeModSeq(f.path, ms); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// bump gives the messages uids (with their new states) one new modseq,
// records expunged ones, and writes the store. The caller holds the lock.
func (st *state) bump(dir string, states map[uint32]uint64, expunged []uint32) error {
	if len(states) == 0 && len(expunged) == 0 {
		return nil
	}
	next := st.ms.Highest + 1
	for uid, h := range states {
		st.ms.Msgs[uid] = msgModSeq{next, h}
	}
	if len(expunged) > 0 {
		sortUIDs(expunged)
		st.ms.expunge(expunged, next)
	}
	st.ms.Highest = next
	return writeModSeq(dir, st.ms)
}

// assignUIDsLocked gives the files just placed into f's cur/ the next
// UIDs of its map, in the order given, as Courier's uidplus_fill does, so
// that COPYUID and APPENDUID are known at once. Other messages new to the
// map get UIDs after them. The caller holds f's lock.
func (s *Store) assignUIDsLocked(f *folder, files []string) (uint32, []uint32, error) {
	d := &maildir.Dir{Path: f.path, Root: s.Root}
	db, err := d.ReadUIDDB()
	if err != nil || db == nil {
		db = &maildir.UIDDB{UIDValidity: maildir.NewUIDValidity(time.Now()), NextUID: 1}
	}
	if uint64(db.NextUID)+uint64(len(files)) > 1<<32-1 {
		return 0, nil, maildir.ErrUIDsExhausted
	}
	uids := make([]uint32, len(files))
	for i, file := range files {
		unique, _, _ := strings.Cut(file, ":")
		db.Entries = append(db.Entries, maildir.UIDEntry{UID: db.NextUID, Unique: unique})
		uids[i] = db.NextUID
		db.NextUID++
	}
	names, err := d.Files("cur")
	if err != nil {
		return 0, nil, err
	}
	if _, err := db.Sync(names); err != nil {
		return 0, nil, err
	}
	if err := d.WriteUIDDB(db); err != nil {
		return 0, nil, err
	}
	return db.UIDValidity, uids, nil
}
