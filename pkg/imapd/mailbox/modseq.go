package mailbox

import (
	"bytes"
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

	"github.com/gocourier/courier/pkg/maildir"
)

// ModSeqFile is our CONDSTORE/QRESYNC store (RFC 7162), one per maildir
// directory next to courierimapuiddb. Courier's imapd has none and ignores
// it. Format (all numbers decimal, one space between fields):
//
//	courierimapmodseq 2 <uidvalidity> <highestmodseq> <floor> <boot>
//	<uid> <modseq> <state>            one line per message, ascending UIDs
//	x <uid> <modseq>                  one line per expunged UID, ascending modseq
//	= <uid> <modseq> <state>          appended: a message changed
//	- <uid> <modseq>                  appended: a message expunged
//
// <state> is 16 lower-case hex digits, the FNV-1a hash of the message's
// flag letters and keywords when it got <modseq>: a scan that finds another
// state (a change made by Courier's imapd, or by hand) gives the message a
// new modseq. Expunged UIDs are kept for VANISHED (RFC 7162 §3.2.5.1), at
// most maxExpunged of them; <floor> is the highest modseq of those already
// forgotten, so VANISHED is exact for modseqs at or above it.
//
// A change (STORE, EXPUNGE) is appended to the file under the folder
// lock, as "=" and "-" lines with modseqs above <highestmodseq> and none
// below the one before, rather than rewriting a line per message of the
// folder; the file is rewritten whole (through tmp/ and rename, under the
// lock) when the appended lines grow past maxJournal or half the messages,
// and whenever a scan finds changes. It is not fsynced (every STORE would
// wait for the disk): <boot> is the kernel's boot_id when it was written
// whole, and a file written before the last boot, or ending in part of a
// line, may be an older version that a crash brought back, so it is
// trusted only so far: the highest modseq is raised to the clock (see
// below) and the floor to it, so that no modseq is handed out twice and
// VANISHED answers a superset. Version 1 files (without <boot>, nothing
// appended) were fsynced and are trusted; they are also written, fsynced,
// where the boot_id cannot be read. A missing or damaged file, or one for
// another UIDVALIDITY, is rebuilt: every message gets one new modseq taken
// from the clock (microseconds since 1970, well above any count of changes
// made before), and the floor is set to it.
const ModSeqFile = "courierimapmodseq"

const (
	modseqMagic = "courierimapmodseq"
	maxJournal  = 2000 // appended lines, at least, before a rewrite
	maxExpunged = 10000
	maxModSeq   = 1<<63 - 1 // RFC 7162 §7: mod-sequence values are 63-bit
)

type msgModSeq struct {
	ModSeq uint64
	State  uint64
}

type expungedUID struct {
	UID    uint32
	ModSeq uint64
}

// modseqDB is the content of courierimapmodseq.
type modseqDB struct {
	UIDValidity uint32
	Highest     uint64
	Floor       uint64
	Msgs        map[uint32]msgModSeq
	Expunged    []expungedUID
	Boot        string // the boot_id of the writer, "" in version 1
	journal     int    // changes appended since the file was last written whole
}

// bootID is the kernel's boot_id, "" when it cannot be read (the store is
// then fsynced).
var bootID = sync.OnceValue(func() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	id := strings.TrimSpace(string(b))
	if !validBoot(id) {
		return ""
	}
	return id
})

// validBoot reports whether id can be the <boot> field.
func validBoot(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c == '-') {
			return false
		}
	}
	return true
}

