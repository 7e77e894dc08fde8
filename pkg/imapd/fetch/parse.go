package fetch

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/gocourier/courier/pkg/imapd/wire"
)

// Kind names one FETCH data item.
type Kind int

// The FETCH data items (RFC 9051 §6.4.5, RFC 3516 §4.2, RFC 7162 §3.1.4).
const (
	ItemEnvelope      Kind = iota + 1 // ENVELOPE
	ItemFlags                         // FLAGS
	ItemInternalDate                  // INTERNALDATE
	ItemRFC822                        // RFC822: BODY[] that sets \Seen, answered as RFC822
	ItemRFC822Header                  // RFC822.HEADER: BODY.PEEK[HEADER], answered as RFC822.HEADER
	ItemRFC822Size                    // RFC822.SIZE
	ItemRFC822Text                    // RFC822.TEXT: BODY[TEXT], answered as RFC822.TEXT
	ItemUID                           // UID
	ItemBody                          // BODY: the body structure without extension data
	ItemBodyStructure                 // BODYSTRUCTURE
	ItemBodySection                   // BODY[section]<partial>, BODY.PEEK[...]
	ItemBinary                        // BINARY[part]<partial>, BINARY.PEEK[...]
	ItemBinarySize                    // BINARY.SIZE[part]
	ItemModSeq                        // MODSEQ
)

// Item is one data item of a FETCH request. Section, Binary and BinarySize
// are set for the kinds that carry a section.
type Item struct {
	Kind       Kind
	Section    *imap.FetchItemBodySection
	Binary     *imap.FetchItemBinarySection
	BinarySize *imap.FetchItemBinarySectionSize
}

// Request is a parsed FETCH request.
type Request struct {
	// Items in the order the client asked for them, macros expanded,
	// duplicates (items answered under the same name) removed.
	Items []Item
	// Options is the same request in go-imap's form, ChangedSince included.
	Options imap.FetchOptions
	// HasChangedSince: the CHANGEDSINCE modifier was given (RFC 7162
	// §3.1.4.1); its value is Options.ChangedSince.
	HasChangedSince bool
	// Vanished: the VANISHED modifier was given (RFC 7162 §3.2.6); it is
	// only valid with UID FETCH once QRESYNC is enabled, which the caller
	// checks.
	Vanished bool
}

// SetsSeen reports whether the request fetches message content without
// .PEEK, which sets the \Seen flag (RFC 9051 §6.4.5: BODY[...], RFC822,
// RFC822.TEXT; RFC 3516 §4.2: BINARY[...]).
func (r *Request) SetsSeen() bool {
	for _, it := range r.Items {
		switch it.Kind {
		case ItemRFC822, ItemRFC822Text:
			return true
		case ItemBodySection:
			if !it.Section.Peek {
				return true
			}
		case ItemBinary:
			if !it.Binary.Peek {
				return true
			}
		}
	}
	return false
}

// CondStore reports whether the request is a CONDSTORE enabling command
// (RFC 7162 §3.1: FETCH MODSEQ or the CHANGEDSINCE modifier).
func (r *Request) CondStore() bool { return r.Options.ModSeq || r.HasChangedSince }

// Parse parses the arguments of FETCH after the sequence set: a data item,
// a macro or a parenthesised list of data items, then an optional list of
// modifiers (RFC 9051 §6.4.5, RFC 7162 §3.1.4.1 and §3.2.6).
func Parse(args []wire.Token) (*Request, error) {
	if len(args) == 0 {
		return nil, errors.New("missing FETCH attributes")
	}
	if len(args) > 2 {
		return nil, errors.New("too many FETCH arguments")
	}
	req := &Request{}
	var atts []wire.Token
	switch args[0].Kind {
	case wire.List:
		if len(args[0].List) == 0 {
			return nil, errors.New("empty FETCH attribute list")
		}
		atts = args[0].List
	case wire.Atom:
		if m, ok := macros[strings.ToUpper(args[0].Text)]; ok {
			for _, k := range m {
				req.add(Item{Kind: k})
			}
			atts = nil
		} else {
			atts = args[:1]
		}
	default:
		return nil, errors.New("FETCH attributes must be an atom or a list")
	}
	for _, t := range atts {
		if t.Kind != wire.Atom {
			return nil, errors.New("FETCH attribute must be an atom")
		}
		if _, ok := macros[strings.ToUpper(t.Text)]; ok {
			return nil, fmt.Errorf("macro %s not allowed in a list", t.Text)
		}
		it, err := parseItem(t.Text)
		if err != nil {
			return nil, err
		}
		req.add(it)
	}
	if len(args) == 2 {
		if err := req.parseModifiers(args[1]); err != nil {
			return nil, err
		}
	}
	return req, nil
}

