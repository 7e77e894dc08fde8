package fetch

import (
	"bytes"
	"strings"

	// Display names in any charset that go-message knows are decoded, so
	// that an address list with, say, a windows-1252 name is not lost.
	_ "github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// maxEnvelopeField bounds one envelope field, as the original Courier does
// (8192 bytes), so that a header repeated many times cannot blow up the
// response.
const maxEnvelopeField = 8192

// envelopeFields are the header fields an ENVELOPE is made of, in its
// order but for sender and reply-to, which follow from.
var envelopeFields = [...]string{"Date", "Subject", "From", "Sender", "Reply-To", "To", "Cc", "Bcc", "In-Reply-To", "Message-Id"}

const (
	envDate = iota
	envSubject
	envFrom
	envSender
	envReplyTo
	envTo
	envCc
	envBcc
	envInReplyTo
	envMessageID
)

// envValues are the values of each of envelopeFields, in header order.
type envValues [len(envelopeFields)][]string

// envelope renders the ENVELOPE of a parsed message header (RFC 9051
// §7.5.2).
func envelope(h *textproto.Header, utf8OK bool) string {
	var v envValues
	for i, k := range envelopeFields {
		v[i] = h.Values(k)
	}
	return string(appendEnvelope(make([]byte, 0, 256), &v, utf8OK))
}

// appendEnvelopeOf appends the ENVELOPE of the header block hdr (CRLF
// line ends) as parseHeader and envelope would render it, without
// parsing the fields an ENVELOPE does not use: FETCH of envelopes renders
// one for every message of a folder.
func appendEnvelopeOf(b, hdr []byte, utf8OK bool) []byte {
	var v envValues
	headerFields(hdr, func(key, value []byte) {
		for i, k := range envelopeFields {
			if equalFoldASCII(key, k) {
				v[i] = append(v[i], fieldValue(value))
				return
			}
		}
	})
	return appendEnvelope(b, &v, utf8OK)
}

// headerFields calls fn with the name and the raw value (continuation
// lines and line ends included) of each field of hdr, stopping where
// textproto.ReadHeader stops: at the blank line, at a line without a
// colon or with a malformed name, or at once when the first line is
// folded. Since every name is valid, a name matches a canonical key when
// it is equal to it but for case.
func headerFields(hdr []byte, fn func(key, value []byte)) {
	if len(hdr) > 0 && isWSP(hdr[0]) {
		return
	}
	for len(hdr) > 0 {
		end := lineEnd(hdr)
		if end == 0 || hdr[0] == '\n' || (end == 2 && hdr[0] == '\r' && hdr[1] == '\n') {
			return // the blank line
		}
		for end < len(hdr) && isWSP(hdr[end]) {
			end += lineEnd(hdr[end:])
		}
		field := hdr[:end]
		hdr = hdr[end:]
		colon := bytes.IndexByte(field, ':')
		if colon < 0 {
			return
		}
		key := trimWSP(field[:colon])
		for _, c := range key {
			if c < 33 || c > 126 {
				return
			}
		}
		if len(key) > 0 {
			fn(key, field[colon+1:])
		}
	}
}

// equalFoldASCII reports whether key is k but for the case of ASCII
// letters.
func equalFoldASCII(key []byte, k string) bool {
	if len(key) != len(k) {
		return false
	}
	for i := range len(k) {
		if a, b := key[i]|0x20, k[i]|0x20; a != b || (a < 'a' || a > 'z') && key[i] != k[i] {
			return false
		}
	}
	return true
}

// lineEnd is the length of the first line of b with its "\n", or all of b.
func lineEnd(b []byte) int {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return i + 1
	}
	return len(b)
}

