// Package search owns the message-selection part of the IMAP server: it
// parses the search keys of SEARCH, SORT and THREAD (RFC 9051 §6.4.4,
// RFC 3501 §6.4.4, RFC 7162 §3.1.5, RFC 5256) into go-imap's
// imap.SearchCriteria, evaluates them against messages, and implements the
// SORT and THREAD orderings of RFC 5256. The IMAP session
// (pkg/imapd) calls ParseCriteria/ParseSort on a command's arguments and
// then Search, Sort or Thread on the messages of the selected mailbox.
package search

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/gocourier/courier/pkg/imapd/wire"
)

// flagRecent is the IMAP4rev1 \Recent flag (RFC 3501 §2.3.2), which go-imap
// v2 only defines internally.
const flagRecent imap.Flag = `\Recent`

// maxDepth bounds the nesting of parentheses, NOT and OR so that a hostile
// command cannot exhaust the stack.
const maxDepth = 100

// BadCharsetError reports a CHARSET other than UTF-8 and US-ASCII; the
// session answers it with NO [BADCHARSET (UTF-8 US-ASCII)] (RFC 9051
// §6.4.4, §7.1).
type BadCharsetError struct {
	Charset string
}

func (e *BadCharsetError) Error() string {
	return fmt.Sprintf("unsupported charset %q", e.Charset)
}

// Charsets are the charsets accepted in SEARCH CHARSET and in SORT and
// THREAD, in the order the BADCHARSET response code lists them.
var Charsets = []string{"UTF-8", "US-ASCII"}

// CheckCharset validates the charset named by a SEARCH, SORT or THREAD
// command and returns its canonical name, or a *BadCharsetError.
func CheckCharset(name string) (string, error) {
	for _, c := range Charsets {
		if strings.EqualFold(name, c) {
			return c, nil
		}
	}
	return "", &BadCharsetError{Charset: name}
}

// ParseCriteria parses the search keys of a SEARCH command (the arguments
// after any RETURN options), starting with an optional CHARSET. utf8 tells
// that the client enabled UTF8=ACCEPT, after which RFC 6855 §3 forbids the
// CHARSET argument. The returned charset is the canonical name of the one
// given, or "" when there was none. A sequence set or UID set given as "$"
// (RFC 5182) is returned as imap.SearchRes() in the UID field; the session
// replaces it with ResolveSearchRes before matching.
func ParseCriteria(args []wire.Token, utf8 bool) (*imap.SearchCriteria, string, error) {
	var charset string
	if len(args) > 0 && args[0].Is("CHARSET") {
		if utf8 {
			return nil, "", errors.New("CHARSET not allowed after ENABLE UTF8=ACCEPT")
		}
		if len(args) < 2 {
			return nil, "", errors.New("missing charset after CHARSET")
		}
		name, ok := astring(args[1])
		if !ok {
			return nil, "", errors.New("charset must be a string")
		}
		c, err := CheckCharset(name)
		if err != nil {
			return nil, "", err
		}
		charset = c
		args = args[2:]
	}
	if len(args) == 0 {
		return nil, "", errors.New("missing search key")
	}
	p := parser{toks: args}
	c, err := p.andList(0)
	if err != nil {
		return nil, "", err
	}
	return c, charset, nil
}

// ResolveSearchRes replaces every "$" set in c (RFC 5182 §2.1) with saved,
// the UIDs the last SEARCH ... RETURN (SAVE) remembered.
func ResolveSearchRes(c *imap.SearchCriteria, saved imap.UIDSet) {
	for i, s := range c.UID {
		if imap.IsSearchRes(s) {
			c.UID[i] = append(imap.UIDSet(nil), saved...)
		}
	}
	for i := range c.Not {
		ResolveSearchRes(&c.Not[i], saved)
	}
	for i := range c.Or {
		ResolveSearchRes(&c.Or[i][0], saved)
		ResolveSearchRes(&c.Or[i][1], saved)
	}
}

type parser struct {
	toks []wire.Token
	pos  int
}

