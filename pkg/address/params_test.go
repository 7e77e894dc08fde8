package address

import (
	"reflect"
	"strings"
	"testing"
)

// RFC 5321 4.1.1.2 MAIL, 4.1.2 esmtp-param; RFC 1870, 6152, 3030, 6531,
// 3461, 4954; Courier's VERP and SECURITY (esmtp.md §4).
func TestParseMailFrom(t *testing.T) {
	tests := []struct {
		in   string
		path string
		mp   MailParams
		err  string
	}{
		{in: "<a@example.org>", path: "<a@example.org>"},
		{in: "<>", path: "<>"},
		{in: " <a@example.org>", path: "<a@example.org>"},
		{in: "<a@example.org> SIZE=1000 BODY=8BITMIME RET=HDRS ENVID=xyz", path: "<a@example.org>",
			mp: MailParams{Size: 1000, HasSize: true, Body: "8BITMIME", Ret: "HDRS", EnvID: "xyz"}},
		{in: "<a@example.org> size=0 body=7bit ret=full", path: "<a@example.org>",
			mp: MailParams{HasSize: true, Body: "7BIT", Ret: "FULL"}},
		{in: "<a@example.org>  SIZE=18446744073709551615\tBODY=BINARYMIME ", path: "<a@example.org>",
			mp: MailParams{Size: 18446744073709551615, HasSize: true, Body: "BINARYMIME"}},
		{in: "<jörg@bücher.example> SMTPUTF8", path: "<jörg@bücher.example>", mp: MailParams{SMTPUTF8: true}},
		{in: "<a@example.org> ENVID=a+2Bb+3Dc+20d", path: "<a@example.org>", mp: MailParams{EnvID: "a+b=c d"}},
		{in: "<a@example.org> AUTH=<> VERP SECURITY=starttls", path: "<a@example.org>", mp: MailParams{Auth: "<>", VERP: true, Security: "STARTTLS"}},
		{in: "<a@example.org> AUTH=user+2Bx@example.org", path: "<a@example.org>", mp: MailParams{Auth: "user+x@example.org"}},
		{in: "<a@example.org> FOO=bar XVERP EXDATA X-Y=1", path: "<a@example.org>",
			mp: MailParams{Other: []Param{{"FOO", "bar"}, {"XVERP", ""}, {"EXDATA", ""}, {"X-Y", "1"}}}},
		{in: `<"a>b"@example.org> SIZE=1`, path: `<"a>b"@example.org>`, mp: MailParams{Size: 1, HasSize: true}},

		{in: "", err: `malformed MAIL FROM argument "": address must be enclosed in '<' and '>' at column 1`},
		{in: "a@example.org", err: `malformed MAIL FROM argument "a@example.org": address must be enclosed in '<' and '>' at column 1`},
		{in: "<a@example.org", err: `malformed MAIL FROM argument "<a@example.org": path has no closing '>' at column 1`},
		{in: `<"a>@example.org>`, err: `malformed MAIL FROM argument "<\"a>@example.org>": path has no closing '>' at column 1`},
		{in: "<a@example.org>SIZE=1", err: `malformed MAIL FROM argument "<a@example.org>SIZE=1": a space must separate the path from the parameters at column 16`},
		{in: "<a@example..org>", err: `malformed MAIL FROM argument "<a@example..org>": empty label in domain at column 12`},
		{in: "<jörg@example.org>", err: `malformed MAIL FROM argument "<jörg@example.org>": non-ASCII character in local part (allowed only with SMTPUTF8) at column 3`},
		{in: "<a@example.org> ENVID=jörg", err: `malformed MAIL FROM argument "<a@example.org> ENVID=jörg": non-ASCII character in the value of ENVID (allowed only with SMTPUTF8) at column 24`},
		{in: "<a@example.org> SIZE", err: `malformed MAIL FROM argument "<a@example.org> SIZE": SIZE needs a value at column 17`},
		{in: "<a@example.org> SIZE=", err: `malformed MAIL FROM argument "<a@example.org> SIZE=": empty value for parameter SIZE at column 22`},
		{in: "<a@example.org> SIZE=12k", err: `malformed MAIL FROM argument "<a@example.org> SIZE=12k": SIZE value must be decimal digits at column 24`},
		{in: "<a@example.org> SIZE=-1", err: `malformed MAIL FROM argument "<a@example.org> SIZE=-1": SIZE value must be decimal digits at column 22`},
		{in: "<a@example.org> SIZE=18446744073709551616", err: `malformed MAIL FROM argument "<a@example.org> SIZE=18446744073709551616": SIZE value 18446744073709551616 is too large at column 22`},
		{in: "<a@example.org> SIZE=000000000000000000001", err: `malformed MAIL FROM argument "<a@example.org> SIZE=000000000000000000001": SIZE value has more than 20 digits at column 22`},
		{in: "<a@example.org> SIZE=1 SIZE=2", err: `malformed MAIL FROM argument "<a@example.org> SIZE=1 SIZE=2": parameter SIZE given twice at column 24`},
		{in: "<a@example.org> BODY=8BIT", err: `malformed MAIL FROM argument "<a@example.org> BODY=8BIT": BODY must be 7BIT, 8BITMIME or BINARYMIME, not "8BIT" at column 22`},
		{in: "<a@example.org> RET=NONE", err: `malformed MAIL FROM argument "<a@example.org> RET=NONE": RET must be FULL or HDRS, not "NONE" at column 21`},
		{in: "<a@example.org> SMTPUTF8=yes", err: `malformed MAIL FROM argument "<a@example.org> SMTPUTF8=yes": SMTPUTF8 takes no value at column 26`},
		{in: "<a@example.org> VERP=1", err: `malformed MAIL FROM argument "<a@example.org> VERP=1": VERP takes no value at column 22`},
		{in: "<a@example.org> SECURITY=TLS", err: `malformed MAIL FROM argument "<a@example.org> SECURITY=TLS": SECURITY must be NONE or STARTTLS, not "TLS" at column 26`},
		{in: "<a@example.org> ENVID=a+2", err: `malformed MAIL FROM argument "<a@example.org> ENVID=a+2": '+' in xtext must be followed by two hexadecimal digits at column 24`},
		{in: "<a@example.org> ENVID=a+0Ab", err: `malformed MAIL FROM argument "<a@example.org> ENVID=a+0Ab": decoded ENVID has a character outside printable US-ASCII ('\n') at column 23`},
		{in: "<a@example.org> ENVID=" + strings.Repeat("x", 101), err: `malformed MAIL FROM argument "<a@example.org> ENVID=` + strings.Repeat("x", 78) + `"... (123 bytes): ENVID is 101 characters long, more than 100 at column 23`},
		{in: "<a@example.org> AUTH", err: `malformed MAIL FROM argument "<a@example.org> AUTH": AUTH needs a value at column 17`},
		{in: "<a@example.org> AUTH=a+zz", err: `malformed MAIL FROM argument "<a@example.org> AUTH=a+zz": '+' in xtext must be followed by two hexadecimal digits at column 23`},
		{in: "<a@example.org> =x", err: `malformed MAIL FROM argument "<a@example.org> =x": parameter keyword must start with a letter or digit, not '=' at column 17`},
		{in: "<a@example.org> -X", err: `malformed MAIL FROM argument "<a@example.org> -X": parameter keyword must start with a letter or digit, not '-' at column 17`},
		{in: "<a@example.org> A_B=1", err: `malformed MAIL FROM argument "<a@example.org> A_B=1": character '_' not allowed in parameter keyword A at column 18`},
		{in: "<a@example.org> A=b=c", err: `malformed MAIL FROM argument "<a@example.org> A=b=c": character '=' not allowed in the value of A at column 20`},
		{in: "<a@example.org> A=b\x01", err: `malformed MAIL FROM argument "<a@example.org> A=b\x01": control character '\x01' in the value of A at column 20`},
		{in: "<a@example.org> SMTPUTF8 A=\xff", err: `malformed MAIL FROM argument "<a@example.org> SMTPUTF8 A=\xff": invalid UTF-8 in the value of A at column 28`},
	}
	for _, tc := range tests {
		p, mp, err := ParseMailFrom(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("ParseMailFrom(%q) error\n got %v\nwant %s", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseMailFrom(%q): %v", tc.in, err)
			continue
		}
		if p.String() != tc.path || !reflect.DeepEqual(mp, tc.mp) {
			t.Errorf("ParseMailFrom(%q) = %s %+v, want %s %+v", tc.in, p, mp, tc.path, tc.mp)
		}
	}
}

// RFC 5321 4.1.1.3 RCPT; RFC 3461 4.1 NOTIFY, 4.2 ORCPT; RFC 6533 3.
func TestParseRcptTo(t *testing.T) {
	tests := []struct {
		in   string
		utf8 bool
		path string
		rp   RcptParams
		err  string
	}{
		{in: "<user1@example.test>", path: "<user1@example.test>"},
		{in: "<Postmaster>", path: "<Postmaster>"},
		{in: "<user1@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;user1@example.test", path: "<user1@example.test>",
			rp: RcptParams{Notify: NotifySuccess | NotifyFailure, ORCPT: ORCPT{Type: "rfc822", Addr: "user1@example.test"}}},
		{in: "<u@example.test> notify=never", path: "<u@example.test>", rp: RcptParams{Notify: NotifyNever}},
		{in: "<u@example.test> NOTIFY=delay,Success", path: "<u@example.test>", rp: RcptParams{Notify: NotifyDelay | NotifySuccess}},
		{in: "<u@example.test> ORCPT=rfc822;Y+2By@x", path: "<u@example.test>", rp: RcptParams{ORCPT: ORCPT{Type: "rfc822", Addr: "Y+y@x"}}},
		{in: "<u@example.test> ORCPT=RFC822;+22a+20b+22@x", path: "<u@example.test>", rp: RcptParams{ORCPT: ORCPT{Type: "RFC822", Addr: `"a b"@x`}}},
		{in: `<u@example.test> ORCPT=utf-8;\x{438}\x{441}@example.com`, path: "<u@example.test>", rp: RcptParams{ORCPT: ORCPT{Type: "utf-8", Addr: "ис@example.com"}}},
		{in: `<u@example.test> ORCPT=utf-8;ис\x{2B}@example.com`, utf8: true, path: "<u@example.test>", rp: RcptParams{ORCPT: ORCPT{Type: "utf-8", Addr: "ис+@example.com"}}},
		{in: "<jörg@bücher.example> XFOO", utf8: true, path: "<jörg@bücher.example>", rp: RcptParams{Other: []Param{{"XFOO", ""}}}},

		{in: "<>", err: `malformed RCPT TO argument "<>": empty path; the null path <> is allowed only in MAIL FROM at column 2`},
		{in: "<bad address>", err: `malformed RCPT TO argument "<bad address>": character ' ' not allowed in an unquoted local part at column 5`},
		{in: "<postmaster@>", err: `malformed RCPT TO argument "<postmaster@>": empty domain at column 13`},
		{in: "<jörg@example.test>", err: `malformed RCPT TO argument "<jörg@example.test>": non-ASCII character in local part (allowed only with SMTPUTF8) at column 3`},
		{in: "<u@example.test> NOTIFY", err: `malformed RCPT TO argument "<u@example.test> NOTIFY": NOTIFY needs a value at column 18`},
		{in: "<u@example.test> NOTIFY=NEVER,SUCCESS", err: `malformed RCPT TO argument "<u@example.test> NOTIFY=NEVER,SUCCESS": NOTIFY=NEVER cannot be combined with other conditions at column 31`},
		{in: "<u@example.test> NOTIFY=SUCCESS,NEVER", err: `malformed RCPT TO argument "<u@example.test> NOTIFY=SUCCESS,NEVER": NOTIFY=NEVER cannot be combined with other conditions at column 33`},
		{in: "<u@example.test> NOTIFY=FAILURE,FAILURE", err: `malformed RCPT TO argument "<u@example.test> NOTIFY=FAILURE,FAILURE": NOTIFY condition FAILURE given twice at column 33`},
		{in: "<u@example.test> NOTIFY=SUCCESS,", err: `malformed RCPT TO argument "<u@example.test> NOTIFY=SUCCESS,": empty NOTIFY condition at column 33`},
		{in: "<u@example.test> NOTIFY=FAIL", err: `malformed RCPT TO argument "<u@example.test> NOTIFY=FAIL": unknown NOTIFY condition "FAIL" (NEVER, SUCCESS, FAILURE or DELAY) at column 25`},
		{in: "<u@example.test> ORCPT=u@x", err: `malformed RCPT TO argument "<u@example.test> ORCPT=u@x": ORCPT needs an address type and ';' before the address at column 24`},
		{in: "<u@example.test> ORCPT=;u@x", err: `malformed RCPT TO argument "<u@example.test> ORCPT=;u@x": empty ORCPT address type at column 24`},
		{in: "<u@example.test> ORCPT=rfc822;", err: `malformed RCPT TO argument "<u@example.test> ORCPT=rfc822;": empty ORCPT address at column 31`},
		{in: "<u@example.test> ORCPT=rf(c;u@x", err: `malformed RCPT TO argument "<u@example.test> ORCPT=rf(c;u@x": character '(' not allowed in ORCPT address type at column 26`},
		{in: "<u@example.test> ORCPT=rfc822;u+00@x", err: `malformed RCPT TO argument "<u@example.test> ORCPT=rfc822;u+00@x": decoded ORCPT address has a character outside printable US-ASCII ('\x00'); use the utf-8 type at column 31`},
		{in: "<u@example.test> ORCPT=rfc822;" + strings.Repeat("x", 494), err: `malformed RCPT TO argument "<u@example.test> ORCPT=rfc822;` + strings.Repeat("x", 70) + `"... (524 bytes): ORCPT is 501 characters long, more than 500 at column 24`},
		{in: `<u@example.test> ORCPT=utf-8;a+b@x`, err: `malformed RCPT TO argument "<u@example.test> ORCPT=utf-8;a+b@x": character '+' must be written as \x{2B} in a utf-8 ORCPT at column 31`},
		{in: `<u@example.test> ORCPT=utf-8;a\b@x`, err: `malformed RCPT TO argument "<u@example.test> ORCPT=utf-8;a\\b@x": '\' must start an escape \x{HEX} at column 31`},
		{in: `<u@example.test> ORCPT=utf-8;a\x{}@x`, err: `malformed RCPT TO argument "<u@example.test> ORCPT=utf-8;a\\x{}@x": escape \x{...} needs 1 to 6 hexadecimal digits at column 31`},
		{in: `<u@example.test> ORCPT=utf-8;a\x{1234567}@x`, err: `malformed RCPT TO argument "<u@example.test> ORCPT=utf-8;a\\x{1234567}@x": escape \x{...} needs 1 to 6 hexadecimal digits at column 31`},
		{in: `<u@example.test> ORCPT=utf-8;a\x{D800}@x`, err: `malformed RCPT TO argument "<u@example.test> ORCPT=utf-8;a\\x{D800}@x": escape \x{D800} is not a Unicode character at column 31`},
		{in: `<u@example.test> ORCPT=utf-8;a\x{A}@x`, err: `malformed RCPT TO argument "<u@example.test> ORCPT=utf-8;a\\x{A}@x": escape \x{A} is a control character at column 31`},
		{in: `<u@example.test> ORCPT=utf-8;a\x{41@x`, err: `malformed RCPT TO argument "<u@example.test> ORCPT=utf-8;a\\x{41@x": escape \x{ needs hexadecimal digits and '}' at column 31`},
		{in: `<u@example.test> ORCPT=utf-8;ис@x`, err: `malformed RCPT TO argument "<u@example.test> ORCPT=utf-8;ис@x": non-ASCII character in the value of ORCPT (allowed only with SMTPUTF8) at column 30`},
	}
	for _, tc := range tests {
		p, rp, err := ParseRcptTo(tc.in, tc.utf8)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("ParseRcptTo(%q) error\n got %v\nwant %s", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseRcptTo(%q): %v", tc.in, err)
			continue
		}
		if p.String() != tc.path || !reflect.DeepEqual(rp, tc.rp) {
			t.Errorf("ParseRcptTo(%q) = %s %+v, want %s %+v", tc.in, p, rp, tc.path, tc.rp)
		}
	}
}

// RFC 3461 4: xtext.
func TestXtext(t *testing.T) {
	for dec, enc := range map[string]string{
		"":                "",
		"plain@x.example": "plain@x.example",
		"a+b=c":           "a+2Bb+3Dc",
		"a b\tc":          "a+20b+09c",
		"ü":               "+C3+BC",
		"\x00\x7f~!":      "+00+7F~!",
	} {
		if got := XtextEncode(dec); got != enc {
			t.Errorf("XtextEncode(%q) = %q, want %q", dec, got, enc)
		}
		if got, err := XtextDecode(enc); err != nil || got != dec {
			t.Errorf("XtextDecode(%q) = %q, %v; want %q", enc, got, err, dec)
		}
	}
	if got, err := XtextDecode("a+2bb"); err != nil || got != "a+b" {
		t.Errorf("XtextDecode lower-case hex = %q, %v", got, err)
	}
	for in, want := range map[string]string{
		"a=b":  `malformed xtext "a=b": character '=' not allowed in xtext (write it as +3D) at column 2`,
		"a b":  `malformed xtext "a b": character ' ' not allowed in xtext (write it as +20) at column 2`,
		"a+":   `malformed xtext "a+": '+' in xtext must be followed by two hexadecimal digits at column 2`,
		"a+G0": `malformed xtext "a+G0": '+' in xtext must be followed by two hexadecimal digits at column 2`,
		"é":    `malformed xtext "é": non-ASCII octet 0xC3 not allowed in xtext (write it as +C3) at column 1`,
	} {
		if _, err := XtextDecode(in); err == nil || err.Error() != want {
			t.Errorf("XtextDecode(%q) error\n got %v\nwant %s", in, err, want)
		}
	}
}

// RFC 3461 4.2 and RFC 6533 3: ORCPT encodings, Courier's test vectors
// (courier-libs rfc2045/testrfc6533parser.C) among them.
func TestORCPT(t *testing.T) {
	tests := []struct {
		o        ORCPT
		smtputf8 bool
		enc      string
	}{
		{ORCPT{"rfc822", "nobody@example.com"}, false, "rfc822;nobody@example.com"},
		{ORCPT{"rfc822", "nobody+=me@example.com"}, false, "rfc822;nobody+2B+3Dme@example.com"},
		{ORCPT{"utf-8", "nobody@example.com"}, false, "rfc822;nobody@example.com"},
		{ORCPT{"utf-8", "испытание@example.com"}, false, `utf-8;\x{438}\x{441}\x{43F}\x{44B}\x{442}\x{430}\x{43D}\x{438}\x{435}@example.com`},
		{ORCPT{"utf-8", "испытание@example.com"}, true, "utf-8;испытание@example.com"},
		{ORCPT{"utf-8", `испытание\+=@example.com`}, true, `utf-8;испытание\x{5C}\x{2B}\x{3D}@example.com`},
		{ORCPT{"utf-8", `испытание+=\me@example.com`}, false, `utf-8;\x{438}\x{441}\x{43F}\x{44B}\x{442}\x{430}\x{43D}\x{438}\x{435}\x{2B}\x{3D}\x{5C}me@example.com`},
		{ORCPT{"x-local", "a b"}, false, "x-local;a+20b"},
	}
	for _, tc := range tests {
		enc := tc.o.Encode(tc.smtputf8)
		if enc != tc.enc {
			t.Errorf("%+v.Encode(%v) = %q, want %q", tc.o, tc.smtputf8, enc, tc.enc)
		}
		back, err := ParseORCPT(enc, tc.smtputf8)
		if err != nil || back.Addr != tc.o.Addr {
			t.Errorf("ParseORCPT(%q) = %+v, %v; want address %q", enc, back, err, tc.o.Addr)
		}
	}
	if !(ORCPT{}).IsZero() || (ORCPT{Type: "rfc822", Addr: "a@b"}).IsZero() {
		t.Error("ORCPT.IsZero")
	}
}

func TestNotify(t *testing.T) {
	for in, want := range map[string]Notify{
		"NEVER":                 NotifyNever,
		"success":               NotifySuccess,
		"FAILURE,DELAY":         NotifyFailure | NotifyDelay,
		"DELAY,FAILURE,SUCCESS": NotifySuccess | NotifyFailure | NotifyDelay,
	} {
		n, err := ParseNotify(in)
		if err != nil || n != want {
			t.Errorf("ParseNotify(%q) = %v, %v; want %v", in, n, err, want)
		}
		if back, err := ParseNotify(n.String()); err != nil || back != n {
			t.Errorf("ParseNotify(%q) = %v, %v", n.String(), back, err)
		}
	}
	if s := (NotifySuccess | NotifyFailure | NotifyDelay).String(); s != "SUCCESS,FAILURE,DELAY" {
		t.Errorf("String = %q", s)
	}
	if s := Notify(0).String(); s != "" {
		t.Errorf("zero Notify String = %q", s)
	}
	if _, err := ParseNotify(""); err == nil || err.Error() != `malformed NOTIFY value "": empty NOTIFY condition at column 1` {
		t.Errorf("ParseNotify(\"\") error %v", err)
	}
}

func TestParseParamsDirect(t *testing.T) {
	mp, err := ParseMailParams("SIZE=5 SMTPUTF8 X-NAME=é")
	if err != nil || mp.Size != 5 || !mp.SMTPUTF8 || !reflect.DeepEqual(mp.Other, []Param{{"X-NAME", "é"}}) {
		t.Errorf("ParseMailParams = %+v, %v", mp, err)
	}
	if _, err := ParseMailParams("SMTPUTF8 ENVID=é"); err == nil || err.Error() != `malformed MAIL FROM parameters "SMTPUTF8 ENVID=é": non-ASCII octet 0xC3 not allowed in xtext (write it as +C3) at column 16` {
		t.Errorf("ParseMailParams error %v", err)
	}
	if _, err := ParseMailParams("ENVID=é"); err == nil || err.Error() != `malformed MAIL FROM parameters "ENVID=é": non-ASCII character in the value of ENVID (allowed only with SMTPUTF8) at column 7` {
		t.Errorf("ParseMailParams error %v", err)
	}
	rp, err := ParseRcptParams("NOTIFY=NEVER X=é", true)
	if err != nil || rp.Notify != NotifyNever || !reflect.DeepEqual(rp.Other, []Param{{"X", "é"}}) {
		t.Errorf("ParseRcptParams = %+v, %v", rp, err)
	}
	if _, err := ParseRcptParams("X=é", false); err == nil || err.Error() != `malformed RCPT TO parameters "X=é": non-ASCII character in the value of X (allowed only with SMTPUTF8) at column 3` {
		t.Errorf("ParseRcptParams error %v", err)
	}
}