// parseModSeq parses a courierimapmodseq file.
func parseModSeq(file string, data []byte) (*modseqDB, error) {
	if len(data) == 0 {
		return nil, &maildir.ParseError{File: file, Line: 1, Msg: "empty file"}
	}
	if data[len(data)-1] != '\n' {
		return nil, &maildir.ParseError{File: file, Line: bytes.Count(data, []byte{'\n'}) + 1, Msg: "last line is not terminated by a newline (truncated file?)"}
	}
	lines := strings.Split(string(data[:len(data)-1]), "\n")
	head := strings.Split(lines[0], " ")
	if len(head) < 2 || head[0] != modseqMagic {
		return nil, &maildir.ParseError{File: file, Line: 1, Msg: fmt.Sprintf("want %q, have %q", modseqMagic+" 2 <uidvalidity> <highestmodseq> <floor> <boot>", lines[0])}
	}
	db := &modseqDB{Msgs: map[uint32]msgModSeq{}}
	switch {
	case head[1] == "1" && len(head) == 5:
	case head[1] == "2" && len(head) == 6 && validBoot(head[5]):
		db.Boot = head[5]
	case head[1] == "1" || head[1] == "2":
		return nil, &maildir.ParseError{File: file, Line: 1, Msg: fmt.Sprintf("want %q, have %q", modseqMagic+" 2 <uidvalidity> <highestmodseq> <floor> <boot>", lines[0])}
	default:
		return nil, &maildir.ParseError{File: file, Line: 1, Msg: fmt.Sprintf("version %q is not supported (want 1 or 2)", head[1])}
	}
	uidv, err := parseNumber(head[2], 1<<32-1)
	if err != nil {
		return nil, &maildir.ParseError{File: file, Line: 1, Msg: "uidvalidity: " + err.Error()}
	}
	db.UIDValidity = uint32(uidv)
	if db.Highest, err = parseNumber(head[3], maxModSeq); err != nil || db.Highest == 0 {
		return nil, &maildir.ParseError{File: file, Line: 1, Msg: fmt.Sprintf("highest modseq %q is not a number from 1 to %d", head[3], uint64(maxModSeq))}
	}
	if db.Floor, err = parseNumber(head[4], db.Highest); err != nil {
		return nil, &maildir.ParseError{File: file, Line: 1, Msg: "floor: " + err.Error()}
	}
	var lastUID uint32
	headHighest, journal := db.Highest, false
	for i, line := range lines[1:] {
		n := i + 2
		f := strings.Split(line, " ")
		if f[0] == "=" || f[0] == "-" {
			// An appended change.
			if db.Boot == "" {
				return nil, &maildir.ParseError{File: file, Line: n, Msg: "appended change in a version 1 file"}
			}
			if f[0] == "=" && len(f) != 4 || f[0] == "-" && len(f) != 3 {
				return nil, &maildir.ParseError{File: file, Line: n, Msg: fmt.Sprintf("want \"= <uid> <modseq> <state>\" or \"- <uid> <modseq>\", have %q", line)}
			}
			uid, err := parseNumber(f[1], 1<<32-1)
			if err != nil || uid == 0 {
				return nil, &maildir.ParseError{File: file, Line: n, Msg: fmt.Sprintf("uid %q is not a number from 1 to 4294967295", f[1])}
			}
			ms, err := parseNumber(f[2], maxModSeq)
			if err != nil || ms <= headHighest || ms < db.Highest {
				return nil, &maildir.ParseError{File: file, Line: n, Msg: fmt.Sprintf("modseq %q is not above the highest modseq %d of the file, or below the one before it", f[2], headHighest)}
			}
			if f[0] == "-" {
				delete(db.Msgs, uint32(uid))
				db.Expunged = append(db.Expunged, expungedUID{uint32(uid), ms})
			} else {
				state, err := parseState(f[3])
				if err != nil {
					return nil, &maildir.ParseError{File: file, Line: n, Msg: err.Error()}
				}
				db.Msgs[uint32(uid)] = msgModSeq{ms, state}
			}
			db.Highest, journal = ms, true
			db.journal++
			continue
		}
		if journal {
			return nil, &maildir.ParseError{File: file, Line: n, Msg: "line after the appended changes"}
		}
		if len(f) != 3 {
			return nil, &maildir.ParseError{File: file, Line: n, Msg: fmt.Sprintf("want \"<uid> <modseq> <state>\" or \"x <uid> <modseq>\", have %q", line)}
		}
		if f[0] == "x" {
			uid, err := parseNumber(f[1], 1<<32-1)
			if err != nil || uid == 0 {
				return nil, &maildir.ParseError{File: file, Line: n, Msg: fmt.Sprintf("uid %q is not a number from 1 to 4294967295", f[1])}
			}
			ms, err := parseNumber(f[2], db.Highest)
			if err != nil || ms == 0 {
				return nil, &maildir.ParseError{File: file, Line: n, Msg: fmt.Sprintf("modseq %q is not a number from 1 to the highest modseq %d", f[2], db.Highest)}
			}
			if k := len(db.Expunged); k > 0 && ms < db.Expunged[k-1].ModSeq {
				return nil, &maildir.ParseError{File: file, Line: n, Msg: fmt.Sprintf("modseq %d is below the one before it", ms)}
			}
			db.Expunged = append(db.Expunged, expungedUID{uint32(uid), ms})
			continue
		}
		if len(db.Expunged) > 0 {
			return nil, &maildir.ParseError{File: file, Line: n, Msg: "message line after the expunged UIDs"}
		}
		uid, err := parseNumber(f[0], 1<<32-1)
		if err != nil || uid == 0 {
			return nil, &maildir.ParseError{File: file, Line: n, Msg: fmt.Sprintf("uid %q is not a number from 1 to 4294967295", f[0])}
		}
		if uint32(uid) <= lastUID {
			return nil, &maildir.ParseError{File: file, Line: n, Msg: fmt.Sprintf("uid %d does not follow uid %d", uid, lastUID)}
		}
		lastUID = uint32(uid)
		ms, err := parseNumber(f[1], db.Highest)
		if err != nil || ms == 0 {
			return nil, &maildir.ParseError{File: file, Line: n, Msg: fmt.Sprintf("modseq %q is not a number from 1 to the highest modseq %d", f[1], db.Highest)}
		}
		state, err := parseState(f[2])
		if err != nil {
			return nil, &maildir.ParseError{File: file, Line: n, Msg: err.Error()}
		}
		db.Msgs[uint32(uid)] = msgModSeq{ms, state}
	}
	db.trimExpunged()
	return db, nil
}

