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
	"sync"
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
	defer r.release()
	bp := textBufs.Get().(*[]byte)
	defer textBufs.Put(bp)
	o := &response{text: (*bp)[:0]}
	o.text = append(o.text, "* "...)
	o.text = strconv.AppendUint(o.text, uint64(m.SeqNum()), 10)
	o.text = append(o.text, " FETCH ("...)
	for i, it := range r.items(req) {
		if i > 0 {
			o.text = append(o.text, ' ')
		}
		if err := r.item(o, it); err != nil {
			return false, err
		}
	}
	o.text = append(o.text, ")\r\n"...)
	for _, p := range o.parts {
		if err := p(w); err != nil {
			return false, err
		}
	}
	if _, err := w.Write(o.text); err != nil {
		return false, err
	}
	if cap(o.text) <= 64<<10 {
		*bp = o.text
	}
	return req.SetsSeen() && !slices.Contains(m.Flags(), imap.FlagSeen), nil
}

// textBufs hold the text of the responses being prepared.
var textBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// response is a response being prepared: its text, with the pieces
// written from elsewhere (the message file, data in memory) in between.
type response struct {
	parts []piece // the response up to text
	text  []byte  // the text after the last piece
}

// piece writes one part of the response.
type piece func(w io.Writer) error

// add appends a piece, after the text so far.
func (o *response) add(p piece) {
	if len(o.text) > 0 {
		t := o.text
		o.parts = append(o.parts, func(w io.Writer) error {
			_, err := w.Write(t)
			return err
		})
		o.text = o.text[len(o.text):]
	}
	o.parts = append(o.parts, p)
}

