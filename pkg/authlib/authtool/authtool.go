// Package authtool owns the command-line tools of courier-authlib that an
// admin uses against authdaemond: authtest (look up, authenticate, change a
// password), authenumerate (list accounts) and authpasswd (make a password
// hash). Their usage, output and exit codes are the original's
// (spec/authdaemon.md §7, checked against Debian's 0.71.4); cmd/authtest,
// cmd/authenumerate and cmd/authpasswd call the functions here.
package authtool

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gocourier/courier/pkg/authlib"
	"github.com/gocourier/courier/pkg/passwd"
	"golang.org/x/term"
)

const authtestUsage = "Usage: authtest [-s service] userid [ password [ newpassword ] ]\n"

const authtestHelp = authtestUsage + `
Asks authdaemond about an account, as the mail servers do:
  authtest userid                          look the account up (no password check)
  authtest userid password                 authenticate it (authtype login)
  authtest userid oldpassword newpassword  change its password
-s service picks the service the modules see (default "login"; imap, pop3,
esmtp, webmail, courier ...). Exit status 0 on success, 1 otherwise.
`

// failure is the original's "Authentication FAILED: <strerror>": EPERM
// for a refusal, EIO for a temporary failure, EINVAL when the daemon
// cannot be reached [observed].
func failure(stderr io.Writer, err error) int {
	var te *authlib.TemporaryError
	reason := "Operation not permitted"
	switch {
	case errors.As(err, &te) && te.Op == "connect":
		fmt.Fprintf(stderr, "ERR: authdaemon: s_connect() failed: %v\n", te.Err)
		reason = "Invalid argument"
	case errors.Is(err, authlib.ErrTemporary):
		fmt.Fprintf(stderr, "ERR: %v\n", err)
		reason = "Input/output error"
	case errors.Is(err, authlib.ErrFail):
	default:
		fmt.Fprintf(stderr, "ERR: %v\n", err)
		reason = "Invalid argument"
	}
	fmt.Fprintf(stderr, "Authentication FAILED: %s\n", reason)
	return 1
}

// AuthTest is the authtest command.
func AuthTest(args []string, stdout, stderr io.Writer) int {
	service := "login"
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--help" || a == "-h" {
			fmt.Fprint(stdout, authtestHelp)
			return 0
		}
		if a == "-" {
			i++
			break
		}
		if !strings.HasPrefix(a, "-") {
			break
		}
		if !strings.HasPrefix(a, "-s") {
			fmt.Fprint(stderr, authtestUsage)
			return 1
		}
		service = a[2:]
		if service == "" {
			if i+1 >= len(args) {
				fmt.Fprint(stderr, authtestUsage)
				return 1
			}
			i++
			service = args[i]
		}
	}
	rest := args[i:]
	if len(rest) == 0 {
		fmt.Fprint(stderr, authtestUsage)
		return 1
	}
	if os.Getenv("TCPREMOTEIP") == "" {
		os.Setenv("TCPREMOTEIP", "::1")
	}
	c := authlib.NewClient()
	ctx := context.Background()
	var a *authlib.Account
	var err error
	switch {
	case len(rest) >= 3:
		// [observed] arguments past the new password are ignored.
		if err := c.Passwd(ctx, service, rest[0], rest[1], rest[2]); err != nil {
			return failure(stderr, err)
		}
		fmt.Fprintln(stderr, "Password change succeeded.")
		return 0
	case len(rest) == 2:
		a, err = c.Login(ctx, service, rest[0], rest[1])
	default:
		a, err = c.Pre(ctx, service, rest[0])
	}
	if err != nil {
		return failure(stderr, err)
	}
	fmt.Fprint(stdout, FormatAccount(a))
	return 0
}

// FormatAccount is authtest's success block, byte for byte [observed].
func FormatAccount(a *authlib.Account) string {
	none := func(s string) string {
		if s == "" {
			return "(none)"
		}
		return s
	}
	var b strings.Builder
	b.WriteString("Authentication succeeded.\n\n")
	if a.Username != "" {
		fmt.Fprintf(&b, "     Authenticated: %s  (system username: %s)\n", a.Address, a.Username)
	} else {
		fmt.Fprintf(&b, "     Authenticated: %s  (uid %d, gid %d)\n", a.Address, a.UID, a.GID)
	}
	fmt.Fprintf(&b, "    Home Directory: %s\n", a.Home)
	fmt.Fprintf(&b, "           Maildir: %s\n", none(a.Maildir))
	fmt.Fprintf(&b, "             Quota: %s\n", none(a.Quota))
	fmt.Fprintf(&b, "Encrypted Password: %s\n", none(a.Passwd))
	fmt.Fprintf(&b, "Cleartext Password: %s\n", none(a.Passwd2))
	fmt.Fprintf(&b, "           Options: %s\n", none(a.Options.String()))
	return b.String()
}

