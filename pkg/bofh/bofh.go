// Package bofh owns the "bofh" control file, Courier's junk-mail rules for
// mail received over SMTP (courier(8) "bofh"; spec
// aliases-and-control-files.md §5): senders refused by address (badfrom),
// senders whose domain's mail servers include a listed address (badmx),
// free-mail domains accepted only from their own relays (freemail),
// recipients that mark a message as spam (spamtrap), the number of
// recipients a message may have (maxrcpts), and defaults for environment
// settings (opt NAME=value).
//
// Callers: courieresmtpd (pkg/smtpd) loads the file at start and asks the
// rules at MAIL FROM, RCPT TO and the end of DATA.
//
// The original (courier/bofh.c) silently skips lines it does not
// understand; here a malformed line is an error naming the file and line,
// and the file is not used at all, so that a typing mistake never turns a
// rule off unnoticed. The matching follows bofh.c: addresses are compared
// in lower case, with the domain in Unicode (U-labels).
package bofh

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// DefaultMaxRcpts is the number of recipients accepted per message when the
// file has no maxrcpts rule.
const DefaultMaxRcpts = 100

// Freemail is one freemail rule: senders at Domain are accepted only from
// a relay whose host name is in Domain or one of Relays.
type Freemail struct {
	Domain string
	Relays []string
}

// Rules is the content of a bofh file.
type Rules struct {
	BadFrom  []string // "user@domain", "@domain", "@.domain", "user@.domain", lower case
	BadMX    []net.IP
	Freemail []Freemail
	Spamtrap []string // addresses in the form of BadFrom
	MaxRcpts int      // recipients accepted per message
	MaxHard  bool     // refuse the ones beyond MaxRcpts permanently (5xx), not temporarily
	// Opts are the "opt NAME=value" settings in file order, each name
	// once (the first one counts, as the original's putenv of a variable
	// already set does nothing).
	Opts []Opt
}

// Opt is one "opt NAME=value" line.
type Opt struct{ Name, Value string }

// Default is the rule set of a missing file.
func Default() *Rules { return &Rules{MaxRcpts: DefaultMaxRcpts} }

// Load reads the bofh file at path; a missing file gives Default.
func Load(path string) (*Rules, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Default(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("bofh: %w", err)
	}
	return Parse(path, data)
}

// Parse parses the content of a bofh file; name is used in error messages
// ("name:line: ..."). '#' starts a comment anywhere on a line, words are
// separated by blanks, directives are case-insensitive.
func Parse(name string, data []byte) (*Rules, error) {
	r := Default()
	seenOpt := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		bad := func(format string, a ...any) error {
			return fmt.Errorf("%s:%d: %s", name, n, fmt.Sprintf(format, a...))
		}
		if !utf8.ValidString(line) {
			return nil, bad("the line is not valid UTF-8")
		}
		kw, args := strings.ToLower(f[0]), f[1:]
		switch kw {
		case "badfrom", "spamtrap":
			if len(args) != 1 {
				return nil, bad("%s takes one address (user@domain, @domain, @.domain or user@.domain), found %d words", kw, len(args))
			}
			a, err := pattern(args[0])
			if err != nil {
				return nil, bad("%s %q: %v", kw, args[0], err)
			}
			if kw == "badfrom" {
				r.BadFrom = append(r.BadFrom, a)
			} else {
				r.Spamtrap = append(r.Spamtrap, a)
			}
		case "badmx":
			if len(args) != 1 {
				return nil, bad("badmx takes one IP address, found %d words", len(args))
			}
			ip := net.ParseIP(args[0])
			if ip == nil {
				return nil, bad("badmx %q is not an IP address", args[0])
			}
			r.BadMX = append(r.BadMX, ip)
		case "freemail":
			if len(args) == 0 {
				return nil, bad("freemail takes a domain and optionally the domains of its relays")
			}
			fm := Freemail{}
			for i, a := range args {
				d, err := domain(a)
				if err != nil {
					return nil, bad("freemail %q: %v", a, err)
				}
				if i == 0 {
					fm.Domain = d
				} else {
					fm.Relays = append(fm.Relays, d)
				}
			}
			r.Freemail = append(r.Freemail, fm)
		case "maxrcpts":
			if len(args) == 0 || len(args) > 2 {
				return nil, bad("maxrcpts takes a number and optionally the word \"hard\"")
			}
			v, err := strconv.Atoi(args[0])
			if err != nil || v <= 0 {
				return nil, bad("maxrcpts %q is not a positive number", args[0])
			}
			hard := false
			if len(args) == 2 {
				if !strings.EqualFold(args[1], "hard") {
					return nil, bad("maxrcpts %s %q: the only word allowed after the number is \"hard\"", args[0], args[1])
				}
				hard = true
			}
			r.MaxRcpts, r.MaxHard = v, hard
		case "opt":
			if len(args) != 1 {
				return nil, bad("opt takes one NAME=value word (no blanks in the value), found %d words", len(args))
			}
			k, v, ok := strings.Cut(args[0], "=")
			if !ok || !validName(k) {
				return nil, bad("opt %q: expected NAME=value with a variable name of letters, digits and _", args[0])
			}
			if !seenOpt[k] {
				seenOpt[k] = true
				r.Opts = append(r.Opts, Opt{Name: k, Value: v})
			}
		default:
			return nil, bad("unknown directive %q (known: badfrom, badmx, freemail, spamtrap, maxrcpts, opt)", f[0])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %v", name, n+1, err)
	}
	return r, nil
}

