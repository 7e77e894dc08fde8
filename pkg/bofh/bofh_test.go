package bofh

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sample = `# junk rules
badfrom spammer@example.com
badfrom @spam.example   # a whole domain
BADFROM @.bulk.example
badfrom boss@.corp.example
badmx 192.0.2.25
badmx 2001:db8::25
freemail freemail.example mx.example relay.example
spamtrap trap@example.test
maxrcpts 50 hard
opt BOFHCHECKDNS=0
opt BOFHCHECKDNS=1
opt BOFHSPFHELO=pass,none
`

func TestParse(t *testing.T) {
	r, err := Parse("bofh", []byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	if r.MaxRcpts != 50 || !r.MaxHard {
		t.Errorf("maxrcpts = %d hard=%v, want 50 hard", r.MaxRcpts, r.MaxHard)
	}
	if v, ok := r.Opt("BOFHCHECKDNS"); !ok || v != "0" {
		t.Errorf("opt BOFHCHECKDNS = %q %v, want the first line's 0", v, ok)
	}
	if v, _ := r.Opt("BOFHSPFHELO"); v != "pass,none" {
		t.Errorf("opt BOFHSPFHELO = %q", v)
	}
	for addr, want := range map[string]bool{
		"spammer@example.com":     true,
		"SPAMMER@Example.COM":     true,
		"spammer2@example.com":    false,
		"anyone@spam.example":     true,
		"anyone@sub.spam.example": false,
		"anyone@x.bulk.example":   true,
		"anyone@bulk.example":     false,
		"anyone@notbulk.example":  false,
		"boss@a.corp.example":     true,
		"boss@corp.example":       false,
		"other@a.corp.example":    false,
		"":                        false,
		"nodomain":                false,
	} {
		if got := r.IsBadFrom(addr); got != want {
			t.Errorf("IsBadFrom(%q) = %v, want %v", addr, got, want)
		}
	}
	if !r.IsSpamtrap("Trap@EXAMPLE.test") || r.IsSpamtrap("trap@example.org") {
		t.Error("Spamtrap does not match trap@example.test alone")
	}
	if !r.IsBadMX(net.ParseIP("192.0.2.25")) || !r.IsBadMX(net.ParseIP("::ffff:192.0.2.25")) || !r.IsBadMX(net.ParseIP("2001:db8::25")) || r.IsBadMX(net.ParseIP("192.0.2.26")) {
		t.Error("IsBadMX does not match the listed addresses alone")
	}
	fm, ok := r.FreemailFor("someone@FreeMail.example")
	if !ok {
		t.Fatal("no freemail rule for freemail.example")
	}
	for host, want := range map[string]bool{
		"smtp.freemail.example": true, "freemail.example": true, "out.relay.example": true,
		"MX.EXAMPLE": true, "evilfreemail.example": false, "": false, "softdnserr": true, "other.example": false,
	} {
		if got := fm.FromRelay(host); got != want {
			t.Errorf("FromRelay(%q) = %v, want %v", host, got, want)
		}
	}
	if _, ok := r.FreemailFor("someone@other.example"); ok {
		t.Error("a freemail rule for other.example")
	}
}

func TestIDN(t *testing.T) {
	r, err := Parse("bofh", []byte("badfrom @xn--bcher-kva.example\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !r.IsBadFrom("x@bücher.example") || !r.IsBadFrom("x@XN--BCHER-KVA.example") {
		t.Error("an IDN domain does not match in both forms")
	}
}

func TestErrors(t *testing.T) {
	for in, want := range map[string]string{
		"maxrcpts x\n":             "bofh:1: maxrcpts \"x\" is not a positive number",
		"\nmaxrcpt 5\n":            "bofh:2: unknown directive \"maxrcpt\"",
		"maxrcpts 5 soft\n":        "bofh:1: maxrcpts 5 \"soft\"",
		"maxrcpts\n":               "bofh:1: maxrcpts takes a number",
		"maxrcpts 0\n":             "bofh:1: maxrcpts \"0\" is not a positive number",
		"# c\nbadfrom\n":           "bofh:2: badfrom takes one address",
		"badfrom a b\n":            "bofh:1: badfrom takes one address",
		"badfrom nobody\n":         "bofh:1: badfrom \"nobody\": an address needs an @",
		"spamtrap x@\n":            "bofh:1: spamtrap \"x@\": the domain is empty",
		"badfrom x@a..b\n":         "bofh:1: badfrom \"x@a..b\": not a domain name",
		"badmx mx.example\n":       "bofh:1: badmx \"mx.example\" is not an IP address",
		"badmx\n":                  "bofh:1: badmx takes one IP address",
		"freemail\n":               "bofh:1: freemail takes a domain",
		"freemail a.example @b\n":  "bofh:1: freemail \"@b\": not a domain name",
		"opt\n":                    "bofh:1: opt takes one NAME=value word",
		"opt BOFHCHECKDNS\n":       "bofh:1: opt \"BOFHCHECKDNS\": expected NAME=value",
		"opt 1X=2\n":               "bofh:1: opt \"1X=2\": expected NAME=value",
		"opt A=1 2\n":              "bofh:1: opt takes one NAME=value word",
		"badfrom x@\xff.example\n": "bofh:1: the line is not valid UTF-8",
		strings.Repeat("a", 70000): "bofh:1: bufio.Scanner: token too long",
	} {
		r, err := Parse("bofh", []byte(in))
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Parse(%.40q) = %v, want an error starting %q", in, err, want)
		}
		if r != nil {
			t.Errorf("Parse(%.40q) returned rules with an error", in)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	r, err := Load(filepath.Join(dir, "bofh"))
	if err != nil || r.MaxRcpts != DefaultMaxRcpts || r.MaxHard {
		t.Fatalf("Load of a missing file = %+v, %v; want the defaults", r, err)
	}
	p := filepath.Join(dir, "bofh")
	os.WriteFile(p, []byte("maxrcpts 3\n"), 0o644)
	if r, err = Load(p); err != nil || r.MaxRcpts != 3 {
		t.Fatalf("Load = %+v, %v", r, err)
	}
	os.WriteFile(p, []byte("maxrcpts 3\nbogus\n"), 0o644)
	if _, err = Load(p); err == nil || !strings.HasPrefix(err.Error(), p+":2: ") {
		t.Fatalf("Load of a bad file = %v, want an error at %s:2", err, p)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte("maxrcpts 5 hard\nopt X=\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse("fuzz", data)
		if err != nil {
			if r != nil || !strings.HasPrefix(err.Error(), "fuzz:") {
				t.Fatalf("error %v with rules %v, or without file:line", err, r)
			}
			return
		}
		if r.MaxRcpts <= 0 {
			t.Fatalf("maxrcpts %d", r.MaxRcpts)
		}
		for _, b := range r.BadFrom {
			r.IsBadFrom(b)
			r.IsSpamtrap(b)
		}
		for _, fm := range r.Freemail {
			if _, ok := r.FreemailFor("x@" + fm.Domain); !ok {
				t.Fatalf("freemail %q not found for its own domain", fm.Domain)
			}
		}
	})
}
