package rfc2045

import (
	"bytes"
	"strings"
)

// Flags are the MIME structure errors the checker finds: the original's
// rfcviolation bits (librfc2045's rfc2045.h), with the same values.
type Flags uint

const (
	// Err8BitHeader: 8-bit bytes in a header, of the message or of any
	// MIME part or attached message (allowed only with SMTPUTF8, RFC 6532).
	Err8BitHeader Flags = 1
	// Err8BitContent: 8-bit bytes in a part that does not declare
	// "Content-Transfer-Encoding: 8bit" (RFC 2045 §6.2: 7bit is the default).
	Err8BitContent Flags = 2
	// ErrTooComplex: more than MaxParts MIME parts.
	ErrTooComplex Flags = 4
	// ErrBadBoundary: a multipart boundary that is a prefix of an
	// enclosing one, or the other way round (RFC 2046 §5.1.1, the
	// implementor's note: such boundaries are ambiguous).
	ErrBadBoundary Flags = 8
)

// MaxParts is the original's limit on the number of MIME parts of one
// message (every part of every multipart, its preamble, and every
// attached message count); past it the message is too complex. The
// original has no separate limit on the nesting depth: every level of
// nesting is at least one part, so MaxParts bounds it too.
const MaxParts = 300

// maxLine: a body line longer than this (not counting its line end) is
// not examined as a line, as in the original's submit, which feeds its
// parser the text of each line and then the newline separately, and
// whose parser passes on a partial line of more than 1024 bytes as
// content: such a line can be neither a boundary nor a MIME header, and
// the newline after it counts as an empty line.
const maxLine = 1024

// maxField bounds how much of one header field (with its continuation
// lines) is kept for parsing; what is longer is counted but not kept.
const maxField = 64 << 10

// part is one MIME entity: the message, a part of a multipart (the text
// before the first boundary is a "dummy" part), or the message inside a
// message/rfc822 part. Offsets are those of the data given to Write.
type part struct {
	parent, first, last, next *part

	startpos, endpos, startbody, endbody int64

	mimeVersion *string
	ctype       *string
	attrs       []attr
	boundary    *string // lower case
	cte         *string // lower case
	content8bit bool

	has8bit, longLine bool
	rwTE              *string

	inHeader, closed, dummy, inFormData bool

	header []byte // the field being collected
	full   bool   // header is truncated at maxField
}

type attr struct{ name, value string }

func (p *part) getattr(name string) (string, bool) {
	for _, a := range p.attrs {
		if a.name == name {
			return a.value, true
		}
	}
	return "", false
}

func (p *part) setattr(name string, value *string) {
	for i, a := range p.attrs {
		if a.name == name {
			if value == nil {
				p.attrs = append(p.attrs[:i], p.attrs[i+1:]...)
			} else {
				p.attrs[i].value = *value
			}
			return
		}
	}
	if value != nil {
		p.attrs = append(p.attrs, attr{name, *value})
	}
}

func str(s string) *string { return &s }

func isMIME1(v *string) bool { return v != nil && atoi(*v) == 1 }

// isMIME1Def: MIME 1.0, or no Mime-Version at all.
func isMIME1Def(v *string) bool { return v == nil || atoi(*v) == 1 }

// atoi is C's: leading blanks, a sign, digits, and 0 for anything else.
func atoi(s string) int {
	s = strings.TrimLeft(s, " \t\n\r\v\f")
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	n := 0
	for i := 0; i < len(s) && s[i] >= '0' && s[i] <= '9' && n < 1<<30; i++ {
		n = n*10 + int(s[i]-'0')
	}
	if neg {
		return -n
	}
	return n
}

// Checker examines a message's MIME structure as it streams past, in
// bounded memory: it keeps the current line (at most maxLine bytes of it
// past the message's own header), one header field, and a small record
// for each of at most MaxParts+1 parts. Write the message to it, then
// call Close.
type Checker struct {
	root    *part
	nparts  int
	flags   Flags
	line    []byte
	partial bool // the current line went past maxLine
	closed  bool
	prep    prep
	skipped int64 // bytes of overlong header lines not kept
}

