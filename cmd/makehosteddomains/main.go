// Command makehosteddomains compiles /etc/courier/hosteddomains into
// hosteddomains.dat (spec aliases-and-control-files.md §2; see pkg/domains).
package main

import (
	"os"

	"github.com/gocourier/courier/pkg/domains"
	"github.com/gocourier/courier/pkg/layout"
)

func main() {
	os.Exit(domains.Hosted.Main(os.Args[1:], layout.Current().SysconfDir, os.Stdout, os.Stderr))
}
