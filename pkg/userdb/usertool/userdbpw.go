package usertool

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gocourier/courier/pkg/passwd"
)

// userdbpwSchemes maps userdbpw's options to passwd.Hash schemes. -md5 and
// the -hmac-* options are the original's; -des, -sha256, -sha512 and
// -bcrypt are ours.
var userdbpwSchemes = map[string]string{
	"-md5":         "md5",
	"-hmac-md5":    "hmac-md5",
	"-hmac-sha1":   "hmac-sha1",
	"-hmac-sha256": "hmac-sha256",
	"-des":         "des",
	"-sha256":      "sha256",
	"-sha512":      "sha512",
	"-bcrypt":      "bcrypt",
}

const userdbpwHelp = `Usage: userdbpw [-md5 | -hmac-md5 | -hmac-sha1 | -hmac-sha256 | -des | -sha256 | -sha512 | -bcrypt]

Reads a password from standard input (on a terminal: prompts twice on
standard error, without echo) and prints its hash, to be stored with e.g.
  userdbpw | userdb users/john set systempw
  userdbpw -hmac-md5 | userdb users/john set hmac-md5pw

  (none)        sha512-crypt ($6$). The original printed traditional DES,
                which only uses the first 8 characters; use -des for that.
  -md5          md5-crypt ($1$)
  -sha256       sha256-crypt ($5$)
  -sha512       sha512-crypt ($6$)
  -bcrypt       bcrypt ($2b$, cost %d)
  -des          traditional DES crypt(3)
  -hmac-md5, -hmac-sha1, -hmac-sha256
                precomputed HMAC key for CRAM-MD5/SHA1/SHA256 (*-hmac-*pw
                fields; this is equivalent to the cleartext password)
`

// Userdbpw runs the userdbpw command; prog is argv[0], which the
// original's error message starts with. Each argument must be an option;
// the last one wins.
func Userdbpw(prog string, args []string, stdin *os.File, stdout, stderr io.Writer) int {
	scheme := passwd.DefaultScheme
	for _, a := range args {
		switch {
		case a == "--help" || a == "-help":
			fmt.Fprintf(stdout, userdbpwHelp, passwd.BcryptCost)
			return 0
		case userdbpwSchemes[a] != "":
			scheme = userdbpwSchemes[a]
		default:
			fmt.Fprintf(stderr, "%s: invalid argument.\n", prog)
			return 1
		}
	}
	pw, err := passwd.ReadNew(stdin, stderr)
	if errors.Is(err, io.EOF) {
		return 1
	}
	if err != nil {
		fmt.Fprintf(stderr, "userdbpw: reading the password: %v\n", err)
		return 1
	}
	h, err := passwd.Hash(scheme, pw)
	if err != nil {
		fmt.Fprintf(stderr, "userdbpw: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, h)
	return 0
}
