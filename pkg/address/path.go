package address

import (
	"strings"
	"unicode/utf8"
)

// Address is a mailbox: a local part and a domain (RFC 5321 4.1.2
// Mailbox). Local holds the value of the local part: a Quoted-string is
// stored without its quotes and backslashes, so `"john doe"@example.com`
// has Local `john doe`. Domain is zero only for the domain-less addresses
// the RFCs and Courier allow: the "<Postmaster>" recipient (RFC 5321
// 4.1.1.3) and header or command-line addresses that sendmail leaves
// without domain (UUCP "host!user").
type Address struct {
	Local  string
	Domain Domain
}

// Path is an SMTP Reverse-path or Forward-path (RFC 5321 4.1.2). The null
// reverse path "<>" has a zero Addr.
type Path struct {
	Addr Address
	// Route is the source route ("<@a,@b:user@d>") as received. It is
	// not used for delivery: RFC 5321 Appendix C tells servers to ignore
	// it and deliver to the mailbox. (Courier 1.0.16 instead rewrote a
	// route through a non-local first hop into a percent-hack address,
	// module.esmtp/esmtp.C rwrecip; the route is kept here so that a
	// caller can log or inspect it.)
	Route []Domain
}

// IsNull reports whether p is the null reverse path "<>".
func (p Path) IsNull() bool { return p.Addr.Local == "" && p.Addr.Domain.IsZero() }

// IsPostmaster reports whether p is the domain-less "<Postmaster>"
// recipient of RFC 5321 4.1.1.3 (any case).
func (p Path) IsPostmaster() bool { return p.Addr.Local != "" && p.Addr.Domain.IsZero() }

// String returns the path as RFC 5321 4.1.2 writes it, "<local@domain>" or
// "<>", with the domain in U-labels (the SMTPUTF8 form). The source route
// is not rendered.
func (p Path) String() string { return "<" + p.Addr.String() + ">" }

// StringACE is String with the domain in A-labels.
func (p Path) StringACE() string { return "<" + p.Addr.StringACE() + ">" }

// String returns the address as "local@domain", the local part quoted only
// when it must be (FormatLocal) and the domain in U-labels, the form
// Courier stores in its queue.
func (a Address) String() string {
	if a.Domain.IsZero() {
		if a.Local == "" {
			return ""
		}
		return FormatLocal(a.Local)
	}
	return FormatLocal(a.Local) + "@" + a.Domain.Unicode()
}

// StringACE returns the address with the domain in A-labels, as Courier
// writes it in Delivered-To:, Return-Path: and DSNs (dot-courier.md §5).
func (a Address) StringACE() string {
	if a.Domain.IsZero() {
		if a.Local == "" {
			return ""
		}
		return FormatLocal(a.Local)
	}
	return FormatLocal(a.Local) + "@" + a.Domain.ASCII()
}

// NeedsSMTPUTF8 reports whether the address cannot be sent to a server
// without the SMTPUTF8 extension: its local part has UTF-8 (a domain can
// always be sent in A-labels).
func (a Address) NeedsSMTPUTF8() bool { return !isASCII(a.Local) }

// FormatLocal returns a local part in the form RFC 5321 4.1.2 wants on the
// wire: the Dot-string itself when the value is one, otherwise a
// Quoted-string with '"' and '\' escaped. The empty local part is `""`.
func FormatLocal(local string) string {
	if isDotString(local) {
		return local
	}
	var b strings.Builder
	b.Grow(len(local) + 2)
	b.WriteByte('"')
	for i := 0; i < len(local); i++ {
		if c := local[i]; c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(local[i])
	}
	b.WriteByte('"')
	return b.String()
}

