package userdb

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/gocourier/courier/pkg/dbfile"
)

// File modes of the compiled databases: the original ran makedat under
// umask 022 for userdb.dat and 066 for userdbshadow.dat.
const (
	DatMode    = 0o644
	ShadowMode = 0o600
	lockMode   = 0o644
)

// Stats counts what a compilation wrote.
type Stats struct {
	Files    int // text files read
	Records  int // records in userdb.dat (accounts, reverse uid records, others)
	Accounts int // records with home, uid and gid
	Reverse  int // reverse uid records ("NNN=")
	Shadow   int // records in userdbshadow.dat
}

// lockFile takes an exclusive flock on path (created with mode if needed)
// and returns the file; closing it releases the lock.
func lockFile(path string, mode os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, mode)
	if err != nil {
		return nil, fmt.Errorf("can't open %s: %w", path, err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("can't lock %s: %w", path, err)
	}
	return f, nil
}

// datValue is the userdb.dat value of a record: its non-password fields
// and "_=<location>" (makeuserdb appends it to every record, reverse uid
// records included).
func datValue(r Record, location string) string {
	var b strings.Builder
	for _, f := range r.Fields {
		if !f.IsPassword() {
			b.WriteString(f.String())
			b.WriteByte('|')
		}
	}
	b.WriteString("_=" + location)
	return b.String()
}

// shadowValue is the userdbshadow.dat value: the password fields only, ""
// when there are none (no shadow record is written then).
func shadowValue(r Record) string {
	var parts []string
	for _, f := range r.Fields {
		if f.IsPassword() {
			parts = append(parts, f.String())
		}
	}
	return strings.Join(parts, "|")
}

// Compile is makeuserdb: it checks the source (CheckSafe), takes the lock,
// reads and checks every record, and replaces userdb.dat and
// userdbshadow.dat atomically. If any record is bad it writes nothing and
// returns an Errors value with each bad line as file:line.
func (s Source) Compile() (Stats, error) {
	var st Stats
	if err := s.CheckSafe(); err != nil {
		return st, err
	}
	lock, err := lockFile(s.Lock, lockMode)
	if err != nil {
		return st, err
	}
	defer lock.Close()
	files, err := s.Files()
	if err != nil {
		return st, err
	}
	st.Files = len(files)
	entries, err := readFiles(files)
	if err != nil {
		return st, err
	}
	dat, err := dbfile.Create(s.Dat, DatMode)
	if err != nil {
		return st, err
	}
	defer dat.Abort()
	shadow, err := dbfile.Create(s.Shadow, ShadowMode)
	if err != nil {
		return st, err
	}
	defer shadow.Abort()
	for _, e := range entries {
		if err := dat.Put(e.Name, datValue(e.Record, s.Location(e.File))); err != nil {
			return st, fmt.Errorf("%s: %w", e.Where(), err)
		}
		st.Records++
		if e.IsReverse() {
			st.Reverse++
		} else if _, reason := accountFrom(e.Name, e.Fields); reason == "" {
			st.Accounts++
		}
		if v := shadowValue(e.Record); v != "" {
			if err := shadow.Put(e.Name, v); err != nil {
				return st, fmt.Errorf("%s: %w", e.Where(), err)
			}
			st.Shadow++
		}
	}
	if err := shadow.Commit(); err != nil {
		return st, err
	}
	if err := dat.Commit(); err != nil {
		return st, err
	}
	return st, nil
}
