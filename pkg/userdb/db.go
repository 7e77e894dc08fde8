package userdb

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/gocourier/courier/pkg/dbfile"
)

// Account is one userdb account as authdaemond's userdb module sees it
// (spec/userdb.md §1 field table).
type Account struct {
	Name     string
	UID, GID uint32
	Home     string
	Shell    string
	Mail     string // maildir; MAILDIR in authdaemon replies
	Quota    string // maildir quota spec, e.g. "1000000S"
	Gecos    string // full gecos; see FullName
	Options  string // comma list, e.g. "disableimap=1"
	Location string // "_" field: the record's file inside the source directory
	// Passwords holds every *pw field of the shadow database ("systempw",
	// "imappw", "hmac-md5pw", "imap-hmac-md5pw", ...). Empty when the
	// shadow database cannot be read (not root), and nil in Enumerate.
	Passwords map[string]string
}

// Password returns the password hash for a service: the <service>pw field,
// else systempw (spec/authdaemon.md §4).
func (a Account) Password(service string) (string, bool) {
	if service != "" {
		if p, ok := a.Passwords[service+"pw"]; ok {
			return p, true
		}
	}
	p, ok := a.Passwords["systempw"]
	return p, ok
}

// HMACKey returns the CRAM key for a service and hash ("md5", "sha1",
// "sha256"): <service>-hmac-<hash>pw, else hmac-<hash>pw.
func (a Account) HMACKey(service, hash string) (string, bool) {
	if service != "" {
		if p, ok := a.Passwords[service+"-hmac-"+hash+"pw"]; ok {
			return p, true
		}
	}
	p, ok := a.Passwords["hmac-"+hash+"pw"]
	return p, ok
}

// FullName is the gecos up to its first comma: authdaemon's NAME.
func (a Account) FullName() string {
	name, _, _ := strings.Cut(a.Gecos, ",")
	return name
}

// RecordError reports a record that exists but cannot be an account: no
// home, uid or gid field, or a uid/gid that is not a number.
type RecordError struct {
	Path, Name, Reason string
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("%s: account %s: %s; fix the userdb source and run makeuserdb", e.Path, e.Name, e.Reason)
}

// accountFrom builds an account from its userdb.dat fields. reason is ""
// on success.
func accountFrom(name string, fields []Field) (Account, string) {
	a := Account{Name: name}
	var haveHome, haveUID, haveGID bool
	for _, f := range fields {
		switch f.Name {
		case "home":
			if !haveHome {
				a.Home, haveHome = f.Value, true
			}
		case "uid", "gid":
			if (f.Name == "uid" && haveUID) || (f.Name == "gid" && haveGID) {
				continue
			}
			n, err := strconv.ParseUint(f.Value, 10, 32)
			if err != nil || f.Bare {
				return Account{}, fmt.Sprintf("%s %q is not a decimal number below 2^32", f.Name, f.Value)
			}
			if f.Name == "uid" {
				a.UID, haveUID = uint32(n), true
			} else {
				a.GID, haveGID = uint32(n), true
			}
		}
	}
	switch {
	case !haveHome:
		return Account{}, "no home field"
	case !haveUID:
		return Account{}, "no uid field"
	case !haveGID:
		return Account{}, "no gid field"
	}
	// First occurrence wins, as in the original's userdb_get.
	first := func(name string) string {
		v, _ := Record{Fields: fields}.Get(name)
		return v
	}
	a.Shell = first("shell")
	a.Mail = first("mail")
	a.Quota = first("quota")
	a.Gecos = first("gecos")
	a.Options = first("options")
	a.Location = first("_")
	return a, ""
}

// DB reads a compiled userdb: userdb.dat and, when readable,
// userdbshadow.dat. Both files are followed across rebuilds (package
// dbfile). It is safe for concurrent use.
type DB struct {
	dat        *dbfile.DB
	shadowPath string
	mu         sync.Mutex
	shadow     *dbfile.DB
}

// OpenDB opens userdb.dat (an error if it is missing or unreadable) and
// userdbshadow.dat. The shadow file may be unreadable (a non-root caller)
// or missing: accounts then have no passwords, and opening it is tried
// again at each lookup.
func OpenDB(datPath, shadowPath string) (*DB, error) {
	dat, err := dbfile.Open(datPath)
	if err != nil {
		return nil, err
	}
	db := &DB{dat: dat, shadowPath: shadowPath}
	db.shadowDB()
	return db, nil
}

// OpenDB opens the source's compiled databases.
func (s Source) OpenDB() (*DB, error) { return OpenDB(s.Dat, s.Shadow) }

func (db *DB) shadowDB() *dbfile.DB {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.shadow == nil && db.shadowPath != "" {
		if s, err := dbfile.Open(db.shadowPath); err == nil {
			db.shadow = s
		}
	}
	return db.shadow
}

// Lookup returns the account called name (exact bytes; callers lower-case
// first when logins are case-insensitive). A missing name and a reverse
// uid record give found=false and no error. A record that exists but
// cannot be an account gives found=false and a *RecordError, which the
// caller should log and treat as "no such account".
func (db *DB) Lookup(name string) (Account, bool, error) {
	v, ok, err := db.dat.Get(name)
	if err != nil || !ok {
		return Account{}, false, err
	}
	if (Record{Name: name}).IsReverse() {
		return Account{}, false, nil
	}
	a, reason := accountFrom(name, parseValue(v))
	if reason != "" {
		return Account{}, false, &RecordError{Path: db.dat.Path(), Name: name, Reason: reason}
	}
	a.Passwords = map[string]string{}
	if s := db.shadowDB(); s != nil {
		sv, ok, err := s.Get(name)
		if err != nil {
			return Account{}, false, err
		}
		if ok {
			for _, f := range parseValue(sv) {
				if _, dup := a.Passwords[f.Name]; f.IsPassword() && !dup {
					a.Passwords[f.Name] = f.Value
				}
			}
		}
	}
	return a, true, nil
}

// LookupUID follows a reverse uid record: the account name that numeric
// uid maps to. (makeuserdb stores "name|_=", so the name ends at "|".)
func (db *DB) LookupUID(uid uint32) (string, bool, error) {
	v, ok, err := db.dat.Get(strconv.FormatUint(uint64(uid), 10) + "=")
	if err != nil || !ok {
		return "", false, err
	}
	name, _, _ := strings.Cut(v, "|")
	return name, name != "", nil
}

// Enumerate calls fn for every account in name order, skipping reverse uid
// records and records that cannot be accounts (spec/userdb.md §2).
// Passwords is nil in the accounts it passes.
func (db *DB) Enumerate(fn func(Account) error) error {
	return db.dat.ForEach(func(k, v string) error {
		if (Record{Name: k}).IsReverse() {
			return nil
		}
		a, reason := accountFrom(k, parseValue(v))
		if reason != "" {
			return nil
		}
		return fn(a)
	})
}

// Close releases both databases.
func (db *DB) Close() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.shadow != nil {
		db.shadow.Close()
		db.shadow = nil
	}
	return db.dat.Close()
}
