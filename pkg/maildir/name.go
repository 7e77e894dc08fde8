package maildir

import (
	"fmt"
	"strconv"
	"strings"
)

// Standard flag letters of the ":2," info suffix (maildir(5); spec/maildir.md
// §2). They are kept in ASCII order in a file name.
const (
	FlagDraft   = 'D' // IMAP \Draft
	FlagFlagged = 'F' // IMAP \Flagged
	FlagPassed  = 'P' // forwarded (no IMAP equivalent)
	FlagReplied = 'R' // IMAP \Answered
	FlagSeen    = 'S' // IMAP \Seen
	FlagTrashed = 'T' // IMAP \Deleted; not counted towards the quota
)

// Flags is the set of flag letters of a message, in ASCII order without
// repetitions, exactly as it appears after ":2," in a file name. Besides the
// six standard upper-case letters other software stores lower-case letters
// (Dovecot keeps keywords that way); they are preserved.
type Flags string

// ParseFlags checks and normalizes a set of flag letters: every byte must be
// an ASCII letter; the result is sorted and without duplicates.
func ParseFlags(s string) (Flags, error) {
	for i := 0; i < len(s); i++ {
		if !isFlagLetter(s[i]) {
			return "", fmt.Errorf("flag %q at offset %d is not a letter A-Z or a-z", s[i], i)
		}
	}
	return normalizeFlags(s), nil
}

func isFlagLetter(c byte) bool { return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' }

func normalizeFlags(s string) Flags {
	// Names almost always carry their flags in order already: those are
	// returned as they are, without allocating.
	ordered := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 128 || i > 0 && s[i] <= s[i-1] {
			ordered = false
			break
		}
	}
	if ordered {
		return Flags(s)
	}
	var seen [128]bool
	n := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 128 && !seen[c] {
			seen[c] = true
			n++
		}
	}
	b := make([]byte, 0, n)
	for c, ok := range seen {
		if ok {
			b = append(b, byte(c))
		}
	}
	return Flags(b)
}

// Has reports whether the flag letter is set.
func (f Flags) Has(flag byte) bool { return strings.IndexByte(string(f), flag) >= 0 }

// With returns f plus the given letters. Letters that are not ASCII letters
// are ignored (use ParseFlags to validate input from outside).
func (f Flags) With(letters string) Flags {
	return normalizeFlags(string(f) + onlyLetters(letters))
}

// Without returns f minus the given letters.
func (f Flags) Without(letters string) Flags {
	b := make([]byte, 0, len(f))
	for i := 0; i < len(f); i++ {
		if strings.IndexByte(letters, f[i]) < 0 {
			b = append(b, f[i])
		}
	}
	return Flags(b)
}

func onlyLetters(s string) string {
	i := 0
	for i < len(s) && isFlagLetter(s[i]) {
		i++
	}
	if i == len(s) {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if isFlagLetter(s[i]) {
			b = append(b, s[i])
		}
	}
	return string(b)
}

// Name is a parsed message file name (spec/maildir.md §2):
//
//	<time>.M<usec>P<pid>V<dev>I<ino>[_<n>].<host>,S=<size>[,W=<vsize>][:2,<flags>]
//
// Only the parts other programs rely on are interpreted: the unique part
// before the colon, the ",S=" and ",W=" sizes in it, and the info after the
// colon. Names written by other delivery agents (qmail's "<time>.<pid>.<host>",
// Dovecot's) parse as well; they just lack sizes.
type Name struct {
	// Unique is everything before the first colon. It identifies the
	// message for its whole life (flag changes only alter the info), and is
	// the key courierimapuiddb, courierimapkeywords and
	// courierpop3dsizelist use.
	Unique string
	// Size is the ",S=" value: the size of the file in bytes, as Courier
	// counts it for the quota. -1 when the name has none.
	Size int64
	// VSize is the ",W=" value (the size with CRLF line ends), -1 if none.
	// Courier never writes it; other software does.
	VSize int64
	// HasInfo reports whether the name has a colon at all (files in new/
	// normally have none; Courier's readers add ":2," when moving to cur/).
	HasInfo bool
	// Info is the text after the colon, "2,FS" for example.
	Info string
}

