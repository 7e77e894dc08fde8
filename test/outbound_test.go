package test

import (
	"net"
	"os"
	"strings"
	"testing"
)

// TestOutboundSMTP runs two suites on loopback: mail for example.test
// submitted to the sending suite, which has no local accounts, goes out
// through its courieresmtp module, routed by esmtproutes to the receiving
// suite's SMTP port, and lands in the receiver's maildir. A recipient the
// receiver does not know comes back to the sender as a bounce with the
// receiver's reply (the sender dave is an alias of carol, so the bounce
// travels to the receiver too).
func TestOutboundSMTP(t *testing.T) {
	receiver := newSMTPSuite(t, []string{"carol"}, nil)
	receiver.start(t)
	_, port, _ := net.SplitHostPort(receiver.smtp)
	sender := newSMTPSuite(t, nil, map[string]string{
		"me":            "out.sender.test\n",
		"locals":        "out.sender.test\n",
		"hosteddomains": "sender.test\n",
		"defaultdomain": "sender.test\n",
		"esmtproutes":   "example.test: [127.0.0.1]," + port + "\n",
		"aliases":       "dave@sender.test: carol@example.test\n",
	}, "courieresmtp")
	sender.run(t, "makealiases")
	sender.start(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the sending suite's log:\n%s", sender.Log)
		}
	})

	sender.sendmail(t, "From: dave@sender.test\nSubject: outbound\n\nover the wire\n", "-f", "dave@sender.test", "carol@example.test", "nosuch@example.test")
	sender.waitFor(t, "the sender's queue to empty", func() bool { return sender.queued() == 0 })
	receiver.waitFor(t, "the message and the bounce in carol's maildir", func() bool { return len(receiver.maildir(t, "carol")) == 2 })
	var msg, bounce string
	for _, f := range receiver.maildir(t, "carol") {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), "Return-Path: <>\n") {
			bounce = string(data)
		} else {
			msg = string(data)
		}
	}
	for _, want := range []string{"Return-Path: <dave@sender.test>\n", "Subject: outbound\n", "over the wire\n", "by out.sender.test with local\n", "by mx.example.test with ESMTP"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message at the receiver lacks %q:\n%s", want, msg)
		}
	}
	for _, want := range []string{"Final-Recipient: rfc822; nosuch@example.test", "Action: failed", "User <nosuch@example.test> unknown"} {
		if !strings.Contains(bounce, want) {
			t.Errorf("bounce lacks %q:\n%s", want, bounce)
		}
	}
}
