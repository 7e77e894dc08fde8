package mailbox

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

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

// state is the result of a scan, taken under the folder lock. A state is
// shared by the sessions of the process and never changed once returned.
type state struct {
	uidValidity uint32
	uidNext     uint32
	entries     []*entry // ascending UIDs; the entries are shared with the states derived from this one
	fresh       []uint32 // UIDs this scan gave out (Courier: \Recent)
	waiting     []string // files left in new/ (moveNew false)
	highest     uint64   // highest modseq
	floor       uint64
	expunged    []expungedUID // never changed: the store replaces its slice
	c           *folderCache  // the folder's cache; used only under the lock
	shared      *sharedMsgs   // the entries as a snapshot, shared with the states copied from this one
}

// sharedMsgs is the snapshot of a state's entries without \Recent, made
// once: the sessions without recent messages all use it rather than each
// building and keeping its own (Mailbox.apply).
type sharedMsgs struct {
	once sync.Once
	msgs []Msg
}

// snapshot returns the shared snapshot of st.
func (st *state) snapshot() []Msg {
	st.shared.once.Do(func() {
		msgs := make([]Msg, len(st.entries))
		var memo flagMemo
		for i, e := range st.entries {
			msgs[i] = Msg{UID: e.uid, File: e.file, Flags: memo.imapFlags(e.flags, e.keywords), ModSeq: e.modseq}
		}
		st.shared.msgs = msgs
	})
	return st.shared.msgs
}

func (st *state) find(uid uint32) (*entry, bool) {
	i, ok := st.at(uid)
	if !ok {
		return nil, false
	}
	return st.entries[i], true
}

// at returns the index of uid in st.entries: a binary search rather than
// a map, which a scan would have to build for every message and rebuild
// whenever messages are removed.
func (st *state) at(uid uint32) (int, bool) {
	return slices.BinarySearchFunc(st.entries, uid, func(e *entry, uid uint32) int { return cmp.Compare(e.uid, uid) })
}

// A folderCache is what the last scan of a folder in this process read,
// so that the next scan reads only what changed (the sessions of one
// user share a process, and many of them may watch one large folder):
//
//   - the listing of cur/, unique name → file name. While inotify follows
//     cur/ (curwatch.go), a scan applies the events since the last one.
//     Otherwise it is listed again when the stamp of cur/ differs, or
//     when the listing may have missed a change: a directory's mtime has
//     the granularity of the kernel's tick, so a listing is trusted for
//     later commands only once the stamp it was taken at is stampSettle
//     older than the listing. A listing that began after the command
//     that asks began is always good for it (the command needs only the
//     changes made before it started), which lets concurrent sessions
//     share one listing. A new
//     listing is compared with the old one without allocating for the
//     names that did not change; renamed messages (flag changes) are
//     recomputed alone.
//   - courierimapuiddb and the keywords, under the same rule.
//   - courierimapmodseq: written only by our servers, always by a rename
//     under the folder lock, so its stamp (inode, size, times) tells when
//     another process wrote it.
//   - the changes this process makes under the lock (Store's renames,
//     recorded before they are made, renames.go; Expunge's and Move's
//     removals, modseq bumps) are applied to the cache directly; the stamp of cur/ after them is recorded, and the
//     listing stays good for commands that began before it was taken.
//     The next scan takes the removals out of the UID map and the state
//     rather than matching the map against the whole listing again.
//
// The fields are used only under the folder lock, but for pub.
type folderCache struct {
	path string
	kwOn bool

	files    map[string]string // unique → name in cur/
	watch    *curWatch         // follows cur/ after the listing, nil when it cannot
	curStamp fileStamp         // of cur/, read before listing it
	listedAt int64             // when the listing began (UnixNano)
	newStamp fileStamp         // of new/ when last found empty
	newAt    int64
	dirty    map[string]bool // uniques renamed since st
	setDirty bool            // messages added or removed since st, other than gone
	gone     []uint32        // UIDs of st this process removed from cur/ since st

	db      *maildir.UIDDB
	dbStamp fileStamp
	dbAt    int64

	kw      maildir.Keywords
	kwStamp fileStamp
	kwAt    int64

	ms      *modseqDB
	msStamp fileStamp

	st    *state            // the last state (fresh nil)
	index map[string]uint32 // unique → UID of st's messages; nil until update needs it
	pub   atomic.Pointer[published]
}

// published is a state with the stamps it was taken at, for the scans
// that need no lock: when every stamp is as it was and settled, the state
// is still the folder's.
type published struct {
	stamps folderStamps
	st     *state
}

