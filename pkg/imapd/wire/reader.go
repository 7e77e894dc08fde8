// Package wire is the IMAP wire codec of the server: it reads client
// commands into tokens (RFC 9051 §2.2, §4 and the §9 grammar, with
// LITERAL+ of RFC 7888 and literal8 of RFC 3516), writes response data
// (quoted strings, literals, mailbox names in modified UTF-7 or UTF-8 per
// RFC 6855) and parses sequence sets. The command handlers of pkg/imapd
// call it; it knows nothing about mailboxes or sessions beyond the
// UTF8=ACCEPT switch.
//
// The Reader is the connection's first line of defence: every limit is
// checked before memory is allocated, and after a syntax error the Reader
// has consumed the rest of the offending command so that the next command
// is read in step with the client.
package wire

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits bound what one command may cost. A zero field takes its default.
type Limits struct {
	MaxLine        int    // bytes of one line of a command, literals excluded; default 64 KiB
	MaxLiteral     int64  // bytes of one literal; default 64 MiB
	MaxDepth       int    // nesting of parenthesised lists; default 32
	MaxTokens      int    // tokens in one command, lists included; default 100000
	MaxCommandSize int64  // bytes of one command, lines and literals; default 128 MiB
	InlineLiteral  int64  // literals larger than this go to a temporary file; default 64 KiB
	TempDir        string // where those files are created (os.CreateTemp's default when empty)
}

// The defaults of Limits.
const (
	DefaultMaxLine        = 64 << 10
	DefaultMaxLiteral     = 64 << 20
	DefaultMaxDepth       = 32
	DefaultMaxTokens      = 100000
	DefaultMaxCommandSize = 128 << 20
	DefaultInlineLiteral  = 64 << 10
)

// inlineFactor bounds the literal bytes one command keeps in memory to
// this many times InlineLiteral: beyond that, even small literals go to
// temporary files, so that many small literals cannot add up to
// MaxCommandSize bytes of memory.
const inlineFactor = 16

func (l Limits) withDefaults() Limits {
	if l.MaxLine <= 0 {
		l.MaxLine = DefaultMaxLine
	}
	if l.MaxLiteral <= 0 {
		l.MaxLiteral = DefaultMaxLiteral
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxTokens <= 0 {
		l.MaxTokens = DefaultMaxTokens
	}
	if l.MaxCommandSize <= 0 {
		l.MaxCommandSize = DefaultMaxCommandSize
	}
	if l.InlineLiteral <= 0 {
		l.InlineLiteral = DefaultInlineLiteral
	}
	return l
}

// SyntaxError is a malformed or over-limit command. The Reader has already
// skipped the rest of it; the server answers "<Tag> BAD <Msg>" and reads
// the next command.
type SyntaxError struct {
	Tag string // the command's tag, "*" when it could not be read
	Msg string
}

func (e *SyntaxError) Error() string { return "IMAP syntax error: " + e.Msg }

// TooBigError is a command the Reader cannot skip without reading more
// than Limits.MaxCommandSize bytes: a non-synchronising literal (which the
// client sends without waiting) or a line too large. The Reader is out of
// step with the client; the server sends BYE and closes the connection.
type TooBigError struct {
	Limit int64
}

func (e *TooBigError) Error() string {
	return fmt.Sprintf("command exceeds the limit of %d bytes", e.Limit)
}

// tailSize is how much of the end of a line the Reader remembers, enough
// for "~{" + 19 digits + "+}\r\n" (a literal announced at the end of a
// line it skips).
const tailSize = 32

// Reader reads client commands from a connection.
type Reader struct {
	br   *bufio.Reader
	cont func(text string) error
	lim  Limits

	// State of the command being read.
	tag     string
	lineLen int   // bytes of the current line so far
	total   int64 // bytes of the command so far, literals included
	eol     bool  // the current line's LF has been read
	tail    [tailSize]byte
	tailN   int // bytes of the current line put in tail (modulo tailSize)
	tokens  int
	inline  int64  // literal bytes of the command kept in memory
	files   []*Lit // literals in temporary files, closed if the command fails
	scratch []byte
}

// NewReader returns a Reader of r. cont sends a continuation request
// ("+ " and text, CRLF) and flushes it: the Reader calls it before reading
// a synchronising literal (RFC 9051 §4.3), never for a non-synchronising
// one (RFC 7888).
func NewReader(r io.Reader, cont func(text string) error, lim Limits) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 16<<10), cont: cont, lim: lim.withDefaults()}
}

