// Command courierd is the supervisor of the suite (DESIGN.md §1): it runs
// in the foreground, starts every configured service (pkg/services) with
// its own credentials, restarts the ones that exit, re-reads the
// configuration on SIGHUP and stops everything on SIGTERM or SIGINT.
// `courier start` runs it detached; systemd and `make run` run it directly.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"time"

	"github.com/gocourier/courier/pkg/dsn"
	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/pkg/logging"
	"github.com/gocourier/courier/pkg/queue"
	"github.com/gocourier/courier/pkg/scheduler"
	"github.com/gocourier/courier/pkg/services"
	"github.com/gocourier/courier/pkg/supervise"
	"github.com/gocourier/courier/pkg/track"
)

const usage = `Usage: courierd [-startup-fd=N] [-only=SERVICE]
       courierd scheduler

Runs the Courier mail server's services in the foreground and supervises
them: each service configured in %[1]s (esmtpd, esmtpd-msa, esmtpd-ssl,
imapd, imapd-ssl, pop3d, pop3d-ssl, authdaemond, and the files of
%[1]s/supervise.d) is started with its own credentials and restarted
when it exits. Logs go to syslog (facility mail) and standard error.

  SIGHUP           re-read the configuration; restart the services whose
                   configuration changed and the scheduler, and tell the
                   SMTP services to re-read their files
  SIGTERM, SIGINT  stop every service, then exit

The pid file is %[2]s. To run courierd in the background use
"courier start", "courier stop" and "courier restart".

"courierd scheduler" is the queue manager, which the supervisor starts as
one of its services: it starts the transport modules of %[1]s/module.*,
drops to the courier user and delivers the queue in %[3]s.

Options:
  -startup-fd=N    write the start-up log to file descriptor N and close it
                   once every service is started (used by courier start)
  -only=SERVICE    supervise this one service (authdaemond, scheduler,
                   esmtpd, esmtpd-msa, esmtpd-ssl, imapd, imapd-ssl, pop3d,
                   pop3d-ssl, or one of supervise.d), with the pid file
                   %[4]s; exit at once if it is not
                   enabled. The systemd units run one courierd -only for
                   each daemon.
`

func main() {
	l := layout.Current()
	fs := flag.NewFlagSet("courierd", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), usage, l.SysconfDir, supervise.PidPath(l.RunDir), l.LocalstateDir, supervise.OnlyPidPath(l.RunDir, "SERVICE"))
	}
	startupFD := fs.Int("startup-fd", -1, "")
	only := fs.String("only", "", "")
	if len(os.Args) > 1 && (os.Args[1] == "--help" || os.Args[1] == "-help" || os.Args[1] == "-h") {
		fs.SetOutput(os.Stdout)
		fs.Usage()
		return
	}
	if len(os.Args) == 2 && os.Args[1] == "scheduler" {
		os.Exit(runScheduler(l))
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(1)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "courierd: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		os.Exit(1)
	}
	log := logging.Setup(logging.Options{Program: "courierd", Syslog: true, Stderr: true, Level: slog.LevelInfo})
	d := &supervise.Daemon{
		PidFile: supervise.PidPath(l.RunDir),
		Logger:  log,
		Load:    func(log *slog.Logger) ([]supervise.Spec, error) { return services.Load(l, os.Environ(), log) },
	}
	if *only != "" {
		specs, err := services.LoadOnly(l, os.Environ(), log, *only)
		if err != nil {
			log.Error(err.Error())
			os.Exit(1)
		}
		if len(specs) == 0 {
			// Not enabled: Load said why. systemd sees a clean exit.
			return
		}
		d.PidFile = supervise.OnlyPidPath(l.RunDir, *only)
		d.Load = func(log *slog.Logger) ([]supervise.Spec, error) {
			return services.LoadOnly(l, os.Environ(), log, *only)
		}
	}
	if *startupFD >= 0 {
		// The descriptor is inherited without close-on-exec; the
		// services must not inherit it, or courier start would wait
		// for them.
		syscall.CloseOnExec(*startupFD)
		d.Startup = os.NewFile(uintptr(*startupFD), "startup-log")
	}
	if err := d.Run(); err != nil {
		os.Exit(1)
	}
}

func runScheduler(l layout.Layout) int {
	// Standard error only: the supervisor started the scheduler and sends
	// every line of it to syslog (both would log it twice).
	log := logging.Setup(logging.Options{Program: "courierd", Stderr: true, Level: slog.LevelInfo})
	env, err := scheduler.ModuleEnv(l)
	if err != nil {
		log.Error("scheduler: " + err.Error())
		return 1
	}
	o := scheduler.DaemonOptions{Layout: l, Env: env, Logger: log, Track: trackFunc(log)}
	if set, err := dsn.LoadSettings(l, env); err == nil {
		o.NeedDSN = func(c *queue.Control, kind string) bool {
			k, ok := dsn.ParseKind(kind)
			return ok && dsn.Needed(c, k, set)
		}
	} else {
		log.Error("scheduler: no delivery status notifications will be sent until this is fixed: " + err.Error())
	}
	err = scheduler.Daemon(o)
	if err != nil {
		log.Error("scheduler: " + err.Error())
		return 1
	}
	return 0
}

// trackFunc records the delivery results of tracked messages for
// backscatter suppression (pkg/track).
func trackFunc(log *slog.Logger) func(string) func(string, byte, time.Time) {
	return func(localstatedir string) func(string, byte, time.Time) {
		t := track.Open(localstatedir)
		return func(addr string, kind byte, now time.Time) {
			if err := t.Record(addr, kind, now); err != nil {
				log.Error("cannot record a result for backscatter suppression", "addr", addr, "err", err)
			}
		}
	}
}
