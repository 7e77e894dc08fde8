package local

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/pkg/logging"
	"github.com/gocourier/courier/pkg/module"
)

const usage = `Usage: courierlocal

The local delivery module of the Courier mail server. The scheduler
(courierd scheduler) starts it and writes one delivery a line on its
standard input; courierlocal looks each recipient up through authdaemond,
runs the recipient's .courier instructions as that user in the home
directory, records the results in the queue's control file and answers
with the delivery id. It is not meant to be run by hand.

Environment: the courierd configuration (DEFAULTDELIVERY, DYNAMICDELIVERIES,
MAILDROPDEFAULT, PATH, SHELL, MINUID ...) and MAXDELS from module.local.
Control files: localtimeout, dotextension, maildrop, aliasdir, locals,
hosteddomains, locallowercase, defaultsep (in %s).
`

// Main runs courierlocal with its arguments (without the program name) and
// returns the exit status.
func Main(args []string, stdin *os.File, stdout, stderr *os.File) int {
	l := layout.Current()
	if len(args) == 1 && args[0] == workerFlag {
		return RunWorker()
	}
	if len(args) > 0 && (args[0] == "--help" || args[0] == "-help" || args[0] == "-h") {
		fmt.Fprintf(stdout, usage, l.SysconfDir)
		return 0
	}
	if len(args) > 0 {
		fmt.Fprintf(stderr, "courierlocal: unexpected argument %q\n", args[0])
		fmt.Fprintf(stderr, usage, l.SysconfDir)
		return 1
	}
	// Standard error only: the scheduler's, which is the supervisor's,
	// which sends every line to syslog (both would log it twice).
	log := logging.New(logging.Options{Program: "courierlocal", Stderr: true, Level: slog.LevelInfo})
	return Serve(l, os.Environ(), stdin, stdout, log)
}

// Serve runs the module on in and out until the scheduler closes in.
func Serve(l layout.Layout, environ []string, in io.Reader, out io.Writer, log *slog.Logger) int {
	m, err := New(l, environ, log)
	if err != nil {
		log.Error("courierlocal cannot start: " + err.Error())
		return 1
	}
	defer m.Close()
	defer m.closeWorkers()
	opts := module.OptionsFromEnv()
	opts.Timeout = m.Timeout
	opts.Logger = log
	if err := module.Serve(context.Background(), in, out, opts, m.Handle); err != nil {
		log.Error("reading deliveries from the scheduler: " + err.Error())
		return 1
	}
	return 0
}
