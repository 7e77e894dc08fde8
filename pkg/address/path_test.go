package address

import (
	"strings"
	"testing"
)

type pathCase struct {
	in       string
	utf8     bool
	local    string
	domain   string // ASCII form; "" for none
	route    []string
	err      string
	notation string // String() of the result, when it differs from in
}

func checkPath(t *testing.T, name string, tc pathCase, p Path, err error) {
	t.Helper()
	if tc.err != "" {
		if err == nil || err.Error() != tc.err {
			t.Errorf("%s(%q, %v) error\n got %v\nwant %s", name, tc.in, tc.utf8, err, tc.err)
		}
		return
	}
	if err != nil {
		t.Errorf("%s(%q, %v): %v", name, tc.in, tc.utf8, err)
		return
	}
	if p.Addr.Local != tc.local || p.Addr.Domain.ASCII() != tc.domain {
		t.Errorf("%s(%q) = local %q domain %q, want %q %q", name, tc.in, p.Addr.Local, p.Addr.Domain.ASCII(), tc.local, tc.domain)
	}
	var route []string
	for _, d := range p.Route {
		route = append(route, d.ASCII())
	}
	if strings.Join(route, ",") != strings.Join(tc.route, ",") {
		t.Errorf("%s(%q) route %q, want %q", name, tc.in, route, tc.route)
	}
	want := tc.notation
	if want == "" {
		want = tc.in
	}
	if p.String() != want {
		t.Errorf("%s(%q).String() = %q, want %q", name, tc.in, p.String(), want)
	}
}

