package wire

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-imap/v2"
	"github.com/gocourier/courier/pkg/maildir/mutf7"
)

// maxQuoted is the longest string written quoted; longer ones are
// literals, which keeps response lines short for clients with line
// buffers of a few kilobytes.
const maxQuoted = 4096

// Writer writes response data to a buffered connection. Write errors are
// sticky in the bufio.Writer (and a failed Literal source in the Writer):
// the helpers do not return them, Flush does.
type Writer struct {
	// UTF8 is set once the client has enabled UTF8=ACCEPT (RFC 6855 §3):
	// 8-bit strings may then be quoted and mailbox names are sent as
	// UTF-8 instead of modified UTF-7.
	UTF8 bool

	bw  *bufio.Writer
	err error
}

// NewWriter returns a Writer of bw.
func NewWriter(bw *bufio.Writer) *Writer { return &Writer{bw: bw} }

// Flush sends what was written and returns the first error of the
// Writer.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	return w.bw.Flush()
}

// Raw writes s as it is: response text, keywords such as "OK" or "FETCH".
func (w *Writer) Raw(s string) { w.bw.WriteString(s) }

// Atom writes s as an atom; s must be one (the caller's constant or a
// validated flag).
func (w *Writer) Atom(s string) { w.bw.WriteString(s) }

// SP writes a space.
func (w *Writer) SP() { w.bw.WriteByte(' ') }

// CRLF ends a response line.
func (w *Writer) CRLF() { w.bw.WriteString("\r\n") }

// NIL writes NIL.
func (w *Writer) NIL() { w.bw.WriteString("NIL") }

// Number writes a number.
func (w *Writer) Number(n uint32) { w.bw.WriteString(strconv.FormatUint(uint64(n), 10)) }

// Number64 writes a number64 (RFC 9051 §9: sizes, mod-sequences).
func (w *Writer) Number64(n uint64) { w.bw.WriteString(strconv.FormatUint(n, 10)) }

// String writes s as a string (RFC 9051 §4.3): quoted, with " and \
// escaped, when it can be; a literal when it has CR, LF or NUL, when it
// is long, or when it has 8-bit bytes and the client has not enabled
// UTF8=ACCEPT (quoted strings are 7-bit in IMAP4rev1) or is not UTF-8.
func (w *Writer) String(s string) {
	if !w.quotable(s) {
		w.Literal(strings.NewReader(s), int64(len(s)))
		return
	}
	w.bw.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			w.bw.WriteByte('\\')
		}
		w.bw.WriteByte(s[i])
	}
	w.bw.WriteByte('"')
}

func (w *Writer) quotable(s string) bool {
	if len(s) > maxQuoted {
		return false
	}
	ascii := true
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\r' || c == '\n' || c == 0:
			return false
		case c >= 0x80:
			ascii = false
		}
	}
	return ascii || (w.UTF8 && utf8.ValidString(s))
}

// NString writes s as a string, or NIL when s is nil.
func (w *Writer) NString(s *string) {
	if s == nil {
		w.NIL()
		return
	}
	w.String(*s)
}

// AString writes s as an atom when it is one (RFC 9051 §9 astring:
// ASTRING-CHARs; "NIL" is quoted so that it cannot be taken for NIL),
// else as a string.
func (w *Writer) AString(s string) {
	if isAStringAtom(s) {
		w.bw.WriteString(s)
		return
	}
	w.String(s)
}

func isAStringAtom(s string) bool {
	if s == "" || strings.EqualFold(s, "NIL") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAStringChar(s[i]) {
			return false
		}
	}
	return true
}

// Literal writes a literal of size bytes read from r (RFC 9051 §4.3). If
// r fails or ends early the response is broken: Literal returns the error,
// Flush returns it too, and the connection must be closed.
func (w *Writer) Literal(r io.Reader, size int64) error {
	return w.literal("{", r, size)
}

// Literal8 writes a literal8 ("~{n}", RFC 3516 §4.2) for BINARY fetch
// data, which may hold any byte.
func (w *Writer) Literal8(r io.Reader, size int64) error {
	return w.literal("~{", r, size)
}

func (w *Writer) literal(open string, r io.Reader, size int64) error {
	w.bw.WriteString(open)
	w.bw.WriteString(strconv.FormatInt(size, 10))
	w.bw.WriteString("}\r\n")
	n, err := io.CopyN(w.bw, r, size)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("literal source ended after %d of %d bytes", n, size)
		}
		if w.err == nil {
			w.err = err
		}
	}
	return err
}

// Mailbox writes a mailbox name given in UTF-8: as modified UTF-7
// (RFC 9051 §5.1.3), or as UTF-8 once UTF8=ACCEPT is enabled (RFC 6855
// §3). Courier always quotes mailbox names ("INBOX" included), and so
// does Mailbox.
func (w *Writer) Mailbox(name string) {
	if !w.UTF8 {
		name = mutf7.Encode(name)
	}
	w.String(name)
}

// Flags writes a parenthesised list of flags. Each must be a flag atom
// (\Seen, a keyword), as pkg/maildir keeps them.
func (w *Writer) Flags(flags []imap.Flag) {
	w.bw.WriteByte('(')
	for i, f := range flags {
		if i > 0 {
			w.bw.WriteByte(' ')
		}
		w.bw.WriteString(string(f))
	}
	w.bw.WriteByte(')')
}

// NumSet writes a sequence set: "1:3,5", "$" for the saved search result.
func (w *Writer) NumSet(s imap.NumSet) { w.bw.WriteString(s.String()) }

// List writes a parenthesised list whose items f writes, with SP between
// them as f chooses.
func (w *Writer) List(f func()) {
	w.bw.WriteByte('(')
	f()
	w.bw.WriteByte(')')
}