// caches: folder path → *folderCache.
var caches sync.Map

func cacheOf(path string) *folderCache {
	if c, ok := caches.Load(path); ok {
		return c.(*folderCache)
	}
	c, _ := caches.LoadOrStore(path, &folderCache{path: path})
	return c.(*folderCache)
}

// fileStamp identifies a version of a file or directory.
type fileStamp struct {
	ino          uint64
	size         int64
	mtime, ctime int64
}

func statStamp(p string) fileStamp {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return fileStamp{}
	}
	return fileStamp{uint64(st.Ino), st.Size, st.Mtim.Nano(), st.Ctim.Nano()}
}

// settledAt reports whether a content read at time at (UnixNano) is still
// the content while the stamp stays the same: the stamp was stampSettle
// older than the reading, so a later change would have changed it.
func (s fileStamp) settledAt(at int64) bool {
	return s != fileStamp{} && at-max(s.mtime, s.ctime) > int64(stampSettle)
}

// folderStamps are the stamps of what a change to a folder touches: a
// delivery (new/), a flag change or expunge (cur/), a keyword
// (courierimapkeywords/), a rebuilt or extended UID map, a modseq bump.
type folderStamps struct {
	cur, new, keywords, uiddb, modseq fileStamp
}

// stampSettle is how old stamps must be to be trusted: file systems keep
// times with the granularity of the kernel's tick (up to 10 ms), so a
// change right after a listing may leave a stamp as it was.
const stampSettle = 100 * time.Millisecond

func stampsOf(path string) folderStamps {
	return folderStamps{
		cur:      statStamp(filepath.Join(path, "cur")),
		new:      statStamp(filepath.Join(path, "new")),
		keywords: statStamp(filepath.Join(path, maildir.KeywordsDir)),
		uiddb:    statStamp(filepath.Join(path, maildir.UIDDBFile)),
		modseq:   statStamp(filepath.Join(path, ModSeqFile)),
	}
}

// scan locks the folder and scans it for a command that began now.
func (s *Store) scan(f *folder, moveNew bool) (*state, error) {
	return s.scanAt(f, moveNew, time.Now().UnixNano(), false)
}

// scanAt scans the folder for a command that began at since (UnixNano):
// without the lock when nothing changed since the last scan (see
// folderCache), else under it. With later (SELECT), a modseq store made
// anew is written after scanAt returns, by a goroutine that holds the
// lock until then (see scanLockedLater).
func (s *Store) scanAt(f *folder, moveNew bool, since int64, later bool) (*state, error) {
	c := cacheOf(f.path)
	if moveNew {
		if p := c.pub.Load(); p != nil && p.st.c.kwOn == s.keywordsEnabled() && stampsOf(f.path) == p.stamps {
			return p.st, nil
		}
	}
	unlock, err := s.lock(f)
	if err != nil {
		return nil, err
	}
	if !later {
		defer unlock()
		return s.scanLockedAt(f, moveNew, since)
	}
	var rest func()
	st, err := s.scanLockedLater(f, moveNew, since, &rest)
	if rest == nil {
		unlock()
		return st, err
	}
	go func() {
		rest()
		unlock()
	}()
	return st, err
}

// scanLocked is scanLockedAt for a command that begins now.
func (s *Store) scanLocked(f *folder, moveNew bool) (*state, error) {
	return s.scanLockedAt(f, moveNew, time.Now().UnixNano())
}

// laterFrom is the number of messages from which a SELECT leaves the
// writing of a new modseq store for after its answer (scanLockedLater):
// below, the writing takes little time.
var laterFrom = 1000

// scanLockedAt is scanLockedLater with nothing left for later.
func (s *Store) scanLockedAt(f *folder, moveNew bool, since int64) (*state, error) {
	return s.scanLockedLater(f, moveNew, since, nil)
}