// parseState parses a <state>: 16 lower-case hex digits.
func parseState(s string) (uint64, error) {
	if len(s) != 16 {
		return 0, fmt.Errorf("state %q is not 16 hex digits", s)
	}
	state, err := strconv.ParseUint(s, 16, 64)
	if err != nil || strings.ToLower(s) != s {
		return 0, fmt.Errorf("state %q is not 16 lower-case hex digits", s)
	}
	return state, nil
}

// parseNumber parses a decimal number from 0 to limit, digits only.
func parseNumber(s string, limit uint64) (uint64, error) {
	if s == "" || len(s) > 20 {
		return 0, fmt.Errorf("%q is not a decimal number", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%q is not a decimal number", s)
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v > limit {
		return 0, fmt.Errorf("%q is above %d", s, limit)
	}
	return v, nil
}

// format writes the file content. order, when it holds exactly the
// messages' UIDs (a state's entries: ascending, distinct), spares
// sorting them.
func (db *modseqDB) format(order []*entry) []byte {
	b := make([]byte, 0, 64+len(db.Msgs)*40+len(db.Expunged)*32)
	if db.Boot == "" {
		b = fmt.Appendf(b, "%s 1 %d %d %d\n", modseqMagic, db.UIDValidity, db.Highest, db.Floor)
	} else {
		b = fmt.Appendf(b, "%s 2 %d %d %d %s\n", modseqMagic, db.UIDValidity, db.Highest, db.Floor, db.Boot)
	}
	head, ordered := len(b), len(order) == len(db.Msgs)
	if ordered {
		b, ordered = db.appendOrdered(b, order)
	}
	if !ordered {
		b = b[:head]
		uids := make([]uint32, 0, len(db.Msgs))
		for uid := range db.Msgs {
			uids = append(uids, uid)
		}
		slices.Sort(uids)
		for _, uid := range uids {
			b = appendMsgLine(b, uid, db.Msgs[uid])
		}
	}
	for _, e := range db.Expunged {
		b = append(b, "x "...)
		b = strconv.AppendUint(b, uint64(e.UID), 10)
		b = append(b, ' ')
		b = strconv.AppendUint(b, e.ModSeq, 10)
		b = append(b, '\n')
	}
	return b
}

// appendOrdered appends the message lines of the messages order, false
// when one of them is not in db.Msgs. A large folder's second half is
// formatted on the other core meanwhile (a first SELECT waits for it).
func (db *modseqDB) appendOrdered(b []byte, order []*entry) ([]byte, bool) {
	lines := func(b []byte, order []*entry) ([]byte, bool) {
		for _, e := range order {
			m, ok := db.Msgs[e.uid]
			if !ok {
				return b, false
			}
			b = appendMsgLine(b, e.uid, m)
		}
		return b, true
	}
	if len(order) < 4096 {
		return lines(b, order)
	}
	half := len(order) / 2
	var second []byte
	var ok2 bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		second, ok2 = lines(make([]byte, 0, (len(order)-half)*40), order[half:])
	}()
	b, ok := lines(b, order[:half])
	<-done
	return append(b, second...), ok && ok2
}

// appendMsgLine appends the line "<uid> <modseq> <state>".
func appendMsgLine(b []byte, uid uint32, m msgModSeq) []byte {
	b = strconv.AppendUint(b, uint64(uid), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, m.ModSeq, 10)
	b = append(b, ' ')
	b = appendState(b, m.State)
	return append(b, '\n')
}

// newModSeqDB starts a store for a folder whose history is unknown: the
// first modseq comes from the clock, above every modseq handed out before
// (those grew by one per change from an earlier clock reading), and above
// salvaged, the highest modseq a damaged file still showed.
func newModSeqDB(uidValidity uint32, salvaged uint64) *modseqDB {
	base := uint64(time.Now().UnixMicro())
	if salvaged >= base {
		base = salvaged + 1
	}
	return &modseqDB{UIDValidity: uidValidity, Highest: base, Floor: base, Msgs: map[uint32]msgModSeq{}}
}

// fill puts the messages of a rebuilt store in, all at its highest modseq
// (compute's fillLater).
func (db *modseqDB) fill(entries []*entry) {
	if len(db.Msgs) == 0 {
		db.Msgs = make(map[uint32]msgModSeq, len(entries))
	}
	for _, e := range entries {
		db.Msgs[e.uid] = msgModSeq{db.Highest, stateHash(e.flags, e.keywords)}
	}
}

// salvageHighest reads the highest modseq from the first line of a
// damaged file, 0 if even that is unreadable.
func salvageHighest(data []byte) uint64 {
	line, _, _ := bytes.Cut(data, []byte{'\n'})
	f := strings.Split(string(line), " ")
	if len(f) < 4 {
		return 0
	}
	v, err := parseNumber(f[3], maxModSeq)
	if err != nil {
		return 0
	}
	return v
}

// expunge records uids as expunged at modseq, forgetting the oldest
// records beyond maxExpunged.
func (db *modseqDB) expunge(uids []uint32, modseq uint64) {
	// The slice is replaced, not changed: scans hand it out.
	db.Expunged = slices.Clip(db.Expunged)
	for _, uid := range uids {
		delete(db.Msgs, uid)
		db.Expunged = append(db.Expunged, expungedUID{uid, modseq})
	}
	db.trimExpunged()
}

// trimExpunged forgets the oldest expunged UIDs beyond maxExpunged.
func (db *modseqDB) trimExpunged() {
	if over := len(db.Expunged) - maxExpunged; over > 0 {
		db.Floor = max(db.Floor, db.Expunged[over-1].ModSeq)
		db.Expunged = append([]expungedUID(nil), db.Expunged[over:]...)
	}
}

// appendState appends a <state>: 16 lower-case hex digits.
func appendState(b []byte, state uint64) []byte {
	const hex = "0123456789abcdef"
	var d [16]byte
	for i := range d {
		d[i] = hex[state>>(60-4*uint(i))&0xf]
	}
	return append(b, d[:]...)
}

// readModSeq loads the store of dir for uidValidity; a new one (and
// rebuilt true) when the file is missing, damaged, or belongs to another
// UIDVALIDITY. adopted says that the file was written before this boot
// and its highest modseq and floor were raised (see ModSeqFile): the
// caller writes it back.
func readModSeq(dir string, uidValidity uint32) (db *modseqDB, rebuilt, adopted bool, err error) {
	p := filepath.Join(dir, ModSeqFile)
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return newModSeqDB(uidValidity, 0), true, false, nil
	}
	if err != nil {
		return nil, false, false, fmt.Errorf("cannot read %s: %w", p, err)
	}
	// A change being appended when the system went down may have left
	// part of a line: the file is read without it, and trusted only so
	// far (as one from before the boot).
	partial := false
	if i := bytes.LastIndexByte(data, '\n'); i >= 0 && i < len(data)-1 && bytes.HasPrefix(data, []byte(modseqMagic+" 2 ")) {
		data, partial = data[:i+1], true
	}
	db, perr := parseModSeq(p, data)
	if perr != nil {
		return newModSeqDB(uidValidity, salvageHighest(data)), true, false, nil
	}
	if db.UIDValidity != uidValidity {
		return newModSeqDB(uidValidity, db.Highest), true, false, nil
	}
	if partial || db.Boot != "" && db.Boot != bootID() {
		db.Highest = max(db.Highest, min(uint64(time.Now().UnixMicro()), maxModSeq-1))
		db.Floor, db.Expunged = db.Highest, nil
		adopted = true
	}
	return db, false, adopted, nil
}

