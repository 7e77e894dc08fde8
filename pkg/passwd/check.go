package passwd

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// sshaDigestLen is the SHA-1 digest that precedes the salt in {SSHA}.
const sshaDigestLen = sha1.Size

// splitPrefix splits "{NAME}rest" into the upper-cased NAME and rest. ok is
// false when hash does not start with a braced prefix.
func splitPrefix(hash string) (name, rest string, ok bool) {
	if !strings.HasPrefix(hash, "{") {
		return "", hash, false
	}
	end := strings.IndexByte(hash, '}')
	if end < 0 {
		return "", hash, false
	}
	return strings.ToUpper(hash[1:end]), hash[end+1:], true
}

// decodeBase64 accepts the padded form authlib writes and the unpadded form
// some LDAP tools write.
func decodeBase64(s string) ([]byte, bool) {
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, true
	}
	if b, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return b, true
	}
	return nil, false
}

// Check reports whether password matches the stored hash, for every format
// courier-authlib's authcheckpassword accepts (spec/authdaemon.md §4):
// "{MD5}", "{MD5RAW}", "{SHA}", "{SHA256}", "{SHA512}", "{SSHA}" (the braced
// prefix matched case-insensitively), "{CRYPT}" followed by a crypt(3)
// string, and a bare crypt(3) string: "$1$" md5-crypt, "$5$"/"$6$"
// sha-crypt, "$2a$"/"$2b$"/"$2x$"/"$2y$" bcrypt, "$y$" yescrypt and the
// traditional 13-character DES crypt. Anything else ("*", "!", "", an
// unknown scheme) matches no password. The final comparison is constant
// time. Check never panics, whatever hash holds.
func Check(hash, password string) (match bool) {
	defer func() {
		if recover() != nil {
			match = false
		}
	}()
	name, rest, braced := splitPrefix(hash)
	if braced {
		switch name {
		case "MD5":
			return digestMatches(rest, md5Sum(password))
		case "MD5RAW":
			want, err := hex.DecodeString(rest)
			sum := md5Sum(password)
			return err == nil && subtle.ConstantTimeCompare(want, sum) == 1
		case "SHA":
			sum := sha1.Sum([]byte(password))
			return digestMatches(rest, sum[:])
		case "SHA256":
			sum := sha256.Sum256([]byte(password))
			return digestMatches(rest, sum[:])
		case "SHA512":
			sum := sha512.Sum512([]byte(password))
			return digestMatches(rest, sum[:])
		case "SSHA":
			raw, ok := decodeBase64(rest)
			if !ok || len(raw) < sshaDigestLen {
				return false
			}
			sum := sshaSum(password, raw[sshaDigestLen:])
			return subtle.ConstantTimeCompare(raw[:sshaDigestLen], sum) == 1
		case "CRYPT":
			hash = rest
		}
	}
	out, ok := cryptHash(password, hash)
	return ok && subtle.ConstantTimeCompare([]byte(out), []byte(hash)) == 1
}

func md5Sum(password string) []byte {
	sum := md5.Sum([]byte(password))
	return sum[:]
}

func sshaSum(password string, salt []byte) []byte {
	h := sha1.New()
	h.Write([]byte(password))
	h.Write(salt)
	return h.Sum(nil)
}

// digestMatches compares a base64 stored digest with a computed one.
func digestMatches(stored string, sum []byte) bool {
	want, ok := decodeBase64(stored)
	return ok && subtle.ConstantTimeCompare(want, sum) == 1
}
