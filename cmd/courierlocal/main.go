// Command courierlocal is the local delivery module (pkg/local), started by
// the scheduler; re-executed with a hidden argument it is also the
// delivery child that runs as the recipient.
package main

import (
	"os"

	"github.com/gocourier/courier/pkg/local"
)

func main() {
	os.Exit(local.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
