// Package access owns couriertcpd's access databases, smtpaccess.dat and
// the other *access.dat files (spec couriertcpd.md §3): the text source
// (KEY<TAB>VALUE lines in a file or a directory of files), its compilation
// into a .dat file the way the original's "makedat -cidr" does it, the
// lookup of a client's address (most specific entry wins, one entry only)
// and the value syntax ("deny", or "allow" followed by variables).
//
// Callers: couriertcpd (pkg/tcpd) looks clients up; makesmtpaccess and
// makesmtpaccess-msa compile the source.
package access

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/gocourier/courier/pkg/dbfile"
	"github.com/gocourier/courier/pkg/domains"
)

// Entry is one line of the source after CIDR expansion: the keys it
// stands for and its value.
type Entry struct {
	Keys  []string
	Value string
	File  string
	Line  int
}

// Verdict is what an entry says about a client.
type Verdict struct {
	Deny bool
	Vars []string // "NAME=value", in the order given
}

// ParseSource reads the source at path (a file or a directory of files,
// read as makedat reads them) and checks every line: the key must be an
// address, an address prefix, a CIDR network or "*", and the value must
// parse. Errors name the file and line.
func ParseSource(path string) ([]Entry, error) {
	recs, err := domains.ReadSource(path)
	if err != nil {
		return nil, err
	}
	return entries(recs)
}

// ParseData is ParseSource for the contents of one file.
func ParseData(file string, data []byte) ([]Entry, error) {
	recs, err := domains.Parse(file, data)
	if err != nil {
		return nil, err
	}
	return entries(recs)
}

func entries(recs []domains.Record) ([]Entry, error) {
	var out []Entry
	seen := map[string]string{}
	for _, r := range recs {
		where := fmt.Sprintf("%s:%d", r.File, r.Line)
		keys, err := ExpandKey(r.Key)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", where, err)
		}
		if _, err := ParseValue(r.Value); err != nil {
			return nil, fmt.Errorf("%s: %v", where, err)
		}
		for _, k := range keys {
			if prev, ok := seen[k]; ok {
				return nil, fmt.Errorf("%s: %s is also given at %s", where, k, prev)
			}
			seen[k] = where
		}
		out = append(out, Entry{Keys: keys, Value: r.Value, File: r.File, Line: r.Line})
	}
	return out, nil
}

// ExpandKey turns a source key into the database keys it stands for:
// "*", an IPv4 address or prefix of whole octets ("192.168"), an IPv6
// address or prefix of whole groups in the stored form (":" and groups of
// four lower-case hex digits), or a CIDR network, which becomes the
// prefixes of whole octets (or groups) that cover it, as makedat -cidr
// does.
func ExpandKey(key string) ([]string, error) {
	if key == "*" {
		return []string{key}, nil
	}
	if ip, bits, ok := strings.Cut(key, "/"); ok {
		n, err := strconv.Atoi(bits)
		if err != nil {
			return nil, fmt.Errorf("%q: the prefix length after / is not a number", key)
		}
		return expandCIDR(key, ip, n)
	}
	if strings.Contains(key, ":") {
		if _, err := v6Groups(key); err != nil {
			return nil, fmt.Errorf("%q: %v", key, err)
		}
		return []string{strings.ToLower(key)}, nil
	}
	if _, err := v4Octets(key); err != nil {
		return nil, fmt.Errorf("%q: %v", key, err)
	}
	return []string{key}, nil
}

// v4Octets checks an IPv4 address or prefix of 1 to 4 decimal octets.
func v4Octets(key string) ([]int, error) {
	parts := strings.Split(key, ".")
	if len(parts) > 4 {
		return nil, errors.New("not an IPv4 address or prefix: more than four octets")
	}
	var out []int
	for _, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 255 || p == "" || (len(p) > 1 && p[0] == '0') || p[0] == '+' {
			return nil, errors.New("not an IPv4 address or prefix of whole octets (nor \"*\", an IPv6 key or a CIDR network)")
		}
		out = append(out, n)
	}
	return out, nil
}

