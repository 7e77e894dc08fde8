package maildir

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// UIDDBFile is the IMAP UID map of a maildir directory (spec/maildir.md §4).
const UIDDBFile = "courierimapuiddb"

// uidEpoch is subtracted from the clock to make a UIDVALIDITY, as Courier's
// imapd does (imapscanclient.c IMAP_EPOCH).
const uidEpoch = 1000000000

// UIDDB is the content of courierimapuiddb:
//
//	1 <uidvalidity> <next uid>
//	<uid> <unique name>
//	...
//
// one line per message of cur/, sorted by UID, with the ":2,<flags>" info
// left out (imapscanclient.c). Courier's imapd and ours both keep it, so it
// must be exactly this.
type UIDDB struct {
	UIDValidity uint32
	NextUID     uint32
	Entries     []UIDEntry // ascending UIDs
}

// UIDEntry is one message of the UID map.
type UIDEntry struct {
	UID    uint32
	Unique string // the file name before ":2,"
}

// NewUIDValidity returns the UIDVALIDITY Courier gives a new UID map made
// at time t.
func NewUIDValidity(t time.Time) uint32 { return uint32(t.Unix() - uidEpoch) }

// ParseUIDDB parses a courierimapuiddb file. Courier's imapd rebuilds the
// map (with a new UIDVALIDITY) when the first line is not version 1; this
// parser reports that, and every other flaw, as an error with the line.
func ParseUIDDB(file string, data []byte) (*UIDDB, error) {
	if len(data) == 0 {
		return nil, &ParseError{file, 1, "empty file"}
	}
	if data[len(data)-1] != '\n' {
		return nil, &ParseError{file, bytes.Count(data, []byte{'\n'}) + 1, "last line is not terminated by a newline (truncated file?)"}
	}
	lines := strings.Split(string(data[:len(data)-1]), "\n")
	head := strings.Split(lines[0], " ")
	if len(head) != 3 {
		return nil, &ParseError{file, 1, fmt.Sprintf("want \"1 <uidvalidity> <nextuid>\", have %q", lines[0])}
	}
	if head[0] != "1" {
		return nil, &ParseError{file, 1, fmt.Sprintf("version %q is not supported (want 1)", head[0])}
	}
	db := &UIDDB{}
	var err error
	if db.UIDValidity, err = parseUID(head[1]); err != nil {
		return nil, &ParseError{file, 1, "uidvalidity: " + err.Error()}
	}
	if db.NextUID, err = parseUID(head[2]); err != nil || db.NextUID == 0 {
		return nil, &ParseError{file, 1, fmt.Sprintf("next uid %q is not a number from 1 to 4294967295", head[2])}
	}
	seen := map[string]bool{}
	for i, line := range lines[1:] {
		n := i + 2
		uidText, name, ok := strings.Cut(line, " ")
		if !ok {
			return nil, &ParseError{file, n, fmt.Sprintf("want \"<uid> <filename>\", have %q", line)}
		}
		uid, err := parseUID(uidText)
		if err != nil || uid == 0 {
			return nil, &ParseError{file, n, fmt.Sprintf("uid %q is not a number from 1 to 4294967295", uidText)}
		}
		if uid >= db.NextUID {
			return nil, &ParseError{file, n, fmt.Sprintf("uid %d is not below the next uid %d", uid, db.NextUID)}
		}
		if len(db.Entries) > 0 && uid <= db.Entries[len(db.Entries)-1].UID {
			return nil, &ParseError{file, n, fmt.Sprintf("uid %d does not follow uid %d", uid, db.Entries[len(db.Entries)-1].UID)}
		}
		if name == "" || strings.ContainsAny(name, "/:\x00") {
			return nil, &ParseError{file, n, fmt.Sprintf("%q is not a message file name without info", name)}
		}
		if seen[name] {
			return nil, &ParseError{file, n, fmt.Sprintf("%s is listed twice", name)}
		}
		seen[name] = true
		db.Entries = append(db.Entries, UIDEntry{uid, name})
	}
	return db, nil
}

func parseUID(s string) (uint32, error) {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, fmt.Errorf("%q is not a decimal number", s)
	}
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is not a 32-bit decimal number", s)
	}
	return uint32(v), nil
}

