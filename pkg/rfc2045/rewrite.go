package rfc2045

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"mime/quotedprintable"
	"strings"
)

// AppName is what the original's submit names itself in
// X-Mime-Autoconverted lines (PACKAGE " " VERSION of its configure).
const AppName = "courier 1.0"

// MIMEMessage is the preamble the original writes in every multipart it
// rewrites (librfc2045's RFC2045MIMEMSG).
const MIMEMessage = "This is a MIME-formatted message.  If you see this text it means that your\nE-mail software does not support MIME-formatted messages.\n"

// DefaultCharset is the charset given to text parts that name none (the
// original's RFC2045CHARSET, utf-8 unless configured otherwise).
const DefaultCharset = "utf-8"

// Result is what the checker found.
type Result struct {
	Flags Flags
	// Has8bitChars: a part's text (quoted-printable decoded, not base64)
	// has bytes of 127 or more: the original marks such a message 8-bit.
	Has8bitChars bool
	// NeedRewrite: the original's submit would rewrite the message's MIME
	// headers (rfc2045_ac_check without a MIME setting): a MIME part
	// without Content-Type, a text part without charset, a part without
	// Content-Transfer-Encoding, or one declared 8bit (or binary, or
	// unknown) that has only 7-bit text.
	NeedRewrite bool
	root        *part
}

// prep follows the text of the parts, as the original's rwprep: 8-bit
// bytes and lines of more than 500 characters, quoted-printable decoded.
type prep struct {
	cur   *part
	pos   int
	state int
	hex   byte
}

const (
	stRaw = iota
	stQP
	stQPEq
	stQPEqH
	stBase64
)

func (r *prep) start(p *part) {
	r.cur, r.pos, r.state = p, 0, stRaw
	if p.cte != nil {
		switch *p.cte {
		case "quoted-printable":
			r.state = stQP
		case "base64":
			r.state = stBase64
		}
	}
}

func (r *prep) end() {}

func nyb(c byte) byte {
	switch {
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10
	}
	return c - '0'
}

func (r *prep) contents(b []byte) {
	if r.cur == nil {
		return
	}
	for _, c := range b {
		switch r.state {
		case stQP, stRaw:
			if r.state == stQP && c == '=' {
				r.state = stQPEq
				continue
			}
			if c == '\r' || c == '\n' {
				r.pos = 0
			} else if r.pos++; r.pos > 500 {
				r.cur.longLine = true
			}
			if c >= 127 {
				r.cur.has8bit = true
			}
		case stQPEq:
			if c == '\n' {
				r.state = stQP
				continue
			}
			if c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' {
				continue
			}
			r.hex, r.state = c, stQPEqH
		case stQPEqH:
			r.state = stQP
			if nyb(r.hex)<<4+nyb(c) >= 127 {
				r.cur.has8bit = true
			}
			if r.pos++; r.pos > 500 {
				r.cur.longLine = true
			}
		}
	}
}

func cteIs(p *part, names ...string) bool {
	for _, n := range names {
		if p.cte != nil && strings.EqualFold(*p.cte, n) {
			return true
		}
	}
	return false
}

// acCheck completes p's MIME headers as the original's rfc2045_ac_check
// with no conversion asked for, and reports whether that changed
// anything the rewrite must write.
func acCheck(p *part) bool {
	flag := false
	non7 := p.has8bit
	for c := p.first; c != nil; c = c.next {
		if c.dummy {
			continue
		}
		if acCheck(c) {
			flag = true
		}
		if c.cte != nil && !cteIs(c, "7bit", "uuencode", "quoted-printable") {
			non7 = true
		}
		if c.has8bit {
			p.has8bit = true
		}
	}
	if isMIME1Def(p.mimeVersion) && p.ctype == nil {
		// RFC 2045 §5.2.
		p.ctype = str("text/plain")
		if p.mimeVersion != nil {
			flag = true
		}
	}
	if _, ok := p.getattr("charset"); isMIME1Def(p.mimeVersion) && !ok && strings.HasPrefix(strings.ToLower(*p.ctype), "text/") {
		p.setattr("charset", str(DefaultCharset))
		if p.mimeVersion != nil && p.first == nil {
			flag = true
		}
	}
	if isMIME1Def(p.mimeVersion) && p.cte == nil {
		// RFC 2045 §6.1: 7bit is the default; 8bit says what is there.
		te := "7bit"
		if non7 {
			te = "8bit"
		}
		p.cte = &te
		if p.mimeVersion != nil && p.first == nil {
			flag = true
		}
	}
	if isMIME1Def(p.mimeVersion) {
		if !cteIs(p, "base64", "quoted-printable", "uuencode", "7bit") && !p.has8bit && !p.longLine {
			// Declared 8-bit (or binary) but 7-bit: it is 7bit.
			p.rwTE = str("7bit")
			flag = true
		}
	}
	if p.mimeVersion == nil {
		p.mimeVersion = str("1.0")
	}
	return flag
}

