package fetch

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// Message is what Write needs to know of one message.
type Message interface {
	SeqNum() uint32
	UID() uint32
	Flags() []imap.Flag
	InternalDate() time.Time
	// Size is RFC822.SIZE: the message's size with CRLF line ends, or -1
	// when the caller does not know it (Write then counts it).
	Size() int64
	ModSeq() uint64
	// Open returns the message file (LF or CRLF line ends) from its start.
	// Write may open it several times for one response.
	Open() (io.ReadCloser, error)
}

// Options describe the session a response is written for.
type Options struct {
	// UID: this is UID FETCH, so UID is always included (RFC 9051 §6.4.9).
	UID bool
	// CondStore: CONDSTORE is enabled in the session (RFC 7162 §3.1).
	CondStore bool
	// UTF8: the client enabled UTF8=ACCEPT (RFC 9051 §6.3.1, RFC 6855), so
	// ENVELOPE and BODYSTRUCTURE strings may carry UTF-8; otherwise 8-bit
	// text in them is sent as RFC 2047 encoded-words, as the original
	// Courier does.
	UTF8 bool
	// SeenSet: the caller has just set \Seen on this message because the
	// request fetches content (Request.SetsSeen); the response then also
	// carries FLAGS, and MODSEQ when CondStore is set (RFC 9051 §6.4.5,
	// RFC 7162 §3.2).
	SeenSet bool
}

// ErrUnknownCTE: a BINARY section's Content-Transfer-Encoding cannot be
// decoded; the command fails with NO [UNKNOWN-CTE] (RFC 3516 §4.3).
var ErrUnknownCTE = errors.New("unknown Content-Transfer-Encoding")

// Write writes "* <seq> FETCH (...)" and CRLF for one message.
//
// The response is prepared before anything is written, so an error from
// opening the message or an unknown transfer encoding (ErrUnknownCTE)
// leaves w untouched; an error afterwards means the response is cut short
// and the connection cannot continue.
//
// setSeen reports that the request fetched content without .PEEK and the
// message does not have \Seen yet: the caller stores \Seen and reports the
// new flags (the original Courier sends a separate "* n FETCH (FLAGS ...)").
// A caller that sets \Seen before calling Write passes Options.SeenSet
// instead and gets false.
func Write(w io.Writer, req *Request, m Message, opt Options) (setSeen bool, err error) {
	r := &renderer{m: m, opt: opt}
	items := r.items(req)
	var parts []piece
	parts = append(parts, text("* "+strconv.FormatUint(uint64(m.SeqNum()), 10)+" FETCH ("))
	for i, it := range items {
		if i > 0 {
			parts = append(parts, text(" "))
		}
		p, err := r.item(it)
		if err != nil {
			return false, err
		}
		parts = append(parts, p...)
	}
	parts = append(parts, text(")\r\n"))
	for _, p := range parts {
		if err := p(w); err != nil {
			return false, err
		}
	}
	return req.SetsSeen() && !slices.Contains(m.Flags(), imap.FlagSeen), nil
}

// piece writes one part of the response.
type piece func(w io.Writer) error

func text(s string) piece {
	return func(w io.Writer) error {
		_, err := io.WriteString(w, s)
		return err
	}
}

// items lists what to answer, in order: UID first when UID FETCH did not
// ask for it (as the original Courier does), then the request's items, then
// MODSEQ and FLAGS when they are implied.
func (r *renderer) items(req *Request) []Item {
	var items []Item
	has := func(k Kind) bool {
		return slices.ContainsFunc(req.Items, func(it Item) bool { return it.Kind == k })
	}
	if r.opt.UID && !has(ItemUID) {
		items = append(items, Item{Kind: ItemUID})
	}
	items = append(items, req.Items...)
	// RFC 7162 §3.1.4.1: CHANGEDSINCE implies MODSEQ; §3.2: with
	// CONDSTORE enabled a flag change is reported with its MODSEQ.
	if !has(ItemModSeq) && (req.HasChangedSince || (r.opt.CondStore && r.opt.SeenSet)) {
		items = append(items, Item{Kind: ItemModSeq})
	}
	if r.opt.SeenSet && !has(ItemFlags) {
		items = append(items, Item{Kind: ItemFlags})
	}
	return items
}

