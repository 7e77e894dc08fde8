// Command courieresmtp is the esmtp transport module (see pkg/esmtp).
package main

import (
	"os"

	"github.com/gocourier/courier/pkg/esmtp"
)

func main() {
	os.Exit(esmtp.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
