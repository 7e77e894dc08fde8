package address

import (
	"net/netip"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Length limits of RFC 5321 4.5.3.1 and RFC 1035 2.3.4, in octets of the
// text as it appears on the wire.
const (
	MaxLocalLength  = 64  // RFC 5321 4.5.3.1.1, local part
	MaxDomainLength = 255 // RFC 5321 4.5.3.1.2, domain
	MaxPathLength   = 256 // RFC 5321 4.5.3.1.3, path including "<", ">" and any source route
	MaxLabelLength  = 63  // RFC 1035 2.3.4, one label of a domain
)

// Domain is a validated domain name or address literal, normalised to
// lower case. The zero Domain means "no domain" (a domain-less address such
// as the special "<Postmaster>" recipient or a UUCP "host!user").
//
// A name is held in both IDNA forms (RFC 5890): A-labels, the ASCII form
// Courier writes in Delivered-To and Return-Path and DNS resolves, and
// U-labels, the UTF-8 form Courier keeps in its queue. For a name without
// internationalised labels both forms are the same string.
type Domain struct {
	ascii   string
	unicode string
	ip      netip.Addr
}

// ParseDomain parses a domain name or an address literal ("[192.0.2.1]",
// "[IPv6:2001:db8::1]") as RFC 5321 4.1.2 and 4.1.3 define them, with the
// U-labels RFC 6531 3.3 allows. It is meant for configuration values and
// other text outside an SMTP command; it accepts UTF-8 unconditionally.
func ParseDomain(s string) (Domain, error) {
	d, err := parseDomain("domain", s, 0, len(s), true, true)
	if err != nil {
		return Domain{}, err
	}
	return d, nil
}

// ASCII returns the domain with A-labels ("xn--bcher-kva.example"), or the
// address literal in its canonical form ("[192.0.2.1]", "[IPv6:2001:db8::1]").
func (d Domain) ASCII() string { return d.ascii }

// Unicode returns the domain with U-labels ("bücher.example"); for an
// address literal it is the same as ASCII.
func (d Domain) Unicode() string { return d.unicode }

// String returns the U-label form, the form Courier stores.
func (d Domain) String() string { return d.unicode }

// IsZero reports whether d is the absent domain.
func (d Domain) IsZero() bool { return d.ascii == "" }

// IsLiteral reports whether d is an address literal.
func (d Domain) IsLiteral() bool { return d.ip.IsValid() }

// IP returns the address of an address literal, or the zero netip.Addr for
// a domain name.
func (d Domain) IP() netip.Addr { return d.ip }

// IsInternational reports whether a label of d is internationalised, that
// is whether its ASCII and Unicode forms differ.
func (d Domain) IsInternational() bool { return d.ascii != d.unicode }

// DomainFromIP returns the address literal for ip, for example the literal
// of the local address courieresmtpd compares "user@[ip]" recipients with.
func DomainFromIP(ip netip.Addr) Domain {
	ip = ip.WithZone("")
	var s string
	if ip.Is4() {
		s = "[" + ip.String() + "]"
	} else {
		s = "[IPv6:" + ip.String() + "]"
	}
	return Domain{ascii: s, unicode: s, ip: ip}
}

// parseDomain validates input[start:end] as a domain (RFC 5321 4.1.2
// Domain, RFC 6531 3.3 sub-domain =/ U-label) or, when literalOK, as an
// address-literal (RFC 5321 4.1.3). Positions in errors are offsets in
// input, so that a caller parsing a whole path reports where in the path
// the problem is. utf8OK says whether U-labels are allowed (SMTPUTF8).
func parseDomain(kind, input string, start, end int, utf8OK, literalOK bool) (Domain, *Error) {
	if start >= end {
		return Domain{}, errorf(kind, input, start, "empty domain")
	}
	if input[start] == '[' {
		if !literalOK {
			return Domain{}, errorf(kind, input, start, "address literal not allowed here")
		}
		return parseLiteral(kind, input, start, end)
	}
	if end-start > MaxDomainLength {
		return Domain{}, errorf(kind, input, start, "domain is %d octets long, more than %d", end-start, MaxDomainLength)
	}
	var ascii, uni strings.Builder
	international := false
	for ls := start; ; {
		le := ls
		for le < end && input[le] != '.' {
			le++
		}
		a, u, err := parseLabel(kind, input, start, ls, le, end, utf8OK)
		if err != nil {
			return Domain{}, err
		}
		if a != u {
			international = true
		}
		ascii.WriteString(a)
		uni.WriteString(u)
		if le == end {
			break
		}
		ascii.WriteByte('.')
		uni.WriteByte('.')
		ls = le + 1
	}
	d := Domain{ascii: ascii.String(), unicode: uni.String()}
	if !international {
		d.unicode = d.ascii
	}
	// Both forms must fit, so that the domain can be sent either way.
	if len(d.ascii) > MaxDomainLength {
		return Domain{}, errorf(kind, input, start, "domain is %d octets long in A-labels, more than %d", len(d.ascii), MaxDomainLength)
	}
	if len(d.unicode) > MaxDomainLength {
		return Domain{}, errorf(kind, input, start, "domain is %d octets long in U-labels, more than %d", len(d.unicode), MaxDomainLength)
	}
	return d, nil
}

// parseLabel checks one label input[ls:le] and returns its A-label and
// U-label forms. ASCII labels follow the RFC 5321 sub-domain production
// (Let-dig [Ldh-str]); labels with UTF-8 or the "xn--" prefix go through
// IDNA (RFC 5891 5, UTS 46 mapping as golang.org/x/net/idna.Lookup does it).
func parseLabel(kind, input string, start, ls, le, end int, utf8OK bool) (string, string, *Error) {
	if ls == le {
		switch {
		case ls == start:
			return "", "", errorf(kind, input, ls, "domain starts with '.'")
		case le == end:
			return "", "", errorf(kind, input, le-1, "domain ends with '.'")
		default:
			return "", "", errorf(kind, input, ls, "empty label in domain")
		}
	}
	nonASCII := false
	for i := ls; i < le; i++ {
		c := input[i]
		switch {
		case c >= utf8.RuneSelf:
			if !utf8OK {
				return "", "", errorf(kind, input, i, "non-ASCII character in domain (allowed only with SMTPUTF8)")
			}
			nonASCII = true
		case isLetDig(c) || c == '-':
		default:
			return "", "", errorf(kind, input, i, "character %q not allowed in a domain", rune(c))
		}
	}
	label := input[ls:le]
	if nonASCII {
		if bad := invalidUTF8At(label); bad >= 0 {
			return "", "", errorf(kind, input, ls+bad, "invalid UTF-8 in domain")
		}
		if len(label) > 4*MaxLabelLength {
			return "", "", errorf(kind, input, ls, "domain label is %d octets long, too long for a label", len(label))
		}
		a, err := idna.Lookup.ToASCII(label)
		if err != nil {
			return "", "", errorf(kind, input, ls, "internationalised label %q is not valid (%v)", label, err)
		}
		if !isLDHLabel(a) {
			return "", "", errorf(kind, input, ls, "internationalised label %q does not map to a single valid label", label)
		}
		if len(a) > MaxLabelLength {
			return "", "", errorf(kind, input, ls, "domain label %q is %d octets long as an A-label, more than %d", label, len(a), MaxLabelLength)
		}
		u, err := idna.Lookup.ToUnicode(a)
		if err != nil {
			return "", "", errorf(kind, input, ls, "internationalised label %q is not valid (%v)", label, err)
		}
		return a, u, nil
	}
	if le-ls > MaxLabelLength {
		return "", "", errorf(kind, input, ls, "domain label is %d octets long, more than %d", le-ls, MaxLabelLength)
	}
	if label[0] == '-' {
		return "", "", errorf(kind, input, ls, "domain label starts with '-'")
	}
	if label[len(label)-1] == '-' {
		return "", "", errorf(kind, input, le-1, "domain label ends with '-'")
	}
	a := lowerASCII(label)
	if !strings.HasPrefix(a, "xn--") {
		return a, a, nil
	}
	// An A-label must decode to a valid U-label that encodes back to the
	// same A-label (RFC 5891 5.4), otherwise two spellings would name the
	// same mailbox domain.
	u, err := idna.Lookup.ToUnicode(a)
	if err != nil {
		return "", "", errorf(kind, input, ls, "A-label %q is not valid (%v)", label, err)
	}
	if back, err := idna.Lookup.ToASCII(u); err != nil || back != a {
		return "", "", errorf(kind, input, ls, "A-label %q is not in canonical form", label)
	}
	return a, u, nil
}

// parseLiteral parses an address-literal (RFC 5321 4.1.3):
// "[" IPv4-address-literal / "IPv6:" IPv6-addr / General-address-literal "]".
func parseLiteral(kind, input string, start, end int) (Domain, *Error) {
	if input[end-1] != ']' || end-start < 2 {
		return Domain{}, errorf(kind, input, end-1, "address literal does not end with ']'")
	}
	body := input[start+1 : end-1]
	pos := start + 1
	if colon := strings.IndexByte(body, ':'); colon >= 0 && !strings.Contains(body[:colon], ".") {
		tag := body[:colon]
		if !strings.EqualFold(tag, "IPv6") {
			if tag == "" || !isLDHLabel(lowerASCII(tag)) {
				return Domain{}, errorf(kind, input, pos, "address literal tag %q is not a valid tag", tag)
			}
			return Domain{}, errorf(kind, input, pos, "unknown address literal tag %q (only IPv6 is registered)", tag)
		}
		text := body[colon+1:]
		for i := 0; i < len(text); i++ {
			c := text[i]
			if !isHex(c) && c != ':' && c != '.' {
				return Domain{}, errorf(kind, input, pos+colon+1+i, "character %q not allowed in an IPv6 address literal", rune(c))
			}
		}
		ip, err := netip.ParseAddr(text)
		if err != nil || !ip.Is6() {
			return Domain{}, errorf(kind, input, pos+colon+1, "%q is not an IPv6 address", text)
		}
		return DomainFromIP(ip), nil
	}
	var b [4]byte
	i := 0
	for n := 0; n < 4; n++ {
		if n > 0 {
			if i >= len(body) || body[i] != '.' {
				return Domain{}, errorf(kind, input, pos+i, "IPv4 address literal needs four numbers separated by '.'")
			}
			i++
		}
		j := i
		v := 0
		for j < len(body) && j-i < 3 && isDigit(body[j]) {
			v = v*10 + int(body[j]-'0')
			j++
		}
		if j == i {
			return Domain{}, errorf(kind, input, pos+i, "IPv4 address literal needs a number here")
		}
		if v > 255 {
			return Domain{}, errorf(kind, input, pos+i, "number %s in IPv4 address literal is larger than 255", body[i:j])
		}
		b[n] = byte(v)
		i = j
	}
	if i != len(body) {
		return Domain{}, errorf(kind, input, pos+i, "unexpected %q after IPv4 address literal", rune(body[i]))
	}
	return DomainFromIP(netip.AddrFrom4(b)), nil
}

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isAlpha(c byte) bool  { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isLetDig(c byte) bool { return isAlpha(c) || isDigit(c) }
func isHex(c byte) bool    { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// isLDHLabel reports whether s is one RFC 5321 sub-domain in ASCII:
// Let-dig [Ldh-str], no more than 63 octets.
func isLDHLabel(s string) bool {
	if s == "" || len(s) > MaxLabelLength || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isLetDig(s[i]) && s[i] != '-' {
			return false
		}
	}
	return true
}

func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// invalidUTF8At returns the offset of the first byte of s that is not part
// of a valid UTF-8 sequence, or -1.
func invalidUTF8At(s string) int {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return -1
}
