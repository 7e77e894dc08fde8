// Command sendmail is Courier's sendmail, also installed as mailq and rmail
// (spec queue-and-courierd.md §5, §6): the name it is called by chooses the
// program. See pkg/submit/sendmail and pkg/mailq.
package main

import (
	"os"
	"path/filepath"

	"github.com/gocourier/courier/pkg/mailq"
	"github.com/gocourier/courier/pkg/submit/sendmail"
)

func main() {
	if filepath.Base(os.Args[0]) == "mailq" {
		os.Exit(mailq.Main(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(sendmail.Main(os.Args[0], os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
