// Command makealiases compiles the mail aliases into aliases.dat (spec
// aliases-and-control-files.md §1; see pkg/aliases).
package main

import (
	"os"

	"github.com/gocourier/courier/pkg/aliases"
	"github.com/gocourier/courier/pkg/layout"
)

func main() {
	os.Exit(aliases.Makealiases(os.Args[1:], layout.Current().SysconfDir, os.Stdout, os.Stderr))
}
