// Package usertool holds the command lines of courier-authlib's userdb
// tools — userdb, userdbpw, makeuserdb and pw2userdb — with the original's
// arguments, messages and exit codes (spec/userdb.md §3-5). The work is
// done by pkg/userdb and pkg/passwd; cmd/<tool>/main.go only calls here.
//
// Exit codes: 0 on success, 1 on a usage error or any failure. (The
// original Perl scripts exit through die(), whose code is whatever errno
// was left over — 2, 22, 25 or 255 were observed; only "non-zero" is
// meaningful, and 1 is used throughout.)
package usertool

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/gocourier/courier/pkg/userdb"
)

// message is an error whose text is the original's message verbatim.
type message string

func (m message) Error() string { return string(m) }

// userdbUsage is the original's usage text; %[1]s is the program name.
const userdbUsage = `Usage: %[1]s [path/.../ | -f file ]name set field=value field=value...
       %[1]s [path/.../ | -f file ]name unset field field...
       %[1]s [path/.../ | -f file ]name del
       %[1]s -show [path/... | -f file ] [name]
`

// Userdb runs the userdb command. prog is argv[0] (the usage text names
// it, as the original's $0 did); src gives the default text source.
func Userdb(prog string, args []string, src userdb.Source, stdin *os.File, stdout, stderr io.Writer) int {
	usage := func() int {
		fmt.Fprintf(stdout, userdbUsage, prog)
		return 1
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if len(args) == 1 && (args[0] == "--help" || args[0] == "-help") {
		fmt.Fprintf(stdout, userdbUsage, prog)
		fmt.Fprintf(stdout, "\nEdits the userdb text source %s (a file, or a directory of files;\n"+
			"path/.../ names a file in it). Run makeuserdb afterwards to rebuild userdb.dat.\n"+
			"A field given without =value in set is read from standard input.\n", src.Path)
		return 0
	}
	shift := func() (string, bool) {
		if len(args) == 0 {
			return "", false
		}
		a := args[0]
		args = args[1:]
		return a, true
	}
	file := src.Path
	name, haveName := shift()
	show := false
	if name == "-show" {
		show = true
		name, haveName = shift()
	}
	if name == "-f" {
		file, _ = shift()
		name, haveName = shift()
	} else if strings.Contains(name, "/") {
		file, name = src.Target(name)
	}
	if show {
		if file == "" {
			return usage()
		}
		return userdbShow(file, name, haveName && name != "", stdout, stderr)
	}
	verb, _ := shift()
	if verb == "" || name == "" || file == "" {
		return usage()
	}
	for _, a := range args {
		if strings.ContainsAny(a, "|\n") {
			fmt.Fprintln(stderr, "Invalid field or value.")
			return 1
		}
	}
	switch verb {
	case "set":
		fields, ok, err := readFields(name, args, stdin, stdout)
		if err != nil {
			return fail(err)
		}
		if !ok {
			return 1
		}
		if err := userdb.Set(file, name, fields); err != nil {
			return fail(err)
		}
	case "unset":
		if len(args) == 0 {
			return 0
		}
		if _, err := userdb.Unset(file, name, args); err != nil {
			return fail(err)
		}
	case "del":
		if len(args) != 0 {
			return usage()
		}
		if _, err := userdb.Delete(file, name); err != nil {
			return fail(err)
		}
	default:
		return usage()
	}
	return 0
}

// readFields turns set's arguments into fields; one given without "="
// takes its value from the next line of stdin, prompted with "name.field: "
// on stdout when stdin is a terminal. ok is false at end of input (the
// original then exits 1 silently).
func readFields(name string, args []string, stdin *os.File, stdout io.Writer) ([]userdb.Field, bool, error) {
	tty := term.IsTerminal(int(stdin.Fd()))
	in := bufio.NewReader(stdin)
	var fields []userdb.Field
	for _, a := range args {
		if n, v, ok := strings.Cut(a, "="); ok {
			fields = append(fields, userdb.Field{Name: n, Value: v})
			continue
		}
		if tty {
			fmt.Fprintf(stdout, "%s.%s: ", name, a)
		}
		line, err := in.ReadString('\n')
		if err == io.EOF && line == "" {
			return nil, false, nil
		}
		if err != nil && err != io.EOF {
			return nil, false, err
		}
		line = strings.TrimSuffix(line, "\n")
		if strings.Contains(line, "|") {
			return nil, false, message("Invalid value.")
		}
		fields = append(fields, userdb.Field{Name: a, Value: line})
	}
	return fields, true, nil
}

// userdbShow prints every record name of file, or one record's fields one
// per line.
func userdbShow(file, name string, haveName bool, stdout, stderr io.Writer) int {
	if !haveName {
		names, err := userdb.Names(file)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		for _, n := range names {
			fmt.Fprintln(stdout, n)
		}
		return 0
	}
	rec, found, err := userdb.Show(file, name)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if found {
		parts := make([]string, len(rec.Fields))
		for i, f := range rec.Fields {
			parts[i] = f.String()
		}
		fmt.Fprintln(stdout, strings.Join(parts, "\n"))
	}
	return 0
}
