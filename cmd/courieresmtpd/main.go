// Command courieresmtpd is the SMTP server (see pkg/smtpd).
package main

import (
	"os"

	"github.com/gocourier/courier/pkg/smtpd"
)

func main() {
	os.Exit(smtpd.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
