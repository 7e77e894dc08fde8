// Package auth owns authdaemond's authentication modules and the order in
// which they are consulted (spec/authdaemon.md §3 "Module iteration"):
// authuserdb (the userdb database), authpwd (/etc/passwd), authshadow
// (/etc/passwd and /etc/shadow) and authpam (PAM, through the cgo helper
// program authpam, so that authdaemond itself stays free of C code).
//
// A Stack holds the modules named by authmodulelist and answers the four
// requests of the protocol with the original's result semantics: a module
// either answers (success), rejects (the next module is tried), or fails
// temporarily (the search stops and the client gets no reply). pkg/authdaemon
// puts a Stack behind the socket; nothing else calls this package.
package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/gocourier/courier/pkg/authlib"
)

// ErrReject is a module's "not mine / wrong password" (the original's
// negative result): the next module is tried, and when every module
// rejects the client gets FAIL. Any other error from a module is a
// temporary failure (positive result): no further module is tried and the
// daemon closes the connection without a reply.
var ErrReject = errors.New("rejected")

// ErrNoEnumerate is returned by a module that cannot list its accounts;
// ENUMERATE leaves it out.
var ErrNoEnumerate = errors.New("module cannot enumerate accounts")

// Module is one authentication back end.
type Module interface {
	Name() string
	// Lookup answers PRE: the account without a password check.
	Lookup(ctx context.Context, service, user string) (*authlib.Account, error)
	// Authenticate answers AUTH.
	Authenticate(ctx context.Context, service string, c *Credentials) (*authlib.Account, error)
	// ChangePassword answers PASSWD.
	ChangePassword(ctx context.Context, service, user, oldPassword, newPassword string) error
	// Enumerate calls fn for every account (ENUMERATE).
	Enumerate(ctx context.Context, fn func(authlib.EnumEntry) error) error
	// Close releases the module's resources (open databases, helpers).
	Close() error
}

// Credentials is AUTH's authdata decoded for its authtype.
type Credentials struct {
	Type     string // authtype as sent: "login", "cram-md5", ...
	User     string
	Password string // login: the cleartext password
	// CRAM (RFC 2195): the hash ("md5", "sha1", "sha256"), the challenge
	// the server sent and the hex digest the client answered.
	Hash, Challenge, Digest string
}

// IsCRAM reports whether c is a CRAM-MD5/SHA1/SHA256 response.
func (c *Credentials) IsCRAM() bool { return c.Hash != "" }

// ParseCredentials decodes authdata (spec §2): "login" is
// "user\npassword\n" (the last newline optional, anything after it
// ignored); "cram-*" is "base64(challenge)\nbase64(user digest)\n". Other
// authtypes, and data that does not decode, are ErrReject, as the
// original's modules reject them (the client gets FAIL).
func ParseCredentials(authtype, authdata string) (*Credentials, error) {
	c := &Credentials{Type: authtype}
	switch authtype {
	case "login":
		user, rest, ok := strings.Cut(authdata, "\n")
		if !ok || user == "" {
			return nil, ErrReject
		}
		pw, _, _ := strings.Cut(rest, "\n")
		c.User, c.Password = user, pw
	case "cram-md5", "cram-sha1", "cram-sha256":
		c.Hash = strings.TrimPrefix(authtype, "cram-")
		chal64, rest, ok := strings.Cut(authdata, "\n")
		if !ok {
			return nil, ErrReject
		}
		resp64, _, _ := strings.Cut(rest, "\n")
		chal, err1 := base64.StdEncoding.DecodeString(chal64)
		resp, err2 := base64.StdEncoding.DecodeString(resp64)
		if err1 != nil || err2 != nil || len(chal) == 0 {
			return nil, ErrReject
		}
		i := strings.LastIndexByte(string(resp), ' ')
		if i <= 0 || i == len(resp)-1 {
			return nil, ErrReject
		}
		c.Challenge, c.User, c.Digest = string(chal), string(resp[:i]), strings.ToLower(string(resp[i+1:]))
	default:
		return nil, ErrReject
	}
	return c, nil
}