// macros: RFC 9051 §6.4.5, in the order the original Courier answers them.
var macros = map[string][]Kind{
	"ALL":  {ItemFlags, ItemInternalDate, ItemRFC822Size, ItemEnvelope},
	"FAST": {ItemFlags, ItemInternalDate, ItemRFC822Size},
	"FULL": {ItemFlags, ItemInternalDate, ItemRFC822Size, ItemEnvelope, ItemBody},
}

var simpleItems = map[string]Kind{
	"ENVELOPE":      ItemEnvelope,
	"FLAGS":         ItemFlags,
	"INTERNALDATE":  ItemInternalDate,
	"RFC822":        ItemRFC822,
	"RFC822.HEADER": ItemRFC822Header,
	"RFC822.SIZE":   ItemRFC822Size,
	"RFC822.TEXT":   ItemRFC822Text,
	"UID":           ItemUID,
	"BODY":          ItemBody,
	"BODYSTRUCTURE": ItemBodyStructure,
	"MODSEQ":        ItemModSeq,
}

// add appends it unless an item answered under the same name is already
// there; a BODY[x] after a BODY.PEEK[x] keeps its effect on \Seen.
func (r *Request) add(it Item) {
	name := responseName(it)
	for i := range r.Items {
		old := &r.Items[i]
		if responseName(*old) != name {
			continue
		}
		switch it.Kind {
		case ItemBodySection:
			old.Section.Peek = old.Section.Peek && it.Section.Peek
		case ItemBinary:
			old.Binary.Peek = old.Binary.Peek && it.Binary.Peek
		}
		return
	}
	r.Items = append(r.Items, it)
	o := &r.Options
	switch it.Kind {
	case ItemEnvelope:
		o.Envelope = true
	case ItemFlags:
		o.Flags = true
	case ItemInternalDate:
		o.InternalDate = true
	case ItemRFC822Size:
		o.RFC822Size = true
	case ItemUID:
		o.UID = true
	case ItemModSeq:
		o.ModSeq = true
	case ItemBody:
		if o.BodyStructure == nil {
			o.BodyStructure = &imap.FetchItemBodyStructure{}
		}
	case ItemBodyStructure:
		o.BodyStructure = &imap.FetchItemBodyStructure{Extended: true}
	case ItemRFC822:
		o.BodySection = append(o.BodySection, &imap.FetchItemBodySection{})
	case ItemRFC822Header:
		o.BodySection = append(o.BodySection, &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true})
	case ItemRFC822Text:
		o.BodySection = append(o.BodySection, &imap.FetchItemBodySection{Specifier: imap.PartSpecifierText})
	case ItemBodySection:
		o.BodySection = append(o.BodySection, it.Section)
	case ItemBinary:
		o.BinarySection = append(o.BinarySection, it.Binary)
	case ItemBinarySize:
		o.BinarySectionSize = append(o.BinarySectionSize, it.BinarySize)
	}
}

func (r *Request) parseModifiers(t wire.Token) error {
	if t.Kind != wire.List {
		return errors.New("FETCH modifiers must be a list")
	}
	if len(t.List) == 0 {
		return errors.New("empty FETCH modifier list")
	}
	l := t.List
	for i := 0; i < len(l); i++ {
		switch {
		case l[i].Is("CHANGEDSINCE"):
			if r.HasChangedSince {
				return errors.New("CHANGEDSINCE given twice")
			}
			if i+1 == len(l) {
				return errors.New("CHANGEDSINCE without a mod-sequence")
			}
			i++
			n, err := parseNumber64(l[i])
			if err != nil {
				return fmt.Errorf("CHANGEDSINCE: %v", err)
			}
			r.HasChangedSince = true
			r.Options.ChangedSince = n
		case l[i].Is("VANISHED"):
			if r.Vanished {
				return errors.New("VANISHED given twice")
			}
			r.Vanished = true
		case l[i].Kind == wire.Atom:
			return fmt.Errorf("unknown FETCH modifier %s", l[i].Text)
		default:
			return errors.New("FETCH modifier must be an atom")
		}
	}
	// RFC 7162 §3.2.6: VANISHED only together with CHANGEDSINCE.
	if r.Vanished && !r.HasChangedSince {
		return errors.New("VANISHED without CHANGEDSINCE")
	}
	return nil
}

