package tcpd

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// listenPort binds one PORTLIST item the way tcpd.c mksockets does: a
// given address on its own socket; without one, the IPv6 wildcard (which
// on Linux also takes IPv4 connections, as IPv4-mapped addresses) and then
// the IPv4 wildcard, whose failure is ignored when the IPv6 one worked.
func listenPort(p Port, backlog int) ([]net.Listener, error) {
	if p.Addr != "" {
		ip := net.ParseIP(p.Addr)
		l, err := listenOn(ip, p.Port, backlog, ip.To4() != nil && !strings.Contains(p.Addr, ":"))
		if err != nil {
			return nil, err
		}
		return []net.Listener{l}, nil
	}
	v6, err6 := listenOn(net.IPv6unspecified, p.Port, backlog, false)
	v4, err4 := listenOn(net.IPv4zero, p.Port, backlog, true)
	switch {
	case err6 == nil && err4 == nil:
		return []net.Listener{v6, v4}, nil
	case err6 == nil:
		return []net.Listener{v6}, nil
	case err4 == nil:
		return []net.Listener{v4}, nil
	}
	return nil, err6
}

// listenOn makes one listening socket with the given backlog (net.Listen
// has no way to choose it).
func listenOn(ip net.IP, port, backlog int, v4 bool) (net.Listener, error) {
	where := net.JoinHostPort(ip.String(), strconv.Itoa(port))
	fail := func(what string, err error) error {
		return fmt.Errorf("cannot listen on %s: %s: %w", where, what, err)
	}
	family := unix.AF_INET6
	if v4 {
		family = unix.AF_INET
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, fail("socket", err)
	}
	f := os.NewFile(uintptr(fd), "listener "+where)
	defer f.Close()
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return nil, fail("SO_REUSEADDR", err)
	}
	var sa unix.Sockaddr
	if v4 {
		a := &unix.SockaddrInet4{Port: port}
		copy(a.Addr[:], ip.To4())
		sa = a
	} else {
		if ip.IsUnspecified() {
			// Both families on one socket, whatever net.ipv6.bindv6only says.
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0); err != nil {
				return nil, fail("IPV6_V6ONLY", err)
			}
		}
		a := &unix.SockaddrInet6{Port: port}
		copy(a.Addr[:], ip.To16())
		sa = a
	}
	if err := unix.Bind(fd, sa); err != nil {
		return nil, fail("bind", err)
	}
	if backlog <= 0 {
		backlog = systemBacklog()
	}
	if err := unix.Listen(fd, backlog); err != nil {
		return nil, fail("listen", err)
	}
	return net.FileListener(f)
}

// systemBacklog is the kernel's limit on listen backlogs (the original
// asks for SOMAXCONN, which the kernel caps the same way).
func systemBacklog() int {
	if b, err := os.ReadFile("/proc/sys/net/core/somaxconn"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > 0 {
			return n
		}
	}
	return unix.SOMAXCONN
}
