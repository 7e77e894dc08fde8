package test

import (
	"net"
	"os"
	"strings"
	"testing"

	"github.com/gocourier/courier/test/testenv"
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
	sender := newSender(t, "example.test: [127.0.0.1],"+port+"\n", "", nil)
	sender.sendmail(t, "From: dave@sender.test\nSubject: outbound\n\nover the wire\n", "-f", "dave@sender.test", "carol@example.test", "nosuch@example.test")
	sender.waitFor(t, "the sender's queue to empty", func() bool { return sender.queued() == 0 })
	receiver.waitFor(t, "the message and the bounce in carol's maildir", func() bool { return len(receiver.maildir(t, "carol")) == 2 })
	msg, bounce := arrivals(t, receiver, "carol")
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

// TestOutboundSecurityAndAuth runs the sending suite against two
// receiving suites: one whose submission port takes mail only after AUTH,
// which the sender gives from esmtpauthclient (a smarthost), and one
// without STARTTLS, to which a route demands TLS: that mail fails, and the
// failure report says why.
func TestOutboundSecurityAndAuth(t *testing.T) {
	receiver := newSMTPSuite(t, []string{"carol:" + smtpPassword}, nil)
	receiver.start(t)
	// A receiver without a certificate offers no STARTTLS (and runs no
	// SMTPS).
	plain := newSMTPSuite(t, nil, map[string]string{"esmtpd-ssl": "ESMTPDSSLSTART=NO\n"})
	plain.appendConfig(t, "esmtpd", "TLS_CERTFILE=\n")
	plain.mailSuite.start(t)
	plain.waitListening(t, plain.smtp)
	_, msaPort, _ := net.SplitHostPort(receiver.msa)
	_, plainPort, _ := net.SplitHostPort(plain.smtp)
	sender := newSender(t, "example.test: [127.0.0.1],"+msaPort+"\ntls.test: [127.0.0.1],"+plainPort+" /SECURITY=REQUIRED\n", "",
		map[string]string{"esmtpauthclient": "[127.0.0.1] carol@example.test " + smtpPassword + "\n"})
	sender.sendmail(t, "From: dave@sender.test\nSubject: through the smarthost\n\nhello\n", "-f", "dave@sender.test", "carol@example.test")
	sender.sendmail(t, "From: dave@sender.test\nSubject: needs TLS\n\nsecret\n", "-f", "dave@sender.test", "someone@tls.test")
	sender.waitFor(t, "the sender's queue to empty", func() bool { return sender.queued() == 0 })
	receiver.waitFor(t, "the message and the failure report in carol's maildir", func() bool { return len(receiver.maildir(t, "carol")) == 2 })
	msg, bounce := arrivals(t, receiver, "carol")
	if !strings.Contains(msg, "Subject: through the smarthost") || !strings.Contains(msg, "(AUTH: PLAIN carol@example.test, TLS: ") || !strings.Contains(msg, "with ESMTPSA") {
		t.Errorf("the message through the smarthost does not show an authenticated, encrypted submission:\n%s", msg)
	}
	for _, want := range []string{"Final-Recipient: rfc822; someone@tls.test", "Action: failed"} {
		if !strings.Contains(bounce, want) {
			t.Errorf("failure report lacks %q:\n%s", want, bounce)
		}
	}
	if !strings.Contains(bounce, "does not offer STARTTLS, and the route in esmtproutes demands TLS") {
		t.Errorf("the failure report does not say that TLS was required:\n%s", bounce)
	}
	if strings.Contains(plain.Log.String(), "someone@tls.test") {
		t.Errorf("the receiver without TLS was given the message:\n%s", plain.Log)
	}
}

// TestOutboundMX: with MX records from a real DNS server on loopback
// (ESMTP_RESOLVER), mail for example.test goes to its MX host, the
// receiving suite, and mail for a domain whose MX names an IP address is
// refused with the original's RFC 1035 text.
func TestOutboundMX(t *testing.T) {
	receiver := newSMTPSuite(t, []string{"carol"}, nil)
	receiver.start(t)
	_, port, _ := net.SplitHostPort(receiver.smtp)
	ns := testenv.DNSServer(t,
		"example.test. 60 IN MX 10 mail.example.test.",
		"mail.example.test. 60 IN A 127.0.0.1",
		"badmx.test. 60 IN MX 10 127.0.0.1.")
	// The route keeps the DNS lookup and gives only the port.
	sender := newSender(t, ": ,"+port+"\n", "ESMTP_RESOLVER="+ns+"\n", nil)
	sender.sendmail(t, "From: dave@sender.test\nSubject: by MX\n\nhello\n", "-f", "dave@sender.test", "carol@example.test", "someone@badmx.test")
	sender.waitFor(t, "the sender's queue to empty", func() bool { return sender.queued() == 0 })
	receiver.waitFor(t, "the message and the failure report in carol's maildir", func() bool { return len(receiver.maildir(t, "carol")) == 2 })
	msg, bounce := arrivals(t, receiver, "carol")
	if !strings.Contains(msg, "Subject: by MX") {
		t.Errorf("the message did not reach the MX host:\n%s", msg)
	}
	for _, want := range []string{"Final-Recipient: rfc822; someone@badmx.test", "Action: failed", "This domain's DNS violates RFC 1035."} {
		if !strings.Contains(bounce, want) {
			t.Errorf("failure report lacks %q:\n%s", want, bounce)
		}
	}
}

// newSender is a sending suite for sender.test, with no local accounts,
// whose mail goes out through courieresmtp by routes (esmtproutes); env is
// added to the courierd file (the modules' environment) and more holds
// more configuration files. dave@sender.test is an alias of
// carol@example.test, so bounces to dave travel to the receiver too.
func newSender(t *testing.T, routes, env string, more map[string]string) *smtpSuite {
	t.Helper()
	files := map[string]string{
		"me":            "out.sender.test\n",
		"locals":        "out.sender.test\n",
		"hosteddomains": "sender.test\n",
		"defaultdomain": "sender.test\n",
		"esmtproutes":   routes,
		"aliases":       "dave@sender.test: carol@example.test\n",
	}
	for k, v := range more {
		files[k] = v
	}
	sender := newSMTPSuite(t, nil, files, "courieresmtp")
	sender.appendConfig(t, "courierd", env)
	sender.run(t, "makealiases")
	sender.start(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the sending suite's log:\n%s", sender.Log)
		}
	})
	return sender
}

// arrivals returns the message and the bounce (Return-Path: <>) in an
// account's maildir.
func arrivals(t *testing.T, s *smtpSuite, account string) (msg, bounce string) {
	t.Helper()
	for _, f := range s.maildir(t, account) {
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
	return msg, bounce
}