// ParseAddress parses a Mailbox of RFC 5321 4.1.2 ("local@domain", no
// angle brackets), for example the value of a -f option or of a
// configuration file. smtputf8 allows UTF-8 in the local part and
// U-labels in the domain (RFC 6531 3.3).
func ParseAddress(s string, smtputf8 bool) (Address, error) {
	if len(s) > MaxPathLength-2 {
		return Address{}, errorf("address", s, MaxPathLength-2, "address is %d octets long, more than %d", len(s), MaxPathLength-2)
	}
	a, err := parseMailbox("address", s, 0, len(s), smtputf8)
	if err != nil {
		return Address{}, err
	}
	return a, nil
}

// ParseReversePath parses the argument of MAIL FROM: a Path or the null
// path "<>" (RFC 5321 4.1.2 Reverse-path). A source route is accepted and
// set aside (RFC 5321 Appendix C). smtputf8 allows UTF-8 (RFC 6531 3.3).
func ParseReversePath(s string, smtputf8 bool) (Path, error) {
	p, err := parsePath("reverse-path", s, 0, len(s), smtputf8, true)
	if err != nil {
		return Path{}, err
	}
	return p, nil
}

// ParseForwardPath parses the argument of RCPT TO (RFC 5321 4.1.2
// Forward-path), including the special "<Postmaster>" of RFC 5321 4.1.1.3,
// which is returned with a zero domain.
func ParseForwardPath(s string, smtputf8 bool) (Path, error) {
	p, err := parsePath("forward-path", s, 0, len(s), smtputf8, false)
	if err != nil {
		return Path{}, err
	}
	return p, nil
}

// parsePath parses input[start:end] as RFC 5321 4.1.2
// Path = "<" [ A-d-l ":" ] Mailbox ">", or the null path when reverse.
func parsePath(kind, input string, start, end int, utf8OK, reverse bool) (Path, *Error) {
	if end-start > MaxPathLength {
		return Path{}, errorf(kind, input, start+MaxPathLength, "path is %d octets long, more than %d", end-start, MaxPathLength)
	}
	if start >= end || input[start] != '<' {
		return Path{}, errorf(kind, input, start, "path must begin with '<'")
	}
	if end-start < 2 || input[end-1] != '>' {
		return Path{}, errorf(kind, input, end, "path must end with '>'")
	}
	end--
	i := start + 1
	if i == end {
		if reverse {
			return Path{}, nil
		}
		return Path{}, errorf(kind, input, i, "empty path; the null path <> is allowed only in MAIL FROM")
	}
	var p Path
	if input[i] == '@' {
		// A-d-l = At-domain *( "," At-domain ); At-domain = "@" Domain
		for {
			if i >= end || input[i] != '@' {
				return Path{}, errorf(kind, input, i, "source route needs '@' before each domain")
			}
			j := i + 1
			for j < end && input[j] != ',' && input[j] != ':' {
				j++
			}
			d, err := parseDomain(kind, input, i+1, j, utf8OK, false)
			if err != nil {
				return Path{}, err
			}
			p.Route = append(p.Route, d)
			if j >= end {
				return Path{}, errorf(kind, input, j, "source route is not followed by ':' and the mailbox")
			}
			i = j + 1
			if input[j] == ':' {
				break
			}
		}
	}
	if !reverse && p.Route == nil && strings.EqualFold(input[i:end], "postmaster") {
		p.Addr = Address{Local: input[i:end]}
		return p, nil
	}
	a, err := parseMailbox(kind, input, i, end, utf8OK)
	if err != nil {
		return Path{}, err
	}
	p.Addr = a
	return p, nil
}

// parseMailbox parses input[start:end] as RFC 5321 4.1.2
// Mailbox = Local-part "@" ( Domain / address-literal ).
func parseMailbox(kind, input string, start, end int, utf8OK bool) (Address, *Error) {
	if start >= end {
		return Address{}, errorf(kind, input, start, "empty address")
	}
	local, at, err := parseLocalPart(kind, input, start, end, utf8OK)
	if err != nil {
		return Address{}, err
	}
	if at >= end || input[at] != '@' {
		return Address{}, errorf(kind, input, at, "missing '@' and domain after the local part")
	}
	if at-start > MaxLocalLength {
		return Address{}, errorf(kind, input, start, "local part is %d octets long, more than %d", at-start, MaxLocalLength)
	}
	d, err := parseDomain(kind, input, at+1, end, utf8OK, true)
	if err != nil {
		return Address{}, err
	}
	return Address{Local: local, Domain: d}, nil
}