// NewChecker starts the examination of one message.
func NewChecker() *Checker {
	return &Checker{root: &part{inHeader: true}}
}

// Write examines the next bytes of the message; it never fails.
func (c *Checker) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		chunk := b
		if i >= 0 {
			chunk = b[:i+1]
		}
		b = b[len(chunk):]
		if c.partial {
			if i < 0 {
				c.skip(chunk)
				continue
			}
			// The line's text went before; the newline is a line of its own.
			c.skip(chunk[:len(chunk)-1])
			c.partial = false
			c.doline([]byte{'\n'})
			continue
		}
		c.line = append(c.line, chunk...)
		if i >= 0 {
			c.doline(c.line)
			c.line = c.line[:0]
			continue
		}
		if !c.root.inHeader && len(bytes.TrimSuffix(c.line, []byte{'\r'})) > maxLine {
			c.partial = true
			c.skip(c.line)
			c.line = c.line[:0]
		} else if c.root.inHeader && len(c.line) > maxField {
			// The message's own header: keep counting, stop keeping.
			c.skipHeader()
		}
	}
	return n, nil
}

// skipHeader drops the middle of an overlong line of the message's own
// header, keeping its 8-bit flag and its length.
func (c *Checker) skipHeader() {
	for _, ch := range c.line[maxField/2:] {
		if ch&0x80 != 0 {
			c.flags |= Err8BitHeader
		}
	}
	c.skipped += int64(len(c.line) - maxField/2)
	c.line = c.line[:maxField/2]
}

// Close ends the message and returns the result. A last line without a
// newline is examined as a line.
func (c *Checker) Close() *Result {
	if !c.closed {
		c.closed = true
		if c.partial {
			c.partial = false
		} else if len(c.line) > 0 {
			c.doline(c.line)
			c.line = nil
		}
	}
	r := &Result{Flags: c.flags, root: c.root}
	if c.flags&ErrTooComplex == 0 {
		r.NeedRewrite = acCheck(c.root)
	}
	r.Has8bitChars = c.root.has8bit
	return r
}

// deepest is the innermost part still open.
func (c *Checker) deepest() *part {
	p := c.root
	for p.last != nil && !p.last.closed {
		p = p.last
	}
	return p
}

// skip passes on part of an overlong body line as content of the
// innermost open part.
func (c *Checker) skip(b []byte) {
	if len(b) == 0 {
		return
	}
	p := c.deepest()
	if !p.inHeader && (p.last == nil || !p.last.closed) {
		c.prep.contents(b)
	}
	update(p, p.endpos+int64(len(b)), p.endpos+int64(len(b)))
	p.inFormData = true
}

// update sets the end of p and of every part around it.
func update(p *part, end, endbody int64) {
	for ; p != nil; p = p.parent {
		p.endpos, p.endbody = end, endbody
	}
}

func (c *Checker) newPart(p *part, start int64, inherit bool) *part {
	np := &part{parent: p, inHeader: true, startpos: start, endpos: start, startbody: start, endbody: start}
	if p.last != nil {
		p.last.next = np
	} else {
		p.first = np
	}
	p.last = np
	c.nparts++
	if inherit {
		// A part inherits the encoding and the character set of the
		// multipart around it.
		np.cte = p.cte
		if v, ok := p.getattr("charset"); ok {
			np.setattr("charset", &v)
		}
	}
	return np
}

