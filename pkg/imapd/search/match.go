package search

import (
	"bufio"
	"errors"
	"io"
	"mime"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
	"golang.org/x/text/cases"

	"github.com/gocourier/courier/pkg/imapd/wire"
)

// Message is what searching, sorting and threading need of a message in
// the selected mailbox.
type Message interface {
	SeqNum() uint32
	UID() uint32
	Flags() []imap.Flag // including \Recent when the message is recent
	InternalDate() time.Time
	Size() int64
	ModSeq() uint64
	Open() (io.ReadCloser, error) // the raw RFC 5322 message
}

// ErrSearchRes is returned by Match when the criteria still hold the "$"
// marker (RFC 5182) that ResolveSearchRes should have replaced.
var ErrSearchRes = errors.New("search result reference $ not resolved")

// maxMIMEDepth bounds the nesting of multiparts and message/rfc822 parts
// that TEXT and BODY look into.
const maxMIMEDepth = 30

// Search returns the messages of msgs that match c, in their order. msgs
// must be all the messages of the mailbox, so that "*" means the largest
// sequence number and UID among them.
func Search(c *imap.SearchCriteria, msgs []Message) ([]Message, error) {
	var maxSeq, maxUID uint32
	for _, m := range msgs {
		maxSeq = max(maxSeq, m.SeqNum())
		maxUID = max(maxUID, m.UID())
	}
	var out []Message
	for _, m := range msgs {
		ok, err := Match(c, m, maxSeq, maxUID)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, m)
		}
	}
	return out, nil
}

// Match reports whether m satisfies c (RFC 9051 §6.4.4). maxSeq and
// maxUID are the largest sequence number and UID of the mailbox, the
// value of "*". The message is opened only when a key that needs its
// content is reached, at most once, and read past its header only for
// BODY and TEXT.
func Match(c *imap.SearchCriteria, m Message, maxSeq, maxUID uint32) (bool, error) {
	e := evaluator{m: m, maxSeq: maxSeq, maxUID: maxUID, root: c}
	defer e.close()
	return e.eval(c)
}

type evaluator struct {
	m              Message
	maxSeq, maxUID uint32
	root           *imap.SearchCriteria

	headerRead bool
	headerErr  error
	rc         io.ReadCloser
	br         *bufio.Reader // rc after the header
	fields     []field
	hdr        *Header // the fields' cache, nil when read from the file
	scanned    bool
	body, text map[string]bool // folded string → found
}

func (e *evaluator) eval(c *imap.SearchCriteria) (bool, error) {
	for _, s := range c.SeqNum {
		if !wire.InRanges(seqRanges(s), e.m.SeqNum(), e.maxSeq) {
			return false, nil
		}
	}
	for _, s := range c.UID {
		if imap.IsSearchRes(s) {
			return false, ErrSearchRes
		}
		if !wire.InRanges(uidRanges(s), e.m.UID(), e.maxUID) {
			return false, nil
		}
	}
	if len(c.Flag) > 0 || len(c.NotFlag) > 0 {
		flags := e.m.Flags()
		for _, f := range c.Flag {
			if !hasFlag(flags, f) {
				return false, nil
			}
		}
		for _, f := range c.NotFlag {
			if hasFlag(flags, f) {
				return false, nil
			}
		}
	}
	// RFC 9051 §6.4.4: BEFORE, ON and SINCE compare the internal date
	// "disregarding time and timezone"; Courier takes the date in the
	// server's time zone.
	if !c.Since.IsZero() || !c.Before.IsZero() {
		d := day(e.m.InternalDate().In(time.Local))
		if !c.Since.IsZero() && d.Before(day(c.Since)) {
			return false, nil
		}
		if !c.Before.IsZero() && !d.Before(day(c.Before)) {
			return false, nil
		}
	}
	if c.Larger > 0 && e.m.Size() <= c.Larger {
		return false, nil
	}
	if c.Smaller > 0 && e.m.Size() >= c.Smaller {
		return false, nil
	}
	// RFC 7162 §3.1.5: mod-sequence equal to or greater than the value.
	if c.ModSeq != nil && e.m.ModSeq() < c.ModSeq.ModSeq {
		return false, nil
	}
	for i := range c.Not {
		ok, err := e.eval(&c.Not[i])
		if err != nil || ok {
			return false, err
		}
	}
	for i := range c.Or {
		ok, err := e.eval(&c.Or[i][0])
		if err != nil {
			return false, err
		}
		if !ok {
			if ok, err = e.eval(&c.Or[i][1]); err != nil || !ok {
				return false, err
			}
		}
	}
	if len(c.Header) > 0 || !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		if err := e.readHeader(); err != nil {
			return false, err
		}
		for _, h := range c.Header {
			if !e.matchHeader(h) {
				return false, nil
			}
		}
		if !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
			// RFC 9051 §6.4.4: the Date: header's date, disregarding
			// time and timezone: the date as written.
			t, ok := sentDate(e.fields)
			if !ok {
				return false, nil
			}
			d := day(t)
			if !c.SentSince.IsZero() && d.Before(day(c.SentSince)) {
				return false, nil
			}
			if !c.SentBefore.IsZero() && !d.Before(day(c.SentBefore)) {
				return false, nil
			}
		}
	}
	if len(c.Body) > 0 || len(c.Text) > 0 {
		if err := e.scan(); err != nil {
			return false, err
		}
		for _, s := range c.Body {
			if !e.body[fold(s)] {
				return false, nil
			}
		}
		for _, s := range c.Text {
			if !e.text[fold(s)] {
				return false, nil
			}
		}
	}
	return true, nil
}