// scanLockedLater is Courier's imapscan_maildir (imapscanclient.c) plus
// our modseq bookkeeping; the caller holds the folder lock:
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
//
// What did not change since the last scan is taken from the folder's
// cache (folderCache).
//
// With later not nil, a modseq store made anew (rebuilt: none, unreadable
// or of another UIDVALIDITY, as on a folder's first SELECT) for laterFrom
// messages or more is filled, formatted
// and written by *later, which the caller calls, still holding the lock,
// after it has used the state: the state's modseqs need not wait for the
// file, which no one reads before the lock is let go. The file is not
// fsynced anyway, and a store that is not written leaves the file as it
// was, which the next scan rebuilds again, with modseqs above these
// (newModSeqDB).
func (s *Store) scanLockedLater(f *folder, moveNew bool, since int64, later *func()) (*state, error) {
	c := cacheOf(f.path)
	if c.kwOn != s.keywordsEnabled() {
		c.pub.Store(nil)
		c = &folderCache{path: f.path, kwOn: s.keywordsEnabled()}
		caches.Store(f.path, c)
	}
	d := &maildir.Dir{Path: f.path, Root: s.Root, Quota: s.quotaOverride()}
	var waiting []string
	relist := false
	if moveNew {
		ns := statStamp(filepath.Join(f.path, "new"))
		if ns != c.newStamp || !(c.newAt >= since || ns.settledAt(c.newAt)) {
			at := time.Now().UnixNano()
			moved, err := d.ScanNew()
			if err != nil {
				c.newStamp = fileStamp{}
				return nil, err
			}
			c.newStamp, c.newAt = ns, at
			if len(moved) > 0 {
				c.newStamp, relist = fileStamp{}, true
			}
		}
	} else {
		names, err := d.Files("new")
		if err != nil {
			return nil, err
		}
		waiting = names
	}

	// cur/: from the watch's events when there is one (curwatch.go), else
	// listed again when its stamp does not vouch for the last listing.
	cs := statStamp(filepath.Join(f.path, "cur"))
	listAgain := relist || c.files == nil || cs != c.curStamp || !(c.listedAt >= since || cs.settledAt(c.listedAt))
	if c.files != nil && c.watch != nil {
		at := time.Now().UnixNano()
		evs, ws := c.watch.take()
		if ws == watchOK {
			c.catchUp(evs)
			c.curStamp, c.listedAt = cs, at
		}
		listAgain = ws != watchOK
	}
	var listed []listedFile
	filesMapped := func() {} // waits for c.files, see list
	if listAgain {
		var err error
		if listed, filesMapped, err = c.list(cs); err != nil {
			return nil, err
		}
		defer filesMapped()
	}

	// courierimapuiddb
	changedDB := false
	ds := statStamp(filepath.Join(f.path, maildir.UIDDBFile))
	if c.db == nil || c.setDirty || ds != c.dbStamp || !(c.dbAt >= since || ds.settledAt(c.dbAt)) {
		at := time.Now().UnixNano()
		// A map this process just wrote is read again until its stamp
		// settles (its stamp is not trusted sooner, see folderCache), but
		// is parsed again only when it changed.
		db, err := d.ReadUIDDBAgain(c.db)
		if err != nil || db == nil {
			// Courier rebuilds a map it cannot read (imapscanclient.c).
			db = &maildir.UIDDB{UIDValidity: maildir.NewUIDValidity(time.Now()), NextUID: 1}
			changedDB = true
		}
		if c.db == nil || db != c.db && !sameUIDDB(db, c.db) {
			c.db, c.setDirty = db, true
		}
		c.dbStamp, c.dbAt = ds, at
	}
	var fresh, gone []uint32
	var files []listedFile                   // the files of c.db.Entries, in order, when known
	dbWritten := func() error { return nil } // waits for the UID map being written
	syncDBLater := false                     // the map is written unsynced, for *later to fsync
	switch {
	case !c.setDirty && len(c.gone) > 0:
		// Only this process's removals: the map's names are the
		// listing's and theirs, so dropping theirs is what Sync would do.
		dropped := c.dropGone()
		for _, e := range dropped {
			gone = append(gone, e.UID)
			// The keywords read again below lack theirs.
			delete(c.kw, e.Unique)
		}
		if len(dropped) > 0 {
			if err := d.WriteUIDDBUnsynced(c.db); err != nil {
				c.db = nil
				return nil, err
			}
			c.dbStamp, c.dbAt = statStamp(filepath.Join(f.path, maildir.UIDDBFile)), 0
		}
	case c.setDirty:
		c.gone = nil
		db := c.db
		if listed != nil && len(db.Entries) == 0 {
			// A new map: sorted as Sync gives the UIDs, the listing is
			// the map's entries, in order, unless two files are of one
			// message (compute then looks them up, and Sync drops one).
			files = maildir.SortedByUnique(listed, listedUnique)
			for i, f := range files {
				if i > 0 && f.unique == files[i-1].unique {
					files = nil
					break
				}
			}
		}
		before := len(db.Entries)
		var added []maildir.UIDEntry
		var first uint32 // with files, the first of their UIDs
		var err error
		if files != nil {
			first, err = maildir.SyncNew(db, files, listedUnique)
			if errors.Is(err, maildir.ErrUIDsExhausted) {
				db = &maildir.UIDDB{UIDValidity: maildir.NewUIDValidity(time.Now()), NextUID: 1}
				c.db = db
				first, err = maildir.SyncNew(db, files, listedUnique)
			}
		} else {
			var names []string
			if listed != nil {
				names = make([]string, len(listed))
				for i, f := range listed {
					names[i] = f.name
				}
			} else {
				names = make([]string, 0, len(c.files))
				for _, n := range c.files {
					names = append(names, n)
				}
			}
			added, err = db.Sync(names)
			if errors.Is(err, maildir.ErrUIDsExhausted) {
				db = &maildir.UIDDB{UIDValidity: maildir.NewUIDValidity(time.Now()), NextUID: 1}
				c.db = db
				added, err = db.Sync(names)
			}
		}
		if err != nil {
			c.db = nil
			return nil, err
		}
		if files != nil {
			fresh = make([]uint32, len(files))
			for i := range fresh {
				fresh[i] = first + uint32(i)
			}
		} else if len(added) > 0 {
			fresh = make([]uint32, len(added))
			for i, e := range added {
				fresh[i] = e.UID
			}
		}
		if changedDB || len(fresh) > 0 || len(db.Entries) != before+len(fresh) {
			write := d.WriteUIDDB
			switch {
			case !changedDB && len(fresh) == 0:
				write = d.WriteUIDDBUnsynced // only gone messages dropped
			case changedDB && later != nil && len(db.Entries) >= laterFrom:
				// A new map (a new UIDVALIDITY) at a SELECT: fsynced after
				// the answer. A crash before leaves no map, an empty or
				// unreadable one (rebuilt with yet another UIDVALIDITY) or
				// a part of it whose first line keeps the next UID: no UID
				// is given twice either way.
				write, syncDBLater = d.WriteUIDDBUnsynced, true
			}
			// Written (and fsynced) on the other core while the keywords
			// and modseqs are worked out: db is only read meanwhile. It is
			// in place before the modseq store is written and before the
			// lock is let go (dbWritten).
			writing := make(chan error, 1)
			go func() { writing <- write(db) }()
			dbWritten = func() error {
				if writing == nil {
					return nil
				}
				err := <-writing
				writing = nil
				if err != nil {
					c.db = nil
					return err
				}
				c.dbStamp, c.dbAt = statStamp(filepath.Join(f.path, maildir.UIDDBFile)), 0
				return nil
			}
			defer dbWritten()
		}
	}

	// courierimapkeywords
	full := c.st == nil || c.setDirty
	if !c.kwOn {
		if c.kw == nil {
			c.kw, full = maildir.Keywords{}, true
		}
	} else {
		ks := statStamp(filepath.Join(f.path, maildir.KeywordsDir))
		// Read again after removals too, as the reading drops the keywords
		// of messages gone.
		if c.kw == nil || c.setDirty || len(gone) > 0 || ks != c.kwStamp || !(c.kwAt >= since || ks.settledAt(c.kwAt)) {
			at := time.Now().UnixNano()
			kw, err := d.ReadKeywords()
			if err != nil {
				c.kw = nil
				return nil, err
			}
			if c.kw == nil || !sameKeywords(kw, c.kw) {
				c.kw, full = kw, true
			}
			c.kwStamp, c.kwAt = ks, at
		}
	}

	// courierimapmodseq
	rebuilt, adopted := false, false
	ms := statStamp(filepath.Join(f.path, ModSeqFile))
	if c.ms == nil || ms != c.msStamp || c.ms.UIDValidity != c.db.UIDValidity {
		db, rb, ad, err := readModSeq(f.path, c.db.UIDValidity)
		if err != nil {
			c.ms = nil
			return nil, err
		}
		c.ms, c.msStamp, rebuilt, adopted, full = db, ms, rb, ad, true
	}

	var st *state
	var bumped bool
	if files == nil {
		filesMapped()
	}
	// A new store made for later has its messages put in once the answer
	// is sent: until then no one reads it (the lock is held).
	storeLater := rebuilt && later != nil && len(c.db.Entries) >= laterFrom
	if full {
		st, bumped = c.compute(rebuilt, storeLater, files)
	} else {
		st, bumped = c.update(gone)
	}
	c.dirty, c.setDirty = nil, false
	if st.highest != c.ms.Highest || st.floor != c.ms.Floor || !sameSlice(st.expunged, c.ms.Expunged) {
		if st == c.st {
			cp := *st
			st = &cp
		}
		st.highest, st.floor, st.expunged = c.ms.Highest, c.ms.Floor, c.ms.Expunged
	}
	// done records st as the folder's state once its modseq store is
	// written.
	done := func() {
		c.st = st
		if moveNew {
			stamps := folderStamps{cur: c.curStamp, new: c.newStamp, keywords: c.kwStamp, uiddb: c.dbStamp, modseq: c.msStamp}
			if c.curStamp.settledAt(c.listedAt) && c.newStamp.settledAt(c.newAt) && c.dbStamp.settledAt(c.dbAt) &&
				(!c.kwOn || c.kwStamp.settledAt(c.kwAt)) && len(fresh) == 0 {
				c.pub.Store(&published{stamps, st})
			} else {
				c.pub.Store(nil)
			}
		}
	}
	if syncDBLater && !storeLater {
		if err := dbWritten(); err != nil {
			c.st = nil
			return nil, err
		}
		if err := d.SyncUIDDB(); err != nil {
			c.db, c.st = nil, nil
			return nil, err
		}
	}
	switch {
	case storeLater:
		if err := dbWritten(); err != nil {
			c.st = nil
			return nil, err
		}
		c.st = nil // until the store is written
		c.pub.Store(nil)
		*later = func() {
			if syncDBLater {
				if err := d.SyncUIDDB(); err != nil {
					// The answer gave the UIDs already; the next scan
					// reads the map again from the file.
					s.log().Error("the new IMAP UID map could not be made durable: " + err.Error())
					c.db = nil
				}
			}
			c.ms.fill(st.entries)
			if c.storeModSeq(encodeModSeq(c.ms, st.entries)) == nil {
				done()
			}
		}
	case rebuilt || adopted || bumped:
		mf := encodeModSeq(c.ms, st.entries)
		if err := dbWritten(); err != nil {
			c.st = nil
			return nil, err
		}
		if err := c.storeModSeq(mf); err != nil {
			c.st = nil
			return nil, err
		}
		done()
	default:
		if err := dbWritten(); err != nil {
			c.st = nil
			return nil, err
		}
		done()
	}
	if fresh == nil && waiting == nil {
		return st, nil
	}
	cp := *st
	cp.fresh, cp.waiting = fresh, waiting
	return &cp, nil
}