// doline examines one line (with its newline, unless it is the last).
func (c *Checker) doline(line []byte) {
	if c.nparts > MaxParts {
		c.flags |= ErrTooComplex
		return
	}
	cnt := int64(len(line)) + c.skipped
	c.skipped = 0
	n := len(line)
	if n > 0 && line[n-1] == '\n' {
		n--
	}
	bit8 := false
	for i, ch := range line {
		if ch == 0 {
			line[i] = ' '
		}
		if ch&0x80 != 0 {
			bit8 = true
		}
	}
	if n > 0 && line[n-1] == '\r' {
		n--
	}
	text := line[:n]
	nOff := cnt - int64(len(line)-n) // the end of the text

	p := c.root
	// In the middle of an overlong line's part: no boundary is looked for.
	for q := p; q.last != nil && !q.last.closed; q = q.last {
		if q.boundary == nil || q.inHeader {
			continue
		}
		if q.last.inFormData {
			p = q.last
			p.inFormData = false
			break
		}
	}
	// Look for a boundary of any multipart still open, outermost first
	// (RFC 2046 §5.1.1: a boundary line is "--" and the boundary, and
	// the last one has "--" after it; what follows on the line is
	// ignored, as is case here).
	for p.last != nil {
		if p.last.closed {
			update(p, p.endpos+cnt, p.endpos+nOff)
			return
		}
		if p.boundary == nil || p.inHeader {
			p = p.last
			continue
		}
		b := *p.boundary
		if n >= 2+len(b) && text[0] == '-' && text[1] == '-' && strings.EqualFold(b, string(text[2:2+len(b)])) {
			if !p.last.dummy {
				c.prep.end()
			}
			if n >= 4+len(b) && text[2+len(b)] == '-' && text[3+len(b)] == '-' {
				p.last.closed = true
				update(p, p.endpos+cnt, p.endpos+cnt)
				return
			}
			np := c.newPart(p, p.endpos+cnt, true)
			update(p, p.endpos+cnt, p.endpos+nOff)
			np.mimeVersion = p.mimeVersion
			return
		}
		p = p.last
	}

	if !p.inHeader {
		if bit8 && !p.content8bit {
			c.flags |= Err8BitContent
		}
		// In a multipart the newline before a boundary belongs to the
		// boundary (RFC 2046 §5.1.1).
		endbody := p.endpos + cnt
		if p.parent != nil && p.parent.ctype != nil && strings.HasPrefix(strings.ToLower(*p.parent.ctype), "multipart/") {
			endbody = p.endpos + nOff
		}
		if p.last == nil || !p.last.closed {
			if !p.dummy {
				c.prep.contents(line)
			}
			update(p, p.endpos+cnt, endbody)
		}
		return
	}
	if bit8 {
		c.flags |= Err8BitHeader
	}
	if n == 0 {
		// The blank line that ends the header (RFC 2045 §3, RFC 5322 §2.1).
		c.header(p)
		p.inHeader = false
		p.startbody = p.endpos + cnt
		update(p, p.startbody, p.startbody)
		if !isMIME1(p.mimeVersion) {
			// Without "Mime-Version: 1.0" the MIME fields mean nothing (RFC 2045 §4).
			p.ctype, p.attrs, p.boundary = nil, nil, nil
		}
		if isMIME1(p.mimeVersion) && p.ctype == nil {
			// RFC 2045 §5.2: the default is text/plain; RFC 2046 §5.1.5:
			// in a multipart/digest it is message/rfc822.
			t := "text/plain"
			if p.parent != nil && p.parent.ctype != nil && *p.parent.ctype == "multipart/digest" {
				t = "message/rfc822"
			}
			p.ctype = str(t)
		}
		if p.ctype == nil || !strings.HasPrefix(*p.ctype, "multipart/") {
			p.boundary = nil
		}
		if p.ctype != nil && isMessage(*p.ctype) {
			// RFC 2046 §5.2.1: the body is a whole message.
			c.newPart(p, p.startbody, false)
			return
		}
		if p.boundary != nil {
			// The text before the first boundary (RFC 2046 §5.1.1, the preamble).
			np := c.newPart(p, p.startbody, true)
			np.inHeader, np.dummy = false, true
			return
		}
		c.prep.start(p)
		return
	}
	update(p, p.endpos+cnt, p.endpos+nOff)
	p.startbody = p.endbody
	if text[0] == ' ' || text[0] == '\t' || text[0] == '\n' || text[0] == '\r' || text[0] == '\v' || text[0] == '\f' {
		// A continuation line (RFC 5322 §2.2.3).
		p.addHeader([]byte{' '})
	} else {
		c.header(p)
		p.header, p.full = p.header[:0], false
	}
	p.addHeader(text)
}

func (p *part) addHeader(b []byte) {
	if p.full {
		return
	}
	if len(p.header)+len(b) > maxField {
		b = b[:maxField-len(p.header)]
		p.full = true
	}
	p.header = append(p.header, b...)
}

