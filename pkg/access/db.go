package access

import (
	"fmt"
	"net"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/gocourier/courier/pkg/dbfile"
)

// Compile builds the database dat from the source src (a file or a
// directory), atomically: the new file replaces the old one only when the
// whole source is good, so an error leaves the old database in service.
// Two runs at once are kept apart by a lock on the original's temporary
// file name (dat without ".dat", plus ".tmp"). It returns the number of
// keys stored.
func Compile(src, dat string) (int, error) {
	lock := strings.TrimSuffix(dat, ".dat") + ".tmp"
	f, err := os.OpenFile(lock, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return 0, fmt.Errorf("cannot create the lock file: %w", err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return 0, fmt.Errorf("%s is locked: another run is building %s; try again when it is done", lock, dat)
	}
	defer os.Remove(lock)
	ents, err := ReadSource(src)
	if err != nil {
		return 0, err
	}
	w, err := dbfile.Create(dat, 0o644)
	if err != nil {
		return 0, fmt.Errorf("cannot write %s: %w", dat, err)
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
	if err := w.Commit(); err != nil {
		return 0, fmt.Errorf("cannot write %s: %w", dat, err)
	}
	return n, nil
}

// DB is an open access database. A replaced file is noticed and re-opened
// by pkg/dbfile before the next lookup.
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

// Lookup is Check without the error: an unreadable database or entry
// counts as no entry, as in the original.
func (d *DB) Lookup(ip, localIP net.IP, localPort int, accessLocal bool) (Verdict, bool) {
	v, found, _ := d.Check(ip, localIP, localPort, accessLocal)
	return v, found
}

// Check decides about a client at ip connected to localIP:localPort (tcpd.c
// accepted): with accessLocal, the entry for the local address and port
// first (Keys(localIP, localPort)), which may deny the connection; then
// the entry for the client (Keys(ip, 0)). Each lookup uses only the most
// specific entry found. The variables of both are returned, the local
// entry's first, so that the client's entry wins a name both set. found
// is false when no entry applies: the client is allowed with no
// variables.
func (d *DB) Check(ip, localIP net.IP, localPort int, accessLocal bool) (v Verdict, found bool, err error) {
	if accessLocal {
		lv, ok, err := d.find(Keys(localIP, localPort))
		if err != nil {
			return Verdict{}, false, err
		}
		if ok && lv.Deny {
			lv.Local = true
			return lv, true, nil
		}
		v, found = lv, ok
	}
	rv, ok, err := d.find(Keys(ip, 0))
	if err != nil {
		return Verdict{}, false, err
	}
	if !ok {
		return v, found, nil
	}
	rv.Vars = append(v.Vars, rv.Vars...)
	return rv, true, nil
}

// find returns the value of the first of keys in the database.
func (d *DB) find(keys []string) (Verdict, bool, error) {
	for _, k := range keys {
		val, ok, err := d.db.Get(k)
		if err != nil {
			return Verdict{}, false, err
		}
		if !ok {
			continue
		}
		v, err := ParseValue(val)
		if err != nil {
			return Verdict{}, false, fmt.Errorf("%s: entry %s: %v (correct the source and run makesmtpaccess again)", d.db.Path(), k, err)
		}
		v.Key = k
		return v, true, nil
	}
	return Verdict{}, false, nil
}