// RFC 5321 4.1.2 Forward-path, 4.1.1.3 <Postmaster>, Appendix C source
// routes, 4.5.3.1 length limits; RFC 6531 3.3 UTF-8.
func TestParseForwardPath(t *testing.T) {
	local64 := strings.Repeat("l", 64)
	dom := strings.Repeat("d", 63) + "." + strings.Repeat("d", 63) + "." + strings.Repeat("d", 63) + "." + strings.Repeat("d", 54)
	// "<" + 64 + "@" + 246 + ">" is 313 octets: over the path limit.
	tests := []pathCase{
		{in: "<user@example.com>", local: "user", domain: "example.com"},
		{in: "<User.Name+tag@Example.COM>", local: "User.Name+tag", domain: "example.com", notation: "<User.Name+tag@example.com>"},
		{in: "<!#$%&'*+-/=?^_`{|}~@example.com>", local: "!#$%&'*+-/=?^_`{|}~", domain: "example.com"},
		{in: `<"john doe"@example.com>`, local: "john doe", domain: "example.com"},
		{in: `<"john\"doe\\"@example.com>`, local: `john"doe\`, domain: "example.com"},
		{in: `<"john.doe"@example.com>`, local: "john.doe", domain: "example.com", notation: "<john.doe@example.com>"},
		{in: `<"\j"@example.com>`, local: "j", domain: "example.com", notation: "<j@example.com>"},
		{in: `<"a..b"@example.com>`, local: "a..b", domain: "example.com"},
		{in: `<""@example.com>`, local: "", domain: "example.com"},
		{in: "<user@[192.0.2.1]>", local: "user", domain: "[192.0.2.1]"},
		{in: "<user@[IPv6:2001:db8::1]>", local: "user", domain: "[IPv6:2001:db8::1]"},
		{in: "<Postmaster>", local: "Postmaster", domain: ""},
		{in: "<postMASTER>", local: "postMASTER", domain: ""},
		{in: "<@relay.example:user@example.com>", local: "user", domain: "example.com", route: []string{"relay.example"}, notation: "<user@example.com>"},
		{in: "<@a.example,@b.example:user@example.com>", local: "user", domain: "example.com", route: []string{"a.example", "b.example"}, notation: "<user@example.com>"},
		{in: "<user@xn--bcher-kva.example>", local: "user", domain: "xn--bcher-kva.example", notation: "<user@bücher.example>"},
		{in: "<jörg@bücher.example>", utf8: true, local: "jörg", domain: "xn--bcher-kva.example"},
		{in: `<"jörg x"@example.com>`, utf8: true, local: "jörg x", domain: "example.com"},
		{in: "<" + local64 + "@example.com>", local: local64, domain: "example.com"},

		{in: "", err: `malformed forward-path "": path must begin with '<' at column 1`},
		{in: "user@example.com", err: `malformed forward-path "user@example.com": path must begin with '<' at column 1`},
		{in: "<user@example.com", err: `malformed forward-path "<user@example.com": path must end with '>' at column 18`},
		{in: "<>", err: `malformed forward-path "<>": empty path; the null path <> is allowed only in MAIL FROM at column 2`},
		{in: "<user>", err: `malformed forward-path "<user>": missing '@' and domain after the local part at column 6`},
		{in: "<user@>", err: `malformed forward-path "<user@>": empty domain at column 7`},
		{in: "<@example.com>", err: `malformed forward-path "<@example.com>": source route is not followed by ':' and the mailbox at column 14`},
		{in: "<@a.example,b.example:u@c.example>", err: `malformed forward-path "<@a.example,b.example:u@c.example>": source route needs '@' before each domain at column 13`},
		{in: "<@[192.0.2.1]:u@c.example>", err: `malformed forward-path "<@[192.0.2.1]:u@c.example>": address literal not allowed here at column 3`},
		{in: "<@a.example:Postmaster>", err: `malformed forward-path "<@a.example:Postmaster>": missing '@' and domain after the local part at column 23`},
		{in: "< user@example.com>", err: `malformed forward-path "< user@example.com>": character ' ' not allowed in an unquoted local part at column 2`},
		{in: "<user@example.com >", err: `malformed forward-path "<user@example.com >": character ' ' not allowed in a domain at column 18`},
		{in: "<john doe@example.com>", err: `malformed forward-path "<john doe@example.com>": character ' ' not allowed in an unquoted local part at column 6`},
		{in: "<a(b)@example.com>", err: `malformed forward-path "<a(b)@example.com>": character '(' not allowed in an unquoted local part at column 3`},
		{in: "<.a@example.com>", err: `malformed forward-path "<.a@example.com>": local part starts with '.' at column 2`},
		{in: "<a.@example.com>", err: `malformed forward-path "<a.@example.com>": local part ends with '.' at column 3`},
		{in: "<a..b@example.com>", err: `malformed forward-path "<a..b@example.com>": '..' in local part at column 4`},
		{in: `<"a@example.com>`, err: `malformed forward-path "<\"a@example.com>": quoted local part has no closing '"' at column 2`},
		{in: `<"a"b@example.com>`, err: `malformed forward-path "<\"a\"b@example.com>": missing '@' and domain after the local part at column 5`},
		{in: "<\"a\tb\"@example.com>", err: `malformed forward-path "<\"a\tb\"@example.com>": control character '\t' in quoted local part at column 4`},
		{in: "<\"a\\\x01\"@example.com>", err: `malformed forward-path "<\"a\\\x01\"@example.com>": character '\x01' cannot be quoted with '\' at column 5`},
		{in: "<a@b@example.com>", err: `malformed forward-path "<a@b@example.com>": character '@' not allowed in a domain at column 5`},
		{in: "<jörg@example.com>", err: `malformed forward-path "<jörg@example.com>": non-ASCII character in local part (allowed only with SMTPUTF8) at column 3`},
		{in: "<user@bücher.example>", err: `malformed forward-path "<user@bücher.example>": non-ASCII character in domain (allowed only with SMTPUTF8) at column 8`},
		{in: "<j\xffrg@example.com>", utf8: true, err: `malformed forward-path "<j\xffrg@example.com>": invalid UTF-8 in local part at column 3`},
		{in: "<" + local64 + "l@example.com>", err: `malformed forward-path "<` + local64 + `l@example.com>": local part is 65 octets long, more than 64 at column 2`},
		{in: "<" + local64 + "@" + dom + ">", err: `malformed forward-path "<` + (local64 + "@" + dom)[:99] + `"... (313 bytes): path is 313 octets long, more than 256 at column 257`},
	}
	for _, tc := range tests {
		p, err := ParseForwardPath(tc.in, tc.utf8)
		checkPath(t, "ParseForwardPath", tc, p, err)
		if err == nil && p.IsNull() {
			t.Errorf("ParseForwardPath(%q) is the null path", tc.in)
		}
		if err == nil && p.IsPostmaster() != (tc.domain == "") {
			t.Errorf("ParseForwardPath(%q).IsPostmaster() = %v", tc.in, p.IsPostmaster())
		}
	}
}

func TestParseReversePath(t *testing.T) {
	tests := []pathCase{
		{in: "<>", local: "", domain: ""},
		{in: "<sender@example.org>", local: "sender", domain: "example.org"},
		{in: "<@hop.example:sender@example.org>", local: "sender", domain: "example.org", route: []string{"hop.example"}, notation: "<sender@example.org>"},
		{in: "<Postmaster>", err: `malformed reverse-path "<Postmaster>": missing '@' and domain after the local part at column 12`},
		{in: "<", err: `malformed reverse-path "<": path must end with '>' at column 2`},
		{in: ">", err: `malformed reverse-path ">": path must begin with '<' at column 1`},
		{in: "<<>>", err: `malformed reverse-path "<<>>": character '<' not allowed in an unquoted local part at column 2`},
	}
	for _, tc := range tests {
		p, err := ParseReversePath(tc.in, tc.utf8)
		checkPath(t, "ParseReversePath", tc, p, err)
		if err == nil && p.IsNull() != (tc.in == "<>") {
			t.Errorf("ParseReversePath(%q).IsNull() = %v", tc.in, p.IsNull())
		}
	}
}

func TestParseAddress(t *testing.T) {
	a, err := ParseAddress("Jörg@BÜCHER.example", true)
	if err != nil || a.Local != "Jörg" || a.Domain.ASCII() != "xn--bcher-kva.example" {
		t.Fatalf("ParseAddress = %+v, %v", a, err)
	}
	if a.String() != "Jörg@bücher.example" || a.StringACE() != "Jörg@xn--bcher-kva.example" || !a.NeedsSMTPUTF8() {
		t.Errorf("String %q StringACE %q NeedsSMTPUTF8 %v", a.String(), a.StringACE(), a.NeedsSMTPUTF8())
	}
	b, err := ParseAddress(`"a b"@example.com`, false)
	if err != nil || b.Local != "a b" || b.NeedsSMTPUTF8() || b.String() != `"a b"@example.com` {
		t.Errorf("ParseAddress quoted = %+v, %v", b, err)
	}
	for in, want := range map[string]string{
		"":                 `malformed address "": empty address at column 1`,
		"<a@example.com>":  `malformed address "<a@example.com>": character '<' not allowed in an unquoted local part at column 1`,
		"a@example.com x":  `malformed address "a@example.com x": character ' ' not allowed in a domain at column 14`,
		"Jörg@example.com": `malformed address "Jörg@example.com": non-ASCII character in local part (allowed only with SMTPUTF8) at column 2`,
		strings.Repeat("a", 60) + "@" + strings.Repeat("b", 200): `malformed address "` + strings.Repeat("a", 60) + "@" + strings.Repeat("b", 39) + `"... (261 bytes): address is 261 octets long, more than 254 at column 255`,
	} {
		if _, err := ParseAddress(in, false); err == nil || err.Error() != want {
			t.Errorf("ParseAddress(%q) error\n got %v\nwant %s", in, err, want)
		}
	}
}

// RFC 5321 4.1.2: a local part is sent as a Dot-string when it is one.
func TestFormatLocal(t *testing.T) {
	for in, want := range map[string]string{
		"user":       "user",
		"a.b.c":      "a.b.c",
		"a+b-c=d":    "a+b-c=d",
		"jörg":       "jörg",
		"":           `""`,
		"a b":        `"a b"`,
		".a":         `".a"`,
		"a.":         `"a."`,
		"a..b":       `"a..b"`,
		`a"b`:        `"a\"b"`,
		`a\b`:        `"a\\b"`,
		"a@b":        `"a@b"`,
		"(x)":        `"(x)"`,
		"a,b":        `"a,b"`,
		"\xff":       "\"\xff\"",
		"Postmaster": "Postmaster",
		"x\"y\\z w.": `"x\"y\\z w."`,
	} {
		if got := FormatLocal(in); got != want {
			t.Errorf("FormatLocal(%q) = %q, want %q", in, got, want)
		}
	}
}

// Parse, format, parse: the value survives, in both domain forms.
func TestPathRoundTrip(t *testing.T) {
	for _, in := range []string{
		"<a@example.com>", `<"a b"@example.com>`, `<"a\\\"b"@example.com>`, `<""@example.com>`,
		"<x@[192.0.2.1]>", "<x@[IPv6:::1]>", "<jörg@bücher.example>", `<"a..b"@xn--80akhbyknj4f>`,
		"<@r.example:a@example.com>", "<>",
	} {
		p, err := ParseReversePath(in, true)
		if err != nil {
			t.Fatalf("ParseReversePath(%q): %v", in, err)
		}
		for _, s := range []string{p.String(), p.StringACE()} {
			q, err := ParseReversePath(s, true)
			if err != nil || q.Addr != p.Addr {
				t.Errorf("%q -> %q -> %+v, %v; want %+v", in, s, q.Addr, err, p.Addr)
			}
		}
	}
}
