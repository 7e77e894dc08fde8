package authlib

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// The request bytes of spec/authdaemon.md §3's transcripts and the
// boundary cases observed against the real daemon.
func TestParseRequest(t *testing.T) {
	cram := "AUTH 116\nimap\ncram-md5\nPDEyMzQuNTY3OEBleGFtcGxlLmNvbT4=\nYWxpY2VAZXhhbXBsZS5jb20gMTYzOWQ5Y2MzYTAwM2Y1ZjBjZjM1ODNiYzZmMzRmOWU=\n"
	tests := []struct {
		in   string
		want Request
	}{
		{"PRE . imap alice@example.com\n", Request{Command: CmdPre, Service: "imap", User: "alice@example.com"}},
		{"PRE  .   imap   alice@example.com\n", Request{Command: CmdPre, Service: "imap", User: "alice@example.com"}},
		{"PRE authpam imap alice@example.com\n", Request{Command: CmdPre, Module: "authpam", Service: "imap", User: "alice@example.com"}},
		// The userid is the rest of the line: trailing blanks belong to it.
		{"PRE . imap a b \n", Request{Command: CmdPre, Service: "imap", User: "a b "}},
		{"AUTH 36\nimap\nlogin\nalice@example.com\nsecret\n", Request{Command: CmdAuth, Service: "imap", AuthType: "login", AuthData: "alice@example.com\nsecret\n"}},
		{"AUTH 6\nimap\n\n", Request{Command: CmdAuth, Service: "imap"}},
		// Bytes after the announced count are not part of the request.
		{"AUTH 11\nimap\nlogin\nEXTRA", Request{Command: CmdAuth, Service: "imap", AuthType: "login"}},
		{"TCPREMOTEIP=192.0.2.7\nAUTH 36\nimap\nlogin\nalice@example.com\nsecret\n", Request{Command: CmdAuth, Meta: []Meta{{"TCPREMOTEIP", "192.0.2.7"}}, Service: "imap", AuthType: "login", AuthData: "alice@example.com\nsecret\n"}},
		{"A=B C\nX=\nPRE . imap u\n", Request{Command: CmdPre, Meta: []Meta{{"A", "B C"}, {"X", ""}}, Service: "imap", User: "u"}},
		// A meta value with a control byte is dropped, the request stands.
		{"TCPREMOTEIP=1.2.3.4\x01\nPRE . imap u\n", Request{Command: CmdPre, Service: "imap", User: "u"}},
		{"PASSWD imap\talice@example.com\tsecret\tnewsecret\n", Request{Command: CmdPasswd, Service: "imap", User: "alice@example.com", OldPassword: "secret", NewPassword: "newsecret"}},
		{"ENUMERATE\n", Request{Command: CmdEnumerate}},
		{"ENUMERATE extra\n", Request{Command: CmdEnumerate}},
		{cram, Request{Command: CmdAuth, Service: "imap", AuthType: "cram-md5", AuthData: "PDEyMzQuNTY3OEBleGFtcGxlLmNvbT4=\nYWxpY2VAZXhhbXBsZS5jb20gMTYzOWQ5Y2MzYTAwM2Y1ZjBjZjM1ODNiYzZmMzRmOWU=\n"}},
	}
	for _, tt := range tests {
		got, err := ParseRequest([]byte(tt.in))
		if err != nil {
			t.Errorf("ParseRequest(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(*got, tt.want) {
			t.Errorf("ParseRequest(%q)\n got %+v\nwant %+v", tt.in, *got, tt.want)
		}
	}
}

func TestParseRequestRejects(t *testing.T) {
	long := "PRE . imap " + strings.Repeat("a", MaxLine-len("PRE . imap ")+1) + "\n"
	tests := []struct {
		in       string
		fail     bool   // answered FAIL rather than closed
		eof      bool   // incomplete: io.ErrUnexpectedEOF
		contains string // in the message
	}{
		{in: "PRE\n", contains: "PRE needs"},
		{in: "PRE .\n", contains: "PRE needs"},
		{in: "PRE . imap\n", contains: "PRE needs"},
		{in: "PRE . imap   \n", contains: "PRE needs"},
		{in: "pre . imap u\n", contains: "unknown command"},
		{in: "BOGUS\n", contains: `unknown command "BOGUS"`},
		{in: "\n", contains: "unknown command"},
		{in: "PRE\t.\timap\tu\n", contains: "unknown command"},
		{in: "\x00\x01\x02\xff\n", contains: "unknown command"},
		{in: "AUTH 0\n", contains: "byte count"},
		{in: "AUTH -1\n", contains: "byte count"},
		{in: "AUTH abc\n", contains: "byte count"},
		{in: "AUTH +5\n", contains: "byte count"},
		{in: "AUTH 8192\n", contains: "byte count"},
		{in: "AUTH 99999999999999999999\n", contains: "byte count"},
		{in: "AUTH 10\nimap\nplain", contains: "authtype line"},
		{in: "AUTH 4\nimap", contains: "service line"},
		{in: "AUTH 36\nimap\nlogin\n", eof: true},
		{in: "PASSWD imap\talice\n", contains: "(2 fields)"},
		{in: "PASSWD imap alice old new\n", contains: "(1 fields)"},
		{in: "PASSWD imap\talice\told\tnew\x01\n", fail: true, contains: "control"},
		{in: "PASSWD imap\talice\told\tnew\r\n", fail: true, contains: "control"},
		{in: "PRE . imap alice@example.com", eof: true},
		{in: "", eof: true},
		{in: "TCPREMOTEIP=1\n", eof: true},
		{in: long, contains: "longer than 8190"},
		{in: strings.Repeat("X", 10000), contains: "longer than"},
		{in: strings.Repeat("X=yyyyyyyyyyyyyyy\n", maxHeader/18+1) + "ENUMERATE\n", contains: "meta lines"},
	}
	for _, tt := range tests {
		_, err := ParseRequest([]byte(tt.in))
		if tt.eof {
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("ParseRequest(%q) = %v, want unexpected EOF", clip(tt.in), err)
			}
			continue
		}
		var re *RequestError
		if !errors.As(err, &re) {
			t.Errorf("ParseRequest(%q) = %v, want a RequestError", clip(tt.in), err)
			continue
		}
		if re.Fail != tt.fail || !strings.Contains(re.Error(), tt.contains) {
			t.Errorf("ParseRequest(%q) = %v (fail=%v), want fail=%v and %q", clip(tt.in), re, re.Fail, tt.fail, tt.contains)
		}
	}
}

