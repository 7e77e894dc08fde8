package address

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseDomain(t *testing.T) {
	label63 := strings.Repeat("a", 63)
	// 4 labels of 63 plus 3 dots = 255 octets: the longest domain.
	max255 := label63 + "." + label63 + "." + label63 + "." + label63
	tests := []struct {
		in, ascii, unicode string
		ip                 string // for literals
		err                string
	}{
		// RFC 5321 4.1.2 Domain = sub-domain *("." sub-domain)
		{in: "example.com", ascii: "example.com", unicode: "example.com"},
		{in: "EXAMPLE.Com", ascii: "example.com", unicode: "example.com"},
		{in: "localhost", ascii: "localhost", unicode: "localhost"},
		{in: "a-b.c0.example", ascii: "a-b.c0.example", unicode: "a-b.c0.example"},
		{in: "1.2.3.4", ascii: "1.2.3.4", unicode: "1.2.3.4"},
		{in: "r4---sn-abc.example", ascii: "r4---sn-abc.example", unicode: "r4---sn-abc.example"},
		{in: max255, ascii: max255, unicode: max255},
		// RFC 6531 3.3 sub-domain =/ U-label; RFC 5891 A-labels
		{in: "bücher.example", ascii: "xn--bcher-kva.example", unicode: "bücher.example"},
		{in: "BÜCHER.example", ascii: "xn--bcher-kva.example", unicode: "bücher.example"},
		{in: "xn--bcher-kva.example", ascii: "xn--bcher-kva.example", unicode: "bücher.example"},
		{in: "XN--BCHER-KVA.example", ascii: "xn--bcher-kva.example", unicode: "bücher.example"},
		{in: "испытание", ascii: "xn--80akhbyknj4f", unicode: "испытание"},
		// RFC 5321 4.1.3 address literals
		{in: "[192.0.2.1]", ascii: "[192.0.2.1]", unicode: "[192.0.2.1]", ip: "192.0.2.1"},
		{in: "[010.0.0.001]", ascii: "[10.0.0.1]", unicode: "[10.0.0.1]", ip: "10.0.0.1"},
		{in: "[IPv6:2001:DB8::1]", ascii: "[IPv6:2001:db8::1]", unicode: "[IPv6:2001:db8::1]", ip: "2001:db8::1"},
		{in: "[ipv6:::1]", ascii: "[IPv6:::1]", unicode: "[IPv6:::1]", ip: "::1"},
		{in: "[IPv6:::ffff:192.0.2.1]", ascii: "[IPv6:::ffff:192.0.2.1]", unicode: "[IPv6:::ffff:192.0.2.1]", ip: "::ffff:192.0.2.1"},

		{in: "", err: `malformed domain "": empty domain at column 1`},
		{in: ".example", err: `malformed domain ".example": domain starts with '.' at column 1`},
		{in: "example.", err: `malformed domain "example.": domain ends with '.' at column 8`},
		{in: "a..example", err: `malformed domain "a..example": empty label in domain at column 3`},
		{in: "a_b.example", err: `malformed domain "a_b.example": character '_' not allowed in a domain at column 2`},
		{in: "a b", err: `malformed domain "a b": character ' ' not allowed in a domain at column 2`},
		{in: "-a.example", err: `malformed domain "-a.example": domain label starts with '-' at column 1`},
		{in: "a-.example", err: `malformed domain "a-.example": domain label ends with '-' at column 2`},
		{in: label63 + "a.example", err: `malformed domain "` + label63 + `a.example": domain label is 64 octets long, more than 63 at column 1`},
		{in: max255 + "a", err: `malformed domain "` + max255[:100] + `"... (256 bytes): domain is 256 octets long, more than 255 at column 1`},
		{in: "xn--zz.example", err: `malformed domain "xn--zz.example": A-label "xn--zz" is not valid (idna: invalid label "zz") at column 1`},
		{in: "a\xffb.example", err: `malformed domain "a\xffb.example": invalid UTF-8 in domain at column 2`},
		{in: "\u0301a.example", err: "malformed domain \"\u0301a.example\": internationalised label \"\u0301a\" is not valid (idna: invalid label \"\u0301a\") at column 1"},
		{in: "a。b", err: `malformed domain "a。b": internationalised label "a。b" does not map to a single valid label at column 1`},
		{in: "[192.0.2.1", err: `malformed domain "[192.0.2.1": address literal does not end with ']' at column 10`},
		{in: "[192.0.2]", err: `malformed domain "[192.0.2]": IPv4 address literal needs four numbers separated by '.' at column 9`},
		{in: "[192.0.2.256]", err: `malformed domain "[192.0.2.256]": number 256 in IPv4 address literal is larger than 255 at column 10`},
		{in: "[192.0.2.1.5]", err: `malformed domain "[192.0.2.1.5]": unexpected '.' after IPv4 address literal at column 11`},
		{in: "[1920.0.2.1]", err: `malformed domain "[1920.0.2.1]": IPv4 address literal needs four numbers separated by '.' at column 5`},
		{in: "[]", err: `malformed domain "[]": IPv4 address literal needs a number here at column 2`},
		{in: "[IPv6:192.0.2.1]", err: `malformed domain "[IPv6:192.0.2.1]": "192.0.2.1" is not an IPv6 address at column 7`},
		{in: "[IPv6:fe80::1%eth0]", err: `malformed domain "[IPv6:fe80::1%eth0]": character '%' not allowed in an IPv6 address literal at column 14`},
		{in: "[IPv6:1::2::3]", err: `malformed domain "[IPv6:1::2::3]": "1::2::3" is not an IPv6 address at column 7`},
		{in: "[x-tag:stuff]", err: `malformed domain "[x-tag:stuff]": unknown address literal tag "x-tag" (only IPv6 is registered) at column 2`},
		{in: "[:stuff]", err: `malformed domain "[:stuff]": address literal tag "" is not a valid tag at column 2`},
	}
	for _, tc := range tests {
		d, err := ParseDomain(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("ParseDomain(%q) error\n got %v\nwant %s", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseDomain(%q): %v", tc.in, err)
			continue
		}
		if d.ASCII() != tc.ascii || d.Unicode() != tc.unicode || d.String() != tc.unicode {
			t.Errorf("ParseDomain(%q) = %q / %q, want %q / %q", tc.in, d.ASCII(), d.Unicode(), tc.ascii, tc.unicode)
		}
		if d.IsInternational() != (tc.ascii != tc.unicode) {
			t.Errorf("ParseDomain(%q).IsInternational() = %v", tc.in, d.IsInternational())
		}
		if tc.ip != "" {
			if !d.IsLiteral() || d.IP() != netip.MustParseAddr(tc.ip) {
				t.Errorf("ParseDomain(%q): literal %v ip %v, want %s", tc.in, d.IsLiteral(), d.IP(), tc.ip)
			}
		} else if d.IsLiteral() {
			t.Errorf("ParseDomain(%q) is a literal", tc.in)
		}
		// The normalised forms parse to the same domain.
		for _, s := range []string{d.ASCII(), d.Unicode()} {
			if d2, err := ParseDomain(s); err != nil || d2 != d {
				t.Errorf("ParseDomain(%q) = %v, %v; want %v (round trip of %q)", s, d2, err, d, tc.in)
			}
		}
	}
}

func TestDomainFromIP(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":        "[192.0.2.7]",
		"2001:db8::7":      "[IPv6:2001:db8::7]",
		"::ffff:192.0.2.7": "[IPv6:::ffff:192.0.2.7]",
		"fe80::1%eth0":     "[IPv6:fe80::1]",
	} {
		d := DomainFromIP(netip.MustParseAddr(in))
		if d.ASCII() != want || !d.IsLiteral() {
			t.Errorf("DomainFromIP(%s) = %q, want %q", in, d.ASCII(), want)
		}
		if p, err := ParseDomain(d.ASCII()); err != nil || p != d {
			t.Errorf("ParseDomain(%q) = %v, %v; want %v", d.ASCII(), p, err, d)
		}
	}
	var zero Domain
	if !zero.IsZero() || zero.IsLiteral() || zero.String() != "" {
		t.Errorf("zero Domain: IsZero %v IsLiteral %v String %q", zero.IsZero(), zero.IsLiteral(), zero.String())
	}
}
