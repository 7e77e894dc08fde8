// Command courier controls the Courier mail server: start, stop and restart
// courierd, the supervisor of every service.
package main

import (
	"fmt"
	"os"

	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/pkg/supervise"
)

const usage = `Usage: courier start|stop|restart

  start    start courierd, which starts every configured service, and
           report what was started and where
  stop     stop courierd and every service, and wait until they are gone
  restart  make courierd re-read the configuration: services whose
           configuration changed are restarted, the others keep running
`

func main() {
	if len(os.Args) == 2 && (os.Args[1] == "--help" || os.Args[1] == "-h" || os.Args[1] == "-help") {
		fmt.Print(usage)
		return
	}
	if len(os.Args) != 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(1)
	}
	l := layout.Current()
	c := &supervise.Control{
		PidFile: supervise.PidPath(l.RunDir),
		Program: l.ProgramPath("courierd"),
		Stdout:  os.Stdout,
		Stderr:  os.Stderr,
	}
	var err error
	switch os.Args[1] {
	case "start":
		err = c.Start()
	case "stop":
		err = c.Stop()
	case "restart":
		err = c.Restart()
	default:
		fmt.Fprintf(os.Stderr, "courier: unknown command %q\n%s", os.Args[1], usage)
		os.Exit(1)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "courier:", err)
		os.Exit(1)
	}
}
