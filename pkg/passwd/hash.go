package passwd

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	xbcrypt "github.com/go-crypt/x/bcrypt"
	"github.com/go-crypt/x/yescrypt"
)

// DefaultScheme is the scheme userdbpw uses without an option and the one a
// password change falls back to when the old hash has no recognisable
// scheme. Debian's userdbpw prints traditional DES, which only uses the
// first eight characters of a password; sha512-crypt is accepted by every
// crypt(3) the original authlib links with, so the real Courier still
// verifies what we write.
const DefaultScheme = "sha512"

// BcryptCost is the cost of new bcrypt hashes.
const BcryptCost = 10

// sshaSaltLen is the salt length authlib's {SSHA} uses.
const sshaSaltLen = 4

// Schemes lists the names Hash accepts.
func Schemes() []string {
	return []string{"des", "md5", "sha256", "sha512", "bcrypt",
		"hmac-md5", "hmac-sha1", "hmac-sha256",
		"{MD5}", "{MD5RAW}", "{SHA}", "{SHA256}", "{SHA512}", "{SSHA}"}
}

// randomSalt returns n characters of the crypt(3) alphabet.
func randomSalt(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("reading random salt: %w", err)
	}
	for i := range b {
		b[i] = cryptAlphabet[b[i]&0x3f]
	}
	return string(b), nil
}

// cryptWithSalt completes a crypt(3) setting prefix with a fresh salt.
func cryptWithSalt(password, prefix string, saltLen int) (string, error) {
	salt, err := randomSalt(saltLen)
	if err != nil {
		return "", err
	}
	out, ok := cryptHash(password, prefix+salt)
	if !ok {
		return "", fmt.Errorf("cannot hash with setting %q", prefix)
	}
	return out, nil
}

// Hash returns a new hash of password in the named scheme: "des" (crypt(3)
// traditional DES), "md5" ($1$), "sha256" ($5$), "sha512" ($6$), "bcrypt"
// ($2b$), "hmac-md5", "hmac-sha1", "hmac-sha256" (CRAM keys, see HMACKey)
// or one of the LDAP-style "{MD5}", "{MD5RAW}", "{SHA}", "{SHA256}",
// "{SHA512}", "{SSHA}" (case-insensitive).
func Hash(scheme, password string) (string, error) {
	switch s := strings.ToLower(scheme); s {
	case "des", "crypt":
		return cryptWithSalt(password, "", 2)
	case "md5":
		return cryptWithSalt(password, "$1$", md5SaltMax)
	case "sha256":
		return cryptWithSalt(password, "$5$", shaSaltMax)
	case "sha512":
		return cryptWithSalt(password, "$6$", shaSaltMax)
	case "bcrypt":
		return newBcrypt(password, 'b', BcryptCost)
	case "hmac-md5", "hmac-sha1", "hmac-sha256":
		return HMACKey(strings.TrimPrefix(s, "hmac-"), password)
	case "{md5}", "{md5raw}", "{sha}", "{sha256}", "{sha512}", "{ssha}":
		return prefixed(scheme, password)
	}
	return "", fmt.Errorf("unknown password scheme %q (known: %s)", scheme, strings.Join(Schemes(), ", "))
}

func newBcrypt(password string, version byte, cost int) (string, error) {
	salt, err := xbcrypt.NewSalt()
	if err != nil {
		return "", fmt.Errorf("reading random salt: %w", err)
	}
	setting := fmt.Sprintf("$2%c$%02d$%s", version, cost, xbcrypt.Base64Encode(salt))
	out, ok := bcryptHash(password, setting)
	if !ok {
		return "", fmt.Errorf("cannot hash with setting %q", setting)
	}
	return out, nil
}

