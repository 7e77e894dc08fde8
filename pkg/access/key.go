package access

import (
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// maxKeysPerLine bounds the expansion of one CIDR network or range: an
// IPv6 /0 (65536 one-group keys) is the most a single network needs.
const maxKeysPerLine = 1 << 16

// checkKey validates a key written literally (not as a network or range)
// and returns it as stored: "*", "*.PORT", an IPv4 address or a prefix of
// whole octets ("192.168"), an IPv6 address or a prefix of whole groups
// in the stored form (":2001:0db8"), or a whole address followed by
// ".PORT" (the -accesslocal forms, spec couriertcpd.md §3). IPv6 hex
// digits are stored in lower case, the case lookups use.
func checkKey(key string) (string, error) {
	if key == "*" {
		return key, nil
	}
	if port, ok := strings.CutPrefix(key, "*."); ok {
		if !validPort(port) {
			return "", fmt.Errorf("%q: after \"*.\" comes a port number (1 to 65535)", key)
		}
		return key, nil
	}
	if strings.HasPrefix(key, ":") {
		addr, port, hasPort := strings.Cut(key, ".")
		groups, err := v6Groups(addr)
		if err != nil {
			return "", fmt.Errorf("%q: %v", key, err)
		}
		if hasPort && (len(groups) != 8 || !validPort(port)) {
			return "", fmt.Errorf("%q: only a whole IPv6 address (eight groups) can be followed by .PORT", key)
		}
		return strings.ToLower(key), nil
	}
	if strings.Contains(key, ":") {
		return "", fmt.Errorf("%q: IPv6 keys are written as \":\" and groups of four hex digits, for example :0000:0000:0000:0000:0000:0000:0000:0001 for ::1, or :2001:0db8 for 2001:db8::/32", key)
	}
	parts := strings.Split(key, ".")
	if len(parts) == 5 {
		if !validPort(parts[4]) {
			return "", fmt.Errorf("%q: the fifth part of an IPv4 key is a port number (1 to 65535)", key)
		}
		parts = parts[:4]
	}
	if len(parts) > 4 {
		return "", fmt.Errorf("%q: an IPv4 key has at most four octets (and a port)", key)
	}
	for _, p := range parts {
		if !validOctet(p) {
			return "", fmt.Errorf("%q: not an IPv4 address or prefix of whole octets (nor \"*\", an IPv6 key, a CIDR network or a range)", key)
		}
	}
	return key, nil
}

// validOctet accepts 0 to 255 written as lookups write it: decimal, no
// sign, no leading zero.
func validOctet(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 0 && n <= 255 && p != "" && p[0] != '+' && p[0] != '-' && (len(p) == 1 || p[0] != '0')
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n > 0 && n <= 65535 && p[0] != '+' && p[0] != '0'
}

// v6Groups checks the stored IPv6 form: ":" followed by 1 to 8 groups of
// exactly four hex digits separated by ":".
func v6Groups(key string) ([]string, error) {
	groups := strings.Split(key[1:], ":")
	if len(groups) > 8 {
		return nil, errors.New("an IPv6 key has at most eight groups")
	}
	for _, g := range groups {
		if len(g) != 4 {
			return nil, errors.New("each IPv6 group must have exactly four hex digits (write :0000:0000:0000:0000:0000:0000:0000:0001, not ::1)")
		}
		if _, err := strconv.ParseUint(g, 16, 16); err != nil {
			return nil, fmt.Errorf("IPv6 group %q is not hexadecimal", g)
		}
	}
	return groups, nil
}

// isNetwork says whether a key is written as a CIDR network or an
// address range: the keys makedat -cidr expands (its pattern: hex digits,
// dots and colons, then "/" or "-", then more of them).
func isNetwork(key string) bool {
	i := strings.IndexAny(key, "/-")
	if i <= 0 || i == len(key)-1 {
		return false
	}
	for _, s := range []string{key[:i], key[i+1:]} {
		for _, c := range s {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == ':' || c == '.') {
				return false
			}
		}
	}
	return true
}

// ExpandKey turns a source key into the database keys it stands for. A
// CIDR network ("10.1.4.0/22", "2001:db8::/32") or a range
// ("10.0.0.5-10.0.0.9") becomes the prefixes of whole octets (IPv4) or
// groups (IPv6) that cover it, as makedat -cidr does with Net::CIDR's
// range2cidr and cidr2octets: a prefix length is rounded up to the next
// octet or group boundary and every prefix of that length is listed.
// Other keys are checked and stand for themselves.
func ExpandKey(key string) ([]string, error) {
	if !isNetwork(key) {
		k, err := checkKey(key)
		if err != nil {
			return nil, err
		}
		return []string{k}, nil
	}
	prefixes, err := networkPrefixes(key)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range prefixes {
		unit := 8
		if p.Addr().Is6() {
			unit = 16
		}
		whole := (p.Bits() + unit - 1) / unit
		if whole == 0 {
			whole = 1
		}
		n := 1 << (whole*unit - p.Bits())
		if len(out)+n > maxKeysPerLine {
			return nil, fmt.Errorf("%q covers more than %d keys; split it into smaller networks", key, maxKeysPerLine)
		}
		a := p.Addr()
		for i := 0; i < n; i++ {
			out = append(out, prefixKey(a, whole))
			a = addAt(a, whole*unit)
		}
	}
	return out, nil
}