// Buffered returns how many bytes the client sent that were not read yet:
// after STARTTLS it must be zero (RFC 9051 §6.2.1, no pipelined plaintext
// may be taken as protected).
func (r *Reader) Buffered() int { return r.br.Buffered() }

// contText is the text of Courier's continuation request for a literal
// ("+ OK").
const contText = "OK"

// errSyntax is a syntax error inside the Reader; ReadCommand turns it into
// a *SyntaxError with the tag.
type errSyntax string

func (e errSyntax) Error() string { return string(e) }

func syntaxf(format string, args ...any) error { return errSyntax(fmt.Sprintf(format, args...)) }

func (r *Reader) newLine() {
	r.lineLen = 0
	r.eol = false
	r.tailN = 0
}

// ReadCommand reads one command: tag, name and arguments up to the final
// CRLF (a bare LF is accepted), literals included. It returns a
// *SyntaxError for a malformed command (after skipping the rest of it), a
// *TooBigError when it cannot skip it, or the I/O error of the connection.
// The caller closes the command when done with its literals.
func (r *Reader) ReadCommand() (*Command, error) {
	r.tag = ""
	r.total = 0
	r.tokens = 0
	r.inline = 0
	r.files = nil
	r.newLine()
	cmd, err := r.readCommand()
	if err == nil {
		return cmd, nil
	}
	for _, l := range r.files {
		l.Close()
	}
	var se errSyntax
	if !errors.As(err, &se) {
		return nil, err
	}
	if !r.eol {
		if err := r.skipLine(); err != nil {
			return nil, err
		}
	}
	tag := r.tag
	if tag == "" {
		tag = "*"
	}
	return nil, &SyntaxError{Tag: tag, Msg: string(se)}
}

// checkLimits fails when one more byte would make the line or the command
// too long.
func (r *Reader) checkLimits() error {
	if r.lineLen >= r.lim.MaxLine {
		return syntaxf("command line exceeds the limit of %d bytes", r.lim.MaxLine)
	}
	if r.total >= r.lim.MaxCommandSize {
		return &TooBigError{Limit: r.lim.MaxCommandSize}
	}
	return nil
}

// next reads one byte of a command line. After a successful peek it
// cannot fail.
func (r *Reader) next() (byte, error) {
	if err := r.checkLimits(); err != nil {
		return 0, err
	}
	c, err := r.br.ReadByte()
	if err != nil {
		return 0, err
	}
	r.lineLen++
	r.total++
	r.tail[r.tailN%tailSize] = c
	r.tailN++
	if c == '\n' {
		r.eol = true
	}
	return c, nil
}

// peek returns the next byte without reading it, checking the limits as
// next does so that the next call of next succeeds.
func (r *Reader) peek() (byte, error) {
	if err := r.checkLimits(); err != nil {
		return 0, err
	}
	b, err := r.br.Peek(1)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

// eolNext reads the end of a line after c, which is CR or LF: CRLF or a
// bare LF.
func (r *Reader) eolNext(c byte) error {
	if c == '\r' {
		var err error
		if c, err = r.next(); err != nil {
			return err
		}
		if c != '\n' {
			return syntaxf("CR not followed by LF")
		}
	}
	return nil
}

// skipLine discards the rest of the current line without keeping it. When
// the line ends with a non-synchronising literal, the client sends its
// bytes without waiting, so they are discarded too, with the line after
// them (RFC 7888 §4: a server that rejects the command must still read
// the literal).
func (r *Reader) skipLine() error {
	for {
		for !r.eol {
			b, err := r.br.ReadSlice('\n')
			r.total += int64(len(b))
			if r.total > r.lim.MaxCommandSize {
				return &TooBigError{Limit: r.lim.MaxCommandSize}
			}
			if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
				return err
			}
			for _, c := range b {
				r.tail[r.tailN%tailSize] = c
				r.tailN++
			}
			r.eol = len(b) > 0 && b[len(b)-1] == '\n'
		}
		n, ok := r.tailLiteral()
		if !ok {
			return nil
		}
		if n < 0 || n > r.lim.MaxCommandSize-r.total {
			return &TooBigError{Limit: r.lim.MaxCommandSize}
		}
		if _, err := io.CopyN(io.Discard, r.br, n); err != nil {
			return err
		}
		r.total += n
		r.newLine()
	}
}