// parseNumber64 parses an RFC 9051 number64 (0 to 2^63-1); RFC 7162's
// mod-sequence-value is the same range without 0, which clients send anyway
// to mean "everything".
func parseNumber64(t wire.Token) (uint64, error) {
	if t.Kind != wire.Atom || !isDigits(t.Text) {
		return 0, fmt.Errorf("%q is not a number", t.Text)
	}
	n, err := strconv.ParseUint(t.Text, 10, 63)
	if err != nil {
		return 0, fmt.Errorf("%s is out of range", t.Text)
	}
	return n, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseItem parses one fetch-att (RFC 9051 §9 formal syntax).
func parseItem(text string) (Item, error) {
	br := strings.IndexByte(text, '[')
	if br < 0 {
		up := strings.ToUpper(text)
		if k, ok := simpleItems[up]; ok {
			return Item{Kind: k}, nil
		}
		switch up {
		case "BODY.PEEK", "BINARY", "BINARY.PEEK", "BINARY.SIZE":
			return Item{}, fmt.Errorf("%s without a section", up)
		}
		return Item{}, fmt.Errorf("unknown FETCH attribute %s", text)
	}
	name := strings.ToUpper(text[:br])
	p := &sectionParser{s: text, i: br + 1}
	switch name {
	case "BODY", "BODY.PEEK":
		sec, err := p.bodySection()
		if err != nil {
			return Item{}, err
		}
		sec.Peek = name == "BODY.PEEK"
		if sec.Partial, err = p.partial(); err != nil {
			return Item{}, err
		}
		return Item{Kind: ItemBodySection, Section: sec}, nil
	case "BINARY", "BINARY.PEEK", "BINARY.SIZE":
		part, err := p.binarySection()
		if err != nil {
			return Item{}, err
		}
		if name == "BINARY.SIZE" {
			if p.i < len(p.s) {
				return Item{}, fmt.Errorf("unexpected %q after BINARY.SIZE section", p.s[p.i:])
			}
			return Item{Kind: ItemBinarySize, BinarySize: &imap.FetchItemBinarySectionSize{Part: part}}, nil
		}
		bin := &imap.FetchItemBinarySection{Part: part, Peek: name == "BINARY.PEEK"}
		if bin.Partial, err = p.partial(); err != nil {
			return Item{}, err
		}
		return Item{Kind: ItemBinary, Binary: bin}, nil
	}
	return Item{}, fmt.Errorf("unknown FETCH attribute %s", text[:br])
}

// sectionParser scans the text of a fetch attribute from just after "[".
type sectionParser struct {
	s string
	i int
}

func (p *sectionParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

// part parses section-part: nz-number *("." nz-number). It stops before a
// "." that is not followed by a digit, which starts the section-text.
func (p *sectionParser) part() ([]int, error) {
	var part []int
	for p.i < len(p.s) && isDigit(p.s[p.i]) {
		j := p.i
		for j < len(p.s) && isDigit(p.s[j]) {
			j++
		}
		num := p.s[p.i:j]
		n, err := strconv.ParseUint(num, 10, 32)
		if err != nil || n == 0 || num[0] == '0' {
			return nil, fmt.Errorf("bad section part number %s", num)
		}
		part = append(part, int(n))
		p.i = j
		if p.peek() == '.' && p.i+1 < len(p.s) && isDigit(p.s[p.i+1]) {
			p.i++
		}
	}
	return part, nil
}

// bodySection parses section-spec up to and including "]" (RFC 9051 §6.4.5).
func (p *sectionParser) bodySection() (*imap.FetchItemBodySection, error) {
	sec := &imap.FetchItemBodySection{}
	var err error
	if sec.Part, err = p.part(); err != nil {
		return nil, err
	}
	if p.peek() == ']' {
		p.i++
		return sec, nil
	}
	if len(sec.Part) > 0 {
		if p.peek() != '.' {
			return nil, fmt.Errorf("bad section %s", p.rest())
		}
		p.i++
	}
	j := p.i
	for j < len(p.s) && p.s[j] != ' ' && p.s[j] != ']' && p.s[j] != '(' {
		j++
	}
	word := strings.ToUpper(p.s[p.i:j])
	p.i = j
	switch word {
	case "HEADER":
		sec.Specifier = imap.PartSpecifierHeader
	case "TEXT":
		sec.Specifier = imap.PartSpecifierText
	case "MIME":
		if len(sec.Part) == 0 {
			return nil, errors.New("bad section MIME without a part number")
		}
		sec.Specifier = imap.PartSpecifierMIME
	case "HEADER.FIELDS", "HEADER.FIELDS.NOT":
		sec.Specifier = imap.PartSpecifierHeader
		// The original Courier also takes the list without the space.
		if p.peek() == ' ' {
			p.i++
		}
		if p.peek() != '(' {
			return nil, fmt.Errorf("bad section %s without a list", word)
		}
		p.i++
		names, err := p.headerList()
		if err != nil {
			return nil, fmt.Errorf("bad section %s: %v", word, err)
		}
		if word == "HEADER.FIELDS" {
			sec.HeaderFields = names
		} else {
			sec.HeaderFieldsNot = names
		}
	default:
		return nil, fmt.Errorf("bad section %s", word)
	}
	if p.peek() != ']' {
		return nil, fmt.Errorf("bad section: unexpected %q", p.rest())
	}
	p.i++
	return sec, nil
}

func (p *sectionParser) rest() string { return p.s[p.i:] }

// headerList parses header-fld-name *(SP header-fld-name) ")", the names
// being astrings: atoms or quoted strings.
func (p *sectionParser) headerList() ([]string, error) {
	var names []string
	for {
		switch c := p.peek(); {
		case c == '"':
			s, err := p.quoted()
			if err != nil {
				return nil, err
			}
			names = append(names, s)
		case isAtomChar(c):
			j := p.i
			for j < len(p.s) && isAtomChar(p.s[j]) {
				j++
			}
			names = append(names, p.s[p.i:j])
			p.i = j
		case c == ')' && len(names) == 0:
			return nil, errors.New("empty header list")
		default:
			return nil, fmt.Errorf("bad header field name at %q", p.rest())
		}
		switch p.peek() {
		case ' ':
			p.i++
		case ')':
			p.i++
			return names, nil
		default:
			return nil, errors.New("unterminated header list")
		}
	}
}

// quoted parses an RFC 9051 quoted string starting at its opening quote.
func (p *sectionParser) quoted() (string, error) {
	var b strings.Builder
	for j := p.i + 1; j < len(p.s); j++ {
		switch c := p.s[j]; c {
		case '"':
			p.i = j + 1
			return b.String(), nil
		case '\\':
			j++
			if j == len(p.s) || (p.s[j] != '"' && p.s[j] != '\\') {
				return "", errors.New("bad escape in quoted string")
			}
			b.WriteByte(p.s[j])
		case '\r', '\n', 0:
			return "", errors.New("bad character in quoted string")
		default:
			b.WriteByte(c)
		}
	}
	return "", errors.New("unterminated quoted string")
}

// binarySection parses section-binary (RFC 3516 §4.2): "[" [section-part] "]".
func (p *sectionParser) binarySection() ([]int, error) {
	part, err := p.part()
	if err != nil {
		return nil, err
	}
	if p.peek() != ']' {
		return nil, fmt.Errorf("bad binary section %s", p.rest())
	}
	p.i++
	return part, nil
}

// partial parses the optional "<" number64 "." nz-number64 ">" that ends
// the attribute (RFC 9051 §6.4.5).
func (p *sectionParser) partial() (*imap.SectionPartial, error) {
	if p.i == len(p.s) {
		return nil, nil
	}
	r := p.rest()
	if r[0] != '<' || r[len(r)-1] != '>' {
		return nil, fmt.Errorf("unexpected %q after section", r)
	}
	// "<start,length>" is the original Courier's older spelling.
	start, length, ok := strings.Cut(r[1:len(r)-1], ".")
	if !ok {
		start, length, ok = strings.Cut(r[1:len(r)-1], ",")
	}
	if !ok || !isDigits(start) || !isDigits(length) {
		return nil, fmt.Errorf("bad partial %s", r)
	}
	off, err1 := strconv.ParseUint(start, 10, 63)
	n, err2 := strconv.ParseUint(length, 10, 63)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("partial %s is out of range", r)
	}
	if n == 0 {
		return nil, fmt.Errorf("partial %s has length 0", r)
	}
	p.i = len(p.s)
	return &imap.SectionPartial{Offset: int64(off), Size: int64(n)}, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isAtomChar: ATOM-CHAR of RFC 9051 (any CHAR except atom-specials).
func isAtomChar(c byte) bool {
	if c <= ' ' || c >= 0x7f {
		return false
	}
	switch c {
	case '(', ')', '{', '%', '*', '"', '\\', ']':
		return false
	}
	return true
}
