// Command makepercentrelay compiles /etc/courier/esmtppercentrelay.dir
// into esmtppercentrelay.dat, the database of the percent hack's domains
// (makepercentrelay(8); see pkg/domains).
package main

import (
	"os"

	"github.com/gocourier/courier/pkg/domains"
	"github.com/gocourier/courier/pkg/layout"
)

func main() {
	os.Exit(domains.PercentRelay.Main(os.Args[1:], layout.Current().SysconfDir, os.Stdout, os.Stderr))
}
