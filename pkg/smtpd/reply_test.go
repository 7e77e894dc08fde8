package smtpd

import (
	"strconv"
	"strings"
	"testing"
)

func TestReplyText(t *testing.T) {
	for in, want := range map[string]string{
		"550 Mail from your network is refused.":     "550|Mail from your network is refused.",
		"Listed at dnsbl.example":                    "550|Listed at dnsbl.example",
		"554-First line\n554 Second line\n":          "554|First line\nSecond line",
		"451 Try later.\r\n":                         "451|Try later.",
		"250 not an error":                           "550|250 not an error",
		"5501 no space":                              "550|5501 no space",
		"550":                                        "550|",
		"550 User <nosuchuser@example.test> unknown": "550|User <nosuchuser@example.test> unknown",
	} {
		e := replyText(in, 550)
		if got := strings.Join([]string{strconv.Itoa(e.Code), e.Message}, "|"); got != want {
			t.Errorf("replyText(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzReplyText: whatever BLOCK or a lookup holds, the reply is an error
// code with text that cannot break the SMTP dialogue.
func FuzzReplyText(f *testing.F) {
	f.Add("550 Mail from your network is refused.")
	f.Add("554-a\n554 b")
	f.Add("Listed at dnsbl.example")
	f.Fuzz(func(t *testing.T, s string) {
		e := replyText(s, 550)
		if e.Code < 400 || e.Code > 599 {
			t.Fatalf("code %d from %q", e.Code, s)
		}
		if strings.Contains(e.Message, "\r") {
			t.Fatalf("CR in the reply text from %q: %q", s, e.Message)
		}
	})
}
