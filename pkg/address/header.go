package address

import (
	"strings"
	"unicode/utf8"
)

// Mailbox is one mailbox of an address list in a message header (RFC 5322
// 3.4), kept as written so that a header can be rewritten in place.
type Mailbox struct {
	// Name is the display name: its words joined by single spaces where
	// the header had white space or comments between them, quoted-strings
	// without quotes. RFC 2047 encoded-words are left encoded.
	Name string
	// Local is the value of the local part: quoted-strings unquoted and
	// the white space and comments that RFC 5322 4.4 allows around dots
	// removed.
	Local string
	// Domain is the domain as written, without white space or comments;
	// "" for a domain-less address ("joe", "Joe <joe>"), which Courier's
	// sendmail completes with the default domain.
	Domain string
	// Group is the display name of the group the mailbox belongs to, ""
	// when it is not in a group.
	Group string
	// Null marks the empty angle address "<>", and Courier's "<@>" that
	// its DSNs carry in From: (aliases-and-control-files.md §2 dsnfrom).
	Null bool

	localEnd int // offset in the header just after the local part
}

// ParseHeaderList parses the value of an address header (From, To, Cc,
// Bcc, Reply-To, Sender, Resent-*) as an RFC 5322 3.4 address-list,
// accepting the obsolete syntax of RFC 5322 4.4 (empty list elements,
// source routes, CFWS around the dots of local parts and domains, dots in
// display names), UTF-8 as RFC 6532 3.2 allows (other 8-bit octets are
// passed through as Courier does), folded lines (CRLF or LF followed by
// white space), and, for sendmail, addresses without a domain. Groups are
// flattened: each member carries its group's name; an empty group such as
// "undisclosed-recipients: ;" contributes no mailbox.
func ParseHeaderList(value string) ([]Mailbox, error) {
	p := headerParser{input: value}
	if err := p.tokenize(); err != nil {
		return nil, err
	}
	l, err := p.list()
	if err != nil {
		return nil, err
	}
	return l, nil
}

// AddDefaultDomain returns the header value with "@domain" added to every
// mailbox that has no domain, as Courier's rewriting does for the From,
// To, Cc, Reply-To and Sender headers of locally submitted mail (courier
// libs/rwdefaulthost.C, aliases-and-control-files.md §2 defaultdomain).
// Headers get the A-label form of the domain. Mailboxes with '!' in the
// local part (UUCP paths), "<>" and everything else in the header are left
// exactly as they were; nothing is re-folded.
func AddDefaultDomain(value string, domain Domain) (string, error) {
	if domain.IsZero() {
		return "", errorf("default domain", "", 0, "no default domain given")
	}
	l, err := ParseHeaderList(value)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	last := 0
	for _, m := range l {
		if !m.NeedsDefaultDomain() {
			continue
		}
		b.WriteString(value[last:m.localEnd])
		b.WriteByte('@')
		b.WriteString(domain.ASCII())
		last = m.localEnd
	}
	if last == 0 {
		return value, nil
	}
	b.WriteString(value[last:])
	return b.String(), nil
}

// NeedsDefaultDomain reports whether Courier's default-domain rule applies
// to m: it has a local part, no domain, and no '!' (a UUCP path keeps its
// form, rwdefaulthost.C). Courier looks only at a '!' outside quotes;
// here the value of the local part decides, as it does for Rules.Resolve,
// so that quoting an address never changes where it goes.
func (m Mailbox) NeedsDefaultDomain() bool {
	return !m.Null && m.Domain == "" && strings.IndexByte(m.Local, '!') < 0
}

