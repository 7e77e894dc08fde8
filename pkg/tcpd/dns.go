package tcpd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// resolver asks DNS servers directly, as the original's rfc1035 library
// does: /etc/hosts plays no part in TCPREMOTEHOST or the block lists.
type resolver struct {
	servers  []string // address:port
	timeout  time.Duration
	attempts int
}

// errNotFound is an authoritative "no such name" or "no such record".
var errNotFound = errors.New("not found")

// newResolver uses TCPD_RESOLVER (ours: one address:port) or the
// nameservers of /etc/resolv.conf.
func newResolver() (*resolver, error) {
	r := &resolver{timeout: 5 * time.Second, attempts: 2}
	if s := os.Getenv("TCPD_RESOLVER"); s != "" {
		if _, _, err := net.SplitHostPort(s); err != nil {
			return nil, fmt.Errorf("TCPD_RESOLVER=%q: expected ADDRESS:PORT of a DNS server", s)
		}
		r.servers = []string{s}
		return r, nil
	}
	cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil || len(cc.Servers) == 0 {
		r.servers = []string{"127.0.0.1:53"}
		return r, nil
	}
	for _, s := range cc.Servers {
		r.servers = append(r.servers, net.JoinHostPort(s, cc.Port))
	}
	if cc.Timeout > 0 {
		r.timeout = time.Duration(cc.Timeout) * time.Second
	}
	if cc.Attempts > 0 {
		r.attempts = cc.Attempts
	}
	return r, nil
}

// query asks for name's records of type qtype (UDP, then TCP when the
// answer is truncated). It returns errNotFound for NXDOMAIN and for an
// answer without records of that type, another error for failures.
func (r *resolver) query(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	var last error = errors.New("no DNS server")
	for a := 0; a < r.attempts; a++ {
		for _, srv := range r.servers {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			c := &dns.Client{Timeout: r.timeout}
			in, _, err := c.ExchangeContext(ctx, m, srv)
			if err == nil && in.Truncated {
				c.Net = "tcp"
				in, _, err = c.ExchangeContext(ctx, m, srv)
			}
			if err != nil {
				last = err
				continue
			}
			switch in.Rcode {
			case dns.RcodeNameError:
				return nil, errNotFound
			case dns.RcodeSuccess:
			default:
				last = fmt.Errorf("%s: %s", srv, dns.RcodeToString[in.Rcode])
				continue
			}
			var out []dns.RR
			for _, rr := range in.Answer {
				if rr.Header().Rrtype == qtype {
					out = append(out, rr)
				}
			}
			if len(out) == 0 {
				return nil, errNotFound
			}
			return out, nil
		}
	}
	return nil, last
}

// hostName returns the value of TCPREMOTEHOST or TCPLOCALHOST for ip
// (spec couriertcpd.md §2): the name of its PTR record when that name's
// own addresses include ip (forward-confirmed); "softdnserr" when a
// lookup fails for the time being or the name does not lead back to ip;
// ok false (variable unset) when ip has no PTR record.
func (r *resolver) hostName(ctx context.Context, ip net.IP) (name string, ok bool) {
	rev, err := dns.ReverseAddr(plainIP(ip).String())
	if err != nil {
		return "", false
	}
	ptrs, err := r.query(ctx, rev, dns.TypePTR)
	if errors.Is(err, errNotFound) {
		return "", false
	}
	if err != nil {
		return "softdnserr", true
	}
	host := strings.TrimSuffix(ptrs[0].(*dns.PTR).Ptr, ".")
	qtype := dns.TypeA
	if plainIP(ip).To4() == nil {
		qtype = dns.TypeAAAA
	}
	addrs, err := r.query(ctx, host, qtype)
	if err != nil {
		return "softdnserr", true
	}
	for _, rr := range addrs {
		switch a := rr.(type) {
		case *dns.A:
			if a.A.Equal(ip) {
				return host, true
			}
		case *dns.AAAA:
			if a.AAAA.Equal(ip) {
				return host, true
			}
		}
	}
	return "softdnserr", true
}

