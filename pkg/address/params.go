package address

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Param is one esmtp-param of a MAIL or RCPT command (RFC 5321 4.1.2):
// the keyword in upper case and the value as received ("" when the
// parameter has none).
type Param struct {
	Keyword string
	Value   string
}

// MailParams are the MAIL FROM parameters this package understands, after
// validation and decoding. Parameters it does not know are kept in Other
// in the order received: Courier ignores unknown parameters (esmtp.md §4),
// and courieresmtpd decides what to do with them.
type MailParams struct {
	Size     uint64 // SIZE (RFC 1870 3): declared message size in octets
	HasSize  bool   // SIZE was given
	Body     string // BODY (RFC 6152 2, RFC 3030 3): "7BIT", "8BITMIME" or "BINARYMIME"; "" when absent
	SMTPUTF8 bool   // SMTPUTF8 (RFC 6531 3.4)
	Ret      string // RET (RFC 3461 4.3): "FULL" or "HDRS"; "" when absent
	EnvID    string // ENVID (RFC 3461 4.4), xtext-decoded; "" when absent
	Auth     string // AUTH (RFC 4954 5), xtext-decoded: a mailbox or "<>"; "" when absent
	VERP     bool   // Courier's VERP keyword (esmtp.md §4; XVERP is not it)
	Security string // Courier's SECURITY extension: "NONE" or "STARTTLS"; "" when absent
	Other    []Param
}

// RcptParams are the RCPT TO parameters this package understands.
type RcptParams struct {
	Notify Notify // NOTIFY (RFC 3461 4.1); 0 when absent
	ORCPT  ORCPT  // ORCPT (RFC 3461 4.2, RFC 6533 3); zero when absent
	Other  []Param
}

// Notify is the set of NOTIFY values (RFC 3461 4.1). The zero Notify means
// the parameter was not given, which for Courier is not the same as NEVER
// (queue-and-courierd.md §1, record N).
type Notify uint8

// NOTIFY values.
const (
	NotifyNever Notify = 1 << iota
	NotifySuccess
	NotifyFailure
	NotifyDelay
)

// String returns the NOTIFY value as RFC 3461 4.1 writes it: "NEVER", or
// the conditions in the order SUCCESS, FAILURE, DELAY joined by ",".
func (n Notify) String() string {
	if n&NotifyNever != 0 {
		return "NEVER"
	}
	var parts []string
	if n&NotifySuccess != 0 {
		parts = append(parts, "SUCCESS")
	}
	if n&NotifyFailure != 0 {
		parts = append(parts, "FAILURE")
	}
	if n&NotifyDelay != 0 {
		parts = append(parts, "DELAY")
	}
	return strings.Join(parts, ",")
}

// ParseNotify parses a NOTIFY value (RFC 3461 4.1):
// "NEVER" / 1#( "SUCCESS" / "FAILURE" / "DELAY" ), case-insensitive.
func ParseNotify(s string) (Notify, error) {
	n, err := parseNotify("NOTIFY value", s, 0, len(s))
	if err != nil {
		return 0, err
	}
	return n, nil
}

func parseNotify(kind, input string, start, end int) (Notify, *Error) {
	var n Notify
	for i := start; ; {
		j := i
		for j < end && input[j] != ',' {
			j++
		}
		var v Notify
		switch w := input[i:j]; {
		case strings.EqualFold(w, "NEVER"):
			v = NotifyNever
		case strings.EqualFold(w, "SUCCESS"):
			v = NotifySuccess
		case strings.EqualFold(w, "FAILURE"):
			v = NotifyFailure
		case strings.EqualFold(w, "DELAY"):
			v = NotifyDelay
		case w == "":
			return 0, errorf(kind, input, i, "empty NOTIFY condition")
		default:
			return 0, errorf(kind, input, i, "unknown NOTIFY condition %q (NEVER, SUCCESS, FAILURE or DELAY)", w)
		}
		if n&v != 0 {
			return 0, errorf(kind, input, i, "NOTIFY condition %s given twice", v)
		}
		if n != 0 && (v == NotifyNever || n&NotifyNever != 0) {
			return 0, errorf(kind, input, i, "NOTIFY=NEVER cannot be combined with other conditions")
		}
		n |= v
		if j == end {
			return n, nil
		}
		i = j + 1
	}
}

