// Command showmodules lists the transport modules the scheduler starts, from
// the module.<name> files of the configuration directory, in the shape of the
// original's module installation log (stderr lines "showmodules: INFO: ...").
package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/pkg/mailq"
	"github.com/gocourier/courier/pkg/module"
)

const usage = `Usage: showmodules [-dir=DIRECTORY | -dir DIRECTORY]

List the transport modules courierd starts, from the module.<name> files in
the configuration directory (or DIRECTORY), in the order the scheduler asks
them to route an address (PRIORITY), with their delivery limits. A module
whose program is not installed is listed as skipped. Output goes to stderr,
as the original's.
`

func main() {
	l := layout.Current()
	dir := l.SysconfDir
	args := os.Args[1:]
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--help" || a == "-h" || a == "-help":
			fmt.Print(usage)
			return
		case a == "-dir" && i+1 < len(args):
			i++
			dir = args[i]
		case strings.HasPrefix(a, "-dir="):
			dir = strings.TrimPrefix(a, "-dir=")
		default:
			fmt.Fprintf(os.Stderr, "showmodules: ERR: Invalid argument: %s\n", a)
			os.Exit(1)
		}
	}
	os.Exit(show(os.Stderr, l, dir))
}

func show(w io.Writer, l layout.Layout, dir string) int {
	info := func(format string, a ...any) { fmt.Fprintf(w, "showmodules: INFO: "+format+"\n", a...) }
	cs, err := module.ReadConfigs(dir)
	if err != nil {
		fmt.Fprintf(w, "showmodules: ERR: %v\n", err)
		fmt.Fprintln(w, "showmodules: ERR: Transport module installation has FAILED.")
		return 1
	}
	info("Loading transport modules from %s/module.*", dir)
	info("%s", mailq.VersionLine)
	info("Installing [0/0]")
	var installed []module.Config
	for _, c := range cs {
		info("Installing %s", c.Name)
		prog := l.ProgramPath(c.Program())
		if st, err := os.Stat(prog); err != nil || st.IsDir() {
			info("Skipping %s: %s is not installed (from %s)", c.Name, prog, c.File)
			continue
		}
		info("Installed: module.%s - %s", c.Name, mailq.VersionLine)
		info("%s: %s, priority=%d, maxdels=%d, maxhost=%d, maxrcpt=%d", c.Name, prog, c.Priority, c.MaxDels, c.MaxHost, c.MaxRcpt)
		installed = append(installed, c)
	}
	for _, c := range installed {
		info("Initializing %s", c.Name)
	}
	return 0
}