// tailLiteral reports whether the line just read ends with a
// non-synchronising literal "{n+}" and its size (-1 when too large to
// represent).
func (r *Reader) tailLiteral() (int64, bool) {
	k := min(r.tailN, tailSize)
	b := make([]byte, k)
	for i := range k {
		b[i] = r.tail[(r.tailN-k+i)%tailSize]
	}
	t, ok := strings.CutSuffix(string(b), "\n")
	if !ok {
		return 0, false
	}
	t = strings.TrimSuffix(t, "\r")
	t, ok = strings.CutSuffix(t, "+}")
	if !ok {
		return 0, false
	}
	i := strings.LastIndexByte(t, '{')
	digits := t[i+1:]
	for j := 0; j < len(digits); j++ {
		if digits[j] < '0' || digits[j] > '9' {
			return 0, false
		}
	}
	if i < 0 {
		// Digits fill the whole tail: the size, if it is one, is too
		// large anyway.
		return -1, r.tailN > tailSize
	}
	if digits == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return -1, true
	}
	return n, true
}

func (r *Reader) readCommand() (*Command, error) {
	c, err := r.peek()
	if err != nil {
		return nil, err
	}
	if c == '\r' || c == '\n' {
		r.next()
		if err := r.eolNext(c); err != nil {
			return nil, err
		}
		return nil, syntaxf("empty command line")
	}
	// RFC 9051 §9: tag = 1*<any ASTRING-CHAR except "+">
	tag, err := r.word("tag", func(c byte) bool { return c != '+' && isAStringChar(c) })
	if err != nil {
		return nil, err
	}
	r.tag = tag
	if c, err = r.next(); err != nil {
		return nil, err
	}
	if c != ' ' && c != '\t' {
		if c == '\r' || c == '\n' {
			if err := r.eolNext(c); err != nil {
				return nil, err
			}
			return nil, syntaxf("missing command name")
		}
		return nil, syntaxf("invalid character %s in tag", charName(c))
	}
	// Further spaces and tabs are skipped, as Courier does.
	for {
		if c, err = r.peek(); err != nil {
			return nil, err
		}
		if c != ' ' && c != '\t' {
			break
		}
		r.next()
	}
	if c == '\r' || c == '\n' {
		r.next()
		if err := r.eolNext(c); err != nil {
			return nil, err
		}
		return nil, syntaxf("missing command name")
	}
	name, err := r.word("command name", isAtomChar)
	if err != nil {
		return nil, err
	}
	args, err := r.readList(0)
	if err != nil {
		return nil, err
	}
	return &Command{Tag: tag, Name: strings.ToUpper(name), Args: args}, nil
}

// word reads a non-empty run of bytes accepted by ok; the byte after it
// must end it (a space, a tab or the end of the line).
func (r *Reader) word(what string, ok func(byte) bool) (string, error) {
	r.scratch = r.scratch[:0]
	for {
		c, err := r.peek()
		if err != nil {
			return "", err
		}
		if !ok(c) {
			if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
				r.next()
				return "", syntaxf("invalid character %s in %s", charName(c), what)
			}
			break
		}
		if _, err := r.next(); err != nil {
			return "", err
		}
		r.scratch = append(r.scratch, c)
	}
	if len(r.scratch) == 0 {
		return "", syntaxf("missing %s", what)
	}
	return string(r.scratch), nil
}

