package wire

import (
	"strings"
	"testing"
)

func TestMailboxName(t *testing.T) {
	for _, tc := range []struct {
		in   string // one argument of a command
		utf8 bool
		want string
	}{
		{"inbox", false, "INBOX"},
		{`"InBox"`, false, "INBOX"},
		{"inbox.Sent", false, "INBOX.Sent"},
		{`"INBOX.Caf&AOk-"`, false, "INBOX.Caf\u00e9"},
		{"Caf&AOk-", false, "Caf\u00e9"},
		{"{8}\r\nCaf&AOk-", false, "Caf\u00e9"},
		{"a&-b", false, "a&b"},
		{"nil", false, "nil"},
		{`"INBOX.Café"`, true, "INBOX.Café"},
		{"Caf&AOk-", true, "Caf&AOk-"},
		{`"inbox.x"`, true, "INBOX.x"},
		{"inboxes", false, "inboxes"},
	} {
		r, _ := reader("a X "+tc.in+"\r\n", Limits{})
		c := mustRead(t, r)
		got, err := MailboxName(c.Args[0], tc.utf8)
		if err != nil || got != tc.want {
			t.Errorf("MailboxName(%s, %v) = %q, %v, want %q", tc.in, tc.utf8, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		in   string
		utf8 bool
		want string
	}{
		{"x&AOk", false, "not valid modified UTF-7"},
		{`"Café"`, false, "not valid modified UTF-7"},
		{"{4}\r\nab\xffc", true, "not valid UTF-8"},
		{"{3}\r\na\tb", true, "control character 0x09"},
		{"(a)", false, "a list is not a mailbox name"},
	} {
		r, _ := reader("a X "+tc.in+"\r\n", Limits{})
		c := mustRead(t, r)
		if _, err := MailboxName(c.Args[0], tc.utf8); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("MailboxName(%s, %v) error %v, want %q", tc.in, tc.utf8, err, tc.want)
		}
	}
}