func validName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for _, c := range []byte(s) {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// pattern checks and normalises a badfrom or spamtrap address.
func pattern(s string) (string, error) {
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return "", errors.New("an address needs an @ (user@domain, @domain, @.domain or user@.domain)")
	}
	d := s[at+1:]
	dot := strings.HasPrefix(d, ".")
	d, err := domain(strings.TrimPrefix(d, "."))
	if err != nil {
		return "", err
	}
	if dot {
		d = "." + d
	}
	return strings.ToLower(s[:at]) + "@" + d, nil
}

// domain checks a domain name and returns it lower-cased in U-labels, the
// form Lower compares.
func domain(s string) (string, error) {
	if s == "" {
		return "", errors.New("the domain is empty")
	}
	if strings.ContainsAny(s, "@<>\"\\") || strings.Contains(s, "..") || strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") {
		return "", errors.New("not a domain name")
	}
	return unicodeDomain(s), nil
}

// Lower is the form addresses are compared in: lower case, the domain in
// U-labels (bofh.c uaddress_lower).
func Lower(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return strings.ToLower(addr)
	}
	return strings.ToLower(addr[:at]) + "@" + unicodeDomain(addr[at+1:])
}

// unicodeDomain is d lower-cased with its A-labels as U-labels; a domain
// that is not valid IDNA stays as it is, lower-cased.
func unicodeDomain(d string) string {
	d = strings.ToLower(d)
	if u, err := idna.ToUnicode(d); err == nil {
		return strings.ToLower(u)
	}
	return d
}

// IsBadFrom reports whether the sender address is refused by a badfrom rule.
func (r *Rules) IsBadFrom(sender string) bool { return match(sender, r.BadFrom) }

// IsSpamtrap reports whether the recipient address is a spam trap.
func (r *Rules) IsSpamtrap(rcpt string) bool { return match(rcpt, r.Spamtrap) }

// match is bofh.c chkbadlist: "@domain" matches that domain, "@.domain"
// its subdomains, "user@domain" the address, "user@.domain" the user at
// any subdomain.
func match(addr string, list []string) bool {
	if len(list) == 0 {
		return false
	}
	p := Lower(addr)
	at := strings.LastIndexByte(p, '@')
	for _, b := range list {
		if p == b {
			return true
		}
		if at < 0 {
			continue
		}
		d := p[at:] // "@domain"
		if d == b {
			return true
		}
		if strings.HasPrefix(b, "@.") && len(b)-1 < len(d) && strings.HasSuffix(d, b[1:]) {
			return true
		}
		bat := strings.LastIndexByte(b, '@')
		if bat > 0 && p[:at] == b[:bat] && strings.HasPrefix(b[bat+1:], ".") && at+1 < len(p) && p[at+1] != '.' {
			sub := b[bat+1:]
			if len(p)-at-1 > len(sub) && strings.HasSuffix(p, sub) {
				return true
			}
		}
	}
	return false
}

// FreemailFor returns the freemail rule for the sender's domain, if any.
func (r *Rules) FreemailFor(sender string) (Freemail, bool) {
	p := Lower(sender)
	at := strings.LastIndexByte(p, '@')
	if at < 0 {
		return Freemail{}, false
	}
	for _, f := range r.Freemail {
		if f.Domain == p[at+1:] {
			return f, true
		}
	}
	return Freemail{}, false
}

// FromRelay reports whether a client whose host name is host (couriertcpd's
// TCPREMOTEHOST, "" when unknown) may send mail for this free-mail domain:
// its host name is the domain or one of the relay domains, or below one.
// A temporary DNS failure ("softdnserr") is given the benefit of the doubt,
// as in the original.
func (f Freemail) FromRelay(host string) bool {
	if host == "" {
		return false
	}
	if host == "softdnserr" {
		return true
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, d := range append([]string{f.Domain}, f.Relays...) {
		if host == d || strings.HasSuffix(host, "."+d) {
			return true
		}
	}
	return false
}

// IsBadMX reports whether ip is listed by a badmx rule (an IPv4-mapped
// IPv6 address counts as its IPv4 address).
func (r *Rules) IsBadMX(ip net.IP) bool {
	for _, b := range r.BadMX {
		if b.Equal(ip) {
			return true
		}
	}
	return false
}

// Opt returns the value of an "opt NAME=value" line.
func (r *Rules) Opt(name string) (string, bool) {
	for _, o := range r.Opts {
		if o.Name == name {
			return o.Value, true
		}
	}
	return "", false
}
