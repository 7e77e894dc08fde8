// Command makeacceptmailfor compiles /etc/courier/esmtpacceptmailfor.dir
// into esmtpacceptmailfor.dat (spec aliases-and-control-files.md §2; see
// pkg/domains).
package main

import (
	"os"

	"github.com/gocourier/courier/pkg/domains"
	"github.com/gocourier/courier/pkg/layout"
)

func main() {
	os.Exit(domains.AcceptMailFor.Main(os.Args[1:], layout.Current().SysconfDir, os.Stdout, os.Stderr))
}
