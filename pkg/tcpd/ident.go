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

// identTimeout bounds the ident query: most clients run no ident server,
// and a firewall that drops port 113 must not delay every connection long.
const identTimeout = 3 * time.Second

// ident asks the client's ident server (RFC 1413) which user owns the
// connection remote→local, from local's address; "" when it does not
// answer in time or answers with an error.
func ident(ctx context.Context, remote, local *net.TCPAddr) string {
	ctx, cancel := context.WithTimeout(ctx, identTimeout)
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
	line, err := bufio.NewReader(&limited{c, 1000}).ReadString('\n')
	if err != nil {
		return ""
	}
	return parseIdent(line, remote.Port, local.Port)
}

// parseIdent reads an RFC 1413 reply, "<port> , <port> : USERID :
// <opsys> : <user id>", for the ports asked about.
func parseIdent(line string, remotePort, localPort int) string {
	parts := strings.SplitN(strings.TrimRight(line, "\r\n"), ":", 4)
	if len(parts) != 4 || strings.TrimSpace(parts[1]) != "USERID" {
		return ""
	}
	rp, lp, ok := strings.Cut(parts[0], ",")
	if !ok {
		return ""
	}
	r, err1 := strconv.Atoi(strings.TrimSpace(rp))
	l, err2 := strconv.Atoi(strings.TrimSpace(lp))
	if err1 != nil || err2 != nil || r != remotePort || l != localPort {
		return ""
	}
	user := strings.TrimSpace(parts[3])
	for _, c := range user {
		if c < ' ' || c == 0x7f {
			return ""
		}
	}
	return user
}

// limited reads at most n bytes: an ident reply is one short line.
type limited struct {
	c net.Conn
	n int
}

func (l *limited) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, fmt.Errorf("ident reply too long")
	}
	if len(p) > l.n {
		p = p[:l.n]
	}
	n, err := l.c.Read(p)
	l.n -= n
	return n, err
}
