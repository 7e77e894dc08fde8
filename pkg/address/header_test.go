package address

import (
	"mime"
	"net/mail"
	"strings"
	"testing"
)

// mb is a compact expected mailbox: "name|local|domain|group", or "<>" for
// a null mailbox.
func mbString(m Mailbox) string {
	if m.Null {
		return m.Name + "|<>|" + m.Group
	}
	return m.Name + "|" + m.Local + "|" + m.Domain + "|" + m.Group
}

var headerListTests = []struct {
	in   string
	want []string
}{
	// RFC 5322 A.1.1
	{`"Joe Q. Public" <john.q.public@example.com>`, []string{"Joe Q. Public|john.q.public|example.com|"}},
	{`Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>`,
		[]string{"Mary Smith|mary|x.test|", "|jdoe|example.org|", "Who?|one|y.test|"}},
	{`<boss@nil.test>, "Giant; \"Big\" Box" <sysservices@example.net>`,
		[]string{"|boss|nil.test|", `Giant; "Big" Box|sysservices|example.net|`}},
	// A.1.2 groups
	{`A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;`,
		[]string{"Ed Jones|c|a.test|A Group", "|joe|where.test|A Group", "John|jdoe|one.test|A Group"}},
	{`Undisclosed recipients:;`, nil},
	{`undisclosed-recipients: ;`, nil},
	// A.1.3
	{`"Mary Smith: Personal Account" <smith@home.example>`, []string{"Mary Smith: Personal Account|smith|home.example|"}},
	// A.5 white space and comments
	{`Pete(A nice \) chap) <pete(his account)@silly.test(his host)>`, []string{"Pete|pete|silly.test|"}},
	{`A Group(Some people):Chris Jones <c@(Chris's host.)public.example>, joe@example.org, John <jdoe@one.test> (my dear friend); (the end of the group)`,
		[]string{"Chris Jones|c|public.example|A Group", "|joe|example.org|A Group", "John|jdoe|one.test|A Group"}},
	{`(Empty list)(start)Hidden recipients  :(nobody(that I know))  ;`, nil},
	// A.6.1 and 4.4 obsolete syntax
	{`Joe Q. Public <john.q.public@example.com>`, []string{"Joe Q. Public|john.q.public|example.com|"}},
	{`Mary Smith <@node.test:mary@example.net>, , jdoe@test  . example`,
		[]string{"Mary Smith|mary|example.net|", "|jdoe|test.example|"}},
	{`John Doe <jdoe@machine(comment).  example>`, []string{"John Doe|jdoe|machine.example|"}},
	{"Mary Smith\r\n  \r\n          <mary@example.net>", []string{"Mary Smith|mary|example.net|"}},
	{`<@a.example,@b.example:user@d.example>`, []string{"|user|d.example|"}},
	{`<,@a.example,,@b.example:user@d.example>`, []string{"|user|d.example|"}},
	{`john . doe @ example . com`, []string{"|john.doe|example.com|"}},
	{`"john".doe@example.com`, []string{"|john.doe|example.com|"}},
	{`a@b.example,,c@d.example`, []string{"|a|b.example|", "|c|d.example|"}},
	{`, a@b.example ,`, []string{"|a|b.example|"}},
	{`g: , a@b.example, ,;`, []string{"|a|b.example|g"}},
	{`(lead) a@b.example`, []string{"|a|b.example|"}},
	{`a@b (c) , "x" <d@e>`, []string{"|a|b|", "x|d|e|"}},
	{"a@b\r\n .example", []string{"|a|b.example|"}},
	{"To-fold:\n a@b.example;", []string{"|a|b.example|To-fold"}},
	{`"quoted \" name" <a@b.example>`, []string{`quoted " name|a|b.example|`}},
	{`"" <a@b>`, []string{"|a|b|"}},
	{`"a b"@example.com`, []string{"|a b|example.com|"}},
	{`a@[192.0.2.1]`, []string{"|a|[192.0.2.1]|"}},
	{`a@[IPv6:::1]`, []string{"|a|[IPv6:::1]|"}},
	{`a@[ 192.0.2.1 ]`, []string{"|a|[192.0.2.1]|"}},
	{`user%host@relay.example`, []string{"|user%host|relay.example|"}},
	{`"John  Smith"  (x)  Jr <js@x>`, []string{"John  Smith Jr|js|x|"}},
	{`=?utf-8?q?J=C3=B6rg?= <j@example.com>`, []string{"=?utf-8?q?J=C3=B6rg?=|j|example.com|"}},
	// RFC 6532 3.2 UTF-8
	{`Jörg <jörg@bücher.example>`, []string{"Jörg|jörg|bücher.example|"}},
	// Courier: domain-less addresses (sendmail adds the default domain)
	{`joe`, []string{"|joe||"}},
	{`Joe <joe>`, []string{"Joe|joe||"}},
	{`joe (Joe Bloggs), "joe smith", host!user, <a.b>`, []string{"|joe||", "|joe smith||", "|host!user||", "|a.b||"}},
	// The empty address, and Courier's "<@>" of DSNs
	{`<>`, []string{"|<>|"}},
	{`"Courier mail server at vm" <@>`, []string{"Courier mail server at vm|<>|"}},
	{``, nil},
	{` (only a comment) `, nil},
}

