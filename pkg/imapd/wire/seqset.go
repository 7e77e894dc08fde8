package wire

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"
)

// ErrSearchRes is returned by ParseSeqSet and ParseUIDSet for "$", the
// result of the last SEARCH saved with SAVE (RFC 5182 §2.1, RFC 9051
// §6.4.4.1): the caller substitutes the saved set.
var ErrSearchRes = errors.New(`"$" refers to the saved search result`)

// ParseSeqSet parses a sequence-set of message sequence numbers
// (RFC 9051 §9: numbers 1 to 2^32-1, "*", ranges n:m in either order,
// separated by commas). "*" is 0 in the result, as in go-imap.
func ParseSeqSet(s string) (imap.SeqSet, error) {
	rs, err := parseNumSet(s)
	if err != nil {
		return nil, err
	}
	var set imap.SeqSet
	for _, r := range rs {
		set.AddRange(r[0], r[1])
	}
	return set, nil
}

// ParseUIDSet parses a sequence-set of UIDs, like ParseSeqSet.
func ParseUIDSet(s string) (imap.UIDSet, error) {
	rs, err := parseNumSet(s)
	if err != nil {
		return nil, err
	}
	var set imap.UIDSet
	for _, r := range rs {
		set.AddRange(imap.UID(r[0]), imap.UID(r[1]))
	}
	return set, nil
}

// parseNumSet returns the ranges of s, each with its bounds in increasing
// order ("*", 0, last), sorted so that adding them to a go-imap set in
// that order appends or merges at its end instead of inserting in the
// middle: a set of many ranges costs O(n log n), not O(n²).
func parseNumSet(s string) ([][2]uint32, error) {
	if s == "$" {
		return nil, ErrSearchRes
	}
	if s == "" {
		return nil, fmt.Errorf("empty sequence set")
	}
	var rs [][2]uint32
	for elem := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(elem, ":")
		a, err := parseSeqNumber(s, lo)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = parseSeqNumber(s, hi); err != nil {
				return nil, err
			}
		}
		// "*" (0) is the largest number in the mailbox (RFC 9051 §9
		// seq-range: "*:4" is "4:*").
		if a == 0 || (b != 0 && b < a) {
			a, b = b, a
		}
		rs = append(rs, [2]uint32{a, b})
	}
	slices.SortFunc(rs, func(x, y [2]uint32) int {
		// Ranges with "*" last; the others by their start.
		if (x[1] == 0) != (y[1] == 0) {
			if x[1] == 0 {
				return 1
			}
			return -1
		}
		switch {
		case x[0] < y[0]:
			return -1
		case x[0] > y[0]:
			return 1
		}
		return 0
	})
	return rs, nil
}

// parseSeqNumber parses a seq-number of set: an nz-number or "*" (0).
func parseSeqNumber(set, s string) (uint32, error) {
	if s == "*" {
		return 0, nil
	}
	if s == "" {
		return 0, fmt.Errorf("invalid sequence set %q: empty number", set)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("invalid sequence set %q: %q is not a number", set, s)
		}
	}
	if s[0] == '0' {
		return 0, fmt.Errorf("invalid sequence set %q: %q is not a number from 1 to 4294967295", set, s)
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("invalid sequence set %q: %q is not a number from 1 to 4294967295", set, s)
	}
	return uint32(n), nil
}

// InRanges reports whether n is in the ranges, where 0 stands for "*",
// the largest number in use, and a range a:b is the same as b:a (RFC 9051
// §9, seq-range).
func InRanges(ranges [][2]uint32, n, largest uint32) bool {
	for _, r := range ranges {
		lo, hi := r[0], r[1]
		if lo == 0 {
			lo = largest
		}
		if hi == 0 {
			hi = largest
		}
		if lo > hi {
			lo, hi = hi, lo
		}
		if n >= lo && n <= hi {
			return true
		}
	}
	return false
}
