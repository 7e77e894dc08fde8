package smtpd_test

import (
	"testing"

	"github.com/gocourier/courier/test/testenv"
)

// TestSenderDNS: BOFHCHECKDNS=1 checks the sender's domain as the
// original's submit does, against a real DNS server (ESMTP_RESOLVER).
func TestSenderDNS(t *testing.T) {
	ns := testenv.DNSServer(t,
		"good.example. 60 IN MX 10 mx.good.example.",
		"mx.good.example. 60 IN A 192.0.2.10",
		"nomx.example. 60 IN A 192.0.2.11",
		"ipmx.example. 60 IN MX 10 192.0.2.12.",
		"listed.example. 60 IN MX 10 mx.good.example.",
		"listed.example. 60 IN MX 20 mx.listed.example.",
		"mx.listed.example. 60 IN A 192.0.2.25",
		"empty.example. 60 IN TXT \"no mail here\"",
	)
	e := newEnv(t, "badmx 192.0.2.25\n")
	d := e.start(t, []string{"BOFHCHECKDNS=1", "ESMTP_RESOLVER=" + ns})
	c := newDialogue(t, "127.0.0.2", d.addr)
	c.hello()
	for _, x := range []struct{ from, want string }{
		{"a@good.example", "250 *"},
		{"a@nomx.example", "250 *"},
		{"a@nxdomain.example", "517-Domain does not exist: nxdomain.example.\n517 Invalid domain, see <URL:https://datatracker.ietf.org/doc/html/rfc1035>"},
		{"a@empty.example", "517-Domain does not exist: empty.example.\n517 Invalid domain, see <URL:https://datatracker.ietf.org/doc/html/rfc1035>"},
		{"a@ipmx.example", "517-MX records for ipmx.example violate section 3.3.9 of RFC 1035.\n517 Invalid domain, see <URL:https://datatracker.ietf.org/doc/html/rfc1035>"},
		{"a@listed.example", "517 Mail server at 192.0.2.25 is blocked."},
		{"a@servfail.example", "417 DNS lookup failure: servfail.example.  Try again later."},
		{"", "250 *"},
	} {
		c.expect("MAIL FROM:<"+x.from+">", x.want)
		c.expect("RSET", "250 *")
	}
	// With BLOCK set (127.0.0.3) there is no DNS check, as in the
	// original: the mail is refused at RCPT anyway.
	b := newDialogue(t, "127.0.0.3", d.addr)
	b.hello()
	b.expect("MAIL FROM:<a@nxdomain.example>", "250 *")
}
