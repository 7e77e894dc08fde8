package supervise

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// Daemon is courierd in its supervisor role: a Supervisor owning the
// process, its pid file and its signals.
//
//   - SIGHUP: Load again; restart the services whose spec changed (and
//     treat the unchanged ones as their Spec.OnReload says),
//     start new ones, stop removed ones. A configuration error keeps
//     everything running as it was.
//   - SIGTERM, SIGINT: stop every service (SIGTERM, then SIGKILL after its
//     stop timeout) and whatever they left behind, then exit.
type Daemon struct {
	PidFile string

	// Load reads the configuration and returns the services to run,
	// logging what it leaves out to log. It is called at start and on
	// every SIGHUP.
	Load func(log *slog.Logger) ([]Spec, error)

	Logger *slog.Logger // nil: slog.Default()

	// Startup, when set, receives the start-up log as plain lines and is
	// closed once every service has been started (StartDaemon's pipe).
	Startup io.WriteCloser
}

// Run runs the daemon until SIGTERM or SIGINT. Errors are logged before
// being returned; the returned error only decides the exit status.
func (d *Daemon) Run() error {
	log := d.Logger
	if log == nil {
		log = slog.Default()
	}
	sl := &startupLog{w: d.Startup}
	defer sl.Close()
	if d.Startup != nil {
		log = slog.New(&teeHandler{next: log.Handler(), log: sl})
	}
	fail := func(err error) error {
		log.Error(err.Error())
		return err
	}

	// Listen before anything starts, so that no signal is lost.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)

	if err := lockPidFile(d.PidFile); err != nil {
		return fail(err)
	}
	defer os.Remove(d.PidFile)
	specs, err := d.Load(log)
	if err != nil {
		return fail(fmt.Errorf("not starting: %w", err))
	}
	sup, err := New(Options{Logger: log, ReapAll: true})
	if err != nil {
		return fail(err)
	}
	if err := sup.Start(specs); err != nil {
		return fail(fmt.Errorf("not starting: %w", err))
	}
	running := 0
	for _, st := range sup.Status() {
		if st.State != Skipped {
			running++
		}
	}
	log.Info(fmt.Sprintf("courierd is running %d of %d configured services", running, len(specs)),
		"pid", os.Getpid(), "pidfile", d.PidFile)
	sl.Close()

	for sig := range sigs {
		if sig == syscall.SIGHUP {
			log.Info("SIGHUP: re-reading the configuration")
			specs, err := d.Load(log)
			if err == nil {
				err = sup.Reload(specs)
			}
			if err != nil {
				log.Error(fmt.Sprintf("configuration not reloaded, the services keep running unchanged: %v", err))
			}
			continue
		}
		log.Info(fmt.Sprintf("%s: stopping every service", sigName(sig)))
		sup.Stop()
		log.Info("courierd stopped")
		return nil
	}
	return nil
}

func sigName(s os.Signal) string {
	if n, ok := s.(syscall.Signal); ok {
		return unix.SignalName(n)
	}
	return s.String()
}
