package usertool

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/gocourier/courier/pkg/userdb"
)

const makeuserdbHelp = `Usage: makeuserdb [-v] [-f file]

Compiles the userdb text source %s (a file, or a directory
whose files are all read, names starting with "." skipped) into
userdb.dat (mode 0644) and userdbshadow.dat (mode 0600, the *pw fields).
-f file builds file.dat and fileshadow.dat from file instead.
The source may not be accessible by group or others. Bad records are
reported as file:line and nothing is written then.
-v prints a summary (also printed when standard output is a terminal).
`

// Makeuserdb runs the makeuserdb command; def is the default source.
func Makeuserdb(args []string, def userdb.Source, stdout, stderr io.Writer) int {
	src := def
	verbose := false
	for len(args) > 0 {
		switch a := args[0]; {
		case a == "--help" || a == "-help":
			fmt.Fprintf(stdout, makeuserdbHelp, def.Path)
			return 0
		case a == "-v":
			verbose = true
			args = args[1:]
		case a == "-f":
			if len(args) < 2 || args[1] == "" {
				fmt.Fprintln(stderr, "makeuserdb: -f needs the name of the userdb source file or directory\nUsage: makeuserdb [-v] [-f file]")
				return 1
			}
			src = userdb.FileSource(args[1])
			args = args[2:]
		default:
			fmt.Fprintf(stderr, "makeuserdb: unknown argument %q\nUsage: makeuserdb [-v] [-f file]\n", a)
			return 1
		}
	}
	st, err := src.Compile()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if f, ok := stdout.(*os.File); verbose || (ok && term.IsTerminal(int(f.Fd()))) {
		fmt.Fprintf(stdout, "makeuserdb: %d accounts, %d uid records, %d with passwords, from %d file(s)\n",
			st.Accounts, st.Reverse, st.Shadow, st.Files)
	}
	return 0
}
