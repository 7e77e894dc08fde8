package tcpd_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/gocourier/courier/test/testenv"
)

// dnsServer answers from records ("name. TTL IN TYPE data" lines) on a
// loopback UDP port; names listed in servfail get SERVFAIL, other names
// without records NXDOMAIN.
func dnsServer(t *testing.T, servfail []string, records ...string) string {
	t.Helper()
	zone := map[string][]dns.RR{}
	for _, r := range records {
		rr, err := dns.NewRR(r)
		if err != nil {
			t.Fatalf("%q: %v", r, err)
		}
		name := strings.ToLower(rr.Header().Name)
		zone[name] = append(zone[name], rr)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		name := strings.ToLower(q.Question[0].Name)
		for _, f := range servfail {
			if name == f {
				m.Rcode = dns.RcodeServerFailure
				w.WriteMsg(m)
				return
			}
		}
		rrs, ok := zone[name]
		if !ok {
			m.Rcode = dns.RcodeNameError
		}
		for _, rr := range rrs {
			if rr.Header().Rrtype == q.Question[0].Qtype {
				m.Answer = append(m.Answer, rr)
			}
		}
		w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// TestDNS runs couriertcpd against a DNS server on loopback
// (TCPD_RESOLVER): forward-confirmed TCPREMOTEHOST and TCPLOCALHOST,
// softdnserr for a name that does not lead back and for a failing
// server, nothing without a PTR record; the -block and -allow lists with
// their variables, messages, TXT records, address filters and order; and
// -drop for a listed client.
func TestDNS(t *testing.T) {
	ns := dnsServer(t, []string{"4.0.0.127.in-addr.arpa."},
		"1.0.0.127.in-addr.arpa. 60 IN PTR mail.test.",
		"mail.test. 60 IN A 127.0.0.1",
		"2.0.0.127.in-addr.arpa. 60 IN PTR liar.test.",
		"liar.test. 60 IN A 10.9.9.9",
		"5.0.0.127.in-addr.arpa. 60 IN PTR gone.test.",
		"2.0.0.127.bl.test. 60 IN A 127.0.0.2",
		`2.0.0.127.bl.test. 60 IN TXT "listed, see http://bl.test/127.0.0.2" "more"`,
		"3.0.0.127.bl.test. 60 IN A 127.0.0.3",
		"4.0.0.127.bl.test. 60 IN A 127.0.0.2",
		"4.0.0.127.wl.test. 60 IN A 127.0.0.2",
		`4.0.0.127.wl.test. 60 IN TXT "trusted"`,
		`5.0.0.127.txtonly.test. 60 IN TXT "txt only"`,
	)
	env := []string{"TCPD_RESOLVER=" + ns}
	d := start(t, env, []string{"-noidentlookup", "-allow=wl.test,BLOCK,", "-block=bl.test", "-block=bl.test=BL,B1,*",
		"-block=bl.test,B2/127.0.0.3,go away @", "-block=txtonly.test,T,*"}, passServer(t))
	const blocked = "Blacklisted by bl.test"
	for from, want := range map[string]map[string]string{
		"127.0.0.1": {"TCPREMOTEHOST": "mail.test", "TCPLOCALHOST": "mail.test"},
		"127.0.0.2": {"TCPREMOTEHOST": "softdnserr", "TCPLOCALHOST": "mail.test",
			"BLOCK": blocked, "BLOCK_ZONE": "bl.test", "BLOCK_IP": "127.0.0.2",
			"B1": "listed, see http://bl.test/127.0.0.2", "B1_TXT": "listed, see http://bl.test/127.0.0.2", "B1_ZONE": "BL", "B1_IP": "127.0.0.2"},
		"127.0.0.3": {"TCPLOCALHOST": "mail.test",
			"BLOCK": blocked, "BLOCK_ZONE": "bl.test", "BLOCK_IP": "127.0.0.3",
			"B1": blocked, "B1_ZONE": "BL", "B1_IP": "127.0.0.3",
			"B2": "go away ::ffff:127.0.0.3", "B2_ZONE": "bl.test", "B2_IP": "127.0.0.3"},
		"127.0.0.4": {"TCPREMOTEHOST": "softdnserr", "TCPLOCALHOST": "mail.test",
			"BLOCK": "", "ALLOW_0": "BLOCK", "BLOCK_TXT": "trusted", "BLOCK_ZONE": "wl.test", "BLOCK_IP": "127.0.0.2",
			"B1": blocked, "B1_ZONE": "BL", "B1_IP": "127.0.0.2"},
		"127.0.0.5": {"TCPREMOTEHOST": "softdnserr", "TCPLOCALHOST": "mail.test", "T": "txt only", "T_TXT": "txt only", "T_ZONE": "txtonly.test"},
	} {
		got := session(t, d.addr, from)
		for _, k := range []string{"pid", "uid", "TCPREMOTEIP", "TCPREMOTEPORT", "TCPLOCALIP", "TCPLOCALPORT"} {
			delete(got, k)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("from %s:\n got %v\nwant %v", from, got, want)
		}
	}

	e := start(t, env, []string{"-nodnslookup", "-noidentlookup", "-block=bl.test", "-drop", "-denymsg=554 listed"}, passServer(t))
	c := dial(t, e.addr, "127.0.0.2")
	if b, _ := io.ReadAll(c); string(b) != "554 listed\n" {
		t.Errorf("listed client under -drop: %q", b)
	}
	c.Close()
	if got := session(t, e.addr, "127.0.0.1"); got["TCPREMOTEIP"] != "::ffff:127.0.0.1" || got["TCPREMOTEHOST"] != "" || got["BLOCK"] != "" {
		t.Errorf("unlisted client under -drop: %v", got)
	}
}

// TestIdent answers couriertcpd's RFC 1413 query on 127.0.0.1:113 (a
// privileged port: root only).
func TestIdent(t *testing.T) {
	testenv.NeedRoot(t)
	l, err := net.Listen("tcp", "127.0.0.1:113")
	if err != nil {
		testenv.Skip(t, "cannot listen on the ident port: "+err.Error())
	}
	defer l.Close()
	asked := make(chan string, 4)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			line, _ := bufio.NewReader(c).ReadString('\n')
			asked <- line
			ports := strings.TrimSpace(line)
			fmt.Fprintf(c, "%s : USERID : UNIX : alice\r\n", ports)
			c.Close()
		}
	}()
	d := start(t, nil, []string{"-nodnslookup"}, passServer(t))
	c := dial(t, d.addr, "127.0.0.1")
	defer c.Close()
	got := readEnv(bufio.NewReader(c))
	_, lport, _ := net.SplitHostPort(c.LocalAddr().String())
	_, port, _ := net.SplitHostPort(d.addr)
	if q := <-asked; q != lport+" , "+port+"\r\n" {
		t.Errorf("ident query %q, want %q", q, lport+" , "+port+"\r\n")
	}
	if got["TCPREMOTEINFO"] != "alice" {
		t.Errorf("TCPREMOTEINFO: %v", got)
	}
	e := start(t, nil, []string{"-nodnslookup", "-noidentlookup"}, passServer(t))
	if got := session(t, e.addr, "127.0.0.1"); got["TCPREMOTEIP"] == "" || got["TCPREMOTEINFO"] != "" {
		t.Errorf("-noidentlookup: %v", got)
	}
	select {
	case q := <-asked:
		t.Errorf("-noidentlookup asked %q", q)
	default:
	}
}