// responseName is the name an item is answered under (RFC 9051 §7.5.2).
func responseName(it Item) string {
	switch it.Kind {
	case ItemEnvelope:
		return "ENVELOPE"
	case ItemFlags:
		return "FLAGS"
	case ItemInternalDate:
		return "INTERNALDATE"
	case ItemRFC822:
		return "RFC822"
	case ItemRFC822Header:
		return "RFC822.HEADER"
	case ItemRFC822Size:
		return "RFC822.SIZE"
	case ItemRFC822Text:
		return "RFC822.TEXT"
	case ItemUID:
		return "UID"
	case ItemBody:
		return "BODY"
	case ItemBodyStructure:
		return "BODYSTRUCTURE"
	case ItemModSeq:
		return "MODSEQ"
	case ItemBodySection:
		return "BODY[" + sectionString(it.Section) + "]" + origin(it.Section.Partial)
	case ItemBinary:
		return "BINARY[" + partString(it.Binary.Part) + "]" + origin(it.Binary.Partial)
	case ItemBinarySize:
		return "BINARY.SIZE[" + partString(it.BinarySize.Part) + "]"
	}
	return ""
}

// origin: a partial fetch is answered with its origin octet only
// (RFC 9051 §7.5.2, RFC 3516 §4.2).
func origin(p *imap.SectionPartial) string {
	if p == nil {
		return ""
	}
	return "<" + strconv.FormatInt(p.Offset, 10) + ">"
}

func partString(part []int) string {
	s := make([]string, len(part))
	for i, n := range part {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ".")
}

// sectionString renders a section-spec; header field names are always
// quoted, as the original Courier does.
func sectionString(sec *imap.FetchItemBodySection) string {
	s := partString(sec.Part)
	if sec.Specifier == imap.PartSpecifierNone {
		return s
	}
	if s != "" {
		s += "."
	}
	s += string(sec.Specifier)
	names := sec.HeaderFields
	switch {
	case len(sec.HeaderFields) > 0:
		s += ".FIELDS"
	case len(sec.HeaderFieldsNot) > 0:
		s += ".FIELDS.NOT"
		names = sec.HeaderFieldsNot
	default:
		return s
	}
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = quote(n)
	}
	return s + " (" + strings.Join(q, " ") + ")"
}

// quote makes an RFC 9051 quoted string of s as it is; callers remove CR,
// LF and NUL first.
func quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// renderer writes one message's response and caches what several items
// share: the result of scanning the message, its parsed header.
type renderer struct {
	m    Message
	opt  Options
	scan *scanResult
	hdr  *textproto.Header
	bs   *part
}

// item prepares one data item.
func (r *renderer) item(it Item) ([]piece, error) {
	name := responseName(it)
	m := r.m
	switch it.Kind {
	case ItemFlags:
		flags := m.Flags()
		s := make([]string, len(flags))
		for i, f := range flags {
			s[i] = string(f)
		}
		return []piece{text("FLAGS (" + strings.Join(s, " ") + ")")}, nil
	case ItemUID:
		return []piece{text("UID " + strconv.FormatUint(uint64(m.UID()), 10))}, nil
	case ItemModSeq:
		return []piece{text("MODSEQ (" + strconv.FormatUint(m.ModSeq(), 10) + ")")}, nil
	case ItemInternalDate:
		return []piece{text("INTERNALDATE \"" + m.InternalDate().Format("_2-Jan-2006 15:04:05 -0700") + "\"")}, nil
	case ItemRFC822Size:
		size := m.Size()
		if size < 0 {
			sc, err := r.scanned(true)
			if err != nil {
				return nil, err
			}
			size = sc.total
		}
		return []piece{text("RFC822.SIZE " + strconv.FormatInt(size, 10))}, nil
	case ItemEnvelope:
		// A cached message's ENVELOPE is rendered once.
		if p := r.prescan(); p != nil {
			return []piece{text(p.Envelope(r.opt.UTF8))}, nil
		}
		h, err := r.header()
		if err != nil {
			return nil, err
		}
		return []piece{text("ENVELOPE " + envelope(h, r.opt.UTF8))}, nil
	case ItemBody, ItemBodyStructure:
		bs, err := r.structure()
		if err != nil {
			return nil, err
		}
		var b strings.Builder
		b.WriteString(name + " ")
		bs.render(&b, it.Kind == ItemBodyStructure, r.opt.UTF8)
		return []piece{text(b.String())}, nil
	case ItemRFC822:
		return r.rangeItem(name, partWhole, nil)
	case ItemRFC822Header:
		return r.rangeItem(name, partHeader, nil)
	case ItemRFC822Text:
		return r.rangeItem(name, partText, nil)
	case ItemBodySection:
		return r.bodySection(name, it.Section)
	case ItemBinary:
		data, err := r.binary(it.Binary.Part)
		if err != nil {
			return nil, err
		}
		return []piece{text(name + " "), literal8(slice(data, it.Binary.Partial))}, nil
	case ItemBinarySize:
		data, err := r.binary(it.BinarySize.Part)
		if err != nil {
			return nil, err
		}
		return []piece{text(name + " " + strconv.Itoa(len(data)))}, nil
	}
	return nil, fmt.Errorf("unknown fetch item kind %d", it.Kind)
}

