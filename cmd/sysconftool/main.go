// Command sysconftool is Courier's install-configure step: for each X.dist
// given it creates X, or upgrades X section by section keeping the admin's
// settings (see pkg/config, Upgrade).
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/gocourier/courier/pkg/config"
)

const usage = `Usage: sysconftool [-n] file.dist ...

For each X.dist, creates the configuration file X from it, or, when X
exists, rebuilds X from X.dist section by section (##NAME: VAR:REVISION):
settings you changed are kept, settings whose revision changed are reset to
the new default, new settings are added and obsolete ones removed. One line
per setting says which. The previous X is saved as X.bak; X keeps its mode
and owner. Files without ##NAME sections are only created when missing.

Options:
  -n    print what would be done, write nothing
`

func main() {
	fs := flag.NewFlagSet("sysconftool", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dryRun := fs.Bool("n", false, "print what would be done, write nothing")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if err == flag.ErrHelp {
			fmt.Print(usage)
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "sysconftool: %v\n%s", err, usage)
		os.Exit(2)
	}
	if fs.NArg() == 0 {
		fmt.Fprint(os.Stderr, "sysconftool: no .dist file given\n"+usage)
		os.Exit(2)
	}
	if config.UpgradeFiles(fs.Args(), *dryRun, os.Stdout, os.Stderr) > 0 {
		os.Exit(1)
	}
}
