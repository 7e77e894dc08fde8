package address

import (
	"fmt"
	"sort"
	"strings"
)

// DomainList is a control file in the format of Courier's "locals",
// also used by "esmtpacceptmailfor" and "esmtppercentrelay"
// (aliases-and-control-files.md §2, courier(8)). Lines are tried in order;
// the first that matches decides:
//
//	example.com        the domain itself
//	.example.com       any subdomain of example.com, not example.com itself
//	!host.example.com  not local: must come before the wildcard it excepts
//	* / *.example.com  the system host name / host name + ".example.com"
//
// Names are compared in their A-label form, which is the same as
// Courier's comparison of lower-cased U-labels.
type DomainList struct {
	entries []listEntry
}

type listEntry struct {
	exclude  bool
	wildcard bool   // domain starts with '.' and matches subdomains
	domain   string // A-label form, with the leading '.' of a wildcard
}

// ParseDomainList parses the lines of a locals-style control file.
// Comments run from '#' to the end of the line (Courier's removecomments);
// blank lines are skipped, and white space around an entry is ignored.
// hostname is the system host name, which "*" stands for (courier(8)
// "Hostname-dependent configuration"); lines using "*" are dropped when it
// is empty, as Courier then never matches them. An error names the line
// (1-based) and what is wrong with it; pkg/config adds the file name.
func ParseDomainList(lines []string, hostname string) (*DomainList, error) {
	l := &DomainList{}
	for n, line := range lines {
		e, ok, err := parseListEntry(line, hostname, false)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n+1, err)
		}
		if ok {
			l.entries = append(l.entries, e)
		}
	}
	return l, nil
}

// parseListEntry parses one line or database key: [!][.]domain, with "*"
// for the host name. ok is false for blank lines and "*" lines without a
// host name.
func parseListEntry(line, hostname string, key bool) (listEntry, bool, error) {
	if i := strings.IndexByte(line, '#'); i >= 0 && !key {
		line = line[:i]
	}
	s := strings.TrimSpace(line)
	if s == "" {
		if key {
			return listEntry{}, false, errorf("domain", line, 0, "empty key")
		}
		return listEntry{}, false, nil
	}
	var e listEntry
	if !key && s[0] == '!' {
		e.exclude = true
		s = s[1:]
	}
	if s == "*" || strings.HasPrefix(s, "*.") {
		if hostname == "" {
			return listEntry{}, false, nil
		}
		s = hostname + s[1:]
	}
	if strings.HasPrefix(s, ".") {
		e.wildcard = true
		s = s[1:]
	}
	d, err := ParseDomain(s)
	if err != nil {
		return listEntry{}, false, err
	}
	if e.wildcard && d.IsLiteral() {
		return listEntry{}, false, errorf("domain", s, 0, "an address literal cannot be a '.' wildcard")
	}
	e.domain = d.ASCII()
	if e.wildcard {
		e.domain = "." + e.domain
	}
	return e, true, nil
}

// Contains reports whether d is in the list (Courier config_is_indomain).
func (l *DomainList) Contains(d Domain) bool {
	if l == nil || d.IsZero() {
		return false
	}
	key := d.ASCII()
	for _, e := range l.entries {
		var m bool
		if e.wildcard {
			m = len(key) > len(e.domain) && strings.HasSuffix(key, e.domain)
		} else {
			m = key == e.domain
		}
		if m {
			return !e.exclude
		}
	}
	return false
}

// DomainDB is the content of a compiled domain database:
// hosteddomains.dat (key a domain, value "1", or for a domain alias the
// domain it stands for), esmtpacceptmailfor.dat and esmtppercentrelay.dat
// (value "1"). A key starting with '.' matches subdomains, "*" stands for
// the host name (aliases-and-control-files.md §2).
type DomainDB struct {
	m map[string]dbValue
}

type dbValue struct {
	self   bool   // value "1" (any value of at most one octet): the key itself
	target Domain // the domain an alias stands for
}

// NewDomainDB validates and normalises the entries of a domain database.
// An error names the bad key or value.
func NewDomainDB(entries map[string]string, hostname string) (*DomainDB, error) {
	db := &DomainDB{m: make(map[string]dbValue, len(entries))}
	keys := make([]string, 0, len(entries))
	for k := range entries {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic errors
	for _, k := range keys {
		v := entries[k]
		e, ok, err := parseListEntry(k, hostname, true)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k, err)
		}
		if !ok {
			continue
		}
		var dv dbValue
		if len(v) <= 1 {
			// Courier (libs/islocal.c) treats a value of at most one
			// octet as "the domain itself".
			dv.self = true
		} else {
			t, err := ParseDomain(v)
			if err != nil {
				return nil, fmt.Errorf("key %q: value: %w", k, err)
			}
			dv.target = t
		}
		db.m[e.domain] = dv
	}
	return db, nil
}