// Rewrite writes the message as the original's submit rewrites it
// (rfc2045_rewrite): every MIME entity's Mime-Version, Content-Type and
// Content-Transfer-Encoding fields are written anew where its
// Mime-Version field was (for the message itself) or at the end of its
// header, multiparts get new boundaries (root, then "-" and a number),
// the preamble becomes MIMEMessage and the epilogue goes, parts declared
// 8bit with only 7-bit text are relabelled 7bit with an
// X-Mime-Autoconverted field, and every other byte is copied. src holds
// the message the checker was given; root gives candidate boundary roots,
// the first that no line of the message starts with is used. Call it only
// on a Result whose NeedRewrite is set and which is not ErrTooComplex.
func (r *Result) Rewrite(w io.Writer, src io.ReaderAt, root func() string) error {
	if r.Flags&ErrTooComplex != 0 {
		return errors.New("rfc2045: a message too complex to rewrite")
	}
	rw := &rewriter{src: src, cnt: 1}
	for try := 0; ; try++ {
		if try == 100 {
			return errors.New("rfc2045: no boundary found that the message does not use")
		}
		b := root()
		used, err := rw.tryBoundary(r.root, b)
		if err != nil {
			return err
		}
		if !used {
			rw.root = b
			break
		}
	}
	rw.w = bufio.NewWriterSize(w, 32<<10)
	if err := rw.dorw(r.root); err != nil {
		return err
	}
	if rw.last != '\n' && rw.wrote {
		rw.add("\n")
	}
	if rw.err != nil {
		return rw.err
	}
	return rw.w.Flush()
}

type rewriter struct {
	src   io.ReaderAt
	w     *bufio.Writer
	root  string
	cnt   int
	last  byte
	wrote bool
	err   error
}

func (rw *rewriter) add(s string) {
	if s == "" || rw.err != nil {
		return
	}
	_, rw.err = rw.w.WriteString(s)
	rw.last, rw.wrote = s[len(s)-1], true
}

func (rw *rewriter) copy(from, to int64) {
	if to <= from || rw.err != nil {
		return
	}
	n, err := io.Copy(rw.w, io.NewSectionReader(rw.src, from, to-from))
	if err == nil && n < to-from {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		rw.err = err
		return
	}
	var b [1]byte
	if _, err := rw.src.ReadAt(b[:], to-1); err != nil {
		rw.err = err
		return
	}
	rw.last, rw.wrote = b[0], true
}

// tryBoundary reports whether a line of a part's text (decoded when it is
// quoted-printable; base64 cannot hold one) starts with "--" and b.
func (rw *rewriter) tryBoundary(p *part, b string) (bool, error) {
	if p.first != nil {
		for c := p.first; c != nil; c = c.next {
			if used, err := rw.tryBoundary(c, b); used || err != nil {
				return used, err
			}
		}
		return false, nil
	}
	if cteIs(p, "base64") || p.endbody <= p.startbody {
		return false, nil
	}
	var rd io.Reader = io.NewSectionReader(rw.src, p.startbody, p.endbody-p.startbody)
	if cteIs(p, "quoted-printable") {
		rd = quotedprintable.NewReader(rd)
	}
	br := bufio.NewReader(rd)
	want := "--" + b
	for {
		line, err := br.ReadSlice('\n')
		if len(line) >= len(want) && strings.EqualFold(string(line[:len(want)]), want) {
			return true, nil
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
		}
		if err != nil {
			// A quoted-printable error ends the search, as the
			// original's decoder stops at bad input.
			return false, nil
		}
	}
}

// quoteValue writes a parameter value as a token or a quoted string
// (RFC 2045 §5.1).
func quoteValue(v string) string {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			var b strings.Builder
			b.WriteByte('"')
			for j := 0; j < len(v); j++ {
				if v[j] == '\\' || v[j] == '"' {
					b.WriteByte('\\')
				}
				b.WriteByte(v[j])
			}
			b.WriteByte('"')
			return b.String()
		}
	}
	return v
}