// ParseName parses a message file name (the last path element only). It
// fails on names no maildir message can have (empty, containing '/' or NUL,
// empty unique part) and on malformed ",S=" and ",W=" values or flags,
// because callers would otherwise count a wrong size against the quota or
// report wrong flags.
func ParseName(s string) (Name, error) {
	if s == "" {
		return Name{}, fmt.Errorf("empty message file name")
	}
	if i := strings.IndexAny(s, "/\x00"); i >= 0 {
		return Name{}, fmt.Errorf("message file name %q: %q at offset %d is not allowed", s, s[i], i)
	}
	n := Name{Size: -1, VSize: -1}
	n.Unique = s
	if i := strings.IndexByte(s, ':'); i >= 0 {
		n.Unique, n.Info, n.HasInfo = s[:i], s[i+1:], true
	}
	if n.Unique == "" {
		return Name{}, fmt.Errorf("message file name %q: nothing before the colon", s)
	}
	if strings.HasPrefix(n.Info, "2,") {
		if _, err := ParseFlags(n.Info[2:]); err != nil {
			return Name{}, fmt.Errorf("message file name %q: %v", s, err)
		}
	}
	// Size fields follow the host part, each introduced by a comma.
	var err error
	if n.Size, n.VSize, err = sizeFields(n.Unique); err != nil {
		return Name{}, fmt.Errorf("message file name %q: %v", s, err)
	}
	return n, nil
}

// NameSize is ParseName(s).Size without the checks and the allocations of
// a whole parse: the ",S=" value of a message file name, -1 when it has
// none or a bad one. IMAP calls it for every message file it reads.
func NameSize(s string) int64 {
	unique, _, _ := strings.Cut(s, ":")
	size := int64(-1)
	nameFields(unique, func(field string) bool {
		v, ok := strings.CutPrefix(field, "S=")
		if !ok {
			return true
		}
		if n, err := parseDecimal(v); err == nil {
			size = n
		}
		return false
	})
	return size
}

// sizeFields reads the ",S=" and ",W=" fields of a unique name, -1 for one
// it lacks; a field some other software uses is skipped.
func sizeFields(unique string) (size, vsize int64, err error) {
	size, vsize = -1, -1
	nameFields(unique, func(field string) bool {
		var dst *int64
		switch {
		case strings.HasPrefix(field, "S="):
			dst = &size
		case strings.HasPrefix(field, "W="):
			dst = &vsize
		default:
			return true
		}
		if *dst >= 0 {
			err = fmt.Errorf("%s appears twice", field[:2])
			return false
		}
		v, perr := parseDecimal(field[2:])
		if perr != nil {
			err = fmt.Errorf("bad %s value: %v", field[:2], perr)
			return false
		}
		*dst = v
		return true
	})
	return size, vsize, err
}

// nameFields calls fn with each ","-separated field of a unique name after
// the first, until fn returns false.
func nameFields(unique string, fn func(field string) bool) {
	for i := strings.IndexByte(unique, ','); i >= 0; {
		field := unique[i+1:]
		next := strings.IndexByte(field, ',')
		if next >= 0 {
			field = field[:next]
		}
		if !fn(field) || next < 0 {
			return
		}
		i += 1 + next
	}
}

// NameFlags is ParseName(s).Flags() without the allocations of a whole
// parse: the flags of a message file name, none when ParseName refuses it.
// IMAP calls it for every message of a folder it scans.
func NameFlags(s string) Flags {
	unique, info, _ := strings.Cut(s, ":")
	letters, ok := strings.CutPrefix(info, "2,")
	if !ok || unique == "" || strings.ContainsAny(s, "/\x00") {
		return ""
	}
	for i := 0; i < len(letters); i++ {
		if !isFlagLetter(letters[i]) {
			return ""
		}
	}
	if _, _, err := sizeFields(unique); err != nil {
		return ""
	}
	return normalizeFlags(letters)
}

// parseDecimal parses a non-negative decimal number of at most 18 digits
// (so that it always fits an int64, with room to add sizes).
func parseDecimal(s string) (int64, error) {
	if s == "" {
		return 0, fmt.Errorf("no digits")
	}
	if len(s) > 18 {
		return 0, fmt.Errorf("%q has more than 18 digits", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%q is not a decimal number", s)
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

// Flags returns the flags of the name: the letters after ":2,", or none when
// the info is missing or uses another scheme.
func (n Name) Flags() Flags {
	if !strings.HasPrefix(n.Info, "2,") {
		return ""
	}
	return normalizeFlags(n.Info[2:])
}

// WithFlags returns the file name for the same message with the given flags,
// "<unique>:2,<flags>", as it is stored in cur/.
func (n Name) WithFlags(f Flags) string {
	return n.Unique + ":2," + string(normalizeFlags(string(f)))
}

// String returns the file name.
func (n Name) String() string {
	if !n.HasInfo {
		return n.Unique
	}
	return n.Unique + ":" + n.Info
}

// Counted reports whether a message with this name counts towards the
// quota: Courier leaves out messages flagged T (maildirquota.c
// maildirquota_countfile, built without TRASHQUOTA as Debian's is).
func (n Name) Counted() bool { return !n.Flags().Has(FlagTrashed) }