func TestParseHeaderList(t *testing.T) {
	for _, tc := range headerListTests {
		l, err := ParseHeaderList(tc.in)
		if err != nil {
			t.Errorf("ParseHeaderList(%q): %v", tc.in, err)
			continue
		}
		var got []string
		for _, m := range l {
			got = append(got, mbString(m))
		}
		if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("ParseHeaderList(%q) =\n%s\nwant\n%s", tc.in, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
		}
	}
}

// Whatever net/mail accepts, ParseHeaderList accepts with the same
// addresses (FuzzParseHeaderList checks this on random input too).
func TestParseHeaderListAgreesWithNetMail(t *testing.T) {
	accepted := 0
	for _, tc := range headerListTests {
		ours, err := ParseHeaderList(tc.in)
		theirs, merr := mail.ParseAddressList(tc.in)
		if merr != nil {
			continue
		}
		accepted++
		if msg := compareNetMail(ours, err, theirs); msg != "" {
			t.Errorf("ParseHeaderList(%q): %s", tc.in, msg)
		}
	}
	// net/mail rejects the obsolete and Courier-only forms above; it
	// must still have accepted the plain ones, or this test compares
	// nothing.
	if accepted < 19 {
		t.Errorf("net/mail accepted only %d of the inputs", accepted)
	}
}

func compareNetMail(ours []Mailbox, err error, theirs []*mail.Address) string {
	if err != nil {
		return "rejected what net/mail accepts: " + err.Error()
	}
	if len(ours) != len(theirs) {
		return "different number of mailboxes than net/mail"
	}
	for i, m := range ours {
		if m.Null || m.Local+"@"+m.Domain != theirs[i].Address {
			return "address " + m.Local + "@" + m.Domain + " differs from net/mail's " + theirs[i].Address
		}
	}
	return ""
}

func TestParseHeaderListErrors(t *testing.T) {
	for in, want := range map[string]string{
		`John Smith`:             `malformed address list "John Smith": 'Smith' follows 'John' without '.' between them (a display name needs an address in '<>') at column 6`,
		`John Smith, a@b`:        `malformed address list "John Smith, a@b": 'Smith' follows 'John' without '.' between them (a display name needs an address in '<>') at column 6`,
		`a@b.example;`:           `malformed address list "a@b.example;": expected ',' between addresses, found ';' at column 12`,
		`<a@b.example`:           `malformed address list "<a@b.example": '<' has no matching '>' at column 1`,
		`a@b.example>`:           `malformed address list "a@b.example>": expected ',' between addresses, found '>' at column 12`,
		`a@`:                     `malformed address list "a@": expected a domain after '@', found end of header at column 3`,
		`a@b.`:                   `malformed address list "a@b.": domain ends with '.' at column 5`,
		`@b`:                     `malformed address list "@b": expected an address, found '@' at column 1`,
		`.a@b`:                   `malformed address list ".a@b": local part starts with '.' at column 1`,
		`a.@b`:                   `malformed address list "a.@b": local part ends with '.' at column 2`,
		`a..b@c`:                 `malformed address list "a..b@c": '..' in local part at column 3`,
		`"a@b`:                   `malformed address list "\"a@b": quoted string has no closing '"' at column 1`,
		`(a@b`:                   `malformed address list "(a@b": comment has no closing ')' at column 1`,
		`a@b (x (y)`:             `malformed address list "a@b (x (y)": comment has no closing ')' at column 5`,
		`a@b)`:                   `malformed address list "a@b)": ')' without '(' at column 4`,
		`a@[1.2.3.4`:             `malformed address list "a@[1.2.3.4": domain literal has no closing ']' at column 3`,
		`a@[1[2]`:                `malformed address list "a@[1[2]": '[' inside a domain literal at column 5`,
		`a@b]`:                   `malformed address list "a@b]": ']' without '[' at column 4`,
		`a\b@c`:                  `malformed address list "a\\b@c": '\' outside a quoted string at column 2`,
		"a@b\r\nc@d":             `malformed address list "a@b\r\nc@d": line break not followed by white space (not a folded header) at column 4`,
		"a@b\rc":                 `malformed address list "a@b\rc": carriage return not followed by line feed at column 4`,
		"a\x01@b":                `malformed address list "a\x01@b": character '\x01' not allowed here at column 2`,
		"\"a\x00\"@b":            `malformed address list "\"a\x00\"@b": NUL character in quoted string at column 3`,
		`g: a@b`:                 `malformed address list "g: a@b": group "g" has no closing ';' at column 7`,
		`g: h: a@b;;`:            `malformed address list "g: h: a@b;;": group inside group "g" at column 5`,
		`g: a@b c;`:              `malformed address list "g: a@b c;": expected ',' or ';' in group "g", found 'c' at column 8`,
		`: a@b;`:                 `malformed address list ": a@b;": group has no name before ':' at column 1`,
		`<a@b c>`:                `malformed address list "<a@b c>": expected '>' after the address, found 'c' at column 6`,
		`<a b@c>`:                `malformed address list "<a b@c>": 'b' follows 'a' without '.' between them (a display name needs an address in '<>') at column 4`,
		`<@a.example a@b>`:       `malformed address list "<@a.example a@b>": source route needs '@' before each domain, found 'a' at column 13`,
		`<@a.example:>`:          `malformed address list "<@a.example:>": empty address in '<>' after a source route at column 13`,
		`<a@b;`:                  `malformed address list "<a@b;": expected '>' after the address, found ';' at column 5`,
		`<a;b>`:                  `malformed address list "<a;b>": expected '@' or '>' in angle address, found ';' at column 3`,
		`a@b <c@d>`:              `malformed address list "a@b <c@d>": expected ',' between addresses, found '<' at column 5`,
		`"a"b@c`:                 `malformed address list "\"a\"b@c": 'b' follows quoted string without '.' between them (a display name needs an address in '<>') at column 4`,
		`a@"b"`:                  `malformed address list "a@\"b\"": expected a domain after '@', found quoted string at column 3`,
		"a@b (\\":                `malformed address list "a@b (\\": '\' at the end of the header at column 6`,
		strings.Repeat("(", 200): `malformed address list "` + strings.Repeat("(", 100) + `"... (200 bytes): comment has no closing ')' at column 1`,
	} {
		if _, err := ParseHeaderList(in); err == nil || err.Error() != want {
			t.Errorf("ParseHeaderList(%q) error\n got %v\nwant %s", in, err, want)
		}
	}
}