// listedFile is a name of a new listing of cur/, with its unique part and
// flags, parsed while the listing was read on.
type listedFile struct {
	name, unique string
	flags        maildir.Flags
}

func listedUnique(f listedFile) string { return f.unique }

// list reads cur/ (stamp cs, read before) into the cache, noting the
// messages renamed (dirty) or added and removed (setDirty). When it made
// a new listing rather than compare with the last, it returns the files
// and a function that waits for c.files: the map of the new listing is
// made on the other core meanwhile (the first scan of a large folder
// needs it only for the next), and c.files is nil until then; the caller
// calls it before it uses c.files and before it lets go of the lock.
func (c *folderCache) list(cs fileStamp) ([]listedFile, func(), error) {
	dir := filepath.Join(c.path, "cur")
	if c.watch != nil {
		// The events so far are older than this listing.
		if _, ws := c.watch.take(); ws == watchLost {
			c.watch = nil
		}
	}
	if c.watch == nil {
		c.watch = watchCur(dir)
	}
	at := time.Now().UnixNano()
	if c.files != nil && !c.setDirty {
		seen := 0
		var renamed []string // unique, name pairs
		ok := true
		// Stopped at the first name the listing lacks: cur/ is listed
		// whole below (after a folder was emptied and filled again, at
		// the first name).
		err := listDir(dir, func(name []byte) bool {
			u := name
			if i := bytes.IndexByte(name, ':'); i >= 0 {
				u = name[:i]
			}
			have, found := c.files[string(u)]
			if !found {
				ok = false
				return false
			}
			seen++
			if have != string(name) {
				n := string(name)
				renamed = append(renamed, n[:len(u)], n)
			}
			return true
		})
		if err != nil {
			c.files = nil
			return nil, nil, err
		}
		if ok && seen == len(c.files) {
			for i := 0; i < len(renamed); i += 2 {
				c.renamed(renamed[i], renamed[i+1])
			}
			c.curStamp, c.listedAt = cs, at
			return nil, func() {}, nil
		}
	}
	// Sized for the names the directory's size suggests (some 60 bytes
	// each on ext4) when there is no listing yet.
	listed := make([]listedFile, 0, max(len(c.files), int(min(cs.size/64, 1<<20))))
	// The names are parts of one string per chunk the kernel returned
	// rather than allocated one by one (10,000 allocations on a folder's
	// first scan).
	err := listDirBehind(dir, func(n string) {
		u, _, _ := strings.Cut(n, ":")
		listed = append(listed, listedFile{n, u, maildir.NameFlags(n)})
	})
	c.files = nil
	if err != nil {
		return nil, nil, err
	}
	mapped := make(chan map[string]string, 1)
	go func() {
		files := make(map[string]string, len(listed))
		for _, f := range listed {
			files[f.unique] = f.name
		}
		mapped <- files
	}()
	c.setDirty = true
	c.curStamp, c.listedAt = cs, at
	return listed, func() {
		if mapped != nil {
			c.files = <-mapped
			mapped = nil
		}
	}, nil
}

