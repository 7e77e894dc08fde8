package smtpd_test

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// dnsServer is a DNS server on loopback answering from fixed records: a
// name without records is NXDOMAIN, a name with records of other types
// only has no data, and names starting "servfail." fail.
func dnsServer(t *testing.T, records ...string) string {
	t.Helper()
	zone := map[string][]dns.RR{}
	for _, r := range records {
		rr, err := dns.NewRR(r)
		if err != nil {
			t.Fatal(err)
		}
		k := strings.ToLower(rr.Header().Name) + "/" + strconv.Itoa(int(rr.Header().Rrtype))
		zone[k] = append(zone[k], rr)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.Authoritative = true
		q := req.Question[0]
		name := strings.ToLower(q.Name)
		m.Answer = zone[name+"/"+strconv.Itoa(int(q.Qtype))]
		switch {
		case strings.HasPrefix(name, "servfail."):
			m.Rcode = dns.RcodeServerFailure
		case len(m.Answer) == 0:
			known := false
			for k := range zone {
				known = known || strings.HasPrefix(k, name+"/")
			}
			if !known {
				m.Rcode = dns.RcodeNameError
			}
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// TestSenderDNS: BOFHCHECKDNS=1 checks the sender's domain as the
// original's submit does, against a real DNS server (ESMTP_RESOLVER).
func TestSenderDNS(t *testing.T) {
	ns := dnsServer(t,
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