// items lists what to answer, in order: UID first when UID FETCH did not
// ask for it (as the original Courier does), then the request's items, then
// MODSEQ and FLAGS when they are implied.
func (r *renderer) items(req *Request) []Item {
	has := func(k Kind) bool {
		return slices.ContainsFunc(req.Items, func(it Item) bool { return it.Kind == k })
	}
	uid := r.opt.UID && !has(ItemUID)
	// RFC 7162 §3.1.4.1: CHANGEDSINCE implies MODSEQ; §3.2: with
	// CONDSTORE enabled a flag change is reported with its MODSEQ.
	modseq := !has(ItemModSeq) && (req.HasChangedSince || (r.opt.CondStore && r.opt.SeenSet))
	flags := r.opt.SeenSet && !has(ItemFlags)
	if !uid && !modseq && !flags {
		return req.Items
	}
	var items []Item
	if uid {
		items = append(items, Item{Kind: ItemUID})
	}
	items = append(items, req.Items...)
	if modseq {
		items = append(items, Item{Kind: ItemModSeq})
	}
	if flags {
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
func quote(s string) string { return string(appendQuoted(make([]byte, 0, len(s)+2), s)) }

func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

// renderer writes one message's response and caches what several items
// share: the result of scanning the message, its parsed header, the
// message read whole.
type renderer struct {
	m     Message
	opt   Options
	scan  *scanResult
	hdr   *textproto.Header
	bs    *part
	whole *[]byte // from wholeBufs, returned by release
}

// release returns the renderer's buffers once the response is written.
func (r *renderer) release() {
	if r.whole != nil {
		wholeBufs.Put(r.whole)
		r.whole = nil
	}
}

// item prepares one data item.
func (r *renderer) item(o *response, it Item) error {
	m := r.m
	switch it.Kind {
	case ItemFlags:
		o.text = append(o.text, "FLAGS ("...)
		for i, f := range m.Flags() {
			if i > 0 {
				o.text = append(o.text, ' ')
			}
			o.text = append(o.text, f...)
		}
		o.text = append(o.text, ')')
	case ItemUID:
		o.text = append(o.text, "UID "...)
		o.text = strconv.AppendUint(o.text, uint64(m.UID()), 10)
	case ItemModSeq:
		o.text = append(o.text, "MODSEQ ("...)
		o.text = strconv.AppendUint(o.text, m.ModSeq(), 10)
		o.text = append(o.text, ')')
	case ItemInternalDate:
		o.text = append(o.text, "INTERNALDATE \""...)
		o.text = m.InternalDate().AppendFormat(o.text, "_2-Jan-2006 15:04:05 -0700")
		o.text = append(o.text, '"')
	case ItemRFC822Size:
		size := m.Size()
		if size < 0 {
			sc, err := r.scanned(true)
			if err != nil {
				return err
			}
			size = sc.total
		}
		o.text = append(o.text, "RFC822.SIZE "...)
		o.text = strconv.AppendInt(o.text, size, 10)
	case ItemEnvelope:
		// A cached message's ENVELOPE is rendered once.
		if p := r.prescan(); p != nil {
			o.text = append(o.text, p.Envelope(r.opt.UTF8)...)
			return nil
		}
		sc, err := r.scanned(false)
		if err != nil {
			return err
		}
		o.text = appendEnvelopeOf(append(o.text, "ENVELOPE "...), sc.header, r.opt.UTF8)
	case ItemBody, ItemBodyStructure:
		bs, err := r.structure()
		if err != nil {
			return err
		}
		var b strings.Builder
		b.WriteString(responseName(it) + " ")
		bs.render(&b, it.Kind == ItemBodyStructure, r.opt.UTF8)
		o.text = append(o.text, b.String()...)
	case ItemRFC822:
		return r.rangeItem(o, responseName(it), partWhole, nil)
	case ItemRFC822Header:
		return r.rangeItem(o, responseName(it), partHeader, nil)
	case ItemRFC822Text:
		return r.rangeItem(o, responseName(it), partText, nil)
	case ItemBodySection:
		return r.bodySection(o, responseName(it), it.Section)
	case ItemBinary:
		data, err := r.binary(it.Binary.Part)
		if err != nil {
			return err
		}
		o.text = append(o.text, responseName(it)+" "...)
		o.add(literal8(slice(data, it.Binary.Partial)))
	case ItemBinarySize:
		data, err := r.binary(it.BinarySize.Part)
		if err != nil {
			return err
		}
		o.text = append(o.text, responseName(it)+" "...)
		o.text = strconv.AppendInt(o.text, int64(len(data)), 10)
	default:
		return fmt.Errorf("unknown fetch item kind %d", it.Kind)
	}
	return nil
}

// Ranges of the whole message that are streamed from the file.
const (
	partWhole = iota
	partHeader
	partText
)

// rangeItem answers a top-level section: from the message read whole when
// it is the whole message and small, else streamed from the file.
func (r *renderer) rangeItem(o *response, name string, which int, partial *imap.SectionPartial) error {
	if which == partWhole {
		data, err := r.readWhole()
		if err != nil {
			return err
		}
		if data != nil {
			o.text = append(o.text, name+" "...)
			o.add(literal(slice(data, partial)))
			return nil
		}
	}
	sc, err := r.scanned(which != partHeader)
	if err != nil {
		return err
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
	o.text = append(o.text, name+" "...)
	o.add(func(w io.Writer) error {
		if _, err := io.WriteString(w, "{"+strconv.FormatInt(n, 10)+"}\r\n"); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		f, err := open(m)
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
	})
	return nil
}

// maxWhole bounds the messages that FETCH of a whole message reads into
// memory at once (with CRLF line ends: up to twice as much); larger ones
// are streamed from the file after a pass that counts their size.
const maxWhole = 256 << 10

// wholeBufs hold messages read whole: the file's bytes up to maxWhole+1,
// then the message with CRLF line ends.
var wholeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

// readWhole returns the message with CRLF line ends, read from its file
// in one go (a cache of sizes is then not needed); nil when the file is
// larger than maxWhole.
func (r *renderer) readWhole() ([]byte, error) {
	if r.whole != nil {
		return *r.whole, nil
	}
	if r.m.Size() > 2*maxWhole {
		// Its file holds at least half its size with CRLF: too large,
		// and not worth reading maxWhole bytes of to find out.
		return nil, nil
	}
	f, err := open(r.m)
	if err != nil {
		return nil, err
	}
	raw := wholeBufs.Get().(*[]byte)
	defer wholeBufs.Put(raw)
	n, err := readUpTo(f, raw, maxWhole+1)
	f.Close()
	if err != nil || n > maxWhole {
		return nil, err
	}
	out := wholeBufs.Get().(*[]byte)
	*out = appendCRLF((*out)[:0], (*raw)[:n])
	r.whole = out
	return *out, nil
}

// readUpTo reads f into *buf, growing it, up to the end of the file or
// limit bytes; it returns how many it read.
func readUpTo(f io.Reader, buf *[]byte, limit int) (int, error) {
	b := (*buf)[:0]
	for len(b) < limit {
		if len(b) == cap(b) {
			b = slices.Grow(b, min(max(cap(b), 32<<10), limit-len(b)))
		}
		n, err := f.Read(b[len(b):min(cap(b), limit)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			*buf = b
			return 0, err
		}
	}
	*buf = b
	return len(b), nil
}

// appendCRLF appends data, a message, with its bare LF line ends made
// CRLF.
func appendCRLF(out, data []byte) []byte {
	out = slices.Grow(out, len(data)+len(data)/32)
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return append(out, data...)
		}
		out = append(out, data[:i]...)
		if i == 0 || data[i-1] != '\r' {
			out = append(out, '\r')
		}
		out = append(out, '\n')
		data = data[i+1:]
	}
	return out
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
func (r *renderer) bodySection(o *response, name string, sec *imap.FetchItemBodySection) error {
	part := sec.Part
	// RFC 9051 §6.4.5: part 1 of a message that is not multipart is its
	// body, which is TEXT of the whole message: stream it too.
	if len(part) == 1 && part[0] == 1 && sec.Specifier == imap.PartSpecifierNone {
		multi, err := r.multipart()
		if err != nil {
			return err
		}
		if !multi {
			part = nil
			sec = &imap.FetchItemBodySection{Specifier: imap.PartSpecifierText, Partial: sec.Partial}
		}
	}
	if len(part) == 0 {
		switch {
		case sec.Specifier == imap.PartSpecifierNone:
			return r.rangeItem(o, name, partWhole, sec.Partial)
		case sec.Specifier == imap.PartSpecifierText:
			return r.rangeItem(o, name, partText, sec.Partial)
		case len(sec.HeaderFields) == 0 && len(sec.HeaderFieldsNot) == 0:
			return r.rangeItem(o, name, partHeader, sec.Partial)
		}
		sc, err := r.scanned(false)
		if err != nil {
			return err
		}
		data := filterHeader(sc.header, sec.HeaderFields, sec.HeaderFieldsNot)
		o.text = append(o.text, name+" "...)
		o.add(literal(slice(data, sec.Partial)))
		return nil
	}
	// The file is read first, so that a message gone fails the command
	// before anything of the response is written.
	if _, err := r.scanned(false); err != nil {
		return err
	}
	m := r.m
	if len(sec.HeaderFields) > 0 || len(sec.HeaderFieldsNot) > 0 {
		hdr, err := extract(m, &imap.FetchItemBodySection{Part: part, Specifier: imap.PartSpecifierHeader})
		if err != nil {
			return err
		}
		data := filterHeader(hdr, sec.HeaderFields, sec.HeaderFieldsNot)
		o.text = append(o.text, name+" "...)
		o.add(literal(slice(data, sec.Partial)))
		return nil
	}
	// A part is extracted when its turn to be written comes, so that
	// several large parts are not all held in memory at once.
	spec := &imap.FetchItemBodySection{Part: part, Specifier: sec.Specifier}
	partial := sec.Partial
	o.text = append(o.text, name+" "...)
	o.add(func(w io.Writer) error {
		data, err := extract(m, spec)
		if err != nil {
			return err
		}
		return literal(slice(data, partial))(w)
	})
	return nil
}

// extract runs go-imap's section extraction on the message with CRLF line
// ends, so that sizes count CRLF; a section that does not exist is an
// empty string, as the original Courier sends.
func extract(m Message, sec *imap.FetchItemBodySection) ([]byte, error) {
	f, err := open(m)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return imapserver.ExtractBodySection(newCRLFReader(f), sec), nil
}

// FileOpener is a Message that can open its file at less cost than Open
// (without an os.File), for the reads of one response.
type FileOpener interface {
	OpenFile() (io.ReadCloser, error)
}

// open opens the message file.
func open(m Message) (io.ReadCloser, error) {
	if fo, ok := m.(FileOpener); ok {
		return fo.OpenFile()
	}
	return m.Open()
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
		r.scan = &scanResult{full: true, total: p.Size, headerEnd: int64(len(p.Header)), header: p.Header}
		return r.scan, nil
	}
	f, err := open(r.m)
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
	h := parseHeader(sc.header)
	r.hdr = &h
	return r.hdr, nil
}

// multipart reports whether the message's top-level Content-Type is
// multipart/*.
func (r *renderer) multipart() (bool, error) {
	h, err := r.header()
	if err != nil {
		return false, err
	}
	mt, _, _ := (&gomessage.Header{Header: *h}).ContentType()
	return strings.HasPrefix(mt, "multipart/"), nil
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
	f, err := open(r.m)
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
func nstring(s string, utf8OK bool) string { return string(appendNString(nil, s, utf8OK)) }

func appendNString(b []byte, s string, utf8OK bool) []byte {
	s = strings.TrimSpace(s)
	if s == "" {
		return append(b, "NIL"...)
	}
	return appendQString(b, s, utf8OK)
}

// qstring is nstring without NIL: an empty s gives "".
func qstring(s string, utf8OK bool) string { return string(appendQString(nil, s, utf8OK)) }

func appendQString(b []byte, s string, utf8OK bool) []byte {
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
	return appendQuoted(b, s)
}

func has8bit(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return true
		}
	}
	return false
}