// renamed records that the message unique is now the file name in cur/.
func (c *folderCache) renamed(unique, name string) {
	if c.files == nil {
		return
	}
	c.files[unique] = name
	if c.dirty == nil {
		c.dirty = map[string]bool{}
	}
	c.dirty[unique] = true
}

// removed records that the message unique, uid in the last state, left
// cur/.
func (c *folderCache) removed(unique string, uid uint32) {
	if c.files == nil {
		return
	}
	delete(c.files, unique)
	c.gone = append(c.gone, uid)
}

// dropGone takes the messages c.gone out of the UID map and returns
// their entries.
func (c *folderCache) dropGone() []maildir.UIDEntry {
	gone := c.gone
	c.gone = nil
	sortUIDs(gone)
	var dropped []maildir.UIDEntry
	j := 0
	c.db.Entries = slices.DeleteFunc(c.db.Entries, func(e maildir.UIDEntry) bool {
		for j < len(gone) && gone[j] < e.UID {
			j++
		}
		if j < len(gone) && gone[j] == e.UID {
			dropped = append(dropped, e)
			return true
		}
		return false
	})
	return dropped
}

// changedCur records the stamp of cur/ after this process changed it
// under the lock (renamed, removed): the listing, with the changes
// applied, is good for the commands that began before it was taken.
func (c *folderCache) changedCur() {
	if c.files != nil {
		c.curStamp = statStamp(filepath.Join(c.path, "cur"))
	}
	c.pub.Store(nil)
}

