// Command cancelmsg cancels a queued message: cancelmsg <queue-id> [reason...]
// (installed setgid to the mail group, so it can append to control files).
package main

import (
	"os"

	"github.com/gocourier/courier/pkg/mailq"
)

func main() {
	os.Exit(mailq.Cancel(os.Args[1:], os.Stdout, os.Stderr))
}
