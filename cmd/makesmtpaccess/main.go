// Command makesmtpaccess (also makesmtpaccess-msa) compiles the SMTP
// access file (see pkg/access).
package main

import (
	"os"
	"path/filepath"

	"github.com/gocourier/courier/pkg/access"
	"github.com/gocourier/courier/pkg/layout"
)

func main() {
	msa := filepath.Base(os.Args[0]) == "makesmtpaccess-msa"
	os.Exit(access.MakeSMTPAccess(layout.Current(), msa, os.Args[1:], os.Stdout, os.Stderr))
}