// Envelope returns the envelope address of m, validated as RFC 5321 4.1.2
// requires (with the UTF-8 of RFC 6531), for use as an SMTP recipient or
// sender. A mailbox without domain gets defaultDomain when
// NeedsDefaultDomain says so; a UUCP path, or any domain-less mailbox when
// defaultDomain is zero, stays without domain.
func (m Mailbox) Envelope(defaultDomain Domain) (Address, error) {
	if m.Null {
		return Address{}, errorf("address", "<>", 0, "the empty address <> is not a mailbox")
	}
	text := FormatLocal(m.Local)
	if m.Domain != "" {
		text += "@" + m.Domain
	}
	if bad := invalidUTF8At(m.Local); bad >= 0 {
		return Address{}, errorf("address", text, 0, "invalid UTF-8 in local part")
	}
	for i := 0; i < len(m.Local); i++ {
		if c := m.Local[i]; c < ' ' || c == 0x7f {
			return Address{}, errorf("address", text, 0, "control character %q in local part", rune(c))
		}
	}
	ll := len(FormatLocal(m.Local))
	if ll > MaxLocalLength {
		return Address{}, errorf("address", text, 0, "local part is %d octets long, more than %d", ll, MaxLocalLength)
	}
	if m.Domain == "" {
		if m.NeedsDefaultDomain() && !defaultDomain.IsZero() {
			return Address{Local: m.Local, Domain: defaultDomain}, nil
		}
		if m.Local == "" {
			// Without a domain, "" would be the null address.
			return Address{}, errorf("address", text, 0, "empty local part and no domain")
		}
		return Address{Local: m.Local}, nil
	}
	d, err := parseDomain("address", text, ll+1, len(text), true, true)
	if err != nil {
		return Address{}, err
	}
	return Address{Local: m.Local, Domain: d}, nil
}

// FormatMailbox renders a mailbox for a header (RFC 5322 3.4):
// `display-name <addr-spec>`, or the bare addr-spec when name is empty.
// The domain is written in A-labels; a name with UTF-8 is written as RFC
// 2047 encoded-words so that the header stays 7-bit when the address is;
// an ASCII name is written as atoms when it is a sequence of atoms
// separated by single spaces, otherwise as a quoted-string. Control
// characters in name (a GECOS field may hold anything) become spaces, so
// that the result is always one header line.
func FormatMailbox(name string, addr Address) string {
	a := addr.StringACE()
	name = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, name)
	if strings.TrimSpace(name) == "" {
		return a
	}
	return formatPhrase(name) + " <" + a + ">"
}