// Courier's default-domain rule (libs/rwdefaulthost.C) applied in place.
func TestAddDefaultDomain(t *testing.T) {
	dom, err := ParseDomain("bücher.example")
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"joe":                             "joe@xn--bcher-kva.example",
		"Joe Bloggs <joe>":                "Joe Bloggs <joe@xn--bcher-kva.example>",
		"joe (Joe Bloggs), ann@x.example": "joe@xn--bcher-kva.example (Joe Bloggs), ann@x.example",
		`"joe smith" , team: a, b@c;`:     `"joe smith"@xn--bcher-kva.example , team: a@xn--bcher-kva.example, b@c;`,
		"john . doe":                      "john . doe@xn--bcher-kva.example",
		"host!user, <>, a@b":              "host!user, <>, a@b",
		`"host!user"`:                     `"host!user"`,
		"a@b.example":                     "a@b.example",
		"":                                "",
		"undisclosed-recipients: ;":       "undisclosed-recipients: ;",
		"x,\r\n\ty":                       "x@xn--bcher-kva.example,\r\n\ty@xn--bcher-kva.example",
	} {
		got, err := AddDefaultDomain(in, dom)
		if err != nil || got != want {
			t.Errorf("AddDefaultDomain(%q) = %q, %v; want %q", in, got, err, want)
			continue
		}
		// Applying it again changes nothing.
		if again, err := AddDefaultDomain(got, dom); err != nil || again != got {
			t.Errorf("AddDefaultDomain(%q) = %q, %v; not idempotent", got, again, err)
		}
	}
	if _, err := AddDefaultDomain("a b", dom); err == nil || err.Error() != `malformed address list "a b": 'b' follows 'a' without '.' between them (a display name needs an address in '<>') at column 3` {
		t.Errorf("AddDefaultDomain error %v", err)
	}
	if _, err := AddDefaultDomain("a", Domain{}); err == nil || err.Error() != `malformed default domain "": no default domain given at column 1` {
		t.Errorf("AddDefaultDomain without domain: %v", err)
	}
}

