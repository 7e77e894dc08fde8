package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"sync"

	"github.com/gocourier/courier/pkg/authlib"
	"github.com/gocourier/courier/pkg/passwd"
	"github.com/gocourier/courier/pkg/userdb"
)

// cramHashes are the CRAM hashes whose keys a password change refreshes,
// in the original's order [observed in its DEBUG_LOGIN output].
var cramHashes = []string{"md5", "sha1", "sha256"}

// userdbModule is authuserdb: virtual accounts from userdb.dat and
// userdbshadow.dat (pkg/userdb), which re-open themselves when makeuserdb
// replaces them.
//
// Accounts are cached in memory while the two database files stay
// unchanged, which an inotify watch on their directory tells at the cost of
// one read per lookup; without inotify every lookup reads the database.
type userdbModule struct {
	src    userdb.Source
	log    *slog.Logger
	verify *verifyCache

	mu     sync.Mutex
	db     *userdb.DB
	watch  *dirWatch // nil: no account cache
	cached map[string]cachedAccount
}

type cachedAccount struct {
	a     userdb.Account
	found bool
}

// newUserdbModule serves the userdb source at path (a file or directory)
// and its path.dat / pathshadow.dat.
func newUserdbModule(path string, verify *verifyCache, log *slog.Logger) *userdbModule {
	m := &userdbModule{src: userdb.FileSource(path), log: log, verify: verify}
	if w, err := newDirWatch(m.src.Dat, m.src.Shadow); err == nil {
		m.watch, m.cached = w, map[string]cachedAccount{}
	} else {
		log.Warn("authuserdb: cannot watch the userdb files (" + err.Error() + "): every lookup reads the database")
	}
	return m
}

// fromCache returns a cached lookup result, after forgetting everything
// if the database files changed.
func (m *userdbModule) fromCache(user string) (cachedAccount, bool) {
	if m.watch == nil {
		return cachedAccount{}, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.watch.changed() {
		clear(m.cached)
		return cachedAccount{}, false
	}
	c, ok := m.cached[user]
	return c, ok
}

// remember caches a result read from the database, unless the files
// changed while it was read.
func (m *userdbModule) remember(user string, c cachedAccount) {
	if m.watch == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.watch.changed() {
		clear(m.cached)
		return
	}
	if len(m.cached) >= maxCacheEntries {
		clear(m.cached)
	}
	m.cached[user] = c
}

func (m *userdbModule) Name() string { return "authuserdb" }

// open opens the database on first use, so that authdaemond starts (and
// answers FAIL for userdb accounts, with the reason in the log) before
// makeuserdb first ran.
func (m *userdbModule) open() (*userdb.DB, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.db == nil {
		db, err := m.src.OpenDB()
		if errors.Is(err, fs.ErrNotExist) {
			// As in the original: no database, no userdb accounts; the
			// next module is asked.
			return nil, fmt.Errorf("%w: %s does not exist (run makeuserdb)", ErrReject, m.src.Dat)
		}
		if err != nil {
			return nil, err
		}
		m.db = db
	}
	return m.db, nil
}

func (m *userdbModule) lookup(user string) (userdb.Account, error) {
	if c, ok := m.fromCache(user); ok {
		if !c.found {
			return userdb.Account{}, ErrReject
		}
		return c.a, nil
	}
	db, err := m.open()
	if err != nil {
		return userdb.Account{}, err
	}
	a, ok, err := db.Lookup(user)
	var re *userdb.RecordError
	if errors.As(err, &re) {
		m.log.Warn(fmt.Sprintf("userdb account %s is unusable and rejected: %v", user, err))
		return userdb.Account{}, ErrReject
	}
	if err != nil {
		return userdb.Account{}, err
	}
	m.remember(user, cachedAccount{a: a, found: ok})
	if !ok {
		return userdb.Account{}, ErrReject
	}
	return a, nil
}

// account is the PRE / login reply [observed]: UID GID HOME ADDRESS NAME
// MAILDIR QUOTA PASSWD OPTIONS.
func (m *userdbModule) account(a userdb.Account, service string) *authlib.Account {
	r := m.cramAccount(a)
	r.Name, r.HasName = a.Gecos, a.Gecos != ""
	r.Quota = a.Quota
	r.Passwd, _ = a.Password(service)
	return r
}

// cramAccount is the CRAM reply, which omits NAME, QUOTA and PASSWD
// [observed].
func (m *userdbModule) cramAccount(a userdb.Account) *authlib.Account {
	return &authlib.Account{
		UID: a.UID, HasUID: true, GID: a.GID, Home: a.Home, Address: a.Name,
		Maildir: a.Mail, Options: authlib.ParseOptions(a.Options),
	}
}

func (m *userdbModule) Lookup(_ context.Context, service, user string) (*authlib.Account, error) {
	a, err := m.lookup(user)
	if err != nil {
		return nil, err
	}
	return m.account(a, service), nil
}

func (m *userdbModule) Authenticate(_ context.Context, service string, c *Credentials) (*authlib.Account, error) {
	a, err := m.lookup(c.User)
	if err != nil {
		return nil, err
	}
	if c.IsCRAM() {
		key, ok := a.HMACKey(service, c.Hash)
		if !ok || !passwd.CheckCRAM(c.Hash, key, c.Challenge, c.Digest) {
			return nil, ErrReject
		}
		return m.cramAccount(a), nil
	}
	if c.Type != "login" {
		return nil, ErrReject
	}
	hash, ok := a.Password(service)
	if !ok || hash == "" || !m.verify.check(hash, c.Password) {
		return nil, ErrReject
	}
	r := m.account(a, service)
	r.Passwd2 = c.Password
	return r, nil
}

// ChangePassword checks the old password against the service's password
// or any of its CRAM keys, as the original does [observed in its
// DEBUG_LOGIN output], then rewrites the record's password fields in the
// text source and rebuilds the database (pkg/userdb).
func (m *userdbModule) ChangePassword(_ context.Context, service, user, oldPassword, newPassword string) error {
	a, err := m.lookup(user)
	if err != nil {
		return err
	}
	ok := false
	if hash, found := a.Password(service); found && hash != "" && passwd.Check(hash, oldPassword) {
		ok = true
	}
	for _, h := range cramHashes {
		if key, found := a.HMACKey(service, h); found && !ok {
			want, err := passwd.HMACKey(h, oldPassword)
			ok = err == nil && subtle.ConstantTimeCompare([]byte(strings.ToLower(key)), []byte(want)) == 1
		}
	}
	if !ok {
		return ErrReject
	}
	if err := userdb.ChangePassword(m.src, user, service, newPassword); err != nil {
		return fmt.Errorf("changing the userdb password of %s: %w", user, err)
	}
	return nil
}

func (m *userdbModule) Enumerate(_ context.Context, fn func(authlib.EnumEntry) error) error {
	db, err := m.open()
	if errors.Is(err, ErrReject) {
		// No userdb.dat (makeuserdb has not run yet): no accounts to
		// list, and the other modules still list theirs.
		return nil
	}
	if err != nil {
		return err
	}
	return db.Enumerate(func(a userdb.Account) error {
		return fn(authlib.EnumEntry{Name: a.Name, UID: a.UID, GID: a.GID, Home: a.Home, Maildir: a.Mail, Options: authlib.ParseOptions(a.Options)})
	})
}

func (m *userdbModule) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.watch != nil {
		m.watch.close()
		m.watch = nil
	}
	if m.db == nil {
		return nil
	}
	err := m.db.Close()
	m.db = nil
	return err
}
