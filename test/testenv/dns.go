package testenv

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// DNSServer runs a real DNS server on loopback (UDP) answering with the
// given records (zone file syntax: "example.test. MX 10 mail.example.test."):
// a name without records does not exist (NXDOMAIN), a name with records of
// other types only has no data, and names starting "servfail." fail
// (SERVFAIL). It returns its address, for ESMTP_RESOLVER.
func DNSServer(t testing.TB, records ...string) string {
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