// modseqFile is a store formatted for writing whole (encodeModSeq).
type modseqFile struct {
	data []byte
	sync bool
}

// encodeModSeq formats db to replace its file: unsynced, with this boot's
// id, when the boot_id is known, else synced in version 1. order is
// format's.
func encodeModSeq(db *modseqDB, order []*entry) modseqFile {
	db.Boot, db.journal = bootID(), 0
	return modseqFile{db.format(order), db.Boot == ""}
}

// write replaces the store of dir with f.
func (f modseqFile) write(dir string) error {
	if f.sync {
		return maildir.WriteFile(dir, ModSeqFile, f.data, 0o600)
	}
	return maildir.WriteFileUnsynced(dir, ModSeqFile, f.data, 0o600)
}

// appendModSeq appends to the store of dir, which holds db but for the
// change lines (n of them): the caller holds the lock and knows the file
// to be db's. It reports false when the file must be rewritten whole
// instead (a version 1 file, too many lines appended, no file).
func appendModSeq(dir string, db *modseqDB, lines []byte, n int) (bool, error) {
	if db.Boot == "" || db.Boot != bootID() || db.journal+n > max(maxJournal, len(db.Msgs)/2) {
		return false, nil
	}
	p := filepath.Join(dir, ModSeqFile)
	fd, err := unix.Open(p, unix.O_WRONLY|unix.O_APPEND|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err == unix.ENOENT {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("cannot append to %s: %w", p, err)
	}
	defer unix.Close(fd)
	for len(lines) > 0 {
		k, err := unix.Write(fd, lines)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("cannot append to %s: %w", p, err)
		}
		lines = lines[k:]
	}
	db.journal += n
	return true, nil
}

// stateHash is the <state> of a message: its flag letters and keywords.
// It is FNV-1a written out: a scan hashes every message, and hash/fnv
// allocates a hasher a call.
func stateHash(flags maildir.Flags, keywords []string) uint64 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	add := func(s string) {
		for i := 0; i < len(s); i++ {
			h = (h ^ uint64(s[i])) * prime
		}
	}
	add(string(flags))
	for _, k := range keywords {
		h *= prime // the NUL between fields: h ^ 0 is h
		add(k)
	}
	return h
}
