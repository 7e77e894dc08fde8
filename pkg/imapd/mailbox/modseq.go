package mailbox

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gocourier/courier/pkg/maildir"
)

// ModSeqFile is our CONDSTORE/QRESYNC store (RFC 7162), one per maildir
// directory next to courierimapuiddb. Courier's imapd has none and ignores
// it. Format (all numbers decimal, one space between fields):
//
//	courierimapmodseq 1 <uidvalidity> <highestmodseq> <floor>
//	<uid> <modseq> <state>            one line per message, ascending UIDs
//	x <uid> <modseq>                  one line per expunged UID, ascending modseq
//
// <state> is 16 lower-case hex digits, the FNV-1a hash of the message's
// flag letters and keywords when it got <modseq>: a scan that finds another
// state (a change made by Courier's imapd, or by hand) gives the message a
// new modseq. Expunged UIDs are kept for VANISHED (RFC 7162 §3.2.5.1), at
// most maxExpunged of them; <floor> is the highest modseq of those already
// forgotten, so VANISHED is exact for modseqs at or above it.
//
// The file is rewritten through tmp/ and rename under the folder lock, and
// fsynced, so that a modseq once handed out is never handed out again. A
// missing or damaged file, or one for another UIDVALIDITY, is rebuilt:
// every message gets one new modseq taken from the clock (microseconds
// since 1970, well above any count of changes made before), and the floor
// is set to it.
const ModSeqFile = "courierimapmodseq"

const (
	modseqMagic = "courierimapmodseq"
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
	if len(head) != 5 || head[0] != modseqMagic {
		return nil, &maildir.ParseError{File: file, Line: 1, Msg: fmt.Sprintf("want %q, have %q", modseqMagic+" 1 <uidvalidity> <highestmodseq> <floor>", lines[0])}
	}
	if head[1] != "1" {
		return nil, &maildir.ParseError{File: file, Line: 1, Msg: fmt.Sprintf("version %q is not supported (want 1)", head[1])}
	}
	db := &modseqDB{Msgs: map[uint32]msgModSeq{}}
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
	for i, line := range lines[1:] {
		n := i + 2
		f := strings.Split(line, " ")
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
		if len(f[2]) != 16 {
			return nil, &maildir.ParseError{File: file, Line: n, Msg: fmt.Sprintf("state %q is not 16 hex digits", f[2])}
		}
		state, err := strconv.ParseUint(f[2], 16, 64)
		if err != nil || strings.ToLower(f[2]) != f[2] {
			return nil, &maildir.ParseError{File: file, Line: n, Msg: fmt.Sprintf("state %q is not 16 lower-case hex digits", f[2])}
		}
		db.Msgs[uint32(uid)] = msgModSeq{ms, state}
	}
	return db, nil
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

// format writes the file content.
func (db *modseqDB) format() []byte {
	uids := make([]uint32, 0, len(db.Msgs))
	for uid := range db.Msgs {
		uids = append(uids, uid)
	}
	slices.Sort(uids)
	b := make([]byte, 0, 64+len(uids)*40+len(db.Expunged)*32)
	b = fmt.Appendf(b, "%s 1 %d %d %d\n", modseqMagic, db.UIDValidity, db.Highest, db.Floor)
	const hex = "0123456789abcdef"
	for _, uid := range uids {
		m := db.Msgs[uid]
		b = strconv.AppendUint(b, uint64(uid), 10)
		b = append(b, ' ')
		b = strconv.AppendUint(b, m.ModSeq, 10)
		b = append(b, ' ')
		for shift := 60; shift >= 0; shift -= 4 {
			b = append(b, hex[m.State>>uint(shift)&0xf])
		}
		b = append(b, '\n')
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
	if over := len(db.Expunged) - maxExpunged; over > 0 {
		db.Floor = max(db.Floor, db.Expunged[over-1].ModSeq)
		db.Expunged = append([]expungedUID(nil), db.Expunged[over:]...)
	}
}

// readModSeq loads the store of dir for uidValidity; a new one (and
// rebuilt true) when the file is missing, damaged, or belongs to another
// UIDVALIDITY.
func readModSeq(dir string, uidValidity uint32) (db *modseqDB, rebuilt bool, err error) {
	p := filepath.Join(dir, ModSeqFile)
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return newModSeqDB(uidValidity, 0), true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("cannot read %s: %w", p, err)
	}
	db, perr := parseModSeq(p, data)
	if perr != nil {
		return newModSeqDB(uidValidity, salvageHighest(data)), true, nil
	}
	if db.UIDValidity != uidValidity {
		return newModSeqDB(uidValidity, db.Highest), true, nil
	}
	return db, false, nil
}

// writeModSeq replaces the store of dir.
func writeModSeq(dir string, db *modseqDB) error {
	return maildir.WriteFile(dir, ModSeqFile, db.format(), 0o600)
}

// stateHash is the <state> of a message: its flag letters and keywords.
func stateHash(flags maildir.Flags, keywords []string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(flags))
	for _, k := range keywords {
		h.Write([]byte{0})
		h.Write([]byte(k))
	}
	return h.Sum64()
}
