package esmtp_test

import (
	"net"
	"strings"
	"testing"

	"github.com/gocourier/courier/pkg/queue"
	"github.com/gocourier/courier/test/testenv"
)

// TestMX: mail for a domain goes to its MX host (esmtproutes gives only
// the port: ": ,PORT" keeps the DNS lookup); an MX that names an IP
// address is refused (RFC 1035) with the original's text; a domain that
// does not exist, and one with a null MX (RFC 7505), fail; a domain whose
// best MX is this host would loop and fails; when this host is only a
// backup MX, the better ones are used.
func TestMX(t *testing.T) {
	r := newReceiver(t, false)
	_, port, _ := net.SplitHostPort(r.addr)
	ns := testenv.DNSServer(t,
		"mx.example. 60 IN MX 10 mail.mx.example.",
		"mx.example. 60 IN MX 20 backup.mx.example.",
		"mail.mx.example. 60 IN A 127.0.0.1",
		"backup.mx.example. 60 IN A 127.0.0.1",
		"badmx.example. 60 IN MX 10 127.0.0.1.",
		"nomx.example. 60 IN A 127.0.0.1",
		"nullmx.example. 60 IN MX 0 .",
		"loop.example. 60 IN MX 10 sender.test.",
		"loop.example. 60 IN MX 20 mail.mx.example.",
		"backupme.example. 60 IN MX 10 mail.mx.example.",
		"backupme.example. 60 IN MX 20 sender.test.",
		"sender.test. 60 IN A 127.0.0.1",
	)
	e := newEnvResolver(t, ": ,"+port+"\n", ns)
	for _, c := range []struct {
		domain string
		status queue.Status
		text   string
	}{
		{"mx.example", queue.StatusDelivered, "P mail.mx.example [127.0.0.1]"},
		{"nomx.example", queue.StatusDelivered, "P nomx.example [127.0.0.1]"},
		{"badmx.example", queue.StatusFailed, "C This domain's DNS violates RFC 1035."},
		{"nxdomain.example", queue.StatusFailed, "C No such domain."},
		{"nullmx.example", queue.StatusFailed, "C Domain does not receive mail."},
		{"loop.example", queue.StatusFailed, "C configuration error: mail loops back to myself (MX problem)."},
		{"backupme.example", queue.StatusDelivered, "P mail.mx.example [127.0.0.1]"},
	} {
		st := e.send(t, c.domain, "Subject: by MX\n\nx\n", "someone@"+c.domain)[0]
		if st.Status != c.status || !strings.Contains(replyText(st), c.text) {
			t.Errorf("%s: status %v, want %v with %q; info:\n%s", c.domain, st.Status, c.status, c.text, replyText(st))
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.msgs) != 3 {
		t.Errorf("the receiver got %d messages, want 3", len(r.msgs))
	}
}

// TestMXLoopOnPort25: an MX host that is one of our addresses is this
// host when the mail would go to the SMTP port (no route sets another).
func TestMXLoopOnPort25(t *testing.T) {
	ns := testenv.DNSServer(t,
		"self.example. 60 IN MX 10 mail.self.example.",
		"mail.self.example. 60 IN A 127.0.0.1",
	)
	e := newEnvResolver(t, "", ns)
	st := e.send(t, "self.example", "Subject: x\n\nx\n", "someone@self.example")[0]
	if st.Status != queue.StatusFailed || !strings.Contains(replyText(st), "mail loops back to myself") {
		t.Errorf("status %v; info:\n%s", st.Status, replyText(st))
	}
}