// suffixes calls f with the key of d and then with each ".parent" suffix
// (".b.example", ".example"), at most max suffixes, until f returns true.
func suffixes(key string, max int, f func(string) bool) bool {
	if f(key) {
		return true
	}
	k := key
	for n := 0; n < max; n++ {
		i := strings.IndexByte(k[1:], '.')
		if i < 0 {
			return false
		}
		k = k[i+1:]
		if f(k) {
			return true
		}
	}
	return false
}

// Contains reports whether d is in the database, directly or through a
// ".parent" wildcard key (Courier module.esmtp isindomaindb: up to eight
// lookups in all).
func (db *DomainDB) Contains(d Domain) bool {
	if db == nil || d.IsZero() {
		return false
	}
	return suffixes(d.ASCII(), 7, func(k string) bool {
		_, ok := db.m[k]
		return ok
	})
}

// hosted looks d up as Courier's config_islocal does in
// hosteddomains.dat: the domain, then at most five ".parent" wildcard
// keys. It returns the domain to keep in the account name: the alias
// target, else the key that matched, in U-labels (".example.com" when a
// wildcard key matched: Courier keeps the leading dot).
func (db *DomainDB) hosted(d Domain) (string, bool) {
	if db == nil || d.IsZero() {
		return "", false
	}
	var found string
	ok := suffixes(d.ASCII(), 5, func(k string) bool {
		v, ok := db.m[k]
		if !ok {
			return false
		}
		switch {
		case !v.self:
			found = v.target.Unicode()
		case k == d.ASCII():
			found = d.Unicode()
		default:
			// Same number of labels from the right in U-labels.
			n := strings.Count(k, ".")
			u := d.Unicode()
			for i := len(u) - 1; i >= 0; i-- {
				if u[i] == '.' {
					n--
					if n == 0 {
						found = u[i:]
						break
					}
				}
			}
		}
		return true
	})
	return found, ok
}

// Rules are the control-file settings that decide which addresses are
// local and how a local address names an account (dot-courier.md §1,
// aliases-and-control-files.md §2). pkg/config fills them from the files;
// a nil list means the file is missing, which for locals and
// esmtpacceptmailfor means "Me alone".
type Rules struct {
	Me              Domain      // control file "me" (the host name when missing)
	Locals          *DomainList // "locals": domains stripped before lookup
	Hosted          *DomainDB   // "hosteddomains.dat": domains kept in the account name
	AcceptMailFor   *DomainList // "esmtpacceptmailfor": domains accepted over ESMTP
	AcceptMailForDB *DomainDB   // "esmtpacceptmailfor.dat"
	PercentRelay    *DomainList // "esmtppercentrelay": user%domain@me relaying
	PercentRelayDB  *DomainDB   // "esmtppercentrelay.dat"
	LocalLowercase  bool        // "locallowercase" exists: local parts are case-insensitive
	// Separators are the characters that separate a user from an
	// extension besides '-' (control file "defaultsep"; Courier 1.0.16
	// knows only '-', later versions default to "+" when the file is
	// missing: pkg/config picks the default). Only ASCII characters count.
	Separators string
}

// InLocals reports whether d is a domain of "locals" (or Me when that
// file is missing): its addresses lose the domain before lookup.
func (r *Rules) InLocals(d Domain) bool {
	if d.IsZero() {
		return false
	}
	if r.Locals == nil {
		return d == r.Me
	}
	return r.Locals.Contains(d)
}

// LocalDomain reports whether addresses at d are delivered locally
// (Courier config_islocal): d is in locals, or a hosted domain, in which
// case hosted is the domain kept in the account name.
func (r *Rules) LocalDomain(d Domain) (hosted string, ok bool) {
	if r.InLocals(d) {
		return "", true
	}
	return r.Hosted.hosted(d)
}

// AcceptsMailFor reports whether courieresmtpd accepts mail for d from a
// client without RELAYCLIENT (esmtp.C acceptdomain): d is in
// esmtpacceptmailfor (Me when the file is missing) or in its database.
func (r *Rules) AcceptsMailFor(d Domain) bool {
	if d.IsZero() {
		return false
	}
	if r.AcceptMailFor == nil {
		if d == r.Me {
			return true
		}
	} else if r.AcceptMailFor.Contains(d) {
		return true
	}
	return r.AcceptMailForDB.Contains(d)
}

// PercentHack applies Courier's percent hack to a recipient received over
// ESMTP (makepercentrelay(8), esmtp.C rwinput): "user%remote@local"
// becomes "user@remote" when the domain after '@' is local and the one
// after the last '%' is listed in esmtppercentrelay or its database. ok is
// false, and a is returned unchanged, when the rule does not apply.
// Courier ignores a '%' inside a quoted local part; Address holds the
// local part's value, in which quoting is no longer visible, so here any
// '%' counts (RFC 5321 4.1.2 makes both spellings the same mailbox).
func (r *Rules) PercentHack(a Address) (Address, bool) {
	pct := strings.LastIndexByte(a.Local, '%')
	if pct <= 0 || pct == len(a.Local)-1 || a.Domain.IsZero() {
		return a, false
	}
	if _, ok := r.LocalDomain(a.Domain); !ok {
		return a, false
	}
	d, err := ParseDomain(a.Local[pct+1:])
	if err != nil || d.IsLiteral() {
		return a, false
	}
	if !r.PercentRelay.Contains(d) && !r.PercentRelayDB.Contains(d) {
		return a, false
	}
	return Address{Local: a.Local[:pct], Domain: d}, true
}