// v6Groups checks the stored IPv6 form: ":" followed by 1 to 8 groups of
// exactly four hex digits separated by ":".
func v6Groups(key string) ([]string, error) {
	if !strings.HasPrefix(key, ":") {
		return nil, errors.New("IPv6 keys are written as \":\" and groups of four hex digits, for example :0000:0000:0000:0000:0000:0000:0000:0001 or :2001:0db8")
	}
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

func expandCIDR(key, ip string, bits int) ([]string, error) {
	addr := net.ParseIP(ip)
	if addr == nil {
		return nil, fmt.Errorf("%q: %q is not an IP address", key, ip)
	}
	if v4 := addr.To4(); v4 != nil && !strings.Contains(ip, ":") {
		if bits < 8 || bits > 32 {
			return nil, fmt.Errorf("%q: an IPv4 prefix length must be 8 to 32", key)
		}
		whole := bits / 8
		if bits%8 == 0 {
			return []string{v4Key(v4, whole)}, nil
		}
		span := 1 << (8 - bits%8)
		first := int(v4[whole]) &^ (span - 1)
		var out []string
		for i := 0; i < span; i++ {
			b := append(net.IP(nil), v4...)
			b[whole] = byte(first + i)
			out = append(out, v4Key(b, whole+1))
		}
		return out, nil
	}
	if bits < 16 || bits > 128 {
		return nil, fmt.Errorf("%q: an IPv6 prefix length must be 16 to 128", key)
	}
	a := addr.To16()
	whole := bits / 16
	if bits%16 == 0 {
		return []string{v6Key(a, whole)}, nil
	}
	// Partial groups: one key per value of the partial group.
	span := 1 << (16 - bits%16)
	if span > 256 {
		return nil, fmt.Errorf("%q: a prefix length this far from a whole group would need %d keys; use a multiple of 16 or at most 8 bits more", key, span)
	}
	first := (int(a[2*whole])<<8 | int(a[2*whole+1])) &^ (span - 1)
	var out []string
	for i := 0; i < span; i++ {
		b := append(net.IP(nil), a...)
		v := first + i
		b[2*whole], b[2*whole+1] = byte(v>>8), byte(v)
		out = append(out, v6Key(b, whole+1))
	}
	return out, nil
}

func v4Key(ip net.IP, octets int) string {
	parts := make([]string, octets)
	for i := range parts {
		parts[i] = strconv.Itoa(int(ip[i]))
	}
	return strings.Join(parts, ".")
}

func v6Key(ip net.IP, groups int) string {
	var b strings.Builder
	for i := 0; i < groups; i++ {
		fmt.Fprintf(&b, ":%02x%02x", ip[2*i], ip[2*i+1])
	}
	return b.String()
}

// ParseValue reads an access value: "deny" (anything after it is
// ignored, as the original does), or an optional "allow" and then
// comma-separated items NAME=value or NAME (meaning NAME=""), where
// "..." or '...' quote commas and are removed, and blanks around items
// are dropped.
func ParseValue(v string) (Verdict, error) {
	s := strings.TrimSpace(v)
	if strings.HasPrefix(strings.ToLower(s), "deny") {
		return Verdict{Deny: true}, nil
	}
	if strings.HasPrefix(strings.ToLower(s), "allow") {
		s = strings.TrimSpace(s[len("allow"):])
		if s != "" && s[0] != ',' {
			return Verdict{}, fmt.Errorf("value %q: expected a comma after \"allow\"", v)
		}
	}
	s = strings.TrimPrefix(s, ",")
	var out Verdict
	for s != "" {
		var item strings.Builder
		var quote byte
		i := 0
		for ; i < len(s); i++ {
			c := s[i]
			switch {
			case quote != 0 && c == quote:
				quote = 0
			case quote != 0:
				item.WriteByte(c)
			case c == '"' || c == '\'':
				quote = c
			case c == ',':
				goto done
			default:
				item.WriteByte(c)
			}
		}
	done:
		if quote != 0 {
			return Verdict{}, fmt.Errorf("value %q: unterminated %c quote", v, quote)
		}
		if i < len(s) {
			s = s[i+1:]
		} else {
			s = ""
		}
		it := strings.TrimSpace(item.String())
		if it == "" {
			continue
		}
		name, val, _ := strings.Cut(it, "=")
		name = strings.TrimSpace(name)
		if !validName(name) {
			return Verdict{}, fmt.Errorf("value %q: %q is not a variable name (letters, digits and _)", v, name)
		}
		out.Vars = append(out.Vars, name+"="+val)
	}
	return out, nil
}

func validName(n string) bool {
	if n == "" || (n[0] >= '0' && n[0] <= '9') {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// Compile builds the database dat from the source src, atomically: on any
// error in the source nothing is changed. It returns the number of keys.
func Compile(src, dat string) (int, error) {
	ents, err := ParseSource(src)
	if err != nil {
		return 0, err
	}
	w, err := dbfile.Create(dat, 0o644)
	if err != nil {
		return 0, err
	}
	for _, e := range ents {
		for _, k := range e.Keys {
			if err := w.Put(k, e.Value); err != nil {
				w.Abort()
				return 0, fmt.Errorf("%s:%d: %v", e.File, e.Line, err)
			}
		}
	}
	n := w.Len()
	return n, w.Commit()
}

// Keys returns the keys to look up for a client address, most specific
// first, ending with "*" (spec §3). IPv4-mapped IPv6 addresses use the
// IPv4 form.
func Keys(ip net.IP) []string {
	var keys []string
	if v4 := ip.To4(); v4 != nil {
		for n := 4; n >= 1; n-- {
			keys = append(keys, v4Key(v4, n))
		}
	} else if v6 := ip.To16(); v6 != nil {
		for n := 8; n >= 1; n-- {
			keys = append(keys, v6Key(v6, n))
		}
	}
	return append(keys, "*")
}

// DB is an open access database.
type DB struct {
	db *dbfile.DB
}

// Open opens a compiled access database.
func Open(path string) (*DB, error) {
	d, err := dbfile.Open(path)
	if err != nil {
		return nil, err
	}
	return &DB{db: d}, nil
}

// Close releases the database.
func (d *DB) Close() error { return d.db.Close() }

// Lookup finds the most specific entry for ip. found is false when no entry
// applies (the client is allowed, with no variables).
func (d *DB) Lookup(ip net.IP) (v Verdict, key string, found bool, err error) {
	for _, k := range Keys(ip) {
		val, ok, err := d.db.Get(k)
		if err != nil {
			return Verdict{}, "", false, err
		}
		if ok {
			v, err := ParseValue(val)
			if err != nil {
				return Verdict{}, k, true, fmt.Errorf("%s: entry %s: %v (run makesmtpaccess again)", d.db.Path(), k, err)
			}
			return v, k, true, nil
		}
	}
	return Verdict{}, "", false, nil
}