// Format writes the file content.
func (db *UIDDB) Format() []byte {
	n := 32
	for _, e := range db.Entries {
		n += 12 + len(e.Unique)
	}
	b := make([]byte, 0, n)
	b = fmt.Appendf(b, "1 %d %d\n", db.UIDValidity, db.NextUID)
	for _, e := range db.Entries {
		b = strconv.AppendUint(b, uint64(e.UID), 10)
		b = append(b, ' ')
		b = append(b, e.Unique...)
		b = append(b, '\n')
	}
	return b
}

// ReadUIDDB reads the UID map of d; nil, nil when there is none.
func (d *Dir) ReadUIDDB() (*UIDDB, error) { return d.ReadUIDDBAgain(nil) }

// ReadUIDDBAgain is ReadUIDDB for a caller holding have, the map as it
// last read or wrote it (or nil): when the file holds exactly
// have.Format(), it returns have itself, without parsing the file again
// (a third of the time of a 10,000-message map's parse, which allocates
// every line).
func (d *Dir) ReadUIDDBAgain(have *UIDDB) (*UIDDB, error) {
	p := filepath.Join(d.Path, UIDDBFile)
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if have != nil && have.formats(data) {
		return have, nil
	}
	return ParseUIDDB(p, data)
}

// formats reports whether data is db.Format().
func (db *UIDDB) formats(data []byte) bool {
	var b [32]byte
	line := fmt.Appendf(b[:0], "1 %d %d\n", db.UIDValidity, db.NextUID)
	if !bytes.HasPrefix(data, line) {
		return false
	}
	data = data[len(line):]
	for _, e := range db.Entries {
		line = strconv.AppendUint(b[:0], uint64(e.UID), 10)
		line = append(line, ' ')
		if !bytes.HasPrefix(data, line) {
			return false
		}
		data = data[len(line):]
		if len(data) <= len(e.Unique) || string(data[:len(e.Unique)]) != e.Unique || data[len(e.Unique)] != '\n' {
			return false
		}
		data = data[len(e.Unique)+1:]
	}
	return len(data) == 0
}

// WriteUIDDB replaces the UID map of d: a file in tmp/ (named as Courier
// names it, "_imapuid_<n>") renamed over courierimapuiddb.
func (d *Dir) WriteUIDDB(db *UIDDB) error { return d.writeUIDDB(db, true) }

// WriteUIDDBUnsynced is WriteUIDDB without the fsync, for a map that gave
// out no new UID since the last synced write (only gone messages were
// dropped): a crash that undoes it loses nothing, the next scan drops
// them again.
func (d *Dir) WriteUIDDBUnsynced(db *UIDDB) error { return d.writeUIDDB(db, false) }

// SyncUIDDB makes the UID map written by WriteUIDDBUnsynced durable: the
// file and the directory that names it.
func (d *Dir) SyncUIDDB() error {
	p := filepath.Join(d.Path, UIDDBFile)
	f, err := os.Open(p)
	if err == nil {
		err = f.Sync()
		f.Close()
	}
	if err == nil {
		err = syncDir(d.Path)
	}
	if err != nil {
		return fmt.Errorf("cannot make the IMAP uid map %s durable: %w", p, err)
	}
	return nil
}

func (d *Dir) writeUIDDB(db *UIDDB, sync bool) error {
	p := filepath.Join(d.Path, UIDDBFile)
	if err := writeViaTmp(d.Path, "imapuid_"+strconv.FormatUint(collisions.Add(1), 10), p, db.Format(), 0o644, sync); err != nil {
		return fmt.Errorf("cannot write the IMAP uid map %s: %w", p, err)
	}
	return nil
}

