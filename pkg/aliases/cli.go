package aliases

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

const usageText = `Usage: makealiases [-protocol=PROTO] [-src=PATH] [-alias=FILE] [-tmp=FILE]
                   [-xaliasdir=DIR] [-xaliastmpdir=DIR] [-dump] [module]

Compiles the alias source (default SYSCONF/aliases, a file or a directory of
files) into the alias database (default SYSCONF/aliases.dat). newaliases is
the same program under another name. Program and
mailbox aliases ("alias: | command", "alias: /path") get their instruction
files in SYSCONF/aliasdir/.courier-:xalias.

  -protocol=PROTO  use aliases-PROTO, aliases-PROTO.dat, .courier-:xalias-PROTO
  -src=PATH        alias source file or directory
  -alias=FILE      database to build
  -tmp=FILE        lock file held while building (default SYSCONF/aliases.tmp)
  -xaliasdir=DIR   directory of the instruction files
  -xaliastmpdir=DIR  where instruction files are prepared
  -dump            print the compiled aliases instead of building anything
  module           module whose address rewriting applies (default local)
`

// Makealiases is the makealiases program: args without the program name,
// sysconfdir from the layout. It returns the exit code: 0 done, 1 error.
func Makealiases(args []string, sysconfdir string, stdout, stderr io.Writer) int {
	var protocol, module string
	set := map[string]string{}
	dump := false
	for len(args) > 0 {
		a := args[0]
		name, val, hasVal := strings.Cut(a, "=")
		switch {
		case a == "--help" || a == "-help" || a == "-h":
			fmt.Fprint(stdout, strings.ReplaceAll(usageText, "SYSCONF", sysconfdir))
			return 0
		case hasVal && slices.Contains([]string{"-src", "-tmp", "-alias", "-xaliasdir", "-xaliastmpdir"}, name):
			set[name] = val
		case hasVal && name == "-protocol":
			protocol = val
		case a == "-dump":
			dump = true
		case a == "-chk":
			fmt.Fprintln(stderr, "makealiases: -chk (verify every recipient with submit -vrfy) is not available in this version")
			return 1
		case strings.HasPrefix(a, "-"):
			fmt.Fprintln(stderr, "Usage: makealiases [ options ] module")
			return 1
		default:
			module = a
		}
		if module != "" {
			break
		}
		args = args[1:]
	}
	if protocol != "" && !slices.Contains(Protocols, protocol) {
		fmt.Fprintf(stdout, "%s is not a valid protocol.\n", protocol)
		return 1
	}
	if module == "" {
		module = "local"
	}
	rw, ok := ModuleRewrite(module)
	if !ok {
		if slices.Contains(Protocols, module) {
			fmt.Fprintf(stderr, "makealiases: module %s: its address rewriting is not implemented; use module local\n", module)
		} else {
			fmt.Fprintf(stderr, "makealiases: %s - not a valid module.\n", module)
		}
		return 1
	}
	hosts, err := LoadHosts(sysconfdir)
	if err != nil {
		fmt.Fprintf(stderr, "makealiases: %v\n", err)
		return 1
	}
	o := DefaultOptions(sysconfdir, protocol, hosts, rw)
	for k, p := range map[string]*string{"-src": &o.Src, "-tmp": &o.Lock, "-alias": &o.Alias,
		"-xaliasdir": &o.ProgramDir, "-xaliastmpdir": &o.ProgramTmp} {
		if v, ok := set[k]; ok {
			*p = v
		}
	}
	if dump {
		o.Dump = stdout
	}
	if err := Make(o); err != nil {
		fmt.Fprintf(stderr, "makealiases: %v\n", err)
		return 1
	}
	return 0
}
