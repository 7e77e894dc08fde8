package passwd

import (
	"crypto/sha256"
	"crypto/sha512"
	"strconv"
	"strings"

	xbcrypt "github.com/go-crypt/x/bcrypt"
	xcrypt "github.com/go-crypt/x/crypt"
	"github.com/go-crypt/x/yescrypt"
)

// Limits of the crypt(3) formats, as libxcrypt enforces them. A stored hash
// outside them never matches (libxcrypt refuses it; glibc would clamp the
// value and then print a different string, which does not match either).
const (
	md5SaltMax     = 8
	shaSaltMax     = 16
	shaRoundsMin   = 1000
	shaRoundsMax   = 999999999
	shaRoundsPlain = 5000 // the count used when "rounds=" is absent
	bcryptCostMin  = 4
	bcryptCostMax  = 31
	bcryptSaltLen  = 22
	bcryptHashLen  = 31
)

// cryptHash is crypt(3) for the formats this package implements: it returns
// the string crypt(password, setting) would return, where setting is a full
// stored hash or just its salt part, and ok=false where crypt(3) fails.
func cryptHash(password, setting string) (string, bool) {
	switch {
	case strings.HasPrefix(setting, "$1$"):
		return md5Crypt(password, setting[3:])
	case strings.HasPrefix(setting, "$5$"):
		return shaCrypt(password, setting[3:], "$5$")
	case strings.HasPrefix(setting, "$6$"):
		return shaCrypt(password, setting[3:], "$6$")
	case strings.HasPrefix(setting, "$2"):
		return bcryptHash(password, setting)
	case strings.HasPrefix(setting, "$y$"):
		out, err := yescrypt.Hash([]byte(password), []byte(setting))
		if err != nil {
			return "", false
		}
		return string(out), true
	case len(setting) >= 2 && setting[0] != '$' && setting[0] != '_':
		return desHash(password, setting[:2])
	}
	return "", false
}

// md5Crypt is the "$1$" scheme (Poul-Henning Kamp's md5-crypt).
func md5Crypt(password, rest string) (string, bool) {
	salt := rest
	if i := strings.IndexByte(salt, '$'); i >= 0 {
		salt = salt[:i]
	}
	if len(salt) > md5SaltMax {
		salt = salt[:md5SaltMax]
	}
	key := xcrypt.KeyMD5Crypt([]byte(password), []byte(salt))
	return "$1$" + salt + "$" + string(key), true
}

// shaRounds parses an optional "rounds=N$" prefix of a sha-crypt setting.
// It returns the count, whether it was given, and the rest of the setting.
func shaRounds(rest string) (rounds int, custom bool, after string, ok bool) {
	if !strings.HasPrefix(rest, "rounds=") {
		return shaRoundsPlain, false, rest, true
	}
	end := strings.IndexByte(rest, '$')
	if end < 0 {
		return 0, false, "", false
	}
	digits := rest[len("rounds="):end]
	if digits == "" || len(digits) > 9 || digits[0] == '0' {
		return 0, false, "", false
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < shaRoundsMin || n > shaRoundsMax {
		return 0, false, "", false
	}
	return n, true, rest[end+1:], true
}

// shaCrypt is Ulrich Drepper's "$5$" (SHA-256) and "$6$" (SHA-512) crypt.
func shaCrypt(password, rest, prefix string) (string, bool) {
	rounds, custom, rest, ok := shaRounds(rest)
	if !ok {
		return "", false
	}
	salt := rest
	if i := strings.IndexByte(salt, '$'); i >= 0 {
		salt = salt[:i]
	}
	if len(salt) > shaSaltMax {
		salt = salt[:shaSaltMax]
	}
	hf := sha256.New
	if prefix == "$6$" {
		hf = sha512.New
	}
	key := xcrypt.KeySHACrypt(hf, []byte(password), []byte(salt), rounds)
	var b strings.Builder
	b.WriteString(prefix)
	if custom {
		b.WriteString("rounds=" + strconv.Itoa(rounds) + "$")
	}
	b.WriteString(salt + "$" + string(key))
	return b.String(), true
}

// bcryptSetting splits "$2b$10$<22 salt>..." into its parts.
func bcryptSetting(setting string) (version byte, cost int, salt string, ok bool) {
	if len(setting) < 7+bcryptSaltLen || setting[0] != '$' || setting[1] != '2' || setting[3] != '$' || setting[6] != '$' {
		return 0, 0, "", false
	}
	switch setting[2] {
	case 'a', 'b', 'x', 'y':
	default:
		return 0, 0, "", false
	}
	if setting[4] < '0' || setting[4] > '9' || setting[5] < '0' || setting[5] > '9' {
		return 0, 0, "", false
	}
	cost = int(setting[4]-'0')*10 + int(setting[5]-'0')
	if cost < bcryptCostMin || cost > bcryptCostMax {
		return 0, 0, "", false
	}
	salt = setting[7 : 7+bcryptSaltLen]
	for i := range len(salt) {
		if cryptIndex(salt[i]) < 0 {
			return 0, 0, "", false
		}
	}
	return setting[2], cost, salt, true
}

// bcryptHash is the "$2a$", "$2b$", "$2x$", "$2y$" family. All four are
// computed as $2b$ (identical for every password without 8-bit characters;
// $2x$ reproduced an old sign-extension bug for those).
func bcryptHash(password, setting string) (string, bool) {
	version, cost, salt, ok := bcryptSetting(setting)
	if !ok {
		return "", false
	}
	raw, err := xbcrypt.Base64Decode([]byte(salt))
	if err != nil || len(raw) < 16 {
		return "", false
	}
	key, err := xbcrypt.Key([]byte(password), raw[:16], cost)
	if err != nil {
		return "", false
	}
	return "$2" + string(version) + "$" + setting[4:6] + "$" + string(xbcrypt.Base64Encode(raw[:16])) + string(key), true
}
