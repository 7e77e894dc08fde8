// Command authdaemond is the resident authentication daemon (see
// pkg/authdaemon): bare, it runs in the foreground; "start", "stop" and
// "restart" act like the original's wrapper script.
package main

import (
	"os"

	"github.com/gocourier/courier/pkg/authdaemon"
)

func main() {
	os.Exit(authdaemon.Main(os.Args[1:], os.Stdout, os.Stderr))
}
