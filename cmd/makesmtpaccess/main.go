// Command makesmtpaccess (also makesmtpaccess-msa and makeimapaccess,
// chosen by the name it is run as) compiles an access file (see
// pkg/access).
package main

import (
	"os"
	"path/filepath"

	"github.com/gocourier/courier/pkg/access"
	"github.com/gocourier/courier/pkg/layout"
)

func main() {
	switch filepath.Base(os.Args[0]) {
	case "makeimapaccess":
		os.Exit(access.MakeIMAPAccess(layout.Current(), os.Args[1:], os.Stdout, os.Stderr))
	case "makesmtpaccess-msa":
		os.Exit(access.MakeSMTPAccess(layout.Current(), true, os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(access.MakeSMTPAccess(layout.Current(), false, os.Args[1:], os.Stdout, os.Stderr))
}