// Sync brings the map up to date with the messages now in the maildir,
// the way Courier's imapd does when it opens a folder
// (imapscanclient.c): messages no longer present are dropped, the others
// keep their UIDs, and new ones get the next UIDs in the order of their
// names (delivery order). present lists unique names (info is ignored).
// It returns the entries that got new UIDs. When the 32-bit UID space runs
// out it changes nothing and fails: the map must be rebuilt with a new
// UIDVALIDITY.
func (db *UIDDB) Sync(present []string) ([]UIDEntry, error) {
	var kept []UIDEntry
	var fresh []string
	if len(db.Entries) == 0 {
		// A new map (the first SELECT of a folder): every name is new.
		fresh = make([]string, len(present))
		for i, p := range present {
			fresh[i], _, _ = strings.Cut(p, ":")
		}
		// A caller may have sorted them (SortedByUnique).
		if !slices.IsSorted(fresh) {
			fresh = SortedByUnique(fresh, itself)
		}
		fresh = slices.Compact(fresh)
	} else {
		here := make(map[string]bool, len(present))
		for _, p := range present {
			if i := strings.IndexByte(p, ':'); i >= 0 {
				p = p[:i]
			}
			here[p] = true
		}
		for _, e := range db.Entries {
			if here[e.Unique] {
				kept = append(kept, e)
				delete(here, e.Unique)
			}
		}
		fresh = make([]string, 0, len(here))
		for name := range here {
			fresh = append(fresh, name)
		}
		fresh = SortedByUnique(fresh, itself)
	}
	if uint64(db.NextUID)+uint64(len(fresh)) > 1<<32-1 {
		return nil, ErrUIDsExhausted
	}
	db.Entries = slices.Grow(kept, len(fresh))
	var added []UIDEntry
	if len(fresh) > 0 {
		added = make([]UIDEntry, 0, len(fresh))
	}
	for _, name := range fresh {
		e := UIDEntry{db.NextUID, name}
		db.NextUID++
		db.Entries = append(db.Entries, e)
		added = append(added, e)
	}
	return added, nil
}

// SyncNew is Sync for a new map (no entries) and a listing whose unique
// parts, unique(item), are sorted (SortedByUnique) and distinct: the items
// get the next UIDs in their order, without Sync's checks of order and
// duplicates and without its copies of the names (a first SELECT of a
// large folder). It returns the first UID given out; the others follow it.
func SyncNew[T any](db *UIDDB, items []T, unique func(T) string) (uint32, error) {
	if len(db.Entries) > 0 {
		return 0, errors.New("SyncNew on a map with entries")
	}
	if uint64(db.NextUID)+uint64(len(items)) > 1<<32-1 {
		return 0, ErrUIDsExhausted
	}
	first := db.NextUID
	db.Entries = make([]UIDEntry, len(items))
	for i, it := range items {
		db.Entries[i] = UIDEntry{db.NextUID, unique(it)}
		db.NextUID++
	}
	return first, nil
}

// SortedByUnique returns items sorted by the unique parts (before the
// first ':') of their message file names, name(item), the order in which
// Sync gives new messages their UIDs; items with the same unique part keep
// their order. items is left as it was. Message names share
// long prefixes, which make comparing them as strings slow: the first 16
// bytes of the unique parts, as two integers, are radix sorted (skipping
// the bytes all names share), and only names alike in those are compared
// as strings. A comparison sort of a first Sync's 10,000 names took four
// times as long.
func SortedByUnique[T any](items []T, name func(T) string) []T {
	byUnique := func(a, b T) int { return strings.Compare(uniquePart(name(a)), uniquePart(name(b))) }
	if len(items) < 64 {
		sorted := slices.Clone(items)
		slices.SortStableFunc(sorted, byUnique)
		return sorted
	}
	bufs := sortKeyBufs.Get().(*[2][]sortKey)
	if len(items) <= maxPooledKeys {
		defer sortKeyBufs.Put(bufs)
	}
	for i := range bufs {
		if cap(bufs[i]) < len(items) {
			bufs[i] = make([]sortKey, len(items))
		}
	}
	keys := bufs[0][:len(items)]
	var diff [2]uint64 // the bits in which some key differs from the first
	for i, it := range items {
		u := uniquePart(name(it))
		keys[i] = sortKey{[2]uint64{prefix8(u, 0), prefix8(u, 8)}, i}
		diff[0] |= keys[i].k[0] ^ keys[0].k[0]
		diff[1] |= keys[i].k[1] ^ keys[0].k[1]
	}
	// Least significant byte first, each pass stable.
	tmp := bufs[1][:len(items)]
	for pos := 15; pos >= 0; pos-- {
		w, shift := pos/8, uint(7-pos%8)*8
		if diff[w]>>shift&0xff == 0 {
			continue
		}
		var count [256]int
		for i := range keys {
			count[keys[i].k[w]>>shift&0xff]++
		}
		at := 0
		for b, n := range count {
			count[b] = at
			at += n
		}
		for i := range keys {
			b := keys[i].k[w] >> shift & 0xff
			tmp[count[b]] = keys[i]
			count[b]++
		}
		keys, tmp = tmp, keys
	}
	sorted := make([]T, len(items))
	for i := range keys {
		sorted[i] = items[keys[i].i]
	}
	for i := 0; i < len(keys); {
		j := i + 1
		for j < len(keys) && keys[j].k == keys[i].k {
			j++
		}
		if j-i > 1 {
			slices.SortStableFunc(sorted[i:j], byUnique)
		}
		i = j
	}
	return sorted
}

