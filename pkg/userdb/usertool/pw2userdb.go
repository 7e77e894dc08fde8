package usertool

import (
	"fmt"
	"io"
	"strings"

	"github.com/gocourier/courier/pkg/userdb"
)

const pw2userdbHelp = `Usage: pw2userdb [--passwd=file] [--shadow=file] [--noshadow] [--nouid] [--domain=domain]

Prints the accounts of /etc/passwd (passwords from /etc/shadow when it
exists) in userdb format, each followed by a reverse uid record
"uid=<TAB>name" unless --nouid. --domain appends @domain to the names.
Save the output as (part of) the userdb source and run makeuserdb.
`

// Pw2userdb runs the pw2userdb command. Options are taken the way Perl's
// Getopt::Long took them: one or two dashes, "=value" or a separate
// argument, unique prefixes; other arguments are ignored.
func Pw2userdb(args []string, stdout, stderr io.Writer) int {
	var o userdb.PasswdOptions
	strOpts := map[string]*string{"passwd": &o.Passwd, "shadow": &o.Shadow, "domain": &o.Domain}
	boolOpts := map[string]*bool{"noshadow": &o.NoShadow, "nouid": &o.NoUID}
	invalid := func(format string, a ...any) int {
		fmt.Fprintf(stderr, format, a...)
		fmt.Fprintln(stderr, "Invalid options.")
		return 1
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			continue
		}
		opt := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if opt == "help" {
			fmt.Fprint(stdout, pw2userdbHelp)
			return 0
		}
		opt, value, hasValue := strings.Cut(opt, "=")
		var matches []string
		for _, n := range []string{"passwd", "shadow", "domain", "noshadow", "nouid"} {
			if n == opt {
				matches = []string{n}
				break
			}
			if strings.HasPrefix(n, opt) {
				matches = append(matches, n)
			}
		}
		switch {
		case len(matches) == 0:
			return invalid("Unknown option: %s\n", opt)
		case len(matches) > 1:
			return invalid("Option %s is ambiguous (%s)\n", opt, strings.Join(matches, ", "))
		}
		name := matches[0]
		if p, ok := boolOpts[name]; ok {
			if hasValue {
				return invalid("Option %s does not take an argument\n", name)
			}
			*p = true
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				return invalid("Option %s requires an argument\n", name)
			}
			i++
			value = args[i]
		}
		*strOpts[name] = value
	}
	if err := userdb.Pw2Userdb(o, stdout); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}
