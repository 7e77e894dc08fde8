package address

import (
	"net/mail"
	"strings"
	"testing"
)

// FuzzParsePath: the envelope path parsers never panic, and what they
// accept formats back into a path that parses to the same address.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{
		"<user@example.com>", "<>", "<Postmaster>", `<"a b\"c"@example.com>`,
		"<@a.example,@b.example:u@c.example>", "<u@[192.0.2.1]>", "<u@[IPv6:2001:db8::1]>",
		"<jörg@bücher.example>", "<u@xn--bcher-kva.example>", "<a..b@c>", "<u@b_c>",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, utf8 := range []bool{false, true} {
			for _, reverse := range []bool{false, true} {
				var p Path
				var err error
				if reverse {
					p, err = ParseReversePath(s, utf8)
				} else {
					p, err = ParseForwardPath(s, utf8)
				}
				if err != nil {
					if _, ok := err.(*Error); !ok {
						t.Fatalf("error of type %T: %v", err, err)
					}
					continue
				}
				forms := []string{p.StringACE()}
				if utf8 {
					forms = append(forms, p.String())
				}
				for _, r := range forms {
					if len(r) > MaxPathLength {
						continue
					}
					var q Path
					if reverse {
						q, err = ParseReversePath(r, utf8)
					} else {
						q, err = ParseForwardPath(r, utf8)
					}
					if err != nil || q.Addr != p.Addr {
						t.Fatalf("%q parsed to %+v, formatted %q, parsed to %+v, %v", s, p.Addr, r, q.Addr, err)
					}
				}
			}
		}
		// The same text as an SMTP command argument.
		if p, _, err := ParseMailFrom(s); err == nil {
			if q, err := ParseReversePath(p.String(), true); err != nil && len(p.String()) <= MaxPathLength || err == nil && q.Addr != p.Addr {
				t.Fatalf("MAIL FROM:%q gave %+v; reparsed %+v, %v", s, p.Addr, q.Addr, err)
			}
		}
		_, _, _ = ParseRcptTo(s, true)
		_, _ = ParseAddress(s, true)
		_, _ = ParseDomain(s)
	})
}

// FuzzParseParams: the MAIL and RCPT parameter parsers never panic, and
// their decoded values encode back to values that decode the same.
func FuzzParseParams(f *testing.F) {
	for _, s := range []string{
		"SIZE=1000 BODY=8BITMIME RET=HDRS ENVID=xyz+2B",
		"SMTPUTF8 AUTH=<> VERP SECURITY=STARTTLS FOO=bar",
		"NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;user1@example.test",
		`NOTIFY=NEVER ORCPT=utf-8;\x{438}@example.com`,
		"SIZE=18446744073709551616", "A=b=c", "ORCPT=rfc822;+0A",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if mp, err := ParseMailParams(s); err == nil {
			if mp.EnvID != "" {
				if d, err := XtextDecode(XtextEncode(mp.EnvID)); err != nil || d != mp.EnvID {
					t.Fatalf("ENVID %q: xtext round trip gave %q, %v", mp.EnvID, d, err)
				}
			}
		} else if _, ok := err.(*Error); !ok {
			t.Fatalf("error of type %T: %v", err, err)
		}
		for _, utf8 := range []bool{false, true} {
			rp, err := ParseRcptParams(s, utf8)
			if err != nil {
				continue
			}
			if rp.Notify != 0 {
				if n, err := ParseNotify(rp.Notify.String()); err != nil || n != rp.Notify {
					t.Fatalf("NOTIFY %v: round trip gave %v, %v", rp.Notify, n, err)
				}
			}
			if !rp.ORCPT.IsZero() {
				enc := rp.ORCPT.Encode(utf8)
				o, err := ParseORCPT(enc, utf8)
				if err != nil || o.Addr != rp.ORCPT.Addr {
					t.Fatalf("ORCPT %+v encoded %q parsed to %+v, %v", rp.ORCPT, enc, o, err)
				}
			}
		}
		_, _, _ = ParseMailFrom("<a@example.com> " + s)
		_, _ = XtextDecode(s)
		_, _ = ParseORCPT(s, true)
		_, _ = ParseNotify(s)
	})
}

// FuzzParseHeaderList: the header parser never panics, accepts whatever
// net/mail accepts with the same addresses, and AddDefaultDomain leaves a
// list that parses to the same mailboxes with the domain added.
func FuzzParseHeaderList(f *testing.F) {
	for _, tc := range headerListTests {
		f.Add(tc.in)
	}
	f.Add(`a@b (x (y)`)
	f.Add("a@b\r\nc@d")
	dom, err := ParseDomain("default.example")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseHeaderList(s)
		// NUL, and CR or LF outside a fold, are refused on purpose: RFC
		// 5322 has no place for NUL outside obs-qp and obs-utext (and
		// Courier, written in C, would cut the header there), nor for a
		// bare CR or LF (RFC 5322 2.2, RFC 5321 2.3.8). net/mail lets them
		// through in comments and quoted strings.
		if theirs, merr := mail.ParseAddressList(s); merr == nil && !strings.ContainsAny(s, "\x00\r\n") {
			if msg := compareNetMail(l, err, theirs); msg != "" {
				t.Fatalf("%q: %s", s, msg)
			}
		}
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		rewritten, err := AddDefaultDomain(s, dom)
		if err != nil {
			t.Fatalf("AddDefaultDomain(%q): %v", s, err)
		}
		l2, err := ParseHeaderList(rewritten)
		if err != nil || len(l2) != len(l) {
			t.Fatalf("AddDefaultDomain(%q) = %q, which parses to %d mailboxes, %v; want %d", s, rewritten, len(l2), err, len(l))
		}
		for i, m := range l {
			want := m.Domain
			if m.NeedsDefaultDomain() {
				want = dom.ASCII()
			}
			if l2[i].Local != m.Local || l2[i].Domain != want || l2[i].Name != m.Name || l2[i].Group != m.Group {
				t.Fatalf("AddDefaultDomain(%q) = %q: mailbox %d is %+v, was %+v", s, rewritten, i, l2[i], m)
			}
			a, err := m.Envelope(dom)
			if err != nil {
				continue
			}
			out := FormatMailbox(m.Name, a)
			l3, err := ParseHeaderList(out)
			if err != nil || len(l3) != 1 {
				t.Fatalf("FormatMailbox(%q, %+v) = %q: %v, %v", m.Name, a, out, l3, err)
			}
			if b, err := l3[0].Envelope(dom); err != nil || b != a {
				t.Fatalf("FormatMailbox(%q, %+v) = %q, which gives %+v, %v", m.Name, a, out, b, err)
			}
		}
	})
}
