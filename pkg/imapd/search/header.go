package search

import (
	"bufio"
	"io"
	"mime"
	"net/mail"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message"
	// Registers the charsets of text parts and encoded words with
	// go-message (message.CharsetReader).
	_ "github.com/emersion/go-message/charset"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// maxHeaderBytes bounds the header block read from a message; whatever
// follows is treated as body.
const maxHeaderBytes = 4 << 20

// field is one header field, unfolded: line breaks of continuation lines
// are removed and their leading white space kept (RFC 5322 §2.2.3).
type field struct {
	name, value string
}

// readHeader reads the header block of a message tolerantly: lines that
// are not fields are skipped, as Courier does, rather than failing the
// whole message.
func readHeader(br *bufio.Reader) ([]field, error) {
	var fields []field
	total := 0
	for total < maxHeaderBytes {
		line, err := br.ReadString('\n')
		total += len(line)
		if line == "" {
			if err == io.EOF {
				return fields, nil
			}
			return fields, err
		}
		text := strings.TrimRight(line, "\r\n")
		if text == "" {
			return fields, nil
		}
		if text[0] == ' ' || text[0] == '\t' {
			if len(fields) > 0 {
				fields[len(fields)-1].value += text
			}
		} else if name, value, ok := strings.Cut(text, ":"); ok && validFieldName(name) {
			fields = append(fields, field{name: strings.TrimRight(name, " \t"), value: value})
		}
		if err == io.EOF {
			return fields, nil
		} else if err != nil {
			return fields, err
		}
	}
	return fields, nil
}

// Header is a message's header block, parsed once for a cache behind
// HeaderSource. Its fields are not changed once made; the folded value of
// a field is kept once a search needed it (sessions search the same
// fields again and again).
type Header struct {
	fields []field
	folded []atomic.Pointer[string] // fold(decodeHeader(value)) by field
}

// foldedValue returns fold(decodeHeader(value)) of the field i.
func (h *Header) foldedValue(i int) string {
	if p := h.folded[i].Load(); p != nil {
		return *p
	}
	v := fold(decodeHeader(h.fields[i].value))
	h.folded[i].Store(&v)
	return v
}

// ParseHeader parses a header block (LF or CRLF line ends) as readHeader
// does.
func ParseHeader(b []byte) *Header {
	text := string(b)
	var fields []field
	for text != "" {
		line := text
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			line = text[:i+1]
		}
		text = text[len(line):]
		l := strings.TrimRight(line, "\r\n")
		if l == "" {
			break
		}
		if l[0] == ' ' || l[0] == '\t' {
			if len(fields) > 0 {
				fields[len(fields)-1].value += l
			}
		} else if name, value, ok := strings.Cut(l, ":"); ok && validFieldName(name) {
			fields = append(fields, field{name: strings.TrimRight(name, " \t"), value: value})
		}
	}
	return &Header{fields: slices.Clip(fields), folded: make([]atomic.Pointer[string], len(fields))}
}

// HeaderSource is a Message whose parsed header a cache knows; ok is
// false when it does not.
type HeaderSource interface {
	Header() (h *Header, ok bool)
}

// headerOf reads the header of m, from its HeaderSource when it has one.
// The fields are shared: they must not be changed.
func headerOf(m Message) ([]field, error) {
	if hs, ok := m.(HeaderSource); ok {
		if h, ok := hs.Header(); ok {
			return h.fields, nil
		}
	}
	r, err := m.Open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return readHeader(bufio.NewReader(r))
}

func validFieldName(name string) bool {
	name = strings.TrimRight(name, " \t")
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if name[i] <= ' ' || name[i] >= 0x7f {
			return false
		}
	}
	return true
}

// get returns the value of the first field named name, and whether there
// is one.
func get(fields []field, name string) (string, bool) {
	for _, f := range fields {
		if strings.EqualFold(f.name, name) {
			return f.value, true
		}
	}
	return "", false
}

var wordDecoder = mime.WordDecoder{CharsetReader: message.CharsetReader}

// decodeHeader returns a header value as UTF-8 text: RFC 2047 encoded
// words decoded, white space at the ends removed. An unknown charset
// leaves the value as it is.
func decodeHeader(v string) string {
	v = strings.TrimSpace(v)
	if d, err := wordDecoder.DecodeHeader(v); err == nil {
		v = d
	}
	return strings.ToValidUTF8(v, "\uFFFD")
}

// fold case-folds s for the case-insensitive substring match of SEARCH,
// with Unicode full case folding as Courier's unicode search does.
func fold(s string) string {
	ascii := true
	upper := false
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
		upper = upper || 'A' <= s[i] && s[i] <= 'Z'
	}
	if ascii {
		// Full case folding of ASCII is lowering A-Z.
		if !upper {
			return s
		}
		return strings.ToLower(s)
	}
	return cases.Fold().String(strings.ToValidUTF8(s, "\uFFFD"))
}

// casemap approximates the i;unicode-casemap comparator (RFC 5051) that
// RFC 5256 §3 (as updated by RFC 5255 §4.2) uses for SORT and THREAD:
// case folding followed by compatibility decomposition.
func casemap(s string) string {
	return norm.NFKD.String(fold(s))
}

// sentDate returns the date of the Date: field, if it parses.
func sentDate(fields []field) (time.Time, bool) {
	v, ok := get(fields, "Date")
	if !ok {
		return time.Time{}, false
	}
	t, err := mail.ParseDate(strings.TrimSpace(v))
	return t, err == nil
}

// firstAddress returns the first address of an address field: its
// display name and its addr-spec split into mailbox (local part) and host,
// as an IMAP ENVELOPE would (RFC 9051 §7.5.2). ok is false when the
// field is absent or holds no address.
func firstAddress(fields []field, name string) (display, mailbox, host string, ok bool) {
	v, present := get(fields, name)
	if !present {
		return "", "", "", false
	}
	var spec string
	parser := mail.AddressParser{WordDecoder: &wordDecoder}
	if list, err := parser.ParseList(v); err == nil && len(list) > 0 {
		display, spec = list[0].Name, list[0].Address
	} else {
		spec = crudeAddress(v)
	}
	if spec == "" {
		return "", "", "", false
	}
	if i := strings.LastIndexByte(spec, '@'); i >= 0 {
		return display, spec[:i], spec[i+1:], true
	}
	return display, spec, "", true
}

// crudeAddress extracts an addr-spec from a field net/mail cannot parse:
// the first <...>, or else the first word with an @.
func crudeAddress(v string) string {
	if i := strings.IndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 0 {
			return strings.TrimSpace(v[i+1 : i+j])
		}
	}
	for _, w := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		if strings.Contains(w, "@") {
			return w
		}
	}
	return ""
}

// validUTF8Prefix splits p into its longest prefix that does not end in an
// incomplete UTF-8 sequence, and the incomplete rest.
func validUTF8Prefix(p []byte) ([]byte, []byte) {
	for i := len(p) - 1; i >= 0 && i >= len(p)-utf8.UTFMax; i-- {
		if utf8.RuneStart(p[i]) {
			if utf8.FullRune(p[i:]) {
				return p, nil
			}
			return p[:i], p[i:]
		}
	}
	return p, nil
}