// networkPrefixes parses "ADDR/BITS" or "FIRST-LAST" into CIDR prefixes,
// the network of ADDR/BITS masked as Net::CIDR does.
func networkPrefixes(key string) ([]netip.Prefix, error) {
	if a, bits, ok := strings.Cut(key, "/"); ok {
		addr, err := parseAddr(key, a)
		if err != nil {
			return nil, err
		}
		n, err := strconv.Atoi(bits)
		if err != nil || n < 0 || n > addr.BitLen() || bits[0] == '+' {
			return nil, fmt.Errorf("%q: the prefix length after / must be a number from 0 to %d", key, addr.BitLen())
		}
		p, _ := addr.Prefix(n)
		return []netip.Prefix{p}, nil
	}
	f, l, _ := strings.Cut(key, "-")
	first, err := parseAddr(key, f)
	if err != nil {
		return nil, err
	}
	last, err := parseAddr(key, l)
	if err != nil {
		return nil, err
	}
	if first.Is4() != last.Is4() || last.Less(first) {
		return nil, fmt.Errorf("%q: a range runs from a lower to a higher address of the same family", key)
	}
	return rangePrefixes(first, last), nil
}

func parseAddr(key, s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q: %q is not an IP address", key, s)
	}
	if a.Is4In6() {
		return netip.Addr{}, fmt.Errorf("%q: write the IPv4 address as %s (without ::ffff:)", key, a.Unmap())
	}
	return a, nil
}

// rangePrefixes covers first..last with the fewest CIDR prefixes.
func rangePrefixes(first, last netip.Addr) []netip.Prefix {
	bits := first.BitLen()
	lo, hi := addrInt(first), addrInt(last)
	one := big.NewInt(1)
	var out []netip.Prefix
	for lo.Cmp(hi) <= 0 {
		// The largest block that starts at lo and ends by hi.
		size := bits
		for size > 0 {
			block := new(big.Int).Lsh(one, uint(bits-size+1))
			if new(big.Int).Mod(lo, block).Sign() != 0 {
				break
			}
			end := new(big.Int).Add(lo, block)
			if end.Sub(end, one).Cmp(hi) > 0 {
				break
			}
			size--
		}
		out = append(out, netip.PrefixFrom(intAddr(lo, first.Is4()), size))
		lo.Add(lo, new(big.Int).Lsh(one, uint(bits-size)))
	}
	return out
}

func addrInt(a netip.Addr) *big.Int { return new(big.Int).SetBytes(a.AsSlice()) }

func intAddr(n *big.Int, v4 bool) netip.Addr {
	size := 16
	if v4 {
		size = 4
	}
	b := n.FillBytes(make([]byte, size))
	a, _ := netip.AddrFromSlice(b)
	return a
}

// addAt adds one at bit position bit (counted from the left, 1-based
// length) of a, that is, steps to the next prefix of that length.
func addAt(a netip.Addr, length int) netip.Addr {
	n := addrInt(a)
	n.Add(n, new(big.Int).Lsh(big.NewInt(1), uint(a.BitLen()-length)))
	if n.BitLen() > a.BitLen() {
		return a
	}
	return intAddr(n, a.Is4())
}

// prefixKey is the database key of the first n octets (IPv4) or groups
// (IPv6) of a.
func prefixKey(a netip.Addr, n int) string {
	b := a.AsSlice()
	var s strings.Builder
	if a.Is4() {
		for i := 0; i < n; i++ {
			if i > 0 {
				s.WriteByte('.')
			}
			s.WriteString(strconv.Itoa(int(b[i])))
		}
		return s.String()
	}
	const hex = "0123456789abcdef"
	for i := 0; i < n; i++ {
		s.WriteByte(':')
		for _, x := range b[2*i : 2*i+2] {
			s.WriteByte(hex[x>>4])
			s.WriteByte(hex[x&15])
		}
	}
	return s.String()
}

// Keys returns the keys the original looks up for an address, most
// specific first (tcpd.c doallowaccess): the whole address, then shorter
// prefixes of whole octets (IPv4, also for IPv4-mapped IPv6 addresses) or
// groups (IPv6), then "*". With a port (the -accesslocal lookup of the
// local address), the whole address with ".PORT" comes first and "*.PORT"
// before "*".
func Keys(ip net.IP, port int) []string {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return []string{"*"}
	}
	a = a.Unmap()
	var keys []string
	n := 8
	if a.Is4() {
		n = 4
	}
	full := prefixKey(a, n)
	if port > 0 {
		keys = append(keys, full+"."+strconv.Itoa(port))
	}
	for ; n >= 1; n-- {
		keys = append(keys, prefixKey(a, n))
	}
	if port > 0 {
		keys = append(keys, "*."+strconv.Itoa(port))
	}
	return append(keys, "*")
}