func TestMailboxEnvelope(t *testing.T) {
	def, _ := ParseDomain("example.test")
	tests := []struct {
		in   string
		want string // Address.String()
		err  string
	}{
		{in: "Joe <JOE@Example.COM>", want: "JOE@example.com"},
		{in: `"john doe"@x.example`, want: `"john doe"@x.example`},
		{in: `"john".doe@x.example`, want: "john.doe@x.example"},
		{in: "joe", want: "joe@example.test"},
		{in: "host!user", want: "host!user"},
		{in: "jörg@bücher.example", want: "jörg@bücher.example"},
		{in: "a@[192.0.2.1]", want: "a@[192.0.2.1]"},
		{in: "<>", err: `malformed address "<>": the empty address <> is not a mailbox at column 1`},
		{in: "a@b_c.example", err: `malformed address "a@b_c.example": character '_' not allowed in a domain at column 4`},
		{in: "a@[1.2.3]", err: `malformed address "a@[1.2.3]": IPv4 address literal needs four numbers separated by '.' at column 9`},
		{in: "\"a\\\tb\"@x", err: `malformed address "\"a\tb\"@x": control character '\t' in local part at column 1`},
		{in: "\"\xff\"@x", err: `malformed address "\"\xff\"@x": invalid UTF-8 in local part at column 1`},
		{in: strings.Repeat("a", 65) + "@x", err: `malformed address "` + strings.Repeat("a", 65) + `@x": local part is 65 octets long, more than 64 at column 1`},
	}
	for _, tc := range tests {
		l, err := ParseHeaderList(tc.in)
		if err != nil || len(l) != 1 {
			t.Fatalf("ParseHeaderList(%q) = %v, %v", tc.in, l, err)
		}
		a, err := l[0].Envelope(def)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("Envelope(%q) error\n got %v\nwant %s", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || a.String() != tc.want {
			t.Errorf("Envelope(%q) = %q, %v; want %q", tc.in, a.String(), err, tc.want)
		}
	}
	l, _ := ParseHeaderList("joe")
	if a, err := l[0].Envelope(Domain{}); err != nil || a != (Address{Local: "joe"}) {
		t.Errorf("Envelope without default domain = %+v, %v", a, err)
	}
	l, _ = ParseHeaderList(`""`)
	if a, err := l[0].Envelope(Domain{}); err == nil || err.Error() != `malformed address "\"\"": empty local part and no domain at column 1` {
		t.Errorf("Envelope of \"\" without default domain = %+v, %v", a, err)
	}
	if a, err := l[0].Envelope(def); err != nil || a.String() != `""@example.test` {
		t.Errorf("Envelope of \"\" = %+v, %v", a, err)
	}
}

func TestFormatMailbox(t *testing.T) {
	a, _ := ParseAddress("jörg@bücher.example", true)
	b, _ := ParseAddress(`"a b"@example.com`, false)
	for _, tc := range []struct {
		name string
		addr Address
		want string
	}{
		{"", b, `"a b"@example.com`},
		{"  ", b, `"a b"@example.com`},
		{"John Smith", b, `John Smith <"a b"@example.com>`},
		{"John Q. Public", b, `"John Q. Public" <"a b"@example.com>`},
		{`Giant; "Big" Box`, b, `"Giant; \"Big\" Box" <"a b"@example.com>`},
		{"John  Smith", b, `"John  Smith" <"a b"@example.com>`},
		{"=?x?", b, `"=?x?" <"a b"@example.com>`},
		{"Mr =?utf-8?q?x?=", b, `"Mr =?utf-8?q?x?=" <"a b"@example.com>`},
		{"Jörg Müller", a, "=?utf-8?q?J=C3=B6rg_M=C3=BCller?= <jörg@xn--bcher-kva.example>"},
		{"evil\r\nBcc: x@y", b, `"evil  Bcc: x@y" <"a b"@example.com>`},
		{"Müller, Jörg (IT)", b, `=?utf-8?q?M=C3=BCller=2C_J=C3=B6rg_=28IT=29?= <"a b"@example.com>`},
		{strings.Repeat("é", 15), b, "=?utf-8?q?=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9?= =?utf-8?q?=C3=A9=C3=A9=C3=A9=C3=A9=C3=A9?= <\"a b\"@example.com>"},
	} {
		got := FormatMailbox(tc.name, tc.addr)
		if got != tc.want {
			t.Errorf("FormatMailbox(%q, %v) = %q, want %q", tc.name, tc.addr, got, tc.want)
			continue
		}
		// Round trip: the header parser reads back the name and address.
		l, err := ParseHeaderList(got)
		if err != nil || len(l) != 1 {
			t.Errorf("ParseHeaderList(%q) = %v, %v", got, l, err)
			continue
		}
		env, err := l[0].Envelope(Domain{})
		if err != nil || env != tc.addr {
			t.Errorf("ParseHeaderList(%q) address %+v, %v; want %+v", got, env, err, tc.addr)
		}
		wantName := strings.TrimSpace(strings.NewReplacer("\r", " ", "\n", " ").Replace(tc.name))
		name := l[0].Name
		if !isASCII(tc.name) {
			var dec mime.WordDecoder
			if name, err = dec.DecodeHeader(name); err != nil {
				t.Errorf("decoding %q: %v", l[0].Name, err)
			}
		}
		if name != wantName {
			t.Errorf("ParseHeaderList(%q) name %q, want %q", got, name, wantName)
		}
	}
}