// compute makes the state from the cache; it reports whether some message
// got a new modseq. files are the files of the UID map's entries, in
// order, when the caller knows them (nil: looked up in the listing). With
// fillLater, a rebuilt store is left without its messages, which the
// caller puts in (modseqDB.fill) before anyone reads it.
func (c *folderCache) compute(rebuilt, fillLater bool, files []listedFile) (*state, bool) {
	db, ms := c.db, c.ms
	if len(ms.Msgs) == 0 && !fillLater {
		// A new store: sized at once rather than grown message by message.
		ms.Msgs = make(map[uint32]msgModSeq, len(db.Entries))
	}
	next := ms.Highest + 1
	bumped := false
	st := &state{uidValidity: db.UIDValidity, uidNext: db.NextUID, c: c, shared: &sharedMsgs{}}
	st.entries = make([]*entry, 0, len(db.Entries))
	backing := make([]entry, len(db.Entries)) // one allocation for the entries
	c.names(backing, files)
	for i, e := range db.Entries {
		file, flags := backing[i].file, backing[i].flags
		kws := c.kw[e.Unique]
		var h uint64
		if !fillLater {
			h = stateHash(flags, kws)
		}
		var rec msgModSeq
		if rebuilt {
			rec = msgModSeq{ms.Highest, h}
			if !fillLater {
				ms.Msgs[e.UID] = rec
			}
		} else if old, ok := ms.Msgs[e.UID]; ok && old.State == h {
			rec = old
		} else {
			rec = msgModSeq{next, h}
			ms.Msgs[e.UID] = rec
			bumped = true
		}
		backing[i] = entry{uid: e.UID, unique: e.Unique, file: file, flags: flags, keywords: kws, modseq: rec.ModSeq}
		st.entries = append(st.entries, &backing[i])
	}
	if len(ms.Msgs) != len(st.entries) {
		var gone []uint32
		for uid := range ms.Msgs {
			if _, ok := st.at(uid); !ok {
				gone = append(gone, uid)
			}
		}
		if len(gone) > 0 {
			sortUIDs(gone)
			ms.expunge(gone, next)
			bumped = true
		}
	}
	if bumped {
		ms.Highest = next
	}
	c.index = nil
	return st, bumped
}