// fieldValue is a raw field value as textproto gives it: each line
// without its line end and trimmed of spaces and tabs, the non-empty ones
// joined with a space. A last line without "\n" (a header that is all of
// the message) keeps a final "\r", as bufio.Reader.ReadLine leaves it.
func fieldValue(v []byte) string {
	if i := bytes.IndexByte(v, '\n'); i < 0 || i == len(v)-1 {
		if i >= 0 {
			v = v[:i]
			v = v[:len(v)-boolInt(len(v) > 0 && v[len(v)-1] == '\r')]
		}
		return string(trimWSP(v))
	}
	var b strings.Builder
	b.Grow(len(v))
	for len(v) > 0 {
		line := v
		if i := bytes.IndexByte(v, '\n'); i >= 0 {
			line, v = v[:i], v[i+1:]
			line = line[:len(line)-boolInt(len(line) > 0 && line[len(line)-1] == '\r')]
		} else {
			v = nil
		}
		if line = trimWSP(line); len(line) > 0 {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.Write(line)
		}
	}
	return b.String()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func isWSP(c byte) bool { return c == ' ' || c == '\t' }

func trimWSP(b []byte) []byte {
	for len(b) > 0 && isWSP(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isWSP(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// appendEnvelope appends an ENVELOPE: date, subject, from, sender,
// reply-to, to, cc, bcc, in-reply-to and message-id. Like the original
// Courier, the string fields are the raw header values (repeated fields
// joined with ","), and sender and reply-to default to from when absent or
// empty.
func appendEnvelope(b []byte, v *envValues, utf8OK bool) []byte {
	get := func(i int) string {
		s := joinNonBlank(v[i])
		if len(s) > maxEnvelopeField {
			s = s[:maxEnvelopeField]
		}
		return s
	}
	from := get(envFrom)
	sender := get(envSender)
	if strings.TrimSpace(sender) == "" {
		sender = from
	}
	replyTo := get(envReplyTo)
	if strings.TrimSpace(replyTo) == "" {
		replyTo = from
	}
	b = append(b, '(')
	b = appendNString(b, get(envDate), utf8OK)
	b = append(b, ' ')
	b = appendNString(b, get(envSubject), utf8OK)
	for _, s := range [...]string{from, sender, replyTo, get(envTo), get(envCc), get(envBcc)} {
		b = append(b, ' ')
		b = appendAddressList(b, s, utf8OK)
	}
	b = append(b, ' ')
	b = appendNString(b, get(envInReplyTo), utf8OK)
	b = append(b, ' ')
	b = appendNString(b, get(envMessageID), utf8OK)
	return append(b, ')')
}

// joinNonBlank joins the values that are not blank with ",".
func joinNonBlank(l []string) string {
	s := ""
	for _, v := range l {
		switch {
		case strings.TrimSpace(v) == "":
		case s == "":
			s = v
		default:
			s += "," + v
		}
	}
	return s
}

// appendAddressList appends an address list rendered as "(" 1*address
// ")" or NIL, each address being (name adl mailbox host) with the route
// (adl) always NIL.
func appendAddressList(b []byte, v string, utf8OK bool) []byte {
	if out, ok := appendSimpleAddresses(b, v); ok {
		return out
	}
	return appendParsedAddresses(b, v, utf8OK)
}

// appendParsedAddresses is appendAddressList through net/mail.
func appendParsedAddresses(b []byte, v string, utf8OK bool) []byte {
	start := len(b)
	for _, a := range parseAddresses(v) {
		i := strings.LastIndexByte(a.Address, '@')
		if i < 0 {
			continue
		}
		if len(b) == start {
			b = append(b, '(')
		}
		b = append(b, '(')
		b = appendNString(b, a.Name, utf8OK)
		b = append(b, " NIL "...)
		b = appendQString(b, a.Address[:i], utf8OK)
		b = append(b, ' ')
		b = appendQString(b, a.Address[i+1:], utf8OK)
		b = append(b, ')')
	}
	if len(b) == start {
		return append(b, "NIL"...)
	}
	return append(b, ')')
}

// appendSimpleAddresses renders the address lists most messages have
// without net/mail: ASCII addresses "local@domain" or "Some Name
// <local@domain>", separated by commas, with the name made of atoms
// (dots allowed) and the local part and domain dot-atoms, which net/mail
// parses to the name's words joined by single spaces and the address as
// written. ok is false, and b unchanged, for anything else: quoted
// strings, comments, encoded words, groups, 8-bit text, empty elements.
func appendSimpleAddresses(b []byte, v string) (out []byte, ok bool) {
	start := len(b)
	s := strings.TrimLeft(v, " \t")
	if s == "" {
		return b, false
	}
	b = append(b, '(')
	for {
		// The first word: the local part of an addr-spec or of a name.
		i := atextLen(s)
		if i < len(s) && s[i] == '@' {
			spec, rest, ok := dotAtomSpec(s)
			if !ok {
				return b[:start], false
			}
			b = append(b, "(NIL NIL "...)
			b = appendSpec(b, spec)
			s = rest
		} else {
			b = append(b, '(')
			if i == 0 {
				b = append(b, "NIL"...)
			} else {
				b = append(b, '"')
				for {
					w := s[:atextLen(s)]
					if w == "" || strings.Contains(w, "=?") {
						return b[:start], false
					}
					b = append(b, w...)
					s = strings.TrimLeft(s[len(w):], " \t")
					if s == "" || s[0] == '<' {
						break
					}
					b = append(b, ' ')
				}
				b = append(b, '"')
			}
			if s == "" || s[0] != '<' {
				return b[:start], false
			}
			spec, rest, ok := dotAtomSpec(s[1:])
			if !ok || rest == "" || rest[0] != '>' {
				return b[:start], false
			}
			b = append(b, " NIL "...)
			b = appendSpec(b, spec)
			s = rest[1:]
		}
		b = append(b, ')')
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			return append(b, ')'), true
		}
		if s[0] != ',' {
			return b[:start], false
		}
		s = strings.TrimLeft(s[1:], " \t")
		if s == "" || s[0] == ',' {
			return b[:start], false
		}
	}
}

// appendSpec appends the mailbox and host of an addr-spec as quoted
// strings.
func appendSpec(b []byte, spec string) []byte {
	at := strings.IndexByte(spec, '@')
	b = append(b, '"')
	b = append(b, spec[:at]...)
	b = append(b, `" "`...)
	b = append(b, spec[at+1:]...)
	return append(b, '"')
}

// dotAtomSpec takes the addr-spec at the start of s, both sides
// dot-atoms without leading, trailing or double dots.
func dotAtomSpec(s string) (spec, rest string, ok bool) {
	local := atextLen(s)
	if local == len(s) || s[local] != '@' || !dotAtom(s[:local]) {
		return "", "", false
	}
	domain := atextLen(s[local+1:])
	if !dotAtom(s[local+1 : local+1+domain]) {
		return "", "", false
	}
	end := local + 1 + domain
	return s[:end], s[end:], true
}

func dotAtom(s string) bool {
	return s != "" && s[0] != '.' && s[len(s)-1] != '.' && !strings.Contains(s, "..")
}

// atextLen is the length of the run of ASCII atext and dots at the start
// of s (RFC 5322 §3.2.3).
func atextLen(s string) int {
	for i := 0; i < len(s); i++ {
		if !atext[s[i]] {
			return i
		}
	}
	return len(s)
}

// atext: the visible ASCII characters but the specials, and the dot.
var atext = func() (t [256]bool) {
	for c := '!'; c <= '~'; c++ {
		t[c] = !strings.ContainsRune(`()<>[]:;@\,"`, c)
	}
	return t
}()

// parseAddresses parses an address list; when the list as a whole does not
// parse, each comma-separated element is tried on its own, so that one bad
// address does not hide the others.
func parseAddresses(v string) []*mail.Address {
	if strings.TrimSpace(v) == "" {
		return nil
	}
	if l, err := mail.ParseAddressList(v); err == nil {
		return l
	}
	var out []*mail.Address
	for _, s := range splitAddresses(v) {
		if a, err := mail.ParseAddress(s); err == nil {
			out = append(out, a)
		}
	}
	return out
}

// splitAddresses splits at the commas that are not inside a quoted string,
// a comment or angle brackets (RFC 5322 §3.4).
func splitAddresses(v string) []string {
	var out []string
	quoted, comment, angle := false, 0, false
	start := 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case quoted:
			if c == '\\' {
				i++
			} else if c == '"' {
				quoted = false
			}
		case c == '\\' && comment > 0:
			i++
		case c == '"' && comment == 0:
			quoted = true
		case c == '(':
			comment++
		case c == ')' && comment > 0:
			comment--
		case c == '<' && comment == 0:
			angle = true
		case c == '>' && comment == 0:
			angle = false
		case c == ',' && comment == 0 && !angle:
			out = append(out, v[start:i])
			start = i + 1
		}
	}
	return append(out, v[start:])
}
