package scheduler

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gocourier/courier/pkg/config"
	"github.com/gocourier/courier/pkg/controlfiles"
	"github.com/gocourier/courier/pkg/inflow"
	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/pkg/module"
	"github.com/gocourier/courier/pkg/privsep"
	"github.com/gocourier/courier/pkg/queue"
)

// DaemonOptions are what cmd/courierd passes to Daemon.
type DaemonOptions struct {
	Layout layout.Layout
	// Env is the modules' environment (ModuleEnv), read once by the
	// caller, which also hands it to the report settings.
	Env     []string
	NeedDSN func(c *queue.Control, kind string) bool
	// Track is made once the scheduler runs as the courier user, with
	// the queue directory; nil: no backscatter tracking.
	Track  func(localstatedir string) func(addr string, kind byte, now time.Time)
	Logger *slog.Logger
	// StopTimeout bounds the wait for running deliveries at STOP.
	StopTimeout time.Duration
}

// ModuleEnv is the environment the modules get: the courierd
// configuration file's variables, as the original's start script exports
// them before starting courierd.
func ModuleEnv(l layout.Layout) ([]string, error) {
	vf, err := config.ReadVarFile(l.Config("courierd"), l.ScriptVars())
	if errors.Is(err, fs.ErrNotExist) {
		return []string{"PATH=/usr/bin:/bin", "SHELL=/bin/sh"}, nil
	}
	if err != nil {
		return nil, err
	}
	env := vf.Environ()
	has := map[string]bool{}
	for _, n := range vf.Names() {
		has[n] = true
	}
	if !has["PATH"] {
		env = append(env, "PATH=/usr/bin:/bin")
	}
	if !has["SHELL"] {
		env = append(env, "SHELL=/bin/sh")
	}
	return env, nil
}

// Daemon runs the scheduler: it starts the modules (as root when it is
// root: courierlocal needs it), drops to the courier user, recovers the
// queue and schedules until SIGTERM, a STOP on the trigger FIFO or a dead
// module.
func Daemon(o DaemonOptions) error {
	l, log := o.Layout, o.Logger
	if o.StopTimeout <= 0 {
		o.StopTimeout = 30 * time.Second
	}
	files, err := controlfiles.Load(l.SysconfDir)
	if err != nil {
		return err
	}
	mods, err := module.ReadConfigs(l.SysconfDir)
	if err != nil {
		return err
	}
	retry, err := LoadRetry(files, mods)
	if err != nil {
		return err
	}
	var cred *privsep.Credential
	if privsep.IsRoot() {
		c, err := privsep.MailCredential(l.MailUser, l.MailGroup)
		if err != nil {
			return err
		}
		cred = &c
	}
	running, err := StartModules(mods, StartOptions{Program: l.ProgramPath, Env: o.Env, Cred: cred, Stderr: os.Stderr, Logger: log})
	if err != nil {
		return err
	}
	defer StopModules(running)
	if cred != nil {
		if err := privsep.Drop(*cred); err != nil {
			return fmt.Errorf("dropping to the courier user: %w", err)
		}
	}
	q, err := queue.Open(l.LocalstateDir, queue.Options{Logger: log})
	if err != nil {
		return err
	}
	rep, err := q.Recover()
	if err != nil {
		return fmt.Errorf("recovering the queue: %w", err)
	}
	log.Info("queue recovered", "queued", rep.Queued, "finished", rep.Finished, "broken", rep.Broken, "repaired", rep.Repaired, "tmp_removed", rep.TmpRemoved, "pool_pruned", rep.PoolPruned)
	trigger, err := q.ListenTrigger()
	if err != nil {
		return err
	}
	defer trigger.Close()
	var track func(string, byte, time.Time)
	if o.Track != nil {
		track = o.Track(l.LocalstateDir)
	}
	flag, err := inflow.Create(l.LocalstateDir)
	if err != nil {
		return err
	}
	defer flag.Close()
	s := New(Config{Queue: q, Files: files, Modules: running, Retry: retry, NeedDSN: o.NeedDSN, Track: track, Logger: log, Inflow: flag})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return s.Run(ctx, trigger, o.StopTimeout)
}