// Ranges of the whole message that are streamed from the file.
const (
	partWhole = iota
	partHeader
	partText
)

// rangeItem answers a top-level section by streaming it from the file.
func (r *renderer) rangeItem(name string, which int, partial *imap.SectionPartial) ([]piece, error) {
	sc, err := r.scanned(which != partHeader)
	if err != nil {
		return nil, err
	}
	start, end := int64(0), sc.total
	switch which {
	case partHeader:
		end = sc.headerEnd
	case partText:
		start = sc.headerEnd
	}
	if partial != nil {
		start, end = clip(start, end, partial)
	}
	n := end - start
	m := r.m
	stream := func(w io.Writer) error {
		if _, err := io.WriteString(w, "{"+strconv.FormatInt(n, 10)+"}\r\n"); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		f, err := m.Open()
		if err != nil {
			return err
		}
		defer f.Close()
		cr := newCRLFReader(f)
		if _, err := io.CopyN(io.Discard, cr, start); err != nil {
			return fmt.Errorf("message changed while reading it: %w", err)
		}
		if _, err := io.CopyN(w, cr, n); err != nil {
			return fmt.Errorf("message changed while reading it: %w", err)
		}
		return nil
	}
	return []piece{text(name + " "), stream}, nil
}

// clip narrows [start, end) to a partial fetch: an origin beyond the end
// gives an empty string (RFC 9051 §6.4.5).
func clip(start, end int64, p *imap.SectionPartial) (int64, int64) {
	if p.Offset >= end-start {
		return end, end
	}
	s := start + p.Offset
	if p.Size < end-s {
		end = s + p.Size
	}
	return s, end
}

func slice(b []byte, p *imap.SectionPartial) []byte {
	if p == nil {
		return b
	}
	s, e := clip(0, int64(len(b)), p)
	return b[s:e]
}

// bodySection answers BODY[section]<partial>.
func (r *renderer) bodySection(name string, sec *imap.FetchItemBodySection) ([]piece, error) {
	sc, err := r.scanned(false)
	if err != nil {
		return nil, err
	}
	part := sec.Part
	// RFC 9051 §6.4.5: part 1 of a message that is not multipart is its
	// body, which is TEXT of the whole message: stream it too.
	if len(part) == 1 && part[0] == 1 && sec.Specifier == imap.PartSpecifierNone && !sc.multipart {
		part = nil
		sec = &imap.FetchItemBodySection{Specifier: imap.PartSpecifierText, Partial: sec.Partial}
	}
	if len(part) == 0 {
		switch {
		case sec.Specifier == imap.PartSpecifierNone:
			return r.rangeItem(name, partWhole, sec.Partial)
		case sec.Specifier == imap.PartSpecifierText:
			return r.rangeItem(name, partText, sec.Partial)
		case len(sec.HeaderFields) == 0 && len(sec.HeaderFieldsNot) == 0:
			return r.rangeItem(name, partHeader, sec.Partial)
		}
		data := filterHeader(sc.header, sec.HeaderFields, sec.HeaderFieldsNot)
		return []piece{text(name + " "), literal(slice(data, sec.Partial))}, nil
	}
	m := r.m
	if len(sec.HeaderFields) > 0 || len(sec.HeaderFieldsNot) > 0 {
		hdr, err := extract(m, &imap.FetchItemBodySection{Part: part, Specifier: imap.PartSpecifierHeader})
		if err != nil {
			return nil, err
		}
		data := filterHeader(hdr, sec.HeaderFields, sec.HeaderFieldsNot)
		return []piece{text(name + " "), literal(slice(data, sec.Partial))}, nil
	}
	// A part is extracted when its turn to be written comes, so that
	// several large parts are not all held in memory at once.
	spec := &imap.FetchItemBodySection{Part: part, Specifier: sec.Specifier}
	partial := sec.Partial
	lazy := func(w io.Writer) error {
		data, err := extract(m, spec)
		if err != nil {
			return err
		}
		return literal(slice(data, partial))(w)
	}
	return []piece{text(name + " "), lazy}, nil
}