func formatPhrase(name string) string {
	if !isASCII(name) {
		return encodePhrase(name)
	}
	// A word that looks like an RFC 2047 encoded-word is quoted, so that
	// no reader decodes it (RFC 2047 5(3)).
	atoms := true
	for _, w := range strings.Split(name, " ") {
		if w == "" || strings.HasPrefix(w, "=?") {
			atoms = false
			break
		}
		for j := 0; j < len(w); j++ {
			if !isAtext(w[j]) {
				atoms = false
			}
		}
	}
	if atoms {
		return name
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(name); i++ {
		if name[i] == '"' || name[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(name[i])
	}
	b.WriteByte('"')
	return b.String()
}

// encodePhrase writes name as RFC 2047 Q encoded-words that may stand in
// a phrase (RFC 2047 5(3): only letters, digits and "!*+-/" stay as they
// are, a space becomes "_"), each at most 75 characters long (RFC 2047 2).
// mime.QEncoding is not used because it leaves characters such as "(" and
// "," unencoded, which would end the display name early.
func encodePhrase(name string) string {
	const prefix, suffix = "=?utf-8?q?", "?="
	const room = 75 - len(prefix) - len(suffix)
	const hex = "0123456789ABCDEF"
	name = strings.ToValidUTF8(name, "\uFFFD")
	var b, word strings.Builder
	flush := func() {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(prefix + word.String() + suffix)
		word.Reset()
	}
	var buf [utf8.UTFMax]byte
	for _, r := range name {
		var enc string
		switch {
		case r == ' ':
			enc = "_"
		case r < utf8.RuneSelf && (isLetDig(byte(r)) || strings.ContainsRune("!*+-/", r)):
			enc = string(r)
		default:
			n := utf8.EncodeRune(buf[:], r)
			e := make([]byte, 0, 3*n)
			for _, c := range buf[:n] {
				e = append(e, '=', hex[c>>4], hex[c&15])
			}
			enc = string(e)
		}
		if word.Len()+len(enc) > room {
			flush()
		}
		word.WriteString(enc)
	}
	if word.Len() > 0 {
		flush()
	}
	return b.String()
}

// Token types of the header lexer; specials are their own byte.
const (
	tAtom    = 'a'
	tQuoted  = 'q'
	tLiteral = 'l'
	tEOF     = 0
)

type token struct {
	typ        byte
	val        string // atom text, quoted-string value, literal without white space
	start, end int    // offsets in the input
	space      bool   // white space or a comment came before the token
}

type headerParser struct {
	input string
	toks  []token
	i     int
}

func (p *headerParser) errorf(pos int, format string, args ...any) *Error {
	return errorf("address list", p.input, pos, format, args...)
}

// skipFWS skips folding white space at input[i] (RFC 5322 3.2.2 FWS and
// 4.2 obs-FWS: WSP, and CRLF or a bare LF when white space follows) and
// returns the new offset.
func (p *headerParser) skipFWS(i int) (int, *Error) {
	s := p.input
	for i < len(s) {
		switch s[i] {
		case ' ', '\t':
			i++
		case '\r', '\n':
			j := i
			if s[j] == '\r' {
				j++
				if j >= len(s) || s[j] != '\n' {
					return i, p.errorf(i, "carriage return not followed by line feed")
				}
			}
			j++
			if j >= len(s) || (s[j] != ' ' && s[j] != '\t') {
				return i, p.errorf(i, "line break not followed by white space (not a folded header)")
			}
			i = j
		default:
			return i, nil
		}
	}
	return i, nil
}

// skipCFWS skips white space and comments (RFC 5322 3.2.2 CFWS; comments
// nest) and reports whether there was any.
func (p *headerParser) skipCFWS(i int) (int, bool, *Error) {
	s := p.input
	start := i
	for {
		var err *Error
		if i, err = p.skipFWS(i); err != nil {
			return i, false, err
		}
		if i >= len(s) || s[i] != '(' {
			return i, i > start, nil
		}
		open := i
		depth := 0
		for {
			if i >= len(s) {
				return i, false, p.errorf(open, "comment has no closing ')'")
			}
			c := s[i]
			switch {
			case c == '(':
				depth++
				i++
			case c == ')':
				depth--
				i++
			case c == '\\':
				if i+1 >= len(s) {
					return i, false, p.errorf(i, "'\\' at the end of the header")
				}
				if s[i+1] == '\r' || s[i+1] == '\n' {
					return i, false, p.errorf(i, "'\\' before a line break")
				}
				i += 2
			case c == '\r' || c == '\n':
				if i, err = p.skipFWS(i); err != nil {
					return i, false, err
				}
			case c == 0:
				return i, false, p.errorf(i, "NUL character in comment")
			default:
				i++
			}
			if depth == 0 {
				break
			}
		}
	}
}

// tokenize splits the whole header value into tokens, so that the parser
// never scans the same text twice.
func (p *headerParser) tokenize() *Error {
	s := p.input
	// About one token per four octets in real headers; sizing the slice
	// once avoids most of the copying of a growing slice.
	p.toks = make([]token, 0, len(s)/4+2)
	i := 0
	for {
		j, space, err := p.skipCFWS(i)
		if err != nil {
			return err
		}
		i = j
		if i >= len(s) {
			p.toks = append(p.toks, token{typ: tEOF, start: i, end: i, space: space})
			return nil
		}
		t := token{start: i, space: space}
		c := s[i]
		switch {
		case c == '"':
			// quoted-string (RFC 5322 3.2.4, obs-qtext and obs-qp of 4.1)
			var b strings.Builder
			i++
			for {
				if i >= len(s) {
					return p.errorf(t.start, "quoted string has no closing '\"'")
				}
				c := s[i]
				if c == '"' {
					i++
					break
				}
				switch {
				case c == '\\':
					if i+1 >= len(s) {
						return p.errorf(i, "'\\' at the end of the header")
					}
					if s[i+1] == '\r' || s[i+1] == '\n' || s[i+1] == 0 {
						return p.errorf(i, "'\\' before %q in a quoted string", rune(s[i+1]))
					}
					b.WriteByte(s[i+1])
					i += 2
				case c == '\r' || c == '\n':
					j, err := p.skipFWS(i)
					if err != nil {
						return err
					}
					// Unfolding removes the line break, keeps the white space.
					for k := i; k < j; k++ {
						if s[k] == ' ' || s[k] == '\t' {
							b.WriteByte(s[k])
						}
					}
					i = j
				case c == 0:
					return p.errorf(i, "NUL character in quoted string")
				default:
					b.WriteByte(c)
					i++
				}
			}
			t.typ, t.val = tQuoted, b.String()
		case c == '[':
			// domain-literal (RFC 5322 3.4.1, obs-dtext of 4.4)
			var b strings.Builder
			b.WriteByte('[')
			i++
			for {
				if i >= len(s) {
					return p.errorf(t.start, "domain literal has no closing ']'")
				}
				c := s[i]
				if c == ']' {
					i++
					break
				}
				switch {
				case c == '[':
					return p.errorf(i, "'[' inside a domain literal")
				case c == '\\':
					if i+1 >= len(s) || s[i+1] == '\r' || s[i+1] == '\n' {
						return p.errorf(i, "'\\' at the end of a domain literal")
					}
					b.WriteByte(s[i+1])
					i += 2
				case c == ' ' || c == '\t' || c == '\r' || c == '\n':
					j, err := p.skipFWS(i)
					if err != nil {
						return err
					}
					i = j
				case c < ' ' || c == 0x7f:
					return p.errorf(i, "control character %q in domain literal", rune(c))
				default:
					b.WriteByte(c)
					i++
				}
			}
			b.WriteByte(']')
			t.typ, t.val = tLiteral, b.String()
		case strings.IndexByte("<>@,;:.", c) >= 0:
			t.typ = c
			i++
		case isAtext(c) || c >= utf8.RuneSelf:
			for i < len(s) && (isAtext(s[i]) || s[i] >= utf8.RuneSelf) {
				i++
			}
			t.typ, t.val = tAtom, s[t.start:i]
		case c == ')':
			return p.errorf(i, "')' without '('")
		case c == ']':
			return p.errorf(i, "']' without '['")
		case c == '\\':
			return p.errorf(i, "'\\' outside a quoted string")
		default:
			return p.errorf(i, "character %q not allowed here", rune(c))
		}
		t.end = i
		p.toks = append(p.toks, t)
	}
}

func (p *headerParser) peek() token { return p.toks[p.i] }

func describe(t token) string {
	switch t.typ {
	case tEOF:
		return "end of header"
	case tAtom:
		return "'" + t.val + "'"
	case tQuoted:
		return "quoted string"
	case tLiteral:
		return "domain literal"
	}
	return "'" + string(rune(t.typ)) + "'"
}

// list parses RFC 5322 3.4 address-list / 4.4 obs-addr-list.
func (p *headerParser) list() ([]Mailbox, *Error) {
	var out []Mailbox
	for {
		for p.peek().typ == ',' {
			p.i++
		}
		if p.peek().typ == tEOF {
			return out, nil
		}
		var err *Error
		if out, err = p.address(out); err != nil {
			return nil, err
		}
		switch t := p.peek(); t.typ {
		case ',', tEOF:
		default:
			return nil, p.errorf(t.start, "expected ',' between addresses, found %s", describe(t))
		}
	}
}

// words returns the index just past a run of phrase tokens (atoms,
// quoted-strings and dots) starting at p.i.
func (p *headerParser) words() int {
	j := p.i
	for p.toks[j].typ == tAtom || p.toks[j].typ == tQuoted || p.toks[j].typ == '.' {
		j++
	}
	return j
}

// phrase renders tokens [from, to) as a display name.
func (p *headerParser) phrase(from, to int) string {
	if to-from == 1 && p.toks[from].typ != '.' {
		return p.toks[from].val
	}
	var b strings.Builder
	for k := from; k < to; k++ {
		t := p.toks[k]
		if k > from && t.space {
			b.WriteByte(' ')
		}
		if t.typ == '.' {
			b.WriteByte('.')
		} else {
			b.WriteString(t.val)
		}
	}
	return b.String()
}

// address parses RFC 5322 3.4 address = mailbox / group and appends the
// mailboxes to out.
func (p *headerParser) address(out []Mailbox) ([]Mailbox, *Error) {
	j := p.words()
	switch p.toks[j].typ {
	case ':':
		if j == p.i {
			return nil, p.errorf(p.toks[j].start, "group has no name before ':'")
		}
		group := p.phrase(p.i, j)
		p.i = j + 1
		// group-list = mailbox-list / CFWS / obs-group-list
		for {
			for p.peek().typ == ',' {
				p.i++
			}
			t := p.peek()
			if t.typ == ';' {
				p.i++
				return out, nil
			}
			if t.typ == tEOF {
				return nil, p.errorf(t.start, "group %q has no closing ';'", group)
			}
			k := p.words()
			if p.toks[k].typ == ':' {
				return nil, p.errorf(p.toks[k].start, "group inside group %q", group)
			}
			m, err := p.mailbox()
			if err != nil {
				return nil, err
			}
			m.Group = group
			out = append(out, m)
			switch t := p.peek(); t.typ {
			case ',', ';':
			case tEOF:
				return nil, p.errorf(t.start, "group %q has no closing ';'", group)
			default:
				return nil, p.errorf(t.start, "expected ',' or ';' in group %q, found %s", group, describe(t))
			}
		}
	default:
		m, err := p.mailbox()
		if err != nil {
			return nil, err
		}
		return append(out, m), nil
	}
}

// mailbox parses RFC 5322 3.4 mailbox = name-addr / addr-spec, plus a
// domain-less local part.
func (p *headerParser) mailbox() (Mailbox, *Error) {
	j := p.words()
	t := p.toks[j]
	switch t.typ {
	case '<':
		m := Mailbox{Name: p.phrase(p.i, j)}
		p.i = j + 1
		if err := p.angleAddr(&m); err != nil {
			return Mailbox{}, err
		}
		return m, nil
	case '@':
		var m Mailbox
		if err := p.localPart(&m, j); err != nil {
			return Mailbox{}, err
		}
		p.i = j + 1
		if err := p.domain(&m); err != nil {
			return Mailbox{}, err
		}
		return m, nil
	default:
		if j == p.i {
			return Mailbox{}, p.errorf(t.start, "expected an address, found %s", describe(t))
		}
		var m Mailbox
		if err := p.localPart(&m, j); err != nil {
			return Mailbox{}, err
		}
		p.i = j
		return m, nil
	}
}

// angleAddr parses the rest of RFC 5322 3.4 angle-addr after '<',
// including 4.4 obs-route, and the empty "<>" and "<@>".
func (p *headerParser) angleAddr(m *Mailbox) *Error {
	open := p.toks[p.i-1]
	switch t := p.peek(); {
	case t.typ == '>':
		p.i++
		m.Null = true
		return nil
	case t.typ == '@' && p.toks[p.i+1].typ == '>':
		p.i += 2
		m.Null = true
		return nil
	case t.typ == '@' || t.typ == ',':
		// obs-route = obs-domain-list ":"
		// obs-domain-list = *(CFWS / ",") "@" domain *("," [CFWS] ["@" domain])
		for p.peek().typ == ',' {
			p.i++
		}
		for {
			t := p.peek()
			if t.typ != '@' {
				return p.errorf(t.start, "source route needs '@' before each domain, found %s", describe(t))
			}
			p.i++
			var route Mailbox
			if err := p.domain(&route); err != nil {
				return err
			}
			for p.peek().typ == ',' {
				p.i++
			}
			if p.peek().typ == ':' {
				p.i++
				break
			}
		}
	}
	j := p.words()
	switch t := p.toks[j]; t.typ {
	case '@':
		if err := p.localPart(m, j); err != nil {
			return err
		}
		p.i = j + 1
		if err := p.domain(m); err != nil {
			return err
		}
	case '>':
		if j == p.i {
			return p.errorf(t.start, "empty address in '<>' after a source route")
		}
		if err := p.localPart(m, j); err != nil {
			return err
		}
		p.i = j
	case tEOF:
		return p.errorf(open.start, "'<' has no matching '>'")
	default:
		return p.errorf(t.start, "expected '@' or '>' in angle address, found %s", describe(t))
	}
	if t := p.peek(); t.typ != '>' {
		if t.typ == tEOF {
			return p.errorf(open.start, "'<' has no matching '>'")
		}
		return p.errorf(t.start, "expected '>' after the address, found %s", describe(t))
	}
	p.i++
	return nil
}

// joined returns the values of tokens [from, to) run together, without
// the white space and comments between them: the input itself when the
// tokens are adjacent atoms and dots, which is the common case.
func (p *headerParser) joined(from, to int) string {
	if to-from == 1 {
		return p.toks[from].val
	}
	adjacent := true
	for k := from; k < to && adjacent; k++ {
		t := p.toks[k]
		adjacent = t.typ != tQuoted && t.typ != tLiteral && (k == from || t.start == p.toks[k-1].end)
	}
	if adjacent {
		return p.input[p.toks[from].start:p.toks[to-1].end]
	}
	var b strings.Builder
	for k := from; k < to; k++ {
		if t := p.toks[k]; t.typ == '.' {
			b.WriteByte('.')
		} else {
			b.WriteString(t.val)
		}
	}
	return b.String()
}

// localPart checks tokens [p.i, j) as RFC 5322 3.4.1 local-part
// (dot-atom / quoted-string / 4.4 obs-local-part = word *("." word)) and
// stores its value in m.
func (p *headerParser) localPart(m *Mailbox, j int) *Error {
	if j == p.i {
		return p.errorf(p.toks[j].start, "expected an address, found %s", describe(p.toks[j]))
	}
	wantWord := true
	for k := p.i; k < j; k++ {
		t := p.toks[k]
		if t.typ == '.' {
			if wantWord {
				if k == p.i {
					return p.errorf(t.start, "local part starts with '.'")
				}
				return p.errorf(t.start, "'..' in local part")
			}
			wantWord = true
			continue
		}
		if !wantWord {
			return p.errorf(t.start, "%s follows %s without '.' between them (a display name needs an address in '<>')", describe(t), describe(p.toks[k-1]))
		}
		wantWord = false
	}
	if wantWord {
		return p.errorf(p.toks[j-1].start, "local part ends with '.'")
	}
	m.Local = p.joined(p.i, j)
	m.localEnd = p.toks[j-1].end
	return nil
}

// domain parses RFC 5322 3.4.1 domain = dot-atom / domain-literal /
// 4.4 obs-domain (atom *("." atom)) at p.i.
func (p *headerParser) domain(m *Mailbox) *Error {
	t := p.peek()
	if t.typ == tLiteral {
		p.i++
		m.Domain = t.val
		return nil
	}
	from := p.i
	for {
		t := p.peek()
		if t.typ != tAtom {
			if p.i == from {
				return p.errorf(t.start, "expected a domain after '@', found %s", describe(t))
			}
			return p.errorf(t.start, "domain ends with '.'")
		}
		p.i++
		if p.peek().typ != '.' {
			break
		}
		p.i++
	}
	m.Domain = p.joined(from, p.i)
	return nil
}