// plainIP is ip with an IPv4-mapped address as IPv4.
func plainIP(ip net.IP) net.IP {
	if v4 := ip.To4(); v4 != nil {
		return v4
	}
	return ip
}

// listName is the name a list is asked about ip with: the IPv4 octets
// reversed, or the 32 nibbles of an IPv6 address reversed, then the zone.
func listName(ip net.IP, zone string) string {
	if v4 := ip.To4(); v4 != nil {
		return fmt.Sprintf("%d.%d.%d.%d.%s", v4[3], v4[2], v4[1], v4[0], zone)
	}
	var b strings.Builder
	v6 := ip.To16()
	for i := 15; i >= 0; i-- {
		fmt.Fprintf(&b, "%x.%x.", v6[i]&15, v6[i]>>4)
	}
	return b.String() + zone
}

// blockLists runs the -block and -allow lookups for the client at ip, in
// order (tcpd.c docheckblocklist), and returns the variables they set. A
// list acts only when its variable is not set yet, by the access file or
// an earlier list; remoteIP is TCPREMOTEIP, which replaces the first "@"
// of a -block message.
func (r *resolver) blockLists(ctx context.Context, blocks []Block, ip net.IP, remoteIP string, env []string) []string {
	var out []string
	isSet := func(name string) bool {
		_, ok := lookupEnv(env, name)
		if !ok {
			_, ok = lookupEnv(out, name)
		}
		return ok
	}
	allows := 0
	for _, b := range blocks {
		if isSet(b.Var) {
			continue
		}
		host := listName(ip, b.Zone)
		if len(host) > 255 {
			continue // as the original: silently, for absurdly long zones
		}
		wantTXT := b.HasMsg && (b.Allow || b.Msg == "*")
		var hit net.IP
		as, _ := r.query(ctx, host, dns.TypeA)
		for _, rr := range as {
			if a, ok := rr.(*dns.A); ok && (b.IP == nil || a.A.Equal(b.IP)) {
				hit = a.A
				break
			}
		}
		txt := ""
		if wantTXT && (hit != nil || b.IP == nil) {
			if txts, err := r.query(ctx, host, dns.TypeTXT); err == nil {
				if t := txts[0].(*dns.TXT).Txt; len(t) > 0 {
					txt = t[0]
				}
			}
		}
		set := func(kv ...string) { out = append(out, kv...) }
		switch {
		case hit != nil:
			set(b.Var+"_ZONE="+b.Display, b.Var+"_IP="+hit.String())
			switch {
			case b.Allow:
				set(b.Var+"=", "ALLOW_"+strconv.Itoa(allows)+"="+b.Var)
				allows++
				if txt != "" {
					set(b.Var + "_TXT=" + txt)
				}
			case b.Msg != "" && b.Msg != "*":
				set(b.Var + "=" + withIP(b.Msg, remoteIP))
			case txt != "":
				set(b.Var+"="+txt, b.Var+"_TXT="+txt)
			default:
				// The original leaves a literal "*" when -block=...,*
				// finds no TXT record; the zone's name says more.
				set(b.Var + "=" + withIP("Blacklisted by "+b.Zone, remoteIP))
			}
		case txt != "":
			// Only a TXT record: taken when no particular A record was asked for.
			if b.Allow {
				set(b.Var+"_TXT="+txt, b.Var+"=")
			} else {
				set(b.Var+"="+txt, b.Var+"_TXT="+txt)
			}
			set(b.Var + "_ZONE=" + b.Display)
		}
	}
	return out
}

// withIP replaces the first "@" of msg with the client's TCPREMOTEIP, as
// the original does.
func withIP(msg, remoteIP string) string {
	if i := strings.IndexByte(msg, '@'); i >= 0 {
		return msg[:i] + remoteIP + msg[i+1:]
	}
	return msg
}

// lookupEnv finds name in a list of NAME=value, the last one winning.
func lookupEnv(env []string, name string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], name+"="); ok {
			return v, true
		}
	}
	return "", false
}
