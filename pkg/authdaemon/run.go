package authdaemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gocourier/courier/pkg/auth"
	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/pkg/logging"
)

// shutdownGrace is how long SIGTERM waits for requests in progress.
const shutdownGrace = 10 * time.Second

// Options of a foreground run.
type Options struct {
	// Ready, when set, is called once the socket is listening.
	Ready func(socket string)
	// Stop, when set, ends the run like SIGTERM when it is closed.
	Stop <-chan struct{}
	// Log, when set, replaces the logger made from the configuration.
	Log *slog.Logger
	// Stderr receives the log when Log is nil and Syslog is not set.
	Stderr io.Writer
	// Syslog sends the log to the system logger (a detached daemon), with
	// the facility of LOGGEROPTS' -facility= (default mail).
	Syslog bool
}

// loadStack reads the configuration and builds its modules.
func loadStack(l layout.Layout, log *slog.Logger) (*Config, *auth.Stack, error) {
	cfg, err := LoadConfig(l.Config("authdaemonrc"), l)
	if err != nil {
		return nil, nil, err
	}
	for _, w := range cfg.Warnings {
		log.Error(w)
	}
	log.Info(fmt.Sprintf("modules=%q, daemons=%d", strings.Join(cfg.ModuleList, " "), cfg.Daemons))
	sc := cfg.StackConfig(l)
	sc.Log = log
	stack, err := auth.NewStack(sc)
	if err != nil {
		return nil, nil, err
	}
	return cfg, stack, nil
}

// Run is authdaemond in the foreground: it serves until SIGTERM or SIGINT
// (or opts.Stop), and reloads authdaemonrc and the modules on SIGHUP.
func Run(opts Options) error {
	l := layout.Current()
	level := new(slog.LevelVar)
	facility := ""
	// The level follows DEBUG_LOGIN; a first look at the file sets it
	// before the modules log anything.
	if c, err := LoadConfig(l.Config("authdaemonrc"), l); err == nil {
		if c.Debug > 0 {
			level.Set(slog.LevelDebug)
		}
		facility = c.Facility()
	}
	log := opts.Log
	if log == nil {
		log = newLogger(opts.Stderr, opts.Syslog, facility, level)
	}
	// Signals are caught before the socket exists: whoever sees the
	// socket may stop the daemon at once, and it must stop cleanly.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	cfg, stack, err := loadStack(l, log)
	if err != nil {
		return err
	}
	sock, err := Listen(cfg.SocketDir, l)
	if err != nil {
		stack.Close()
		return err
	}
	srv := NewServer(stack, cfg.Daemons, log)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sock.Listener()) }()
	if opts.Ready != nil {
		opts.Ready(sock.Path)
	}

	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				log.Info("restarting authdaemond: reloading " + l.Config("authdaemonrc"))
				newCfg, newStack, err := loadStack(l, log)
				if err != nil {
					log.Error(fmt.Sprintf("reload failed, keeping the running configuration: %v", err))
					continue
				}
				if newCfg.SocketDir != cfg.SocketDir {
					log.Warn(fmt.Sprintf("authdaemonvar changed from %s to %s: the socket moves only when authdaemond is stopped and started", cfg.SocketDir, newCfg.SocketDir))
				}
				if newCfg.Debug > 0 {
					level.Set(slog.LevelDebug)
				} else {
					level.Set(slog.LevelInfo)
				}
				srv.Swap(newStack, newCfg.Daemons)
				continue
			}
			log.Info("stopping authdaemond")
		case <-opts.Stop:
			log.Info("stopping authdaemond")
		case err := <-served:
			sock.Close()
			return err
		}
		sock.Close()
		ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		err := srv.Shutdown(ctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			log.Warn(fmt.Sprintf("requests still running %v after the stop signal were cut off", shutdownGrace))
			err = nil
		}
		return err
	}
}

// newLogger is the daemon's log (pkg/logging): the original's messages,
// one line each, to standard error (the supervisor's or the terminal's) or
// to syslog, at the level DEBUG_LOGIN selects, which a reload changes.
func newLogger(w io.Writer, syslog bool, facility string, level *slog.LevelVar) *slog.Logger {
	h := logging.New(logging.Options{Program: "authdaemond", Syslog: syslog, Stderr: !syslog,
		Facility: facility, Level: slog.LevelDebug, Writer: w}).Handler()
	return slog.New(levelHandler{Handler: h, level: level})
}

// levelHandler filters by a level that can change while running.
type levelHandler struct {
	slog.Handler
	level *slog.LevelVar
}

func (h levelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level.Level() && h.Handler.Enabled(ctx, l)
}

func (h levelHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return levelHandler{Handler: h.Handler.WithAttrs(as), level: h.level}
}

func (h levelHandler) WithGroup(name string) slog.Handler {
	return levelHandler{Handler: h.Handler.WithGroup(name), level: h.level}
}
