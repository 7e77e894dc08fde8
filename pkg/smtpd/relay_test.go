package smtpd_test

import (
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/gocourier/courier/test/testenv"
)

// relayBattery are the classic tricks to make a server relay, {d} standing
// for a domain the server delivers locally and {m} for its own name.
var relayBattery = []string{
	"someone@elsewhere.example",
	"SOMEONE@ELSEWHERE.EXAMPLE",
	"someone@ElseWhere.Example",
	"someone@elsewhere.example.",
	"someone@.elsewhere.example",
	"someone@elsewhere..example",
	"someone%elsewhere.example@{d}",
	"someone%elsewhere.example@{m}",
	"someone%elsewhere.example",
	"someone@elsewhere.example%{d}",
	"elsewhere.example!someone@{d}",
	"elsewhere.example!someone",
	"{d}!elsewhere.example!someone",
	"@{d}:someone@elsewhere.example",
	"@{m},@{d}:someone@elsewhere.example",
	`"someone@elsewhere.example"@{d}`,
	`"someone%elsewhere.example"@{d}`,
	`"someone@elsewhere.example"`,
	`"someone"@elsewhere.example`,
	`someone\@elsewhere.example@{d}`,
	"someone@elsewhere.example@{d}",
	"someone@[192.0.2.1]",
	"someone@[127.0.0.1]",
	"someone@[127.0.0.2]",
	"someone@[IPv6:::1]",
	"someone@[elsewhere.example]",
	"someone@{d}.elsewhere.example",
	"someone@elsewhere.example.{d}",
	"someone@elsewhere-{d}",
}

// rcptReply is the reply to RCPT TO:<rcpt> in a new session from 127.0.0.2.
func rcptReply(t *testing.T, addr, rcpt string) string {
	t.Helper()
	c := newDialogue(t, "127.0.0.2", addr)
	defer c.c.Close()
	c.hello()
	if r := c.cmd("MAIL FROM:<sender@remote.example>"); !strings.HasPrefix(r, "250") {
		t.Fatalf("MAIL: %q", r)
	}
	return c.cmd("RCPT TO:<" + rcpt + ">")
}

// TestRelayBattery: from a client without RELAYCLIENT every trick is
// refused, and wherever the real Courier refuses, so do we.
func TestRelayBattery(t *testing.T) {
	e := newEnv(t, "")
	d := e.start(t, nil)
	ours := map[string]string{}
	for _, tmpl := range relayBattery {
		rcpt := strings.NewReplacer("{d}", "example.test", "{m}", "mx.example.test").Replace(tmpl)
		r := rcptReply(t, d.addr, rcpt)
		ours[tmpl] = r
		if strings.HasPrefix(r, "2") {
			t.Errorf("RCPT TO:<%s> from 127.0.0.2 was accepted (%q): an open relay", rcpt, r)
		}
	}
	if n := len(e.messages(t)); n != 0 {
		t.Errorf("%d messages queued", n)
	}

	testenv.NeedPackage(t, "courier-mta", "/usr/sbin/couriertcpd", "/usr/sbin/courieresmtpd")
	real := startReal(t)
	me, err := os.ReadFile("/etc/courier/me")
	if err != nil {
		h, _ := os.Hostname()
		me = []byte(h)
	}
	local := strings.TrimSpace(string(me))
	for _, tmpl := range relayBattery {
		rcpt := strings.NewReplacer("{d}", local, "{m}", local).Replace(tmpl)
		r := rcptReply(t, real, rcpt)
		t.Logf("%-40s real: %-30q ours: %q", tmpl, r, ours[tmpl])
		if !strings.HasPrefix(r, "2") && strings.HasPrefix(ours[tmpl], "2") {
			t.Errorf("RCPT TO:<%s>: the real Courier refuses (%q), we accept (%q)", tmpl, r, ours[tmpl])
		}
	}
}

// startReal runs the real Debian couriertcpd and courieresmtpd on a free
// loopback port, with no access file (nobody may relay), using the
// system's /etc/courier as it is (read only: no message is ever sent).
func startReal(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	cmd := exec.Command("/usr/sbin/couriertcpd", "-nodnslookup", "-noidentlookup", "-address=127.0.0.1", port, "/usr/sbin/courieresmtpd")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "BOFHCHECKDNS=0", "TARPIT=0", "ESMTPAUTH=", "ESMTPAUTH_TLS="}
	log := &testenv.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("the real couriertcpd:\n%s", log.String())
		}
	})
	addr := "127.0.0.1:" + port
	testenv.WaitFor(t, "the real couriertcpd on "+addr, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return addr
}

// TestSmuggling sends the published SMTP smuggling end-of-data variants
// (bare LF and bare CR around the dot, 2023) followed by a second
// transaction: none may end the message, so exactly one message is queued
// per connection, and it holds the smuggled commands as text.
func TestSmuggling(t *testing.T) {
	e := newEnv(t, "")
	d := e.start(t, nil)
	for _, v := range []string{"\n.\n", "\n.\r\n", "\r.\r", "\r\n.\r", "\r.\r\n", "\r\n.\n", "\n.\r", "\r\n\x00.\r\n"} {
		c := newDialogue(t, "127.0.0.2", d.addr)
		c.hello()
		c.send("MAIL FROM:<sender@remote.example>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n")
		for _, want := range []string{"250", "250", "354"} {
			if r := c.reply(); !strings.HasPrefix(r, want) {
				t.Fatalf("%q: reply %q, want %s", v, r, want)
			}
		}
		c.send("Subject: carrier\r\n\r\nfirst part" + v + "MAIL FROM:<evil@remote.example>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n.\r\nQUIT\r\n")
		id := queueID(t, c.reply())
		if r := c.reply(); !strings.HasPrefix(r, "221") {
			t.Errorf("%q: after the message %q, want 221 for QUIT (a smuggled command was answered)", v, r)
		}
		ctl, data := e.message(t, id)
		if ctl.Sender != "sender@remote.example" || len(ctl.Recipients) != 1 || ctl.Recipients[0].Address != "bob@example.test" {
			t.Errorf("%q: envelope %s %+v", v, ctl.Sender, ctl.Recipients)
		}
		if !strings.Contains(data, "MAIL FROM:<evil@remote.example>") || !strings.Contains(data, "Subject: smuggled") {
			t.Errorf("%q: the smuggled text is not in the message:\n%q", v, data)
		}
	}
	for _, c := range e.messages(t) {
		if c.Sender == "evil@remote.example" {
			t.Errorf("a smuggled message was queued: %s", c.ID)
		}
	}
}
