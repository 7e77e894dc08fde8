package tcpd

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// reverseDNS sets name (TCPREMOTEHOST, TCPLOCALHOST) to the host name of
// ip when the name's own addresses include ip (forward-confirmed), to
// "softdnserr" when a lookup fails temporarily or the name does not lead
// back, and not at all when ip has no name (spec couriertcpd.md §2).
func reverseDNS(ctx context.Context, ip net.IP, name string) []string {
	names, err := net.DefaultResolver.LookupAddr(ctx, ip.String())
	if err != nil {
		if de, ok := err.(*net.DNSError); ok && de.IsNotFound {
			return nil
		}
		return []string{name + "=softdnserr"}
	}
	if len(names) == 0 {
		return nil
	}
	host := strings.TrimSuffix(names[0], ".")
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return []string{name + "=softdnserr"}
	}
	for _, a := range addrs {
		if a.IP.Equal(ip) {
			return []string{name + "=" + host}
		}
	}
	return []string{name + "=softdnserr"}
}

// ident asks the client's ident server (RFC 1413) who owns the connection,
// with a short time limit; "" when it does not answer.
func ident(ctx context.Context, remote, local *net.TCPAddr) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: local.IP}}
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(remote.IP.String(), "113"))
	if err != nil {
		return ""
	}
	defer c.Close()
	deadline, _ := ctx.Deadline()
	c.SetDeadline(deadline)
	fmt.Fprintf(c, "%d , %d\r\n", remote.Port, local.Port)
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return ""
	}
	// "<ports> : USERID : <os> : <user>"
	parts := strings.SplitN(strings.TrimSpace(line), ":", 4)
	if len(parts) != 4 || strings.TrimSpace(parts[1]) != "USERID" {
		return ""
	}
	return strings.TrimSpace(parts[3])
}

// blockLists runs the -block and -allow lookups for an IPv4 client, in
// order, and returns the variables they set (tcpd.c docheckblocklist): a
// list only acts when its variable is not set yet, by the access file or
// an earlier list.
func blockLists(ctx context.Context, blocks []Block, ip net.IP, env []string) []string {
	v4 := ip.To4()
	if v4 == nil || len(blocks) == 0 {
		return nil
	}
	var out []string
	set := func(name string) bool {
		for _, kv := range append(append([]string(nil), env...), out...) {
			if strings.HasPrefix(kv, name+"=") {
				return true
			}
		}
		return false
	}
	allows := 0
	for _, b := range blocks {
		if set(b.Var) {
			continue
		}
		host := fmt.Sprintf("%d.%d.%d.%d.%s", v4[3], v4[2], v4[1], v4[0], b.Zone)
		addrs, err := net.DefaultResolver.LookupIP(ctx, "ip4", host)
		if err != nil || len(addrs) == 0 {
			continue
		}
		var hit net.IP
		for _, a := range addrs {
			if b.IP == nil || a.Equal(b.IP) {
				hit = a
				break
			}
		}
		if hit == nil {
			continue
		}
		out = append(out, b.Var+"_ZONE="+b.Display, b.Var+"_IP="+hit.String())
		if b.Allow {
			out = append(out, b.Var+"=", "ALLOW_"+strconv.Itoa(allows)+"="+b.Var)
			allows++
			if b.HasMsg {
				if txt := firstTXT(ctx, host); txt != "" {
					out = append(out, b.Var+"_TXT="+txt)
				}
			}
			continue
		}
		if b.Msg != "" && b.Msg != "*" {
			out = append(out, b.Var+"="+withIP(b.Msg, ip))
			continue
		}
		if txt := firstTXT(ctx, host); txt != "" {
			out = append(out, b.Var+"="+txt, b.Var+"_TXT="+txt)
			continue
		}
		out = append(out, b.Var+"="+withIP("Blacklisted by "+b.Zone, ip))
	}
	return out
}

func firstTXT(ctx context.Context, host string) string {
	txts, err := net.DefaultResolver.LookupTXT(ctx, host)
	if err != nil || len(txts) == 0 {
		return ""
	}
	return txts[0]
}

// withIP replaces the first "@" of a message with the client's address,
// as the original does.
func withIP(msg string, ip net.IP) string {
	if i := strings.IndexByte(msg, '@'); i >= 0 {
		return msg[:i] + envIP(ip) + msg[i+1:]
	}
	return msg
}