// extract runs go-imap's section extraction on the message with CRLF line
// ends, so that sizes count CRLF; a section that does not exist is an
// empty string, as the original Courier sends.
func extract(m Message, sec *imap.FetchItemBodySection) ([]byte, error) {
	f, err := m.Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return imapserver.ExtractBodySection(newCRLFReader(f), sec), nil
}

// literal writes data as an RFC 9051 literal.
func literal(data []byte) piece {
	return func(w io.Writer) error {
		if _, err := io.WriteString(w, "{"+strconv.Itoa(len(data))+"}\r\n"); err != nil {
			return err
		}
		_, err := w.Write(data)
		return err
	}
}

// literal8 writes decoded binary data: a literal8 when it holds NUL, which
// a literal may not carry (RFC 3516 §4.3).
func literal8(data []byte) piece {
	if bytes.IndexByte(data, 0) < 0 {
		return literal(data)
	}
	return func(w io.Writer) error {
		if _, err := io.WriteString(w, "~{"+strconv.Itoa(len(data))+"}\r\n"); err != nil {
			return err
		}
		_, err := w.Write(data)
		return err
	}
}

// scanned scans the message with CRLF line ends, at most once: up to the
// end of its header, or whole when full is set (for its size).
func (r *renderer) scanned(full bool) (*scanResult, error) {
	if r.scan != nil && (r.scan.full || !full) {
		return r.scan, nil
	}
	if p := r.prescan(); p != nil {
		hdr := parseHeader(p.Header)
		gh := gomessage.Header{Header: hdr}
		mt, _, _ := gh.ContentType()
		r.scan = &scanResult{full: true, total: p.Size, headerEnd: int64(len(p.Header)), header: p.Header, multipart: strings.HasPrefix(mt, "multipart/")}
		r.hdr = &hdr
		return r.scan, nil
	}
	f, err := r.m.Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc, err := scan(f, full)
	if err != nil {
		return nil, err
	}
	r.scan = sc
	return sc, nil
}

// prescan returns the message's Prescan when a cache knows it.
func (r *renderer) prescan() *Prescan {
	if p, ok := r.m.(Prescanned); ok {
		if ps, ok := p.Scan(); ok {
			return ps
		}
	}
	return nil
}

// header is the message's top-level header, parsed.
func (r *renderer) header() (*textproto.Header, error) {
	if r.hdr != nil {
		return r.hdr, nil
	}
	sc, err := r.scanned(false)
	if err != nil {
		return nil, err
	}
	if r.hdr != nil {
		return r.hdr, nil // parsed by scanned
	}
	h := parseHeader(sc.header)
	r.hdr = &h
	return r.hdr, nil
}

// parseHeader parses a header block, keeping the fields before a malformed
// line rather than failing.
func parseHeader(b []byte) textproto.Header {
	h, _ := textproto.ReadHeader(bufio.NewReaderSize(bytes.NewReader(b), min(len(b)+16, 4096)))
	return h
}

// structure parses the message's MIME structure, once.
func (r *renderer) structure() (*part, error) {
	if r.bs != nil {
		return r.bs, nil
	}
	f, err := r.m.Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r.bs = parseStructure(newCRLFReader(f))
	return r.bs, nil
}

// nstring renders an envelope or body structure string: NIL when empty,
// otherwise quoted. 8-bit text becomes RFC 2047 encoded-words unless the
// client accepts UTF-8 and the text is valid UTF-8 (RFC 6855 §3, as the
// original Courier does); CR, LF and NUL, which a quoted string cannot
// carry, become spaces.
func nstring(s string, utf8OK bool) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return "NIL"
	}
	return qstring(s, utf8OK)
}

// qstring is nstring without NIL: an empty s gives "".
func qstring(s string, utf8OK bool) string {
	if has8bit(s) {
		valid := utf8.ValidString(s)
		if !utf8OK || !valid {
			charset := "utf-8"
			if !valid {
				charset = "unknown-8bit"
			}
			s = mime.QEncoding.Encode(charset, s)
		}
	}
	if strings.ContainsAny(s, "\r\n\x00") {
		s = strings.Map(func(c rune) rune {
			if c == '\r' || c == '\n' || c == 0 {
				return ' '
			}
			return c
		}, s)
	}
	return quote(s)
}

func has8bit(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return true
		}
	}
	return false
}