// Resolution is how courierlocal looks a local address up
// (dot-courier.md §1, Courier module.local/local.c rw_del_local).
type Resolution struct {
	// Name is the address after the locals/hosteddomains rewrite and
	// lower-casing: "user-ext" for a domain in locals or no domain,
	// "user-ext@hosted.example" for a hosted domain.
	Name string
	// Hosted is the domain kept in Name, "" when the domain was stripped.
	Hosted string
	// Lookups are the accounts to try, in order; the first that exists
	// decides, and its .courier file for Ext must then exist or the
	// address is unknown. Empty when the address can never be delivered
	// (empty local part).
	Lookups []Lookup
	// Reserved marks a local part starting with '.': only makealiases
	// generates such addresses (".xalias/..."), so mail submitted with one
	// must be refused; alias expansion delivers it through the aliasdir.
	Reserved bool
}

// Lookup is one account to try for a local address.
type Lookup struct {
	Account  string // name looked up with authlib (PRE . courier <Account>)
	Ext      string // extension: the .courier-<Ext> file, "" for .courier
	AliasDir bool   // the pseudo-user "alias" whose home is the aliasdir; not an authlib lookup
}

// maxSeparators is how many separators Courier considers when splitting a
// local part into account and extension (local.c: "++i > 3").
const maxSeparators = 4

// Resolve decides whether a is delivered locally and, if so, which
// accounts and extensions courierlocal tries (dot-courier.md §1):
//
//  1. a local part with '!' is a UUCP path: not local;
//  2. no domain, or a domain in locals: the domain is dropped; a hosted
//     domain is kept, in lower case (an alias replaced by its target);
//     any other domain: not local;
//  3. the local part is lower-cased when locallowercase is set, and
//     "postmaster" always;
//  4. lookups: the name split at its first four separators from the
//     right ("a-b-c-d-e" tries a-b-c-d/e, a-b-c/d-e, a-b/c-d-e, a/b-c-d-e),
//     the whole name first when it has fewer; for a hosted domain then
//     "alias@domain" with the local part as extension (virtual-domain
//     catch-all); last the aliasdir with the whole name as extension.
//
// Extensions have every extra separator turned into '-', as Courier does
// after it looks the account up.
func (r *Rules) Resolve(a Address) (Resolution, bool) {
	if strings.IndexByte(a.Local, '!') >= 0 {
		return Resolution{}, false
	}
	var res Resolution
	if !a.Domain.IsZero() {
		hosted, ok := r.LocalDomain(a.Domain)
		if !ok {
			return Resolution{}, false
		}
		res.Hosted = strings.ToLower(hosted)
	}
	local := a.Local
	if r.LocalLowercase || equalFoldASCII(local, "postmaster") {
		local = strings.ToLower(local)
	}
	atDomain := ""
	if res.Hosted != "" {
		atDomain = "@" + res.Hosted
	}
	res.Name = local + atDomain
	if local == "" {
		return res, true
	}
	aliasDir := Lookup{Account: "alias", Ext: r.dashes(res.Name), AliasDir: true}
	if local[0] == '.' {
		res.Reserved = true
		res.Lookups = []Lookup{aliasDir}
		return res, true
	}
	ext, seps := len(local), 0
	for k := 0; k < len(local); k++ {
		if r.isSep(local[k]) {
			if seps++; seps == maxSeparators {
				ext = k
				break
			}
		}
	}
	for {
		l := Lookup{Account: local[:ext] + atDomain}
		if ext < len(local) {
			l.Ext = r.dashes(local[ext+1:])
		}
		res.Lookups = append(res.Lookups, l)
		for ext > 0 {
			ext--
			if r.isSep(local[ext]) {
				break
			}
		}
		if ext == 0 {
			break
		}
	}
	if atDomain != "" {
		res.Lookups = append(res.Lookups, Lookup{Account: "alias" + atDomain, Ext: r.dashes(local)})
	}
	res.Lookups = append(res.Lookups, aliasDir)
	return res, true
}

func (r *Rules) isSep(c byte) bool {
	return c == '-' || (c < 0x80 && strings.IndexByte(r.Separators, c) >= 0)
}

// dashes turns the extra separators of s into '-' (Courier local.c
// local_callback).
func (r *Rules) dashes(s string) string {
	if r.Separators == "" {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if r.isSep(c) {
			b[i] = '-'
		}
	}
	return string(b)
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x >= 'A' && x <= 'Z' {
			x += 'a' - 'A'
		}
		if y >= 'A' && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
