// Command courierdsn is the dsn transport module (pkg/dsn/dsnmodule): the
// scheduler feeds it messages that need a delivery status notification, and
// it queues the reports.
package main

import (
	"os"

	"github.com/gocourier/courier/pkg/dsn/dsnmodule"
)

func main() {
	os.Exit(dsnmodule.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
