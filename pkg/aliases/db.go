package aliases

import (
	"errors"
	"io/fs"
	"strings"

	"github.com/gocourier/courier/pkg/dbfile"
)

// DB is a compiled alias database (aliases.dat or aliases-<module>.dat)
// opened for lookups. It follows replacements of the file by makealiases.
type DB struct{ db *dbfile.DB }

// OpenDB opens a compiled alias database. A missing file gives an error
// satisfying errors.Is(err, fs.ErrNotExist): no aliases.
func OpenDB(path string) (*DB, error) {
	db, err := dbfile.Open(path)
	if err != nil {
		return nil, err
	}
	return &DB{db}, nil
}

// Close releases the database.
func (d *DB) Close() error { return d.db.Close() }

// Lookup returns the recipients stored under key, an alias in canonical
// form ("root@example.com") or a virtual domain ("@virt.example"), with
// every spill-over record read.
func (d *DB) Lookup(key string) ([]string, bool, error) {
	var vals []string
	for n := 0; ; n++ {
		v, ok, err := d.db.Get(recordKey(key, n))
		if err != nil {
			return nil, false, err
		}
		if !ok {
			break
		}
		vals = append(vals, v)
	}
	if len(vals) == 0 {
		return nil, false, nil
	}
	return joinLines(vals), true, nil
}

// ForEach calls fn for each alias of the database with all its recipients,
// in key order.
func (d *DB) ForEach(fn func(alias string, members []string) error) error {
	var names []string
	err := d.db.ForEach(func(k, _ string) error {
		if !strings.Contains(k, "\n") {
			names = append(names, k)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, n := range names {
		m, _, err := d.Lookup(n)
		if err != nil {
			return err
		}
		if err := fn(n, m); err != nil {
			return err
		}
	}
	return nil
}

// Searcher finds the aliases of a recipient the way the original's
// submit does (AliasSearch): the module's own database first, then the
// common one; in each, the address itself, then its domain as a virtual
// domain.
type Searcher struct {
	Module *DB // aliases-<module>.dat, nil when there is none
	Local  *DB // aliases.dat, nil when there is none
	// DefaultDomain replaces a local domain before the lookup, as
	// makealiases stored local aliases under it.
	DefaultDomain string
	// Me is the domain of the addresses a virtual domain expands to.
	Me string
	// IsLocal reports whether a domain is one of "locals" (nil: only
	// DefaultDomain).
	IsLocal func(domain string) bool
}

// OpenSearcher opens aliases.dat and, when module is not empty,
// aliases-<module>.dat in dir; missing files mean no aliases.
func OpenSearcher(dir, module, defaultDomain, me string, isLocal func(string) bool) (*Searcher, error) {
	s := &Searcher{DefaultDomain: defaultDomain, Me: me, IsLocal: isLocal}
	open := func(name string) (*DB, error) {
		db, err := OpenDB(dir + "/" + name)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return db, err
	}
	var err error
	if module != "" {
		if s.Module, err = open("aliases-" + module + ".dat"); err != nil {
			return nil, err
		}
	}
	if s.Local, err = open("aliases.dat"); err != nil {
		if s.Module != nil {
			s.Module.Close()
		}
		return nil, err
	}
	return s, nil
}

// Close releases both databases.
func (s *Searcher) Close() error {
	var err error
	for _, d := range []*DB{s.Module, s.Local} {
		if d != nil {
			if e := d.Close(); e != nil && err == nil {
				err = e
			}
		}
	}
	return err
}

// Canonical is the key an address is looked up under: an address without
// a domain or with a local one gets DefaultDomain, in lower case; other
// addresses are looked up as given (callers pass them with the domain in
// lower case, as submit stores them).
func (s *Searcher) Canonical(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	local := addr
	if at >= 0 {
		dom := addr[at+1:]
		isLocal := strings.EqualFold(dom, s.DefaultDomain)
		if s.IsLocal != nil {
			isLocal = s.IsLocal(dom)
		}
		if !isLocal {
			return addr
		}
		local = addr[:at]
	}
	return local + "@" + strings.ToLower(s.DefaultDomain)
}

// Expand returns the recipients an address is an alias for, and false when
// it is no alias. A virtual domain "@dom: user" expands foo@dom to
// user-foo@Me ("@dom: uucp!path!" to uucp!path!foo@Me). Expansion is one
// level, as stored: makealiases already expanded sub-aliases, and a
// virtual domain's result is not expanded again.
func (s *Searcher) Expand(addr string) ([]string, bool, error) {
	key := s.Canonical(addr)
	for _, d := range []*DB{s.Module, s.Local} {
		if d == nil {
			continue
		}
		m, ok, err := d.Lookup(key)
		if err != nil || ok {
			return m, ok, err
		}
		m, ok, err = s.virtual(d, key)
		if err != nil || ok {
			return m, ok, err
		}
	}
	return nil, false, nil
}

func (s *Searcher) virtual(d *DB, addr string) ([]string, bool, error) {
	at := strings.IndexAny(addr, "@!%")
	if at < 0 || addr[at] != '@' {
		return nil, false, nil
	}
	prefixes, ok, err := d.Lookup(addr[at:])
	if err != nil || !ok {
		return nil, false, err
	}
	out := make([]string, 0, len(prefixes))
	for _, p := range prefixes {
		if !strings.HasSuffix(p, "!") {
			p += "-"
		}
		out = append(out, p+addr[:at]+"@"+s.Me)
	}
	return out, true, nil
}
