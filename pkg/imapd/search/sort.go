package search

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gocourier/courier/pkg/imapd/wire"
)

// SortKey is a sort-key of RFC 5256 §3 or RFC 5957 §3. go-imap v2 only
// has a client-side type for it (imapclient.SortKey).
type SortKey string

// The sort keys.
const (
	SortArrival     SortKey = "ARRIVAL"
	SortCc          SortKey = "CC"
	SortDate        SortKey = "DATE"
	SortFrom        SortKey = "FROM"
	SortSize        SortKey = "SIZE"
	SortSubject     SortKey = "SUBJECT"
	SortTo          SortKey = "TO"
	SortDisplayFrom SortKey = "DISPLAYFROM" // RFC 5957
	SortDisplayTo   SortKey = "DISPLAYTO"   // RFC 5957
)

var sortKeys = []SortKey{SortArrival, SortCc, SortDate, SortFrom, SortSize, SortSubject, SortTo, SortDisplayFrom, SortDisplayTo}

// SortCriterion is one sort-criterion: a key, optionally REVERSE.
type SortCriterion struct {
	Key     SortKey
	Reverse bool
}

// ParseSort parses the sort criteria of a SORT command (RFC 5256 §5,
// sort-criteria): args are the contents of the parenthesised list, or a
// list holding the single parenthesised list.
func ParseSort(args []wire.Token) ([]SortCriterion, error) {
	if len(args) == 1 && args[0].Kind == wire.List {
		args = args[0].List
	}
	if len(args) == 0 {
		return nil, errors.New("empty sort criteria")
	}
	var out []SortCriterion
	reverse := false
	for _, t := range args {
		if t.Kind != wire.Atom {
			s, _ := t.String()
			return nil, fmt.Errorf("invalid sort key %q", s)
		}
		if t.Is("REVERSE") {
			if reverse {
				return nil, errors.New("REVERSE given twice")
			}
			reverse = true
			continue
		}
		i := slices.IndexFunc(sortKeys, func(k SortKey) bool { return t.Is(string(k)) })
		if i < 0 {
			return nil, fmt.Errorf("unknown sort key %q", t.Text)
		}
		out = append(out, SortCriterion{Key: sortKeys[i], Reverse: reverse})
		reverse = false
	}
	if reverse {
		return nil, errors.New("REVERSE must be followed by a sort key")
	}
	return out, nil
}

// sortInfo holds the sort values of one message, computed once.
type sortInfo struct {
	m       Message
	date    time.Time // sent date, or internal date (RFC 5256 §3, DATE)
	subject string    // base subject, case-mapped
	addr    map[SortKey]string
}

// needHeader reports whether the criteria need the message header.
func needHeader(crit []SortCriterion) bool {
	return slices.ContainsFunc(crit, func(c SortCriterion) bool {
		return c.Key != SortArrival && c.Key != SortSize
	})
}

func loadSortInfo(m Message, withHeader bool) (*sortInfo, error) {
	si := &sortInfo{m: m, addr: map[SortKey]string{}}
	var fields []field
	if withHeader {
		var err error
		if fields, err = headerOf(m); err != nil {
			return nil, err
		}
	}
	si.date = noDate
	if t, ok := sentDate(fields); ok {
		si.date = t
	}
	subj, _ := get(fields, "Subject")
	si.subject = BaseSubject(subj)
	// RFC 5256 §3: FROM, TO and CC sort on the addr-mailbox of the first
	// address; RFC 5957 §3: DISPLAYFROM and DISPLAYTO on its display
	// name, or its addr-spec when it has none.
	for key, name := range map[SortKey]string{SortFrom: "From", SortTo: "To", SortCc: "Cc"} {
		display, mailbox, host, ok := firstAddress(fields, name)
		if !ok {
			continue
		}
		si.addr[key] = casemap(mailbox)
		if key == SortCc {
			continue
		}
		d := display
		if d == "" {
			d = mailbox
			if host != "" {
				d += "@" + host
			}
		}
		si.addr["DISPLAY"+key] = casemap(d)
	}
	return si, nil
}

// FileSizer is a Message that knows the size of its file as stored
// (LF line ends). Courier's imapd sorts SIZE by that size, not by
// RFC822.SIZE as RFC 5256 says; Sort does the same for messages that have
// it, so that both servers answer alike.
type FileSizer interface {
	FileSize() int64
}

func fileSize(m Message) int64 {
	if f, ok := m.(FileSizer); ok {
		return f.FileSize()
	}
	return m.Size()
}

// compareBy compares two messages on one sort key, ascending.
func compareBy(key SortKey, a, b *sortInfo) int {
	switch key {
	case SortArrival:
		return a.m.InternalDate().Compare(b.m.InternalDate())
	case SortDate:
		return a.date.Compare(b.date)
	case SortSize:
		return cmp.Compare(fileSize(a.m), fileSize(b.m))
	case SortSubject:
		return strings.Compare(a.subject, b.subject)
	}
	return strings.Compare(a.addr[key], b.addr[key])
}

// Sort orders msgs by the criteria (RFC 5256 §3, SORT): each criterion in
// turn, REVERSE inverting it. Two points follow Courier's imapd rather than
// the RFC, so that both servers answer alike: messages that compare equal
// on all criteria come in descending sequence number order, and a missing
// or invalid Date: sorts before every date (the RFC says: as the internal
// date). A missing header or address sorts as an empty string.
func Sort(crit []SortCriterion, msgs []Message) ([]Message, error) {
	infos := make([]*sortInfo, len(msgs))
	withHeader := needHeader(crit)
	for i, m := range msgs {
		si, err := loadSortInfo(m, withHeader)
		if err != nil {
			return nil, err
		}
		infos[i] = si
	}
	slices.SortStableFunc(infos, func(a, b *sortInfo) int {
		for _, c := range crit {
			if n := compareBy(c.Key, a, b); n != 0 {
				if c.Reverse {
					return -n
				}
				return n
			}
		}
		return cmp.Compare(b.m.SeqNum(), a.m.SeqNum())
	})
	out := make([]Message, len(infos))
	for i, si := range infos {
		out[i] = si.m
	}
	return out, nil
}
