package auth

import (
	"context"
	"strings"

	"github.com/gocourier/courier/pkg/authlib"
)

// minEnumUID is the lowest uid the system-account modules list in
// ENUMERATE: the original's authpam leaves out system accounts below 100
// [observed: root, daemon ... _apt missing, messagebus (100) listed].
const minEnumUID = 100

// unixModule is authpwd and authshadow: system accounts from the passwd
// file, the encrypted password from the passwd or the shadow file, checked
// here with pkg/passwd. authpam shares its lookups.
type unixModule struct {
	name   string
	files  *pwFiles
	verify *verifyCache
}

// newUnixModule returns authpwd (shadow == "") or authshadow.
func newUnixModule(name, passwdPath, shadowPath string, verify *verifyCache, warn func(error)) *unixModule {
	return &unixModule{name: name, files: &pwFiles{passwd: passwdPath, shadow: shadowPath, warn: warn}, verify: verify}
}

func (m *unixModule) Name() string { return m.name }
func (m *unixModule) Close() error { return nil }

// account is the reply for a system account [observed for authpam]:
// USERNAME, GID, HOME, ADDRESS (the login name), NAME (gecos), PASSWD.
func (m *unixModule) account(e PasswdEntry) *authlib.Account {
	return &authlib.Account{
		Username: e.Name, GID: e.GID, Home: e.Home, Address: e.Name,
		Name: e.Gecos, HasName: true, Passwd: e.Passwd,
	}
}

func (m *unixModule) find(user string) (PasswdEntry, error) {
	// A name with a colon could never match a passwd line.
	if user == "" || strings.ContainsAny(user, ":\n") {
		return PasswdEntry{}, ErrReject
	}
	e, ok, err := m.files.lookup(user)
	if err != nil {
		return PasswdEntry{}, err
	}
	if !ok {
		return PasswdEntry{}, ErrReject
	}
	return e, nil
}

func (m *unixModule) Lookup(_ context.Context, _, user string) (*authlib.Account, error) {
	e, err := m.find(user)
	if err != nil {
		return nil, err
	}
	return m.account(e), nil
}

// usablePassword refuses the fields that lock an account or leave it
// without a password: an empty field would otherwise match any password
// with some crypt implementations.
func usablePassword(hash string) bool {
	return hash != "" && hash[0] != '!' && hash[0] != '*' && hash != "x"
}

func (m *unixModule) Authenticate(_ context.Context, _ string, c *Credentials) (*authlib.Account, error) {
	if c.IsCRAM() || c.Type != "login" {
		return nil, ErrReject
	}
	e, err := m.find(c.User)
	if err != nil {
		return nil, err
	}
	if !usablePassword(e.Passwd) || !m.verify.check(e.Passwd, c.Password) {
		return nil, ErrReject
	}
	a := m.account(e)
	a.Passwd2 = c.Password
	return a, nil
}

// ChangePassword is not done by authpwd/authshadow: editing the system's
// password files belongs to passwd(1) (and to authpam, through PAM).
func (m *unixModule) ChangePassword(context.Context, string, string, string, string) error {
	return ErrReject
}

func (m *unixModule) Enumerate(_ context.Context, fn func(authlib.EnumEntry) error) error {
	list, _, err := m.files.load()
	if err != nil {
		return err
	}
	for _, e := range list {
		if e.UID < minEnumUID {
			continue
		}
		if err := fn(authlib.EnumEntry{Name: e.Name, UID: e.UID, GID: e.GID, Home: e.Home}); err != nil {
			return err
		}
	}
	return nil
}