// parseLocalPart parses RFC 5321 4.1.2 Local-part = Dot-string /
// Quoted-string starting at input[start], and returns its value and the
// offset just after it.
func parseLocalPart(kind, input string, start, end int, utf8OK bool) (string, int, *Error) {
	i := start
	if input[i] == '"' {
		// Quoted-string = DQUOTE *QcontentSMTP DQUOTE
		var b strings.Builder
		for i++; ; i++ {
			if i >= end {
				return "", i, errorf(kind, input, start, "quoted local part has no closing '\"'")
			}
			c := input[i]
			switch {
			case c == '"':
				return b.String(), i + 1, nil
			case c == '\\':
				// quoted-pairSMTP = %d92 %d32-126
				if i+1 >= end {
					return "", i, errorf(kind, input, i, "'\\' at the end of a quoted local part")
				}
				i++
				c = input[i]
				if c < 32 || c > 126 {
					return "", i, errorf(kind, input, i, "character %q cannot be quoted with '\\'", rune(c))
				}
				b.WriteByte(c)
			case c >= utf8.RuneSelf:
				n, err := utf8At(kind, input, i, end, utf8OK, "local part")
				if err != nil {
					return "", i, err
				}
				b.WriteString(input[i : i+n])
				i += n - 1
			case c >= 32 && c <= 126:
				// qtextSMTP = %d32-33 / %d35-91 / %d93-126 ('"' and '\' handled above)
				b.WriteByte(c)
			default:
				return "", i, errorf(kind, input, i, "control character %q in quoted local part", rune(c))
			}
		}
	}
	// Dot-string = Atom *("." Atom)
	atomStart := i
	for ; i < end && input[i] != '@'; i++ {
		c := input[i]
		switch {
		case c == '.':
			if i == atomStart {
				if i == start {
					return "", i, errorf(kind, input, i, "local part starts with '.'")
				}
				return "", i, errorf(kind, input, i, "'..' in local part")
			}
			atomStart = i + 1
		case c >= utf8.RuneSelf:
			n, err := utf8At(kind, input, i, end, utf8OK, "local part")
			if err != nil {
				return "", i, err
			}
			i += n - 1
		case isAtext(c):
		default:
			return "", i, errorf(kind, input, i, "character %q not allowed in an unquoted local part", rune(c))
		}
	}
	if i == start {
		return "", i, errorf(kind, input, i, "empty local part")
	}
	if i == atomStart {
		return "", i, errorf(kind, input, i-1, "local part ends with '.'")
	}
	return input[start:i], i, nil
}

// utf8At checks the UTF-8 sequence at input[i] (RFC 6531 3.3
// UTF8-non-ascii) and returns its length.
func utf8At(kind, input string, i, end int, utf8OK bool, where string) (int, *Error) {
	if !utf8OK {
		return 0, errorf(kind, input, i, "non-ASCII character in %s (allowed only with SMTPUTF8)", where)
	}
	r, n := utf8.DecodeRuneInString(input[i:end])
	if r == utf8.RuneError && n <= 1 {
		return 0, errorf(kind, input, i, "invalid UTF-8 in %s", where)
	}
	return n, nil
}

// isAtext reports whether c is RFC 5321/5322 atext in ASCII:
// ALPHA / DIGIT / "!#$%&'*+-/=?^_`{|}~".
func isAtext(c byte) bool {
	if isLetDig(c) {
		return true
	}
	return c < utf8.RuneSelf && strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// isDotString reports whether s is an RFC 5321 Dot-string, with the
// UTF-8 atext of RFC 6531 3.3.
func isDotString(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if s[i-1] == '.' {
				return false
			}
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n <= 1 {
				return false
			}
			i += n - 1
		case !isAtext(c):
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