// sortKey is SortedByUnique's key of a name: its first 16 bytes as two
// big-endian integers, and its index; no pointers, so that moving the
// keys needs no write barriers.
type sortKey struct {
	k [2]uint64
	i int
}

// sortKeyBufs keeps SortedByUnique's two key arrays for the next sort
// rather than have it take fresh memory (page faults) each time, up to
// maxPooledKeys keys (3 MiB an array).
var sortKeyBufs = sync.Pool{New: func() any { return new([2][]sortKey) }}

const maxPooledKeys = 1 << 17

func itself(s string) string { return s }

// uniquePart is the unique part of a message file name.
func uniquePart(name string) string {
	if i := strings.IndexByte(name, ':'); i >= 0 {
		return name[:i]
	}
	return name
}

// prefix8 is the 8 bytes of s from at, big-endian, padded with zeros.
func prefix8(s string, at int) uint64 {
	if len(s) >= at+8 {
		return binary.BigEndian.Uint64([]byte(s[at : at+8]))
	}
	var v uint64
	for i := at; i < at+8; i++ {
		v <<= 8
		if i < len(s) {
			v |= uint64(s[i])
		}
	}
	return v
}

// ErrUIDsExhausted means a folder has used up its 32-bit UIDs.
var ErrUIDsExhausted = errors.New("the IMAP uids of this folder are used up; rebuild its uid map with a new UIDVALIDITY")

// WriteFile replaces the file name of the maildir directory dir with
// content the way Courier replaces its own files there: written into tmp/,
// fsynced, renamed into place. The IMAP server keeps its MODSEQ store and
// the subscriptions with it.
func WriteFile(dir, name string, content []byte, mode os.FileMode) error {
	return writeFile(dir, name, content, mode, true)
}

// WriteFileUnsynced is WriteFile without the fsync: the replacement is
// atomic, but a crash may bring back the file's former content (or none),
// which its owner must detect and repair.
func WriteFileUnsynced(dir, name string, content []byte, mode os.FileMode) error {
	return writeFile(dir, name, content, mode, false)
}

func writeFile(dir, name string, content []byte, mode os.FileMode, sync bool) error {
	p := filepath.Join(dir, name)
	if err := writeViaTmp(dir, name, p, content, mode, sync); err != nil {
		return fmt.Errorf("cannot write %s: %w", p, err)
	}
	return nil
}

// writeViaTmp writes content to a new file in dir's tmp/ (a Courier-style
// name with the given uniq part), fsyncs it when sync is set and renames
// it to dst.
func writeViaTmp(dir, uniq, dst string, content []byte, mode os.FileMode, sync bool) error {
	var f *os.File
	var tmp string
	var err error
	for attempt := 0; attempt < 100; attempt++ {
		tmp = filepath.Join(dir, "tmp", newNameParts(time.Now(), uniq).tmpName(0))
		f, err = os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY|unix.O_NOFOLLOW, mode)
		if !errors.Is(err, os.ErrExist) {
			break
		}
		uniq += "_" + strconv.FormatUint(collisions.Add(1), 10)
	}
	if err != nil {
		return err
	}
	_, err = f.Write(content)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