// readList reads tokens up to the end of the line (depth 0) or up to the
// ')' that closes a list. Spaces and tabs between tokens are skipped, as
// Courier does, but tokens must be separated.
func (r *Reader) readList(depth int) ([]Token, error) {
	var toks []Token
	for {
		c, err := r.peek()
		if err != nil {
			return nil, err
		}
		switch c {
		case ' ', '\t':
			r.next()
			continue
		case '\r', '\n':
			r.next()
			if err := r.eolNext(c); err != nil {
				return nil, err
			}
			if depth > 0 {
				return nil, syntaxf("unbalanced parentheses: missing ')'")
			}
			return toks, nil
		case ')':
			r.next()
			if depth == 0 {
				return nil, syntaxf("unbalanced parentheses: ')' without '('")
			}
			return toks, nil
		}
		t, err := r.readToken(depth)
		if err != nil {
			return nil, err
		}
		toks = append(toks, t)
		if c, err = r.peek(); err != nil {
			return nil, err
		}
		switch c {
		case ' ', '\t', '\r', '\n', ')':
		default:
			r.next()
			return nil, syntaxf("missing space before %s", charName(c))
		}
	}
}

// readToken reads one argument (RFC 9051 §9: astring, nstring, list,
// literal8 of RFC 3516) at list nesting depth.
func (r *Reader) readToken(depth int) (Token, error) {
	if r.tokens >= r.lim.MaxTokens {
		return Token{}, syntaxf("more than %d tokens in command", r.lim.MaxTokens)
	}
	r.tokens++
	c, err := r.peek()
	if err != nil {
		return Token{}, err
	}
	switch c {
	case '(':
		if depth >= r.lim.MaxDepth {
			r.next()
			return Token{}, syntaxf("lists nested deeper than %d", r.lim.MaxDepth)
		}
		r.next()
		l, err := r.readList(depth + 1)
		if err != nil {
			return Token{}, err
		}
		if l == nil {
			l = []Token{}
		}
		return Token{Kind: List, List: l}, nil
	case '"':
		r.next()
		s, err := r.quoted(nil)
		if err != nil {
			return Token{}, err
		}
		if !utf8.Valid(s) {
			return Token{}, syntaxf("quoted string is not valid UTF-8")
		}
		return Token{Kind: Quoted, Text: string(s)}, nil
	case '{':
		r.next()
		return r.literal(false)
	case '~':
		// "~{" starts a literal8 (RFC 3516 §4.2); otherwise '~' is an
		// ordinary atom character (e.g. "~peter/mail").
		if b, err := r.br.Peek(2); err == nil && b[1] == '{' {
			r.next()
			r.next()
			return r.literal(true)
		}
	}
	return r.atom()
}

// quoted reads the rest of a quoted string (RFC 9051 §4.3: only \" and \\
// may be escaped; CR, LF and NUL may not appear) and appends its value
// to b.
func (r *Reader) quoted(b []byte) ([]byte, error) {
	for {
		c, err := r.next()
		if err != nil {
			return nil, err
		}
		switch c {
		case '"':
			return b, nil
		case '\\':
			if c, err = r.next(); err != nil {
				return nil, err
			}
			if c == '\r' || c == '\n' {
				return nil, syntaxf("unterminated quoted string")
			}
			if c != '"' && c != '\\' {
				return nil, syntaxf("invalid escape of %s in quoted string", charName(c))
			}
		case '\r', '\n':
			return nil, syntaxf("unterminated quoted string")
		case 0:
			return nil, syntaxf("NUL in quoted string")
		}
		b = append(b, c)
	}
}