func isMessage(t string) bool {
	return strings.EqualFold(t, "message/rfc822") || strings.EqualFold(t, "message/global")
}

// header takes in the field collected for p, if it is a MIME field.
func (c *Checker) header(p *part) {
	if len(p.header) == 0 {
		return
	}
	toks := tokenize(string(p.header))
	if len(toks) < 2 || toks[0].kind != atom || toks[1].kind != ':' {
		return
	}
	name := strings.ToLower(toks[0].text)
	rest := toks[2:]
	switch name {
	case "mime-version":
		p.mimeVersion = str(paste(rest))
	case "content-type":
		c.contentType(p, rest)
	case "content-transfer-encoding":
		// RFC 2045 §6.1; only "8bit" declares 8-bit text.
		v := strings.ToLower(paste(rest))
		p.cte = &v
		if v == "8bit" {
			p.content8bit = true
		}
	}
}

// contentType takes in a Content-Type field (RFC 2045 §5.1): the type up
// to the first ";", then name=value parameters.
func (c *Checker) contentType(p *part, toks []token) {
	i := 0
	for i < len(toks) && toks[i].kind != ';' {
		i++
	}
	p.ctype = str(strings.ToLower(paste(toks[:i])))
	if i < len(toks) {
		i++
	}
	for i < len(toks) {
		j := i
		for j < len(toks) && toks[j].kind != ';' {
			j++
		}
		k := i
		if k < j {
			k++
			for k < j && toks[k].kind == '(' {
				k++
			}
			if k < j && toks[k].kind == '=' {
				k++
				name := strings.ToLower(paste(toks[i : i+1]))
				val := paste(toks[k:j])
				if name == "charset" {
					val = strings.ToLower(val)
				}
				p.setattr(name, &val)
				if name == "boundary" {
					c.setBoundary(p, strings.ToLower(val))
				}
			}
		}
		if j < len(toks) {
			j++
		}
		i = j
	}
}

// setBoundary records p's boundary; one that is a prefix of an enclosing
// multipart's boundary, or has one as its prefix, is ambiguous (RFC 2046
// §5.1.1, implementor's note).
func (c *Checker) setBoundary(p *part, b string) {
	p.boundary = &b
	for q := p.parent; q != nil; q = q.parent {
		if q.boundary == nil {
			continue
		}
		if strings.HasPrefix(*q.boundary, b) || strings.HasPrefix(b, *q.boundary) {
			c.flags |= ErrBadBoundary
			break
		}
	}
}

// Tokens of a structured field (RFC 5322 §3.2, RFC 2045 §5.1).
const (
	atom   = 'a'
	quoted = '"'
)

type token struct {
	kind byte
	text string
}

func tokenize(s string) []token {
	var out []token
	for i := 0; i < len(s); {
		ch := s[i]
		switch {
		case ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n':
			i++
		case ch == '(':
			depth := 0
			for ; i < len(s); i++ {
				if s[i] == '\\' {
					i++
					continue
				}
				if s[i] == '(' {
					depth++
				} else if s[i] == ')' {
					depth--
					if depth == 0 {
						i++
						break
					}
				}
			}
			out = append(out, token{kind: '('})
		case ch == '"':
			var b strings.Builder
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
			}
			i++
			out = append(out, token{kind: quoted, text: b.String()})
		case strings.IndexByte("<>@,;:.[]=/?", ch) >= 0:
			out = append(out, token{kind: ch, text: string(ch)})
			i++
		default:
			j := i
			for j < len(s) && strings.IndexByte("()<>@,;:.[]=/?\" \t\r\n\\", s[j]) < 0 {
				j++
			}
			if j == i {
				j++
			}
			out = append(out, token{kind: atom, text: s[i:j]})
			i = j
		}
	}
	return out
}

// paste joins tokens without the comments, as the original does.
func paste(toks []token) string {
	var b strings.Builder
	for _, t := range toks {
		if t.kind != '(' {
			b.WriteString(t.text)
		}
	}
	return b.String()
}