func day(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func hasFlag(flags []imap.Flag, f imap.Flag) bool {
	for _, g := range flags {
		if strings.EqualFold(string(g), string(f)) {
			return true
		}
	}
	return false
}

func seqRanges(s imap.SeqSet) [][2]uint32 {
	r := make([][2]uint32, len(s))
	for i, x := range s {
		r[i] = [2]uint32{x.Start, x.Stop}
	}
	return r
}

func uidRanges(s imap.UIDSet) [][2]uint32 {
	r := make([][2]uint32, len(s))
	for i, x := range s {
		r[i] = [2]uint32{uint32(x.Start), uint32(x.Stop)}
	}
	return r
}

// matchHeader implements HEADER and the FROM, TO, CC, BCC and SUBJECT
// keys: a case-insensitive substring of the decoded field; an empty string
// matches any message with the field (RFC 9051 §6.4.4).
func (e *evaluator) matchHeader(h imap.SearchCriteriaHeaderField) bool {
	needle := fold(h.Value)
	for i, f := range e.fields {
		if !strings.EqualFold(f.name, h.Key) {
			continue
		}
		if needle == "" {
			return true
		}
		var v string
		if e.hdr != nil {
			v = e.hdr.foldedValue(i)
		} else {
			v = fold(decodeHeader(f.value))
		}
		if strings.Contains(v, needle) {
			return true
		}
	}
	return false
}

// readHeader reads the message's header (from its HeaderSource, or the
// file, leaving the reader at the start of the body in case BODY or TEXT
// need it).
func (e *evaluator) readHeader() error {
	if !e.headerRead {
		e.headerRead = true
		if hs, ok := e.m.(HeaderSource); ok {
			if h, ok := hs.Header(); ok {
				e.fields, e.hdr = h.fields, h
				return nil
			}
		}
		r, err := e.m.Open()
		if err != nil {
			e.headerErr = err
			return err
		}
		e.rc, e.br = r, bufio.NewReader(r)
		e.fields, e.headerErr = readHeader(e.br)
	}
	return e.headerErr
}

func (e *evaluator) close() {
	if e.rc != nil {
		e.rc.Close()
	}
}

// collect gathers the folded BODY and TEXT strings of c and its subtrees.
func collect(c *imap.SearchCriteria, body, text map[string]bool) {
	for _, s := range c.Body {
		body[fold(s)] = false
	}
	for _, s := range c.Text {
		text[fold(s)] = false
	}
	for i := range c.Not {
		collect(&c.Not[i], body, text)
	}
	for i := range c.Or {
		collect(&c.Or[i][0], body, text)
		collect(&c.Or[i][1], body, text)
	}
}

// scan reads the whole message once, looking for every BODY and TEXT
// string of the criteria, as Courier's search.C does: BODY in the decoded
// text parts, TEXT also in every header field, "Name: value" with encoded
// words decoded.
func (e *evaluator) scan() error {
	if e.scanned {
		return nil
	}
	e.scanned = true
	e.body, e.text = map[string]bool{}, map[string]bool{}
	collect(e.root, e.body, e.text)
	if err := e.readHeader(); err != nil {
		return err
	}
	s := newScanner(e.body, e.text)
	defer s.release()
	for _, f := range e.fields {
		s.header(f.name, decodeHeader(f.value))
	}
	if s.done() {
		return nil
	}
	if e.br == nil {
		// The header came from the cache: open the file for the body.
		r, err := e.m.Open()
		if err != nil {
			return err
		}
		e.rc, e.br = r, bufio.NewReader(r)
		if _, err := readHeader(e.br); err != nil {
			return err
		}
	}
	// An unknown charset or transfer encoding is read undecoded.
	if ent, _ := message.New(mimeHeader(e.fields), e.br); ent != nil {
		s.walk(ent, 0)
	}
	s.done()
	return nil
}

// matcher looks for one folded string in a stream of folded text; carry
// holds the end of the text seen so far that could start a match.
type matcher struct {
	needle string
	found  bool
	carry  string
}

func (m *matcher) feed(s string) {
	if m.found {
		return
	}
	keep := len(m.needle) - 1
	if m.carry != "" && strings.Contains(m.carry+s[:min(len(s), keep)], m.needle) || strings.Contains(s, m.needle) {
		m.found = true
		return
	}
	if len(s) >= keep {
		m.carry = s[len(s)-keep:]
		return
	}
	w := m.carry + s
	m.carry = w[max(0, len(w)-keep):]
}

func isASCII(p []byte) bool {
	for _, c := range p {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// lowerASCII returns the ASCII text p with A-Z lowered.
func lowerASCII(p []byte) string {
	b := make([]byte, len(p))
	for i, c := range p {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	return string(b)
}

type scanner struct {
	body, text     map[string]bool
	bodyMs, textMs []*matcher
	caser          cases.Caser
	pending, chunk []byte
}

// chunks are the scanners' read buffers: a SEARCH BODY reads every
// message of the mailbox.
var chunks = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func newScanner(body, text map[string]bool) *scanner {
	s := &scanner{body: body, text: text, caser: cases.Fold(), chunk: *chunks.Get().(*[]byte)}
	for n := range body {
		m := &matcher{needle: n, found: n == ""}
		body[n] = m.found
		s.bodyMs = append(s.bodyMs, m)
	}
	for n := range text {
		m := &matcher{needle: n, found: n == ""}
		text[n] = m.found
		s.textMs = append(s.textMs, m)
	}
	return s
}

// release gives the read buffer back; s is not used after.
func (s *scanner) release() {
	if s.chunk != nil {
		b := s.chunk
		chunks.Put(&b)
		s.chunk = nil
	}
}

// done records what was found and reports whether everything was.
func (s *scanner) done() bool {
	all := true
	for _, m := range s.bodyMs {
		s.body[m.needle] = m.found
		all = all && m.found
	}
	for _, m := range s.textMs {
		s.text[m.needle] = m.found
		all = all && m.found
	}
	return all
}

func (s *scanner) reset() {
	for _, m := range s.bodyMs {
		m.carry = ""
	}
	for _, m := range s.textMs {
		m.carry = ""
	}
	s.pending = s.pending[:0]
}

// header feeds one header field to the TEXT strings.
func (s *scanner) header(name, value string) {
	s.reset()
	t := s.caser.String(strings.ToValidUTF8(name+": "+value, "\uFFFD"))
	for _, m := range s.textMs {
		m.feed(t)
	}
}

// content feeds a decoded text part to the BODY and TEXT strings. A read
// error (a damaged encoding) ends the part, not the search.
func (s *scanner) content(r io.Reader) {
	s.reset()
	for !s.done() {
		n, err := r.Read(s.chunk)
		if n > 0 {
			in := s.chunk[:n]
			if len(s.pending) > 0 {
				in = append(s.pending, in...)
			}
			p, rest := validUTF8Prefix(in)
			var t string
			if isASCII(p) {
				// Full case folding of ASCII is lowering A-Z.
				t = lowerASCII(p)
			} else {
				t = s.caser.String(strings.ToValidUTF8(string(p), "\uFFFD"))
			}
			s.pending = append(s.pending[:0], rest...)
			for _, m := range s.bodyMs {
				m.feed(t)
			}
			for _, m := range s.textMs {
				m.feed(t)
			}
		}
		if err != nil {
			return
		}
	}
}

// walk feeds the parts of an entity: multipart children in turn, the
// header and body of an attached message, the content of text parts
// (RFC 2046 §4.1: charset and transfer encoding already undone by
// go-message). Other media types are not text and are skipped.
func (s *scanner) walk(e *message.Entity, depth int) {
	if depth > maxMIMEDepth || s.done() {
		return
	}
	mt, _, _ := mime.ParseMediaType(e.Header.Get("Content-Type"))
	switch {
	case strings.HasPrefix(mt, "multipart/"):
		// go-message gives no reader when it could not parse the
		// Content-Type parameters; the boundary is then unknown.
		mr := e.MultipartReader()
		for mr != nil && !s.done() {
			// An unknown charset or encoding still yields a part, read
			// undecoded; io.EOF or a malformed part ends the walk.
			p, _ := mr.NextPart()
			if p == nil {
				return
			}
			fs := p.Header.Fields()
			for fs.Next() {
				s.header(fs.Key(), decodeHeader(fs.Value()))
			}
			s.walk(p, depth+1)
		}
	case mt == "message/rfc822" || mt == "message/global":
		br := bufio.NewReader(e.Body)
		fields, err := readHeader(br)
		if err != nil {
			return
		}
		for _, f := range fields {
			s.header(f.name, decodeHeader(f.value))
		}
		if inner, _ := message.New(mimeHeader(fields), br); inner != nil {
			s.walk(inner, depth+1)
		}
	case mt == "" || strings.HasPrefix(mt, "text/"):
		s.content(e.Body)
	}
}

// mimeHeader returns the fields go-message needs to decode a body.
func mimeHeader(fields []field) message.Header {
	var h textproto.Header
	for _, name := range []string{"Content-Type", "Content-Transfer-Encoding"} {
		if v, ok := get(fields, name); ok {
			h.Add(name, strings.TrimSpace(v))
		}
	}
	return message.Header{Header: h}
}