// atom reads an atom. A '[' in it opens a section that runs to the
// matching ']' and may hold spaces, lists and quoted strings, so that a
// fetch attribute like BODY.PEEK[HEADER.FIELDS (From "To")]<0.100> is one
// atom, kept exactly as sent (RFC 9051 §6.4.5 section, §9 fetch-att).
func (r *Reader) atom() (Token, error) {
	r.scratch = r.scratch[:0]
	for {
		c, err := r.peek()
		if err != nil {
			return Token{}, err
		}
		if c == '[' {
			r.next()
			r.scratch = append(r.scratch, c)
			if err := r.section(); err != nil {
				return Token{}, err
			}
			continue
		}
		if !isAStringChar(c) && c != '%' && c != '*' && c != '\\' {
			break
		}
		r.next()
		r.scratch = append(r.scratch, c)
	}
	if len(r.scratch) == 0 {
		c, _ := r.next()
		return Token{}, syntaxf("invalid character %s", charName(c))
	}
	s := string(r.scratch)
	if strings.EqualFold(s, "NIL") {
		return Token{Kind: NIL, Text: s}, nil
	}
	return Token{Kind: Atom, Text: s}, nil
}

// section reads the inside of an atom's [...] into r.scratch, the closing
// ']' included.
func (r *Reader) section() error {
	parens := 0
	for {
		c, err := r.next()
		if err != nil {
			return err
		}
		switch c {
		case ']':
			if parens != 0 {
				return syntaxf("unbalanced parentheses in section")
			}
			r.scratch = append(r.scratch, c)
			return nil
		case '(':
			parens++
			if parens > r.lim.MaxDepth {
				return syntaxf("lists nested deeper than %d", r.lim.MaxDepth)
			}
		case ')':
			parens--
			if parens < 0 {
				return syntaxf("unbalanced parentheses in section")
			}
		case '"':
			// Kept as sent, escapes included (only \" and \\ may be
			// escaped, so re-escaping gives the bytes sent back): the
			// handler parses the section itself.
			v, err := r.quoted(nil)
			if err != nil {
				return err
			}
			if !utf8.Valid(v) {
				return syntaxf("quoted string is not valid UTF-8")
			}
			r.scratch = appendQuoted(r.scratch, v)
			continue
		case '\r', '\n':
			return syntaxf("unterminated section: missing ']'")
		case '[':
			return syntaxf("'[' inside a section")
		case '{':
			return syntaxf("literal inside a section is not supported")
		case ' ':
		default:
			if c < 0x20 || c >= 0x7f {
				return syntaxf("invalid character %s in section", charName(c))
			}
		}
		r.scratch = append(r.scratch, c)
	}
}

// appendQuoted appends v as a quoted string with only " and \ escaped.
func appendQuoted(b, v []byte) []byte {
	b = append(b, '"')
	for _, c := range v {
		if c == '"' || c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, c)
	}
	return append(b, '"')
}

// literal reads a literal after its '{': "n}" or "n+}", CRLF, then n bytes
// (RFC 9051 §4.3, RFC 7888 LITERAL+, RFC 3516 literal8).
func (r *Reader) literal(binary bool) (Token, error) {
	var digits []byte
	for {
		c, err := r.next()
		if err != nil {
			return Token{}, err
		}
		if c >= '0' && c <= '9' {
			if len(digits) == 0 || digits[0] != '0' || len(digits) > 1 {
				digits = append(digits, c)
			} else {
				digits[0] = c // a leading zero adds nothing
			}
			continue
		}
		if c == '}' || c == '+' {
			if len(digits) == 0 {
				return Token{}, syntaxf("literal without a size")
			}
			sync := c == '}'
			if !sync {
				if c, err = r.next(); err != nil {
					return Token{}, err
				}
				if c != '}' {
					return Token{}, syntaxf("invalid character %s in literal size", charName(c))
				}
			}
			return r.literalData(string(digits), sync, binary)
		}
		if c == '\r' || c == '\n' {
			return Token{}, syntaxf("unterminated literal size")
		}
		return Token{}, syntaxf("invalid character %s in literal size", charName(c))
	}
}