// andList parses the keys of toks up to its end: a search-key list is an
// implicit AND (RFC 9051 §6.4.4).
func (p *parser) andList(depth int) (*imap.SearchCriteria, error) {
	c := &imap.SearchCriteria{}
	for p.pos < len(p.toks) {
		if err := p.key(c, depth); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// arg returns the argument of the key named key.
func (p *parser) arg(key string) (wire.Token, error) {
	if p.pos >= len(p.toks) {
		return wire.Token{}, fmt.Errorf("missing argument to %s", key)
	}
	t := p.toks[p.pos]
	p.pos++
	return t, nil
}

// astring returns the text of an IMAP astring argument; NIL is the atom
// "NIL" there.
func astring(t wire.Token) (string, bool) {
	if t.Kind == wire.NIL {
		return "NIL", true
	}
	return t.String()
}

func (p *parser) stringArg(key string) (string, error) {
	t, err := p.arg(key)
	if err != nil {
		return "", err
	}
	s, ok := astring(t)
	if !ok {
		return "", fmt.Errorf("argument to %s must be a string", key)
	}
	return s, nil
}

func (p *parser) dateArg(key string) (time.Time, error) {
	t, err := p.arg(key)
	if err != nil {
		return time.Time{}, err
	}
	s, ok := t.String()
	if !ok || t.Kind == wire.Literal {
		return time.Time{}, fmt.Errorf("argument to %s must be a date", key)
	}
	d, err := parseDate(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", key, err)
	}
	return d, nil
}

// parseDate parses an RFC 9051 date, d-Mon-yyyy with a one or two digit day
// (date-day), into midnight UTC of that day; only the date matters.
func parseDate(s string) (time.Time, error) {
	parts := strings.Split(s, "-")
	if len(parts) != 3 || len(parts[0]) < 1 || len(parts[0]) > 2 || len(parts[2]) != 4 {
		return time.Time{}, fmt.Errorf("invalid date %q, want d-Mon-yyyy", s)
	}
	day, err1 := strconv.Atoi(parts[0])
	year, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil || !allDigits(parts[0]) || !allDigits(parts[2]) {
		return time.Time{}, fmt.Errorf("invalid date %q, want d-Mon-yyyy", s)
	}
	month := monthNumber(parts[1])
	if month == 0 {
		return time.Time{}, fmt.Errorf("invalid month %q in date %q", parts[1], s)
	}
	d := time.Date(year, month, day, 0, 0, 0, 0, time.UTC)
	if d.Day() != day || d.Month() != month {
		return time.Time{}, fmt.Errorf("invalid day %d in date %q", day, s)
	}
	return d, nil
}

var monthNames = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

func monthNumber(s string) time.Month {
	for i, m := range monthNames {
		if strings.EqualFold(s, m) {
			return time.Month(i + 1)
		}
	}
	return 0
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func (p *parser) numberArg(key string) (int64, error) {
	t, err := p.arg(key)
	if err != nil {
		return 0, err
	}
	if t.Kind != wire.Atom || !allDigits(t.Text) {
		return 0, fmt.Errorf("argument to %s must be a number", key)
	}
	n, err := strconv.ParseInt(t.Text, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("argument to %s out of range: %s", key, t.Text)
	}
	return n, nil
}

// validKeyword reports whether s is a flag-keyword: an atom (RFC 9051 §9).
func validKeyword(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}

var flagKeys = map[string]imap.Flag{
	"ANSWERED": imap.FlagAnswered,
	"DELETED":  imap.FlagDeleted,
	"DRAFT":    imap.FlagDraft,
	"FLAGGED":  imap.FlagFlagged,
	"SEEN":     imap.FlagSeen,
	"RECENT":   flagRecent,
}

var headerKeys = map[string]string{
	"BCC":     "Bcc",
	"CC":      "Cc",
	"FROM":    "From",
	"SUBJECT": "Subject",
	"TO":      "To",
}

// key parses one search key into c (RFC 9051 §6.4.4; RFC 3501 §6.4.4 for
// NEW, OLD, RECENT and UNRECENT; RFC 7162 §3.1.5 for MODSEQ).
func (p *parser) key(c *imap.SearchCriteria, depth int) error {
	if depth > maxDepth {
		return errors.New("search keys nested too deeply")
	}
	t := p.toks[p.pos]
	p.pos++
	if t.Kind == wire.List {
		if len(t.List) == 0 {
			return errors.New("empty parenthesised search key list")
		}
		sub := parser{toks: t.List}
		g, err := sub.andList(depth + 1)
		if err != nil {
			return err
		}
		and(c, g)
		return nil
	}
	if t.Kind != wire.Atom {
		s, _ := t.String()
		return fmt.Errorf("expected a search key, got string %q", s)
	}
	name := strings.ToUpper(t.Text)
	if f, ok := flagKeys[name]; ok {
		c.Flag = append(c.Flag, f)
		return nil
	}
	if strings.HasPrefix(name, "UN") {
		if f, ok := flagKeys[name[2:]]; ok {
			c.NotFlag = append(c.NotFlag, f)
			return nil
		}
	}
	if h, ok := headerKeys[name]; ok {
		v, err := p.stringArg(name)
		if err != nil {
			return err
		}
		c.Header = append(c.Header, imap.SearchCriteriaHeaderField{Key: h, Value: v})
		return nil
	}
	switch name {
	case "ALL":
	case "NEW":
		c.Flag = append(c.Flag, flagRecent)
		c.NotFlag = append(c.NotFlag, imap.FlagSeen)
	case "OLD":
		c.NotFlag = append(c.NotFlag, flagRecent)
	case "KEYWORD", "UNKEYWORD":
		a, err := p.arg(name)
		if err != nil {
			return err
		}
		if a.Kind != wire.Atom || !validKeyword(a.Text) {
			s, _ := a.String()
			return fmt.Errorf("invalid keyword %q for %s", s, name)
		}
		if name == "KEYWORD" {
			c.Flag = append(c.Flag, imap.Flag(a.Text))
		} else {
			c.NotFlag = append(c.NotFlag, imap.Flag(a.Text))
		}
	case "HEADER":
		field, err := p.stringArg(name)
		if err != nil {
			return err
		}
		if strings.ContainsAny(field, ": \t\r\n") {
			return fmt.Errorf("invalid header field name %q", field)
		}
		v, err := p.stringArg(name)
		if err != nil {
			return err
		}
		c.Header = append(c.Header, imap.SearchCriteriaHeaderField{Key: field, Value: v})
	case "BODY", "TEXT":
		v, err := p.stringArg(name)
		if err != nil {
			return err
		}
		if name == "BODY" {
			c.Body = append(c.Body, v)
		} else {
			c.Text = append(c.Text, v)
		}
	case "BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE":
		d, err := p.dateArg(name)
		if err != nil {
			return err
		}
		next := d.AddDate(0, 0, 1)
		switch name {
		case "BEFORE":
			c.Before = intersectBefore(c.Before, d)
		case "SINCE":
			c.Since = intersectSince(c.Since, d)
		case "ON":
			c.Since = intersectSince(c.Since, d)
			c.Before = intersectBefore(c.Before, next)
		case "SENTBEFORE":
			c.SentBefore = intersectBefore(c.SentBefore, d)
		case "SENTSINCE":
			c.SentSince = intersectSince(c.SentSince, d)
		case "SENTON":
			c.SentSince = intersectSince(c.SentSince, d)
			c.SentBefore = intersectBefore(c.SentBefore, next)
		}
	case "LARGER", "SMALLER":
		n, err := p.numberArg(name)
		if err != nil {
			return err
		}
		if name == "LARGER" {
			c.Larger = max(c.Larger, n)
		} else if n == 0 {
			// Nothing is smaller than 0 octets, and Smaller == 0 means
			// "no limit": express it as NOT ALL.
			c.Not = append(c.Not, imap.SearchCriteria{})
		} else if c.Smaller == 0 || n < c.Smaller {
			c.Smaller = n
		}
	case "UID":
		a, err := p.arg(name)
		if err != nil {
			return err
		}
		if a.Kind != wire.Atom {
			return errors.New("argument to UID must be a sequence set")
		}
		s, err := wire.ParseUIDSet(a.Text)
		if errors.Is(err, wire.ErrSearchRes) {
			s, err = imap.SearchRes(), nil
		}
		if err != nil {
			return err
		}
		c.UID = append(c.UID, s)
	case "NOT":
		if p.pos >= len(p.toks) {
			return errors.New("missing search key after NOT")
		}
		var n imap.SearchCriteria
		if err := p.key(&n, depth+1); err != nil {
			return err
		}
		c.Not = append(c.Not, n)
	case "OR":
		var or [2]imap.SearchCriteria
		for i := range or {
			if p.pos >= len(p.toks) {
				return errors.New("missing search key after OR")
			}
			if err := p.key(&or[i], depth+1); err != nil {
				return err
			}
		}
		c.Or = append(c.Or, or)
	case "MODSEQ":
		return p.modSeq(c)
	default:
		if name == "" {
			return errors.New("empty search key")
		}
		if name == "$" || name[0] == '*' || (name[0] >= '0' && name[0] <= '9') {
			if name == "$" {
				c.UID = append(c.UID, imap.SearchRes())
				return nil
			}
			s, err := wire.ParseSeqSet(name)
			if err != nil {
				return err
			}
			c.SeqNum = append(c.SeqNum, s)
			return nil
		}
		return fmt.Errorf("unknown search key %q", t.Text)
	}
	return nil
}

// modSeq parses the arguments of MODSEQ (RFC 7162 §3.1.5):
// [entry-name SP entry-type-req SP] mod-sequence-valzer.
func (p *parser) modSeq(c *imap.SearchCriteria) error {
	t, err := p.arg("MODSEQ")
	if err != nil {
		return err
	}
	ms := &imap.SearchCriteriaModSeq{}
	if t.Kind == wire.Quoted || t.Kind == wire.Literal {
		name, _ := t.String()
		if !strings.HasPrefix(name, "/flags/") || len(name) == len("/flags/") {
			return fmt.Errorf("invalid MODSEQ entry name %q", name)
		}
		typ, err := p.arg("MODSEQ")
		if err != nil {
			return err
		}
		switch {
		case typ.Is("all"):
			ms.MetadataType = imap.SearchCriteriaMetadataAll
		case typ.Is("priv"):
			ms.MetadataType = imap.SearchCriteriaMetadataPrivate
		case typ.Is("shared"):
			ms.MetadataType = imap.SearchCriteriaMetadataShared
		default:
			s, _ := typ.String()
			return fmt.Errorf("invalid MODSEQ entry type %q", s)
		}
		ms.MetadataName = name
		if t, err = p.arg("MODSEQ"); err != nil {
			return err
		}
	}
	if t.Kind != wire.Atom || !allDigits(t.Text) {
		return errors.New("argument to MODSEQ must be a mod-sequence value")
	}
	v, err := strconv.ParseUint(t.Text, 10, 63)
	if err != nil {
		return fmt.Errorf("MODSEQ value out of range: %s", t.Text)
	}
	ms.ModSeq = v
	if c.ModSeq == nil || ms.ModSeq > c.ModSeq.ModSeq {
		c.ModSeq = ms
	}
	return nil
}

// and adds the conditions of g to c. imap.SearchCriteria.And is not used
// because it resets Smaller when g has none.
func and(c, g *imap.SearchCriteria) {
	c.SeqNum = append(c.SeqNum, g.SeqNum...)
	c.UID = append(c.UID, g.UID...)
	c.Since = intersectSince(c.Since, g.Since)
	c.Before = intersectBefore(c.Before, g.Before)
	c.SentSince = intersectSince(c.SentSince, g.SentSince)
	c.SentBefore = intersectBefore(c.SentBefore, g.SentBefore)
	c.Header = append(c.Header, g.Header...)
	c.Body = append(c.Body, g.Body...)
	c.Text = append(c.Text, g.Text...)
	c.Flag = append(c.Flag, g.Flag...)
	c.NotFlag = append(c.NotFlag, g.NotFlag...)
	c.Larger = max(c.Larger, g.Larger)
	if g.Smaller != 0 && (c.Smaller == 0 || g.Smaller < c.Smaller) {
		c.Smaller = g.Smaller
	}
	c.Not = append(c.Not, g.Not...)
	c.Or = append(c.Or, g.Or...)
	if g.ModSeq != nil && (c.ModSeq == nil || g.ModSeq.ModSeq > c.ModSeq.ModSeq) {
		c.ModSeq = g.ModSeq
	}
}

func intersectSince(a, b time.Time) time.Time {
	if a.IsZero() || b.After(a) {
		return b
	}
	return a
}

func intersectBefore(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}