// The longest lines the original accepts: 8191 bytes with the newline.
func TestParseRequestLineLimit(t *testing.T) {
	line := "PRE . imap " + strings.Repeat("a", MaxLine-len("PRE . imap ")) + "\n"
	if len(line) != 8191 {
		t.Fatalf("test line is %d bytes", len(line))
	}
	if _, err := ParseRequest([]byte(line)); err != nil {
		t.Errorf("8191-byte line: %v", err)
	}
	meta := "TCPREMOTEIP=" + strings.Repeat("1", MaxLine-len("TCPREMOTEIP=")) + "\n"
	r, err := ParseRequest([]byte(meta + "ENUMERATE\n"))
	if err != nil || len(r.RemoteIP()) != MaxLine-len("TCPREMOTEIP=") {
		t.Errorf("8191-byte meta line: %v", err)
	}
	data := "imap\nlogin\n" + strings.Repeat("x", MaxAuthData-len("imap\nlogin\n"))
	r, err = ParseRequest([]byte("AUTH 8191\n" + data))
	if err != nil || len(r.AuthData) != MaxAuthData-len("imap\nlogin\n") {
		t.Errorf("AUTH 8191: %v", err)
	}
}

// ReadRequest stops at the end of the request: a second request on the
// same stream is left unread.
func TestReadRequestStopsAtEnd(t *testing.T) {
	in := "AUTH 11\nimap\nlogin\nPRE . x y\n"
	r, err := ParseRequest([]byte(in))
	if err != nil || r.Command != CmdAuth {
		t.Fatalf("%v %+v", err, r)
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	reqs := []Request{
		{Command: CmdPre, Service: "imap", User: "alice@example.com"},
		{Command: CmdPre, Module: "authuserdb", Service: "imap", User: "a b"},
		{Command: CmdAuth, Meta: []Meta{{"TCPREMOTEIP", "::1"}}, Service: "imap", AuthType: "login", AuthData: "alice@example.com\nsecret\n"},
		{Command: CmdPasswd, Service: "imap", User: "alice", OldPassword: "o p", NewPassword: "n"},
		{Command: CmdEnumerate},
	}
	for _, r := range reqs {
		b, err := r.Encode()
		if err != nil {
			t.Fatalf("Encode(%+v): %v", r, err)
		}
		got, err := ParseRequest(b)
		if err != nil || !reflect.DeepEqual(*got, r) {
			t.Errorf("round trip of %q: %+v, %v", b, got, err)
		}
	}
	if b, _ := (&Request{Command: CmdAuth, Service: "imap", AuthType: "login", AuthData: "alice@example.com\nsecret\n"}).Encode(); string(b) != "AUTH 36\nimap\nlogin\nalice@example.com\nsecret\n" {
		t.Errorf("AUTH encoding %q", b)
	}
	bad := []Request{
		{Command: CmdPre, Service: "imap", User: "a\nPRE"},
		{Command: CmdPre, Service: "im ap", User: "a"},
		{Command: CmdPre, Service: "imap", User: ""},
		{Command: CmdPasswd, Service: "imap", User: "a\tb", OldPassword: "x", NewPassword: "y"},
		{Command: CmdAuth, Service: "imap", AuthType: "login", AuthData: strings.Repeat("x", MaxAuthData)},
		{Command: CmdEnumerate, Meta: []Meta{{"A", "b\nPRE"}}},
		{},
	}
	for _, r := range bad {
		if b, err := r.Encode(); err == nil {
			t.Errorf("Encode(%+v) = %q, want an error", r, b)
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	f.Add([]byte("PRE . imap alice@example.com\n"))
	f.Add([]byte("TCPREMOTEIP=192.0.2.7\nAUTH 36\nimap\nlogin\nalice@example.com\nsecret\n"))
	f.Add([]byte("PASSWD imap\talice@example.com\tsecret\tnewsecret\n"))
	f.Add([]byte("ENUMERATE\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRequest(data)
		if err != nil {
			if r != nil {
				t.Fatal("request and error")
			}
			return
		}
		// Whatever parses re-encodes (when encodable) to something that
		// parses to the same request.
		enc, err := r.Encode()
		if err != nil {
			return
		}
		again, err := ParseRequest(enc)
		if err != nil {
			t.Fatalf("re-encoded %q does not parse: %v", enc, err)
		}
		if !reflect.DeepEqual(again, r) {
			t.Fatalf("round trip changed %+v into %+v", r, again)
		}
		if !bytes.HasSuffix(enc, []byte("\n")) && r.Command != CmdAuth {
			t.Fatalf("encoding %q lacks its newline", enc)
		}
	})
}
