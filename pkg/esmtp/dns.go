package esmtp

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"sort"
	"strconv"
	"strings"
)

// target is one address to try.
type target struct {
	name  string // the host's name (MX name, relay, or "[ip]"): TLS verification, the log, Remote-MTA
	addr  string // ip:port
	smtps bool
}

// peer is the host as the I records and the log name it: "name [ip]".
func (t target) peer() string {
	h, _, _ := net.SplitHostPort(t.addr)
	if strings.Trim(t.name, "[]") == h {
		return "[" + h + "]"
	}
	return t.name + " [" + h + "]"
}

// mx is one mail exchanger: its name and preference.
type mx struct {
	name string
	pref uint16
}

// The original's texts for DNS outcomes (courier/module.esmtp libesmtp),
// kept because admins and bounce readers know them; what follows them in
// parentheses is ours.
const (
	msgNoDomain   = "No such domain."
	msgNoMail     = "Domain does not receive mail."
	msgBadDNS     = "This domain's DNS violates RFC 1035."
	msgDNSFailed  = "DNS lookup failed."
	msgMailLoops  = "configuration error: mail loops back to myself (MX problem)."
	msgNoAddress  = "no address found for the mail servers"
	defaultSMTP   = 25
	nullMXName    = "."
	loopCheckPort = defaultSMTP
)

// targets lists the addresses to try for domain, in order: the route's
// relay (an [ip], or a host name whose MX and addresses are looked up as
// the original does), else the domain's MX hosts by preference (equal
// preferences shuffled, RFC 5321 5.1), else the domain's own addresses.
func (m *Module) targets(ctx context.Context, domain string, r Route) ([]target, *failure) {
	port := defaultSMTP
	if r.Port != 0 {
		port = r.Port
	}
	smtps := r.Security == "SMTPS"
	connectTo := domain
	static := r.Relay != "" // the original's static route: no loop check
	if static {
		connectTo = r.Relay
		if strings.HasPrefix(connectTo, "[") {
			ip := connectTo[1 : len(connectTo)-1]
			return []target{{name: connectTo, addr: net.JoinHostPort(ip, strconv.Itoa(port)), smtps: smtps}}, nil
		}
	}
	mxs, implicit, f := m.lookupMX(ctx, connectTo)
	if f != nil {
		return nil, f
	}
	type host struct {
		mx
		addrs []net.IP
	}
	var hosts []host
	notFound := 0
	for _, x := range mxs {
		// RFC 1035 3.3.9: an MX names a host, never an address. The
		// original refuses the whole domain.
		if net.ParseIP(strings.Trim(x.name, "[]")) != nil {
			return nil, permanent("%s (the MX record of %s names the IP address %s instead of a host name: the domain's administrator must fix it)", msgBadDNS, connectTo, x.name)
		}
		ips, err := m.Resolver.LookupIP(ctx, "ip", x.name)
		var dnsErr *net.DNSError
		if err != nil {
			// The original ignores soft errors of single MX hosts.
			if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
				notFound++
			}
			continue
		}
		hosts = append(hosts, host{x, m.orderAddrs(ips, r)})
	}
	if len(hosts) == 0 {
		if implicit && notFound == 1 {
			// No MX, and the name has no address either.
			return nil, permanent("%s (%s has neither MX nor address records)", msgNoDomain, connectTo)
		}
		names := make([]string, len(mxs))
		for i, x := range mxs {
			names[i] = x.name
		}
		return nil, temporary("%s of %s (%s)", msgNoAddress, connectTo, strings.Join(names, ", "))
	}
	if !static {
		// Mail must not come back here: the first MX host that is this
		// host (a local domain by name, or one of our addresses on the
		// SMTP port) ends the list; if it is among the most preferred,
		// the domain's MX points at us and the mail would loop.
		for i, h := range hosts {
			if !m.isMe(h.name, h.addrs, port) {
				continue
			}
			if h.pref == hosts[0].pref {
				return nil, permanent("%s (%s points %s at this host)", msgMailLoops, connectTo, h.name)
			}
			for i > 0 && hosts[i-1].pref == h.pref {
				i--
			}
			hosts = hosts[:i]
			break
		}
	}
	var out []target
	for _, h := range hosts {
		for _, ip := range h.addrs {
			out = append(out, target{name: h.name, addr: net.JoinHostPort(ip.String(), strconv.Itoa(port)), smtps: smtps})
		}
	}
	if len(out) == 0 {
		return nil, temporary("%s of %s (no IPv%s address)", msgNoAddress, connectTo, map[bool]string{true: "4", false: "6"}[r.IPv4Only])
	}
	return out, nil
}

// lookupMX returns the mail exchangers of name by preference, or the name
// itself (implicit) when it has no MX records (RFC 5321 5.1).
func (m *Module) lookupMX(ctx context.Context, name string) (mxs []mx, implicit bool, f *failure) {
	recs, err := m.Resolver.LookupMX(ctx, name)
	var dnsErr *net.DNSError
	switch {
	case err == nil && len(recs) > 0:
	case err == nil, errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		// No MX records (or no such name, which the address lookup
		// tells apart).
		return []mx{{name: name}}, true, nil
	default:
		return nil, false, temporary("%s (MX records of %s: %v)", msgDNSFailed, name, err)
	}
	out := make([]mx, 0, len(recs))
	for _, r := range recs {
		out = append(out, mx{name: strings.ToLower(strings.TrimSuffix(r.Host, ".")), pref: r.Pref})
	}
	if len(out) == 1 && (out[0].name == "" || out[0].name == nullMXName) {
		// RFC 7505: "MX 0 ." says the domain takes no mail.
		return nil, false, permanent("%s (%s publishes a null MX record, RFC 7505)", msgNoMail, name)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].pref < out[j].pref })
	for i := 0; i < len(out); {
		j := i
		for j < len(out) && out[j].pref == out[i].pref {
			j++
		}
		rand.Shuffle(j-i, func(a, b int) { out[i+a], out[i+b] = out[i+b], out[i+a] })
		i = j
	}
	return out, false, nil
}

// orderAddrs applies the route's IPV4ONLY/IPV6ONLY and
// ESMTP_PREFER_IPV6_MX: IPv4 addresses first unless IPv6 is preferred.
func (m *Module) orderAddrs(ips []net.IP, r Route) []net.IP {
	var v4, v6 []net.IP
	for _, ip := range ips {
		if ip.To4() != nil {
			v4 = append(v4, ip)
		} else {
			v6 = append(v6, ip)
		}
	}
	switch {
	case r.IPv4Only:
		return v4
	case r.IPv6Only:
		return v6
	case m.PreferIPv6:
		return append(v6, v4...)
	}
	return append(v4, v6...)
}

// isMe says whether an MX host is this host: its name is a local domain
// (locals, hosted domains), or one of its addresses is an address of ours
// and we would connect to the SMTP port. The original looks at the address
// alone; we also want the port, so that a route that keeps the MX lookup
// but names another port (": ,2526") may reach another server on this
// host, as tests and a second instance do.
func (m *Module) isMe(name string, addrs []net.IP, port int) bool {
	if m.Files.IsLocalDomain(name) {
		return true
	}
	if port != loopCheckPort {
		return false
	}
	for _, ip := range addrs {
		if m.isLocalIP(ip) {
			return true
		}
	}
	return false
}

func (m *Module) isLocalIP(ip net.IP) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.locals == nil {
		m.locals = map[string]bool{}
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok {
					m.locals[n.IP.String()] = true
				}
			}
		}
	}
	return ip.IsLoopback() || ip.IsUnspecified() || m.locals[ip.String()]
}