func (rw *rewriter) rwmime(p *part) {
	if p.parent == nil {
		rw.add("Mime-Version: 1.0\n")
	}
	if p.ctype != nil {
		rw.add("Content-Type: " + *p.ctype)
		for _, a := range p.attrs {
			if a.name == "boundary" {
				continue
			}
			rw.add("; " + a.name + "=" + quoteValue(a.value))
		}
	}
	if p.first != nil && p.first.next != nil {
		rw.cnt++
		rw.add(fmt.Sprintf("; boundary=\"%s-%d\"", rw.root, rw.cnt))
	}
	rw.add("\n")
	te := p.cte
	if p.rwTE != nil {
		te = p.rwTE
	}
	if te != nil && p.first == nil {
		rw.add("Content-Transfer-Encoding: " + *te + "\n")
	}
}

// headerRange is where p's header is (the original's rfc2045_mimepos).
func headerRange(p *part) (int64, int64) {
	end := p.endpos
	if p.parent != nil {
		end = p.endbody
	}
	if p.startbody == p.startpos {
		return p.startpos, end
	}
	return p.startpos, p.startbody
}

// fields reads the header fields of [from, to): name and value with
// the value's surrounding white space removed and its line breaks kept,
// carriage returns dropped, up to an empty line.
func (rw *rewriter) fields(from, to int64, fn func(name, value string)) {
	if to <= from {
		return
	}
	br := bufio.NewReader(io.NewSectionReader(rw.src, from, to-from))
	var buf []byte
	for {
		c, err := br.ReadByte()
		if err != nil || c == '\r' || c == '\n' {
			return
		}
		br.UnreadByte()
		buf = buf[:0]
		nl := false
		for {
			c, err := br.ReadByte()
			if err != nil {
				break
			}
			if c == '\r' {
				continue
			}
			if nl {
				if !isSpace(c) || c == '\n' {
					br.UnreadByte()
					break
				}
				nl = false
			}
			if c == '\n' {
				nl = true
			}
			if len(buf) < maxField {
				buf = append(buf, c)
			}
		}
		s := strings.TrimRight(string(buf), " ")
		name, value := s, ""
		if i := strings.IndexByte(s, ':'); i >= 0 {
			name, value = s[:i], strings.TrimLeft(s[i+1:], " \t\n\r\v\f")
			value = strings.TrimSuffix(value, "\n")
		}
		value = strings.TrimRight(value, " \t\n\r\v\f")
		fn(name, value)
		if err != nil {
			return
		}
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func (rw *rewriter) dorw(p *part) error {
	if p.parent != nil && p.parent.ctype != nil && strings.EqualFold(*p.parent.ctype, "multipart/signed") && p.next != nil {
		// The signed part stays as it is, byte for byte (RFC 1847 §2.1).
		rw.copy(p.startpos, p.endbody)
		return rw.err
	}
	seen := false
	if p.parent != nil {
		seen = true
		rw.rwmime(p)
	}
	mime := isMIME1Def(p.mimeVersion)
	from, to := headerRange(p)
	rw.fields(from, to, func(name, value string) {
		if mime && strings.EqualFold(name, "mime-version") && !seen {
			seen = true
			rw.rwmime(p)
			return
		}
		if !mime || !strings.EqualFold(name, "mime-version") && !strings.EqualFold(name, "content-type") && !strings.EqualFold(name, "content-transfer-encoding") {
			rw.add(name + ": " + value + "\n")
		}
	})
	if mime {
		if !seen {
			rw.rwmime(p)
		}
		if p.first == nil && p.rwTE != nil {
			old := ""
			if p.cte != nil {
				old = *p.cte
			}
			rw.add("X-Mime-Autoconverted: from " + old + " to " + *p.rwTE + " by " + AppName + "\n")
		}
	}
	rw.add("\n")
	if rw.err != nil {
		return rw.err
	}
	if p.first == nil {
		rw.copy(p.startbody, p.endbody)
		return rw.err
	}
	bcnt := rw.cnt
	if p.first.next == nil {
		// An attached message: written as a message of its own.
		c := p.first
		c.parent = nil
		err := rw.dorw(c)
		c.parent = p
		return err
	}
	rw.add(MIMEMessage)
	for c := p.first; c != nil; c = c.next {
		if c.dummy {
			continue
		}
		rw.add(fmt.Sprintf("\n--%s-%d\n", rw.root, bcnt))
		if err := rw.dorw(c); err != nil {
			return err
		}
	}
	rw.add(fmt.Sprintf("\n--%s-%d--\n", rw.root, bcnt))
	return rw.err
}
