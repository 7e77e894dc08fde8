package esmtp_test

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/gocourier/courier/pkg/queue"
)

// dnsServer is a real DNS server on loopback with fixed MX and A records.
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
		m.Answer = zone[strings.ToLower(q.Name)+"/"+strconv.Itoa(int(q.Qtype))]
		if len(m.Answer) == 0 {
			known := false
			for k := range zone {
				known = known || strings.HasPrefix(k, strings.ToLower(q.Name)+"/")
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

// TestMX: mail for a domain goes to its MX host (esmtproutes gives only
// the port: ": ,PORT" keeps the DNS lookup); an MX that names an IP
// address is refused (RFC 1035) with a permanent failure.
func TestMX(t *testing.T) {
	r := newReceiver(t, false)
	_, port, _ := net.SplitHostPort(r.addr)
	ns := dnsServer(t,
		"mx.example. 60 IN MX 10 mail.mx.example.",
		"mx.example. 60 IN MX 20 backup.mx.example.",
		"mail.mx.example. 60 IN A 127.0.0.1",
		"backup.mx.example. 60 IN A 127.0.0.1",
		"badmx.example. 60 IN MX 10 127.0.0.1.",
		"nomx.example. 60 IN A 127.0.0.1",
	)
	e := newEnvResolver(t, ": ,"+port+"\n", ns)
	if st := e.send(t, "mx.example", "Subject: by MX\n\nx\n", "someone@mx.example")[0]; st.Status != queue.StatusDelivered || !strings.Contains(replyText(st), "P mail.mx.example [127.0.0.1]") && !strings.Contains(replyText(st), "P backup.mx.example [127.0.0.1]") {
		t.Errorf("MX delivery: status %v, info:\n%s", st.Status, replyText(st))
	}
	if st := e.send(t, "nomx.example", "Subject: by A\n\nx\n", "someone@nomx.example")[0]; st.Status != queue.StatusDelivered {
		t.Errorf("A fallback: status %v, info:\n%s", st.Status, replyText(st))
	}
	if st := e.send(t, "badmx.example", "Subject: x\n\nx\n", "someone@badmx.example")[0]; st.Status != queue.StatusFailed || !strings.Contains(replyText(st), "names the IP address") {
		t.Errorf("MX naming an IP address: status %v, info:\n%s", st.Status, replyText(st))
	}
	if st := e.send(t, "nxdomain.example", "Subject: x\n\nx\n", "someone@nxdomain.example")[0]; st.Status != queue.StatusFailed {
		t.Errorf("a domain that does not exist: status %v, info:\n%s", st.Status, replyText(st))
	}
}
