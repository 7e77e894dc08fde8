// Command couriertcpd accepts TCP connections for the suite's servers
// (see pkg/tcpd).
package main

import (
	"os"

	"github.com/gocourier/courier/pkg/tcpd"
)

func main() {
	os.Exit(tcpd.Main(os.Args[1:], os.Stdout, os.Stderr))
}