func (r *Reader) literalData(digits string, sync, binary bool) (Token, error) {
	c, err := r.next()
	if err != nil {
		return Token{}, err
	}
	if c != '\r' && c != '\n' {
		return Token{}, syntaxf("literal size not followed by CRLF")
	}
	if err := r.eolNext(c); err != nil {
		return Token{}, err
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		n = -1 // beyond int64: larger than any limit
	}
	if n < 0 || n > r.lim.MaxLiteral {
		msg := fmt.Sprintf("literal of %s bytes exceeds the limit of %d", digits, r.lim.MaxLiteral)
		if len(digits) > 20 {
			msg = fmt.Sprintf("literal size of %d digits exceeds the limit of %d bytes", len(digits), r.lim.MaxLiteral)
		}
		if sync {
			// No continuation was sent, so the client sends no data.
			return Token{}, errSyntax(msg)
		}
		if n < 0 || n > r.lim.MaxCommandSize-r.total {
			return Token{}, &TooBigError{Limit: r.lim.MaxCommandSize}
		}
		if _, err := io.CopyN(io.Discard, r.br, n); err != nil {
			return Token{}, err
		}
		r.total += n
		r.newLine()
		return Token{}, errSyntax(msg)
	}
	if n > r.lim.MaxCommandSize-r.total {
		if sync {
			return Token{}, syntaxf("command exceeds the limit of %d bytes", r.lim.MaxCommandSize)
		}
		return Token{}, &TooBigError{Limit: r.lim.MaxCommandSize}
	}
	lit := &Lit{Size: n, Binary: binary}
	inline := n <= r.lim.InlineLiteral && r.inline+n <= inlineFactor*r.lim.InlineLiteral
	if !inline {
		// Created before the continuation request, so that a failure
		// does not leave the client sending data nobody reads.
		f, err := os.CreateTemp(r.lim.TempDir, "imapd-literal-*")
		if err != nil {
			return Token{}, err
		}
		// Unlinked at once: the file lives as long as the descriptor, and
		// nothing is left behind if the process dies.
		os.Remove(f.Name())
		lit.file = f
		r.files = append(r.files, lit)
	}
	if sync && r.cont != nil {
		if err := r.cont(contText); err != nil {
			return Token{}, err
		}
	}
	if inline {
		lit.data = make([]byte, n)
		if _, err := io.ReadFull(r.br, lit.data); err != nil {
			return Token{}, err
		}
		r.inline += n
	} else if _, err := io.CopyN(lit.file, r.br, n); err != nil {
		return Token{}, err
	}
	r.total += n
	r.newLine()
	return Token{Kind: Literal, Lit: lit}, nil
}

// ReadLine reads one raw line, without its CRLF or LF: a client's answer to
// an AUTHENTICATE challenge, or IDLE's DONE. A line longer than MaxLine is
// skipped and reported as a *SyntaxError.
func (r *Reader) ReadLine() (string, error) {
	r.total = 0
	var line []byte
	over := false
	for {
		b, err := r.br.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return "", err
		}
		r.total += int64(len(b))
		if !over && len(line)+len(b) <= r.lim.MaxLine+2 { // +2: the CRLF is not counted
			line = append(line, b...)
		} else {
			over = true
			if r.total > r.lim.MaxCommandSize {
				return "", &TooBigError{Limit: r.lim.MaxCommandSize}
			}
		}
		if len(b) > 0 && b[len(b)-1] == '\n' {
			break
		}
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(line), "\n"), "\r")
	if over || len(s) > r.lim.MaxLine {
		return "", &SyntaxError{Tag: "*", Msg: fmt.Sprintf("line exceeds the limit of %d bytes", r.lim.MaxLine)}
	}
	return s, nil
}

// charName names a byte in an error message: 'x' when printable ASCII,
// else its value in hex.
func charName(c byte) string {
	if c > ' ' && c < 0x7f {
		return "'" + string(rune(c)) + "'"
	}
	return fmt.Sprintf("0x%02x", c)
}

// isAtomChar reports whether c is an ATOM-CHAR (RFC 9051 §9): printable
// ASCII except atom-specials.
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

// isAStringChar reports whether c is an ASTRING-CHAR: an ATOM-CHAR or ']'.
func isAStringChar(c byte) bool { return c == ']' || isAtomChar(c) }

// Pending takes the bytes the client sent that were not read yet: a login
// stage hands them on with the session when the client pipelined commands
// after LOGIN.
func (r *Reader) Pending() []byte {
	b, _ := r.br.Peek(r.br.Buffered())
	out := append([]byte(nil), b...)
	r.br.Discard(len(b))
	return out
}
