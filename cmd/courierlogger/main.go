// Command courierlogger forwards a program's standard error, or its own
// standard input, to syslog, and runs that program as a daemon controlled
// through a pid file; see pkg/logging/courierlogger.
//
//	courierlogger [-name=NAME] [-facility=FAC] [-pid=FILE] [-user=U] [-group=G]
//	              [-droproot] [-respawn] [-start|-stop|-restart] [program args...]
//
// Tests point it at their own syslog socket with the environment variable
// COURIER_SYSLOG_SOCKET (see pkg/logging.SocketEnv).
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/gocourier/courier/pkg/logging/courierlogger"
)

func main() {
	if len(os.Args) == 2 && (os.Args[1] == "--help" || os.Args[1] == "-help") {
		fmt.Print(courierlogger.Help)
		os.Exit(0)
	}
	c, err := courierlogger.ParseArgs(os.Args[1:])
	if errors.Is(err, courierlogger.ErrUsage) {
		fmt.Fprint(os.Stderr, courierlogger.Usage)
		os.Exit(1)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(courierlogger.Run(c, os.Stdin, os.Stderr))
}