const enumUsage = "Usage: authenumerate [-s] [-o]\n"

const enumHelp = enumUsage + `
Lists every account that authdaemond's modules can enumerate, one a line:
name, uid, gid, home directory, maildir, separated by tabs.
  -s  leave out accounts with the disableshared option (no shared folders)
  -o  add the account's options as a sixth column
`

// AuthEnumerate is the authenumerate command.
func AuthEnumerate(args []string, stdout, stderr io.Writer) int {
	skipShared, withOptions := false, false
	for _, a := range args {
		switch a {
		case "-s":
			skipShared = true
		case "-o":
			withOptions = true
		case "--help", "-h":
			fmt.Fprint(stdout, enumHelp)
			return 0
		default:
			fmt.Fprint(stderr, enumUsage)
			return 1
		}
	}
	w := bufio.NewWriter(stdout)
	err := authlib.NewClient().Enumerate(context.Background(), func(e authlib.EnumEntry) error {
		if skipShared && e.Options.Enabled("disableshared") {
			return nil
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s", e.Name, e.UID, e.GID, e.Home, e.Maildir)
		if withOptions {
			fmt.Fprintf(w, "\t%s", e.Options)
		}
		return w.WriteByte('\n')
	})
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		var te *authlib.TemporaryError
		if errors.As(err, &te) && te.Op == "connect" {
			fmt.Fprintf(stderr, "ERR: authdaemon: s_connect() failed: %v\n", te.Err)
		} else {
			fmt.Fprintf(stderr, "ERR: %v\n", err)
		}
		return 1
	}
	return 0
}

const passwdHelp = `Usage: authpasswd [method]
Prompts for a password (twice, on a terminal) and prints its hash for an
account record: method is md5 ({MD5}), md5raw ({MD5RAW}), sha1 or ssha
({SSHA}), sha256 ({SHA256}), sha512 ({SHA512}); without a method, the
Linux MD5-crypt ($1$). As in Debian's courier-authlib, "crypt" and other
names give {SSHA}.
`

// passwdMethods maps authpasswd's methods to pkg/passwd schemes
// [observed, Debian 0.71.4].
var passwdMethods = map[string]string{
	"":       "md5",
	"md5":    "{MD5}",
	"md5raw": "{MD5RAW}",
	"sha1":   "{SSHA}",
	"ssha":   "{SSHA}",
	"sha256": "{SHA256}",
	"sha512": "{SHA512}",
}

// AuthPasswd is the authpasswd command.
func AuthPasswd(args []string, stdin *os.File, stdout, stderr io.Writer) int {
	method := ""
	if len(args) > 0 {
		if args[0] == "--help" || args[0] == "-h" {
			fmt.Fprint(stdout, passwdHelp)
			return 0
		}
		method = args[0]
	}
	scheme, ok := passwdMethods[method]
	if !ok {
		scheme = "{SSHA}"
	}
	pw, err := readPassword(stdin, stderr)
	if err != nil {
		if !errors.Is(err, io.EOF) {
			fmt.Fprintln(stderr, err)
		}
		return 1
	}
	h, err := passwd.Hash(scheme, pw)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintln(stdout, h)
	return 0
}

// readPassword prompts twice without echo on a terminal; otherwise it
// reads one line.
func readPassword(in *os.File, stderr io.Writer) (string, error) {
	fd := int(in.Fd())
	if !term.IsTerminal(fd) {
		line, err := bufio.NewReader(in).ReadString('\n')
		if line == "" && err != nil {
			return "", io.EOF
		}
		return strings.TrimSuffix(line, "\n"), nil
	}
	for {
		fmt.Fprint(stderr, "Password: ")
		a, err := term.ReadPassword(fd)
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(stderr, "Reenter password: ")
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		if string(a) == string(b) {
			return string(a), nil
		}
		fmt.Fprintln(stderr, "Passwords don't match.")
	}
}
