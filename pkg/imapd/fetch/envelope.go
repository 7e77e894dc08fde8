package fetch

import (
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

// envelope renders the ENVELOPE of a message header (RFC 9051 §7.5.2):
// date, subject, from, sender, reply-to, to, cc, bcc, in-reply-to and
// message-id. Like the original Courier, the string fields are the raw
// header values (repeated fields joined with ","), and sender and reply-to
// default to from when absent or empty.
func envelope(h *textproto.Header, utf8OK bool) string {
	get := func(k string) string {
		v := strings.Join(nonEmpty(h.Values(k)), ",")
		if len(v) > maxEnvelopeField {
			v = v[:maxEnvelopeField]
		}
		return v
	}
	from := get("From")
	sender := get("Sender")
	if strings.TrimSpace(sender) == "" {
		sender = from
	}
	replyTo := get("Reply-To")
	if strings.TrimSpace(replyTo) == "" {
		replyTo = from
	}
	var b strings.Builder
	b.WriteByte('(')
	b.WriteString(nstring(get("Date"), utf8OK))
	b.WriteByte(' ')
	b.WriteString(nstring(get("Subject"), utf8OK))
	for _, v := range []string{from, sender, replyTo, get("To"), get("Cc"), get("Bcc")} {
		b.WriteByte(' ')
		b.WriteString(addressList(v, utf8OK))
	}
	b.WriteByte(' ')
	b.WriteString(nstring(get("In-Reply-To"), utf8OK))
	b.WriteByte(' ')
	b.WriteString(nstring(get("Message-Id"), utf8OK))
	b.WriteByte(')')
	return b.String()
}

func nonEmpty(l []string) []string {
	var out []string
	for _, s := range l {
		if strings.TrimSpace(s) != "" {
			out = append(out, s)
		}
	}
	return out
}

// addressList renders an address list as "(" 1*address ")" or NIL, each
// address being (name adl mailbox host) with the route (adl) always NIL.
func addressList(v string, utf8OK bool) string {
	addrs := parseAddresses(v)
	var b strings.Builder
	for _, a := range addrs {
		i := strings.LastIndexByte(a.Address, '@')
		if i < 0 {
			continue
		}
		if b.Len() == 0 {
			b.WriteByte('(')
		}
		b.WriteByte('(')
		b.WriteString(nstring(a.Name, utf8OK))
		b.WriteString(" NIL ")
		b.WriteString(qstring(a.Address[:i], utf8OK))
		b.WriteByte(' ')
		b.WriteString(qstring(a.Address[i+1:], utf8OK))
		b.WriteByte(')')
	}
	if b.Len() == 0 {
		return "NIL"
	}
	b.WriteByte(')')
	return b.String()
}

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