// names sets the file and flags of out[i] for the message db.Entries[i],
// files[i] when files is not nil: a message whose file name did not change
// since the last state keeps its parsed flags, the others' names are
// parsed, on two cores when they are many (the first scan of a large
// folder with a UID map parses them all).
func (c *folderCache) names(out []entry, files []listedFile) {
	if files != nil {
		for i, f := range files {
			out[i].file, out[i].flags = f.name, f.flags
		}
		return
	}
	// The last state's entries, ascending UIDs as db's.
	var prev []*entry
	if c.st != nil {
		prev = c.st.entries
	}
	entries := c.db.Entries
	fill := func(lo, hi int) {
		if lo == hi {
			return
		}
		j, _ := slices.BinarySearchFunc(prev, entries[lo].UID, func(e *entry, uid uint32) int { return cmp.Compare(e.uid, uid) })
		for i := lo; i < hi; i++ {
			e := entries[i]
			file := c.files[e.Unique]
			for j < len(prev) && prev[j].uid < e.UID {
				j++
			}
			out[i].file = file
			if j < len(prev) && prev[j].uid == e.UID && prev[j].file == file {
				out[i].flags = prev[j].flags
			} else {
				out[i].flags = maildir.NameFlags(file)
			}
		}
	}
	if len(entries) < 2000 {
		fill(0, len(entries))
		return
	}
	half := len(entries) / 2
	done := make(chan struct{})
	go func() {
		defer close(done)
		fill(half, len(entries))
	}()
	fill(0, half)
	<-done
}

// update makes the state from the last one when only messages were
// renamed (flag changes) or removed by this process (gone, ascending
// UIDs) since; it gives what compute would.
func (c *folderCache) update(gone []uint32) (*state, bool) {
	if len(c.dirty) == 0 && len(gone) == 0 {
		return c.st, false
	}
	ms := c.ms
	next := ms.Highest + 1
	bumped := false
	st := &state{uidValidity: c.st.uidValidity, uidNext: c.st.uidNext, c: c, shared: &sharedMsgs{}}
	// The entries are shared: a changed one is copied.
	if len(gone) == 0 {
		st.entries = slices.Clone(c.st.entries)
	} else {
		st.entries = make([]*entry, 0, len(c.st.entries))
		j := 0
		for _, e := range c.st.entries {
			for j < len(gone) && gone[j] < e.uid {
				j++
			}
			if j < len(gone) && gone[j] == e.uid {
				if c.index != nil {
					delete(c.index, e.unique)
				}
				continue
			}
			st.entries = append(st.entries, e)
		}
		// Expunge and Move record their removals in the store; any
		// left there are recorded now, as compute would.
		var left []uint32
		for _, uid := range gone {
			if _, ok := ms.Msgs[uid]; ok {
				left = append(left, uid)
			}
		}
		if len(left) > 0 {
			ms.expunge(left, next)
			bumped = true
		}
	}
	if len(c.dirty) > 0 && c.index == nil {
		c.index = make(map[string]uint32, len(st.entries))
		for _, e := range st.entries {
			c.index[e.unique] = e.uid
		}
	}
	for u := range c.dirty {
		uid, ok := c.index[u]
		if !ok {
			continue
		}
		i, ok := st.at(uid)
		if !ok {
			continue
		}
		cp := *st.entries[i]
		e := &cp
		st.entries[i] = e
		e.file = c.files[u]
		e.flags = maildir.NameFlags(e.file)
		h := stateHash(e.flags, e.keywords)
		rec, ok := ms.Msgs[e.uid]
		if !ok || rec.State != h {
			rec = msgModSeq{next, h}
			ms.Msgs[e.uid] = rec
			bumped = true
		}
		e.modseq = rec.ModSeq
	}
	if bumped {
		ms.Highest = next
	}
	return st, bumped
}

// writeModSeq writes the store and records its stamp; order is format's.
func (c *folderCache) writeModSeq(order []*entry) error {
	return c.storeModSeq(encodeModSeq(c.ms, order))
}

// storeModSeq writes the store, formatted as f, and records its stamp.
func (c *folderCache) storeModSeq(f modseqFile) error {
	if err := f.write(c.path); err != nil {
		c.ms = nil
		return err
	}
	c.msStamp = statStamp(filepath.Join(c.path, ModSeqFile))
	return nil
}

// sameSlice reports whether a and b are the same slice.
func sameSlice[T any](a, b []T) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

func sameUIDDB(a, b *maildir.UIDDB) bool {
	return a.UIDValidity == b.UIDValidity && a.NextUID == b.NextUID && slices.Equal(a.Entries, b.Entries)
}

func sameKeywords(a, b maildir.Keywords) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !slices.Equal(v, w) {
			return false
		}
	}
	return true
}