// ORCPT is the original recipient of RFC 3461 4.2: an address type and the
// decoded address. Type is as received ("rfc822", "utf-8", ...); Addr has
// the xtext (or, for "utf-8", the RFC 6533 \x{...}) encoding removed.
type ORCPT struct {
	Type string
	Addr string
}

// IsZero reports whether no ORCPT was given.
func (o ORCPT) IsZero() bool { return o.Type == "" && o.Addr == "" }

// Encode returns the ORCPT parameter value for o. An ASCII address is sent
// as "<type>;<xtext>" (RFC 3461 4); an address with UTF-8 is sent with the
// "utf-8" type of RFC 6533 3, as utf-8-addr-unitext when the peer
// announced SMTPUTF8 and as utf-8-addr-xtext otherwise.
func (o ORCPT) Encode(smtputf8 bool) string {
	if isASCII(o.Addr) {
		t := o.Type
		if t == "" || strings.EqualFold(t, "utf-8") {
			t = "rfc822"
		}
		return t + ";" + XtextEncode(o.Addr)
	}
	var b strings.Builder
	b.WriteString("utf-8;")
	for _, r := range o.Addr {
		if r <= ' ' || r == '\\' || r == '+' || r == '=' || r == 0x7f || (!smtputf8 && r >= utf8.RuneSelf) {
			b.WriteString(`\x{`)
			b.WriteString(strings.ToUpper(strconv.FormatInt(int64(r), 16)))
			b.WriteByte('}')
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// ParseORCPT parses an ORCPT value (RFC 3461 4.2):
// addr-type ";" xtext, where for addr-type "utf-8" the address is
// utf-8-addr-xtext, or with smtputf8 utf-8-addr-unitext (RFC 6533 3).
func ParseORCPT(s string, smtputf8 bool) (ORCPT, error) {
	o, err := parseORCPT("ORCPT value", s, 0, len(s), smtputf8)
	if err != nil {
		return ORCPT{}, err
	}
	return o, nil
}

// RFC 3461 4.2: the ORCPT parameter is at most 500 characters.
const maxORCPT = 500

func parseORCPT(kind, input string, start, end int, utf8OK bool) (ORCPT, *Error) {
	if end-start > maxORCPT {
		return ORCPT{}, errorf(kind, input, start, "ORCPT is %d characters long, more than %d", end-start, maxORCPT)
	}
	semi := strings.IndexByte(input[start:end], ';')
	if semi < 0 {
		return ORCPT{}, errorf(kind, input, start, "ORCPT needs an address type and ';' before the address")
	}
	semi += start
	if semi == start {
		return ORCPT{}, errorf(kind, input, start, "empty ORCPT address type")
	}
	// addr-type = atom (RFC 3461 4.2, RFC 5322 3.2.3)
	for i := start; i < semi; i++ {
		if !isAtext(input[i]) {
			return ORCPT{}, errorf(kind, input, i, "character %q not allowed in ORCPT address type", rune(input[i]))
		}
	}
	o := ORCPT{Type: input[start:semi]}
	if semi+1 == end {
		return ORCPT{}, errorf(kind, input, semi+1, "empty ORCPT address")
	}
	if strings.EqualFold(o.Type, "utf-8") {
		addr, err := decodeUTF8AddrXtext(kind, input, semi+1, end, utf8OK)
		if err != nil {
			return ORCPT{}, err
		}
		o.Addr = addr
		return o, nil
	}
	addr, err := xtextDecode(kind, input, semi+1, end)
	if err != nil {
		return ORCPT{}, err
	}
	// RFC 3461 4.2: the decoded address is printable US-ASCII.
	if i := strings.IndexFunc(addr, func(r rune) bool { return r < ' ' || r > '~' }); i >= 0 {
		return ORCPT{}, errorf(kind, input, semi+1, "decoded ORCPT address has a character outside printable US-ASCII (%q); use the utf-8 type", rune(addr[i]))
	}
	o.Addr = addr
	return o, nil
}

// decodeUTF8AddrXtext decodes RFC 6533 3 utf-8-addr-xtext
// (QCHAR / EmbeddedUnicodeChar) or, with utf8OK, utf-8-addr-unitext
// (QUCHAR / EmbeddedUnicodeChar). EmbeddedUnicodeChar is "\x{" HEXPOINT
// "}", a code point in hexadecimal.
func decodeUTF8AddrXtext(kind, input string, start, end int, utf8OK bool) (string, *Error) {
	var b strings.Builder
	for i := start; i < end; {
		c := input[i]
		switch {
		case c == '\\':
			if !strings.HasPrefix(input[i:end], `\x{`) {
				return "", errorf(kind, input, i, `'\' must start an escape \x{HEX}`)
			}
			j := i + 3
			for j < end && isHex(input[j]) {
				j++
			}
			if j >= end || input[j] != '}' {
				return "", errorf(kind, input, i, `escape \x{ needs hexadecimal digits and '}'`)
			}
			if j == i+3 || j-(i+3) > 6 {
				return "", errorf(kind, input, i, `escape \x{...} needs 1 to 6 hexadecimal digits`)
			}
			v, _ := strconv.ParseUint(input[i+3:j], 16, 32)
			r := rune(v)
			if r == 0 || r > utf8.MaxRune || (r >= 0xd800 && r <= 0xdfff) {
				return "", errorf(kind, input, i, "escape %s is not a Unicode character", input[i:j+1])
			}
			if r < 0x20 || r == 0x7f {
				return "", errorf(kind, input, i, "escape %s is a control character", input[i:j+1])
			}
			b.WriteRune(r)
			i = j + 1
		case c >= utf8.RuneSelf:
			n, err := utf8At(kind, input, i, end, utf8OK, "ORCPT address")
			if err != nil {
				return "", err
			}
			b.WriteString(input[i : i+n])
			i += n
		case c > ' ' && c < 0x7f && c != '+' && c != '=':
			b.WriteByte(c)
			i++
		default:
			return "", errorf(kind, input, i, `character %q must be written as \x{%X} in a utf-8 ORCPT`, rune(c), c)
		}
	}
	return b.String(), nil
}

// XtextEncode encodes s as xtext (RFC 3461 4): every octet outside "!" to
// "~", and "+" and "=", becomes "+" and two upper-case hexadecimal digits.
func XtextEncode(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '!' || c > '~' || c == '+' || c == '=' {
			b.WriteByte('+')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// XtextDecode decodes xtext (RFC 3461 4):
// xtext = *( xchar / hexchar ), hexchar = "+" 2HEXDIG. The RFC asks for
// upper-case digits; lower-case ones are accepted as well, as Courier does.
func XtextDecode(s string) (string, error) {
	d, err := xtextDecode("xtext", s, 0, len(s))
	if err != nil {
		return "", err
	}
	return d, nil
}

func xtextDecode(kind, input string, start, end int) (string, *Error) {
	var b strings.Builder
	b.Grow(end - start)
	for i := start; i < end; i++ {
		c := input[i]
		switch {
		case c == '+':
			if i+2 >= end || !isHex(input[i+1]) || !isHex(input[i+2]) {
				return "", errorf(kind, input, i, "'+' in xtext must be followed by two hexadecimal digits")
			}
			v, _ := strconv.ParseUint(input[i+1:i+3], 16, 8)
			b.WriteByte(byte(v))
			i += 2
		case c >= '!' && c <= '~' && c != '=':
			b.WriteByte(c)
		case c >= utf8.RuneSelf:
			return "", errorf(kind, input, i, "non-ASCII octet 0x%02X not allowed in xtext (write it as +%02X)", c, c)
		default:
			return "", errorf(kind, input, i, "character %q not allowed in xtext (write it as +%02X)", rune(c), c)
		}
	}
	return b.String(), nil
}

// rawParam is one parameter with the offsets of its keyword and value in
// the command, for error messages.
type rawParam struct {
	kw, val       string
	hasVal        bool
	kwPos, valPos int
}

// parseParams splits input[start:end] into esmtp-params (RFC 5321 4.1.2):
//
//	esmtp-param   = esmtp-keyword ["=" esmtp-value]
//	esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
//	esmtp-value   = 1*(%d33-60 / %d62-126)   ; RFC 6531 3.3 adds UTF8-non-ascii
//
// Parameters are separated by one or more spaces or tabs (RFC 5321 asks
// for one SP; Courier accepts any white space). UTF-8 in values is checked
// here for validity only; whether it is allowed depends on SMTPUTF8 and is
// decided by the caller.
func parseParams(kind, input string, start, end int) ([]rawParam, *Error) {
	var ps []rawParam
	seen := map[string]bool{}
	i := start
	for {
		for i < end && (input[i] == ' ' || input[i] == '\t') {
			i++
		}
		if i >= end {
			return ps, nil
		}
		p := rawParam{kwPos: i}
		j := i
		for j < end && (isLetDig(input[j]) || input[j] == '-' && j > i) {
			j++
		}
		if j == i {
			return nil, errorf(kind, input, i, "parameter keyword must start with a letter or digit, not %q", rune(input[i]))
		}
		p.kw = strings.ToUpper(input[i:j])
		if j < end && input[j] != '=' && input[j] != ' ' && input[j] != '\t' {
			return nil, errorf(kind, input, j, "character %q not allowed in parameter keyword %s", rune(input[j]), p.kw)
		}
		if seen[p.kw] {
			return nil, errorf(kind, input, i, "parameter %s given twice", p.kw)
		}
		seen[p.kw] = true
		if j < end && input[j] == '=' {
			j++
			p.hasVal = true
			p.valPos = j
			k := j
			for k < end && input[k] != ' ' && input[k] != '\t' {
				c := input[k]
				switch {
				case c >= utf8.RuneSelf:
					r, n := utf8.DecodeRuneInString(input[k:end])
					if r == utf8.RuneError && n <= 1 {
						return nil, errorf(kind, input, k, "invalid UTF-8 in the value of %s", p.kw)
					}
					k += n - 1
				case c == '=':
					return nil, errorf(kind, input, k, "character '=' not allowed in the value of %s", p.kw)
				case c < '!' || c > '~':
					return nil, errorf(kind, input, k, "control character %q in the value of %s", rune(c), p.kw)
				}
				k++
			}
			if k == j {
				return nil, errorf(kind, input, j, "empty value for parameter %s", p.kw)
			}
			p.val = input[j:k]
			j = k
		}
		ps = append(ps, p)
		i = j
	}
}

// nonASCIIValue returns the first parameter whose value has UTF-8, for the
// check that such values come only with SMTPUTF8 (RFC 6531 3.3).
func nonASCIIValue(ps []rawParam) (rawParam, int, bool) {
	for _, p := range ps {
		for k := 0; k < len(p.val); k++ {
			if p.val[k] >= utf8.RuneSelf {
				return p, k, true
			}
		}
	}
	return rawParam{}, 0, false
}

// ParseMailParams parses and validates the parameters of MAIL FROM (the
// text after the reverse-path).
func ParseMailParams(s string) (MailParams, error) {
	mp, err := parseMailParams("MAIL FROM parameters", s, 0, len(s))
	if err != nil {
		return MailParams{}, err
	}
	return mp, nil
}

// RFC 3461 4.4: ENVID is at most 100 characters.
const maxEnvID = 100

func parseMailParams(kind, input string, start, end int) (MailParams, *Error) {
	ps, err := parseParams(kind, input, start, end)
	if err != nil {
		return MailParams{}, err
	}
	var mp MailParams
	for _, p := range ps {
		if p.kw == "SMTPUTF8" {
			mp.SMTPUTF8 = true
		}
	}
	if !mp.SMTPUTF8 {
		if p, k, ok := nonASCIIValue(ps); ok {
			return MailParams{}, errorf(kind, input, p.valPos+k, "non-ASCII character in the value of %s (allowed only with SMTPUTF8)", p.kw)
		}
	}
	for _, p := range ps {
		switch p.kw {
		case "SIZE":
			// size-value = 1*20DIGIT (RFC 1870 3)
			if !p.hasVal {
				return MailParams{}, errorf(kind, input, p.kwPos, "SIZE needs a value")
			}
			for k := 0; k < len(p.val); k++ {
				if !isDigit(p.val[k]) {
					return MailParams{}, errorf(kind, input, p.valPos+k, "SIZE value must be decimal digits")
				}
			}
			if len(p.val) > 20 {
				return MailParams{}, errorf(kind, input, p.valPos, "SIZE value has more than 20 digits")
			}
			n, perr := strconv.ParseUint(p.val, 10, 64)
			if perr != nil {
				return MailParams{}, errorf(kind, input, p.valPos, "SIZE value %s is too large", p.val)
			}
			mp.Size, mp.HasSize = n, true
		case "BODY":
			v := strings.ToUpper(p.val)
			if v != "7BIT" && v != "8BITMIME" && v != "BINARYMIME" {
				return MailParams{}, errorf(kind, input, p.valPos, "BODY must be 7BIT, 8BITMIME or BINARYMIME, not %q", p.val)
			}
			mp.Body = v
		case "SMTPUTF8":
			if p.hasVal {
				return MailParams{}, errorf(kind, input, p.valPos, "SMTPUTF8 takes no value")
			}
		case "RET":
			v := strings.ToUpper(p.val)
			if v != "FULL" && v != "HDRS" {
				return MailParams{}, errorf(kind, input, p.valPos, "RET must be FULL or HDRS, not %q", p.val)
			}
			mp.Ret = v
		case "ENVID":
			if !p.hasVal {
				return MailParams{}, errorf(kind, input, p.kwPos, "ENVID needs a value")
			}
			if len(p.val) > maxEnvID {
				return MailParams{}, errorf(kind, input, p.valPos, "ENVID is %d characters long, more than %d", len(p.val), maxEnvID)
			}
			v, err := xtextDecode(kind, input, p.valPos, p.valPos+len(p.val))
			if err != nil {
				return MailParams{}, err
			}
			// RFC 3461 4.4: the decoded envelope id is printable US-ASCII.
			if i := strings.IndexFunc(v, func(r rune) bool { return r < ' ' || r > '~' }); i >= 0 {
				return MailParams{}, errorf(kind, input, p.valPos, "decoded ENVID has a character outside printable US-ASCII (%q)", rune(v[i]))
			}
			mp.EnvID = v
		case "AUTH":
			if !p.hasVal {
				return MailParams{}, errorf(kind, input, p.kwPos, "AUTH needs a value")
			}
			v, err := xtextDecode(kind, input, p.valPos, p.valPos+len(p.val))
			if err != nil {
				return MailParams{}, err
			}
			mp.Auth = v
		case "VERP":
			if p.hasVal {
				return MailParams{}, errorf(kind, input, p.valPos, "VERP takes no value")
			}
			mp.VERP = true
		case "SECURITY":
			v := strings.ToUpper(p.val)
			if v != "NONE" && v != "STARTTLS" {
				return MailParams{}, errorf(kind, input, p.valPos, "SECURITY must be NONE or STARTTLS, not %q", p.val)
			}
			mp.Security = v
		default:
			mp.Other = append(mp.Other, Param{Keyword: p.kw, Value: p.val})
		}
	}
	return mp, nil
}

// ParseRcptParams parses and validates the parameters of RCPT TO (the
// text after the forward-path). smtputf8 says whether the transaction's
// MAIL FROM had SMTPUTF8, which allows UTF-8 in values (RFC 6531 3.3).
func ParseRcptParams(s string, smtputf8 bool) (RcptParams, error) {
	rp, err := parseRcptParams("RCPT TO parameters", s, 0, len(s), smtputf8)
	if err != nil {
		return RcptParams{}, err
	}
	return rp, nil
}

func parseRcptParams(kind, input string, start, end int, utf8OK bool) (RcptParams, *Error) {
	ps, err := parseParams(kind, input, start, end)
	if err != nil {
		return RcptParams{}, err
	}
	if !utf8OK {
		if p, k, ok := nonASCIIValue(ps); ok {
			return RcptParams{}, errorf(kind, input, p.valPos+k, "non-ASCII character in the value of %s (allowed only with SMTPUTF8)", p.kw)
		}
	}
	var rp RcptParams
	for _, p := range ps {
		switch p.kw {
		case "NOTIFY":
			if !p.hasVal {
				return RcptParams{}, errorf(kind, input, p.kwPos, "NOTIFY needs a value")
			}
			n, err := parseNotify(kind, input, p.valPos, p.valPos+len(p.val))
			if err != nil {
				return RcptParams{}, err
			}
			rp.Notify = n
		case "ORCPT":
			if !p.hasVal {
				return RcptParams{}, errorf(kind, input, p.kwPos, "ORCPT needs a value")
			}
			o, err := parseORCPT(kind, input, p.valPos, p.valPos+len(p.val), utf8OK)
			if err != nil {
				return RcptParams{}, err
			}
			rp.ORCPT = o
		default:
			rp.Other = append(rp.Other, Param{Keyword: p.kw, Value: p.val})
		}
	}
	return rp, nil
}

// ParseMailFrom parses what follows "MAIL FROM:" in an SMTP command, line
// ending removed: the reverse-path in angle brackets and the parameters
// (RFC 5321 4.1.1.2). Blanks before the path are skipped, as Courier does.
// UTF-8 in the path is allowed when the parameters include SMTPUTF8 (RFC
// 6531 3.4), so the parameters are checked first.
func ParseMailFrom(arg string) (Path, MailParams, error) {
	const kind = "MAIL FROM argument"
	ps, pe, err := splitPath(kind, arg)
	if err != nil {
		return Path{}, MailParams{}, err
	}
	mp, err := parseMailParams(kind, arg, pe, len(arg))
	if err != nil {
		return Path{}, MailParams{}, err
	}
	p, err := parsePath(kind, arg, ps, pe, mp.SMTPUTF8, true)
	if err != nil {
		return Path{}, MailParams{}, err
	}
	return p, mp, nil
}

// ParseRcptTo parses what follows "RCPT TO:" (RFC 5321 4.1.1.3), line
// ending removed: the forward-path and the parameters. smtputf8 says
// whether the transaction's MAIL FROM had SMTPUTF8.
func ParseRcptTo(arg string, smtputf8 bool) (Path, RcptParams, error) {
	const kind = "RCPT TO argument"
	ps, pe, err := splitPath(kind, arg)
	if err != nil {
		return Path{}, RcptParams{}, err
	}
	p, err := parsePath(kind, arg, ps, pe, smtputf8, false)
	if err != nil {
		return Path{}, RcptParams{}, err
	}
	rp, err := parseRcptParams(kind, arg, pe, len(arg), smtputf8)
	if err != nil {
		return Path{}, RcptParams{}, err
	}
	return p, rp, nil
}

// splitPath finds the path at the start of a MAIL or RCPT argument: from
// '<' to the first '>' outside a quoted string (Courier's skipaddress), and
// checks that parameters, if any, are separated from it by white space.
func splitPath(kind, arg string) (int, int, *Error) {
	i := 0
	for i < len(arg) && (arg[i] == ' ' || arg[i] == '\t') {
		i++
	}
	if i >= len(arg) || arg[i] != '<' {
		return 0, 0, errorf(kind, arg, i, "address must be enclosed in '<' and '>'")
	}
	inQuote := false
	for j := i + 1; j < len(arg); j++ {
		switch arg[j] {
		case '\\':
			if inQuote {
				j++
			}
		case '"':
			inQuote = !inQuote
		case '>':
			if inQuote {
				continue
			}
			j++
			if j < len(arg) && arg[j] != ' ' && arg[j] != '\t' {
				return 0, 0, errorf(kind, arg, j, "a space must separate the path from the parameters")
			}
			return i, j, nil
		}
	}
	return 0, 0, errorf(kind, arg, i, "path has no closing '>'")
}
