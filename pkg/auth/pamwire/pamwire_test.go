package pamwire

import (
	"bufio"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	reqs := []Request{
		{Op: OpAuth, Service: "imap", User: "alice", Password: "p a%s\ts\x01\x7f", RemoteIP: "192.0.2.7"},
		{Op: OpPasswd, Service: "pop3", User: "bob", Password: "", NewPassword: "new pw"},
	}
	for _, r := range reqs {
		line := r.Encode()
		if strings.Count(string(line), "\n") != 1 {
			t.Fatalf("%q is not one line", line)
		}
		got, err := ReadRequest(bufio.NewReader(strings.NewReader(string(line))))
		if err != nil || got != r {
			t.Errorf("round trip %+v: %+v %v", r, got, err)
		}
	}
	for _, r := range []Reply{{Status: StatusOK}, {Status: StatusFail, Message: "Authentication failure"}, {Status: StatusTemp, Message: "x%y\n"}} {
		got, err := ReadReply(bufio.NewReader(strings.NewReader(string(r.Encode()))))
		if err != nil || got != r {
			t.Errorf("reply %+v: %+v %v", r, got, err)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, in := range []string{"", "LOGIN a b c d", "AUTH imap alice pw", "AUTH imap alice pw ip extra", "AUTH imap alice %4 ip",
		"AUTH imap alice %zz ip", "AUTH  alice pw ip", "AUTH im/ap alice pw ip", "AUTH imap alice p%00w ip", "PASSWD imap alice old ip"} {
		if r, err := ParseRequest(in); err == nil {
			t.Errorf("ParseRequest(%q) = %+v, want an error", in, r)
		}
	}
	if _, err := ReadReply(bufio.NewReader(strings.NewReader("MAYBE\n"))); err == nil {
		t.Error("unknown reply accepted")
	}
	if _, err := ReadRequest(bufio.NewReader(strings.NewReader(strings.Repeat("A", MaxLine+10) + "\n"))); err == nil {
		t.Error("overlong line accepted")
	}
}

func FuzzParseRequest(f *testing.F) {
	f.Add("AUTH imap alice secret 192.0.2.7")
	f.Add("PASSWD imap alice old%20pw new ")
	f.Fuzz(func(t *testing.T, line string) {
		r, err := ParseRequest(line)
		if err != nil {
			return
		}
		again, err := ParseRequest(strings.TrimSuffix(string(r.Encode()), "\n"))
		if err != nil || again != r {
			t.Fatalf("round trip of %q: %+v %v", line, again, err)
		}
	})
}