// bump gives the messages uids (with their new states) one new modseq,
// records expunged ones, and writes the store. The caller holds the lock.
func (st *state) bump(states map[uint32]uint64, expunged []uint32) error {
	if len(states) == 0 && len(expunged) == 0 {
		return nil
	}
	c := st.c
	if c.ms == nil {
		return errors.New("the modseq store was lost")
	}
	next := c.ms.Highest + 1
	uids := make([]uint32, 0, len(states))
	for uid, h := range states {
		c.ms.Msgs[uid] = msgModSeq{next, h}
		uids = append(uids, uid)
	}
	sortUIDs(uids)
	if len(expunged) > 0 {
		sortUIDs(expunged)
		c.ms.expunge(expunged, next)
	}
	c.ms.Highest = next
	c.pub.Store(nil)
	// The change lines, appended unless the file must be rewritten.
	b := make([]byte, 0, len(uids)*48+len(expunged)*32)
	for _, uid := range uids {
		b = append(b, "= "...)
		b = strconv.AppendUint(b, uint64(uid), 10)
		b = append(b, ' ')
		b = strconv.AppendUint(b, next, 10)
		b = append(b, ' ')
		b = appendState(b, states[uid])
		b = append(b, '\n')
	}
	for _, uid := range expunged {
		b = append(b, "- "...)
		b = strconv.AppendUint(b, uint64(uid), 10)
		b = append(b, ' ')
		b = strconv.AppendUint(b, next, 10)
		b = append(b, '\n')
	}
	ok, err := appendModSeq(c.path, c.ms, b, len(uids)+len(expunged))
	if err != nil {
		c.ms = nil
		return err
	}
	if !ok {
		return c.writeModSeq(st.entries)
	}
	c.msStamp = statStamp(filepath.Join(c.path, ModSeqFile))
	return nil
}

// listDir calls fn with the name of every entry of dir but those starting
// with a dot, until fn returns false; name is valid during the call only.
// The first read asks for a few entries only, so that a caller that stops
// at once has not had the kernel read a large directory.
func listDir(dir string, fn func(name []byte) bool) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	bp := direntBufs.Get().(*[]byte)
	defer direntBufs.Put(bp)
	buf := (*bp)[:4096]
	for {
		n, err := getdents(fd, buf)
		if err != nil {
			return &os.PathError{Op: "getdents", Path: dir, Err: err}
		}
		if n <= 0 {
			return nil
		}
		more := true
		eachDirent(buf[:n], func(name []byte) {
			more = more && fn(name)
		})
		if !more {
			return nil
		}
		buf = *bp
	}
}

// listDirBehind is listDir with fn called on another goroutine while the
// directory is read on: reading a large directory is mostly the kernel's
// work, which leaves the other core free for fn's.
func listDirBehind(dir string, fn func(name string)) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	type chunk struct {
		buf *[]byte
		n   int
	}
	// Two buffers: one read into while the other is parsed.
	free := make(chan *[]byte, 2)
	free <- direntBufs.Get().(*[]byte)
	free <- direntBufs.Get().(*[]byte)
	full := make(chan chunk, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range full {
			// One string of the chunk, whose parts the names are.
			chunk := string((*c.buf)[:c.n])
			free <- c.buf
			eachDirent(chunk, fn)
		}
	}()
	for {
		bp := <-free
		n, gerr := getdents(fd, *bp)
		if gerr != nil || n <= 0 {
			free <- bp
			if gerr != nil {
				err = &os.PathError{Op: "getdents", Path: dir, Err: gerr}
			}
			break
		}
		full <- chunk{bp, n}
	}
	close(full)
	<-done
	direntBufs.Put(<-free)
	direntBufs.Put(<-free)
	return err
}

// getdents is unix.Getdents, retried when interrupted.
func getdents(fd int, buf []byte) (int, error) {
	for {
		n, err := unix.Getdents(fd, buf)
		if err != unix.EINTR {
			return n, err
		}
	}
}

// eachDirent calls fn with the name of every entry of buf, what
// getdents64 returned, but those starting with a dot.
func eachDirent[T string | []byte](buf T, fn func(name T)) {
	for off := 0; off+19 <= len(buf); {
		reclen := int(binary.NativeEndian.Uint16([]byte{buf[off+16], buf[off+17]}))
		if reclen == 0 || off+reclen > len(buf) {
			return
		}
		name := buf[off+19 : off+reclen]
		for i := 0; i < len(name); i++ {
			if name[i] == 0 {
				name = name[:i]
				break
			}
		}
		off += reclen
		if len(name) == 0 || name[0] == '.' {
			continue
		}
		fn(name)
	}
}

var direntBufs = sync.Pool{New: func() any { b := make([]byte, 128*1024); return &b }}

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