// prefixed computes an LDAP-style "{NAME}" hash; the prefix keeps the
// spelling the caller gave.
func prefixed(prefix, password string) (string, error) {
	b64 := base64.StdEncoding.EncodeToString
	switch strings.ToUpper(prefix) {
	case "{MD5}":
		return prefix + b64(md5Sum(password)), nil
	case "{MD5RAW}":
		sum := md5.Sum([]byte(password))
		return prefix + hex.EncodeToString(sum[:]), nil
	case "{SHA}":
		sum := sha1.Sum([]byte(password))
		return prefix + b64(sum[:]), nil
	case "{SHA256}":
		sum := sha256.Sum256([]byte(password))
		return prefix + b64(sum[:]), nil
	case "{SHA512}":
		sum := sha512.Sum512([]byte(password))
		return prefix + b64(sum[:]), nil
	case "{SSHA}":
		salt := make([]byte, sshaSaltLen)
		if _, err := rand.Read(salt); err != nil {
			return "", fmt.Errorf("reading random salt: %w", err)
		}
		return prefix + b64(append(sshaSum(password, salt), salt...)), nil
	}
	return "", fmt.Errorf("unknown password scheme %q", prefix)
}

// SameScheme returns a new hash of password in the scheme of oldHash, as a
// password change does (spec/userdb.md §4: "$1$" stays "$1$"). The braced
// prefix keeps its spelling, sha-crypt keeps its rounds, bcrypt its cost
// (written as $2b$, or $2y$ when it was $2y$), yescrypt its parameters; the
// salt is always new. An old hash in no known scheme ("*", "!", empty)
// gives DefaultScheme.
func SameScheme(oldHash, password string) (string, error) {
	name, rest, braced := splitPrefix(oldHash)
	if braced {
		switch name {
		case "MD5", "MD5RAW", "SHA", "SHA256", "SHA512", "SSHA":
			return prefixed(oldHash[:len(oldHash)-len(rest)], password)
		case "CRYPT":
			h, err := sameCrypt(rest, password)
			if err != nil {
				return "", err
			}
			return oldHash[:len(oldHash)-len(rest)] + h, nil
		}
	}
	return sameCrypt(oldHash, password)
}

// sameCrypt is SameScheme for a crypt(3) string (no braced prefix: Check
// removes only one "{CRYPT}").
func sameCrypt(oldHash, password string) (string, error) {
	switch {
	case strings.HasPrefix(oldHash, "$1$"):
		return Hash("md5", password)
	case strings.HasPrefix(oldHash, "$5$"), strings.HasPrefix(oldHash, "$6$"):
		prefix := oldHash[:3]
		if rounds, custom, _, ok := shaRounds(oldHash[3:]); ok && custom {
			prefix += fmt.Sprintf("rounds=%d$", rounds)
		}
		return cryptWithSalt(password, prefix, shaSaltMax)
	case strings.HasPrefix(oldHash, "$2"):
		if version, cost, _, ok := bcryptSetting(oldHash); ok {
			if version != 'y' {
				version = 'b'
			}
			return newBcrypt(password, version, cost)
		}
	case strings.HasPrefix(oldHash, "$y$"):
		if h, ok := newYescrypt(oldHash, password); ok {
			return h, nil
		}
	case isDES(oldHash):
		return Hash("des", password)
	}
	return Hash(DefaultScheme, password)
}

// newYescrypt hashes password with the parameters of an existing yescrypt
// hash and a new 16-byte salt (libxcrypt's default salt size).
func newYescrypt(oldHash, password string) (string, bool) {
	params := oldHash[3:]
	end := strings.IndexByte(params, '$')
	if end < 0 {
		return "", false
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", false
	}
	setting := "$y$" + params[:end] + "$" + string(yescrypt.Encode64(salt))
	out, err := yescrypt.Hash([]byte(password), []byte(setting))
	if err != nil {
		return "", false
	}
	return string(out), true
}

// isDES reports whether h looks like a traditional DES crypt hash.
func isDES(h string) bool {
	if len(h) != 13 {
		return false
	}
	for i := range len(h) {
		if cryptIndex(h[i]) < 0 {
			return false
		}
	}
	return true
}
