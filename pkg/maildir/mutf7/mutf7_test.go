package mutf7

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestKnownNames(t *testing.T) {
	// Names as Courier's imapd sent and accepted them (spec/imap-pop3.md §3,
	// maildirmake(1)), and RFC 3501's example.
	for utf, m := range map[string]string{
		"Café":               "Caf&AOk-",
		"Résumé":             "R&AOk-sum&AOk-",
		"a&b":                "a&-b",
		"~peter/mail/台北/日本語": "~peter/mail/&U,BTFw-/&ZeVnLIqe-",
		"plain":              "plain",
		"𝄞":                  "&2DTdHg-",
	} {
		if got := Encode(utf); got != m {
			t.Errorf("Encode(%q) = %q, want %q", utf, got, m)
		}
		if got, err := Decode(m); err != nil || got != utf {
			t.Errorf("Decode(%q) = %q, %v, want %q", m, got, err, utf)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	for in, want := range map[string]string{
		"Bad&Zm9v-":   "whole UTF-16",
		"x&AOk":       "not closed",
		"x&A*k-":      "bad base64",
		"Caf\xc3\xa9": "not printable ASCII",
		"tab\tx":      "not printable ASCII",
		"&2DQ-":       "surrogate",
		"&3R4-":       "surrogate",
	} {
		if _, err := Decode(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Decode(%q) = %v, want an error about %q", in, err, want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add("R&AOk-sum&AOk-")
	f.Add("Bad&Zm9v")
	f.Add("&2DTdHg-&-")
	f.Fuzz(func(t *testing.T, s string) {
		u, err := Decode(s)
		if err != nil {
			return
		}
		if !utf8.ValidString(u) {
			t.Fatalf("Decode(%q) = %q: not UTF-8", s, u)
		}
		again, err := Decode(Encode(u))
		if err != nil || again != u {
			t.Fatalf("Decode(Encode(%q)) = %q, %v", u, again, err)
		}
	})
}
