package authdaemon

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/pkg/logging/pidfile"
	"github.com/gocourier/courier/pkg/services"
)

const usage = `Usage: authdaemond [-syslog]
       authdaemond start | stop | restart

Without a command authdaemond runs in the foreground (as a supervisor starts
it) and logs to standard error (-syslog: to the system logger). It answers
authentication requests on $authdaemonvar/socket with the modules of
authmodulelist in authdaemonrc. SIGHUP reloads authdaemonrc and the modules;
SIGTERM stops it.

  start     start a detached daemon logging to syslog, controlled through
            $authdaemonvar/pid and pid.lock like the original's courierlogger
            (a second start does nothing)
  stop      stop it (SIGTERM, then SIGKILL every 10 s until it is gone)
  restart   make it reload its configuration (SIGHUP)

When a running courierd supervises authdaemond (courier start, or the
systemd units), start, stop and restart say so and do nothing.
`

// Main is the authdaemond command: it returns the exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 {
		switch args[0] {
		case "--help", "-help", "-h":
			fmt.Fprint(stdout, usage)
			return 0
		case "start", "stop", "restart":
			return control(args[0], stdout, stderr)
		}
	}
	opts := Options{Stderr: stderr}
	for _, a := range args {
		if a != "-syslog" {
			fmt.Fprint(stderr, usage)
			return 1
		}
		opts.Syslog = true
	}
	if err := Run(opts); err != nil {
		fmt.Fprintf(stderr, "authdaemond: %v\n", err)
		return 1
	}
	return 0
}

// control is the original wrapper's start, stop and restart, through
// liblock's pid file protocol (pkg/logging/pidfile), so that the original
// courierlogger can stop our daemon and ours can stop the original.
func control(cmd string, stdout, stderr io.Writer) int {
	l := layout.Current()
	if pid, ok := services.Supervised(l, os.Environ(), "authdaemond"); ok {
		fmt.Fprintf(stdout, "authdaemond: courierd (%s) runs authdaemond, so authdaemond %s does nothing; use courier stop|restart\n", pid, cmd)
		return 0
	}
	cfg, err := LoadConfig(l.Config("authdaemonrc"), l)
	if err != nil {
		fmt.Fprintf(stderr, "authdaemond: %v\n", err)
		return 1
	}
	pidFile := cfg.PidFile()
	switch cmd {
	case "stop":
		err = pidfile.Stop(pidFile)
	case "restart":
		err = pidfile.Restart(pidFile)
	default:
		err = start(pidFile)
	}
	if err != nil {
		fmt.Fprintf(stderr, "authdaemond: %s: %v\n", cmd, strings.TrimSpace(err.Error()))
		return 1
	}
	return 0
}

// start detaches a daemon; the admin's process returns once it listens
// (or failed, with its reason).
func start(pidFile string) error {
	d, err := pidfile.Daemonize(pidFile)
	if err != nil || d == nil {
		return err
	}
	ready := false
	err = Run(Options{Syslog: true, Ready: func(string) {
		ready = true
		d.Ready()
	}})
	if err != nil && !ready {
		d.Fail(err)
	}
	return err
}
