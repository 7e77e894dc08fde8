// Package supervise owns the process supervisor at the root of the suite
// (DESIGN.md §1, the `courierd` row): a set of service specs (program,
// arguments, environment, credential, passed files, restart policy,
// dependencies) started in dependency order, restarted with exponential
// backoff when they exit, reaped so that no zombie is left, stopped in
// reverse order (SIGTERM to the whole process group, SIGKILL after a
// timeout), and reloaded by restarting only what changed. Each instance
// leads its own process group; when it exits on its own, what is left of
// the group is stopped the same way before the next instance starts.
//
// It also owns what makes courierd a daemon — the locked pid file, the
// signals (SIGHUP reload, SIGTERM/SIGINT stop) and the start-up report —
// and the client side of those that the `courier start|stop|restart`
// command uses.
//
// The engine is generic: pkg/services declares the suite's services and
// turns the configuration files into Specs; cmd/courierd wires the two.
package supervise

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"syscall"
	"time"
)

// Options configure a Supervisor.
type Options struct {
	Logger *slog.Logger // nil: slog.Default()

	// ReapAll makes the process a child subreaper
	// (PR_SET_CHILD_SUBREAPER): descendants that services orphan are
	// re-parented to it, reaped, and stopped with everything else. The
	// supervisor then reaps every child of the process itself, so this
	// is only for a process whose children are all started by the
	// supervisor (courierd); a process that also runs exec.Cmd.Wait must
	// leave it off.
	ReapAll bool
}

// Supervisor runs a set of services. Its methods may be called from any
// goroutine; Start, Reload and Stop are serialised.
type Supervisor struct {
	log    *slog.Logger
	reaper *reaper

	op sync.Mutex // held by Start, Reload and Stop for their whole run

	mu       sync.Mutex // guards the fields below and every service's state
	services map[string]*service
	specs    []Spec // the current set, in the order given
}

// State is what a service is doing.
type State string

// The states of a service.
const (
	Running  State = "running"  // an instance is running
	Waiting  State = "waiting"  // the instance exited; a restart is scheduled
	Stopping State = "stopping" // being stopped
	Skipped  State = "skipped"  // its program is not installed
)

// Status describes one service.
type Status struct {
	Name   string
	State  State
	PID    int       // of the running instance; 0 otherwise
	Starts int       // instances started so far
	Since  time.Time // when the running instance started, or the service was skipped
	Next   time.Time // Waiting: when the next instance starts
	Spec   Spec
}

// New returns an idle supervisor.
func New(o Options) (*Supervisor, error) {
	s := &Supervisor{log: o.Logger, services: map[string]*service{}}
	if s.log == nil {
		s.log = slog.Default()
	}
	if o.ReapAll {
		r, err := newReaper(s.log)
		if err != nil {
			return nil, err
		}
		s.reaper = r
	}
	return s, nil
}

// Start starts every service of specs, in dependency order. It is Reload
// on a supervisor that runs nothing yet.
func (s *Supervisor) Start(specs []Spec) error {
	return s.apply(specs, true)
}

// Reload makes the supervised set equal to specs: services that are no
// longer in it are stopped (dependents first), services whose spec changed
// are restarted, new ones are started (requirements first), and unchanged
// ones keep running untouched — except skipped ones, which start once
// their programs are installed. An invalid set changes nothing.
func (s *Supervisor) Reload(specs []Spec) error { return s.apply(specs, false) }

func (s *Supervisor) apply(specs []Spec, initial bool) error {
	layers, err := order(specs)
	if err != nil {
		return err
	}
	s.op.Lock()
	defer s.op.Unlock()

	s.mu.Lock()
	if initial && len(s.services) != 0 {
		s.mu.Unlock()
		return errors.New("supervisor already started: use Reload")
	}
	oldLayers, _ := order(s.specs)
	want := map[string]Spec{}
	for _, sp := range specs {
		want[sp.Name] = sp
	}
	drop := map[string]bool{}
	var hup []int // pids of unchanged services told to re-read their files
	for name, svc := range s.services {
		n, ok := want[name]
		switch {
		case !ok || !Equal(n, svc.spec) || (!initial && n.OnReload == ReloadRestart):
			drop[name] = true
		case !initial && n.OnReload == ReloadSIGHUP && svc.pid > 0:
			hup = append(hup, svc.pid)
		}
	}
	s.mu.Unlock()
	for _, pid := range hup {
		syscall.Kill(pid, syscall.SIGHUP)
	}

	var stopped, started, restarted []string
	for i := len(oldLayers) - 1; i >= 0; i-- {
		var batch []*service
		s.mu.Lock()
		for _, sp := range oldLayers[i] {
			if drop[sp.Name] {
				batch = append(batch, s.services[sp.Name])
				delete(s.services, sp.Name)
			}
		}
		s.mu.Unlock()
		s.stopAll(batch)
	}
	for _, layer := range layers {
		for _, sp := range layer {
			s.mu.Lock()
			svc := s.services[sp.Name]
			s.mu.Unlock()
			switch {
			case svc == nil:
				s.launch(sp)
				if drop[sp.Name] {
					restarted = append(restarted, sp.Name)
				} else {
					started = append(started, sp.Name)
				}
			case s.skipped(svc) && svc.spec.missing() == "":
				s.mu.Lock()
				delete(s.services, sp.Name)
				s.mu.Unlock()
				s.launch(sp)
				started = append(started, sp.Name)
			}
		}
	}
	for name := range drop {
		if _, ok := want[name]; !ok {
			stopped = append(stopped, name)
		}
	}
	s.mu.Lock()
	s.specs = append([]Spec(nil), specs...)
	s.mu.Unlock()
	sort.Strings(stopped)
	if !initial {
		s.log.Info("services reloaded", "started", started, "restarted", restarted, "stopped", stopped,
			"unchanged", len(specs)-len(started)-len(restarted))
	}
	return nil
}

// Stop stops every service, dependents before their requirements, and
// returns when none of their processes is left. With ReapAll it then stops
// the processes the services orphaned too.
func (s *Supervisor) Stop() {
	s.op.Lock()
	defer s.op.Unlock()
	s.mu.Lock()
	layers, _ := order(s.specs)
	s.mu.Unlock()
	for i := len(layers) - 1; i >= 0; i-- {
		var batch []*service
		s.mu.Lock()
		for _, sp := range layers[i] {
			if svc := s.services[sp.Name]; svc != nil {
				batch = append(batch, svc)
				delete(s.services, sp.Name)
			}
		}
		s.mu.Unlock()
		s.stopAll(batch)
	}
	s.mu.Lock()
	s.specs = nil
	s.mu.Unlock()
	if s.reaper != nil {
		s.reaper.stopAdopted(DefaultStopTimeout)
	}
}

// Status reports every service, sorted by name.
func (s *Supervisor) Status() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Status, 0, len(s.services))
	for _, svc := range s.services {
		out = append(out, Status{Name: svc.spec.Name, State: svc.state, PID: svc.pid, Starts: svc.starts,
			Since: svc.since, Next: svc.next, Spec: svc.spec})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// stopAll stops a batch of services in parallel and waits for them.
func (s *Supervisor) stopAll(batch []*service) {
	for _, svc := range batch {
		svc.requestStop()
	}
	for _, svc := range batch {
		<-svc.done
	}
}

// launch registers a service and starts its first instance before
// returning, so that services start in the order launch is called.
func (s *Supervisor) launch(sp Spec) {
	svc := &service{spec: sp, stop: make(chan struct{}), done: make(chan struct{})}
	s.mu.Lock()
	s.services[sp.Name] = svc
	s.mu.Unlock()
	if m := sp.missing(); m != "" {
		s.mu.Lock()
		svc.state, svc.since = Skipped, time.Now()
		s.mu.Unlock()
		close(svc.done)
		s.log.Info(fmt.Sprintf("service %s not started: %s is not installed", sp.Name, m), "service", sp.Name)
		return
	}
	inst, err := s.spawn(svc)
	go s.run(svc, inst, err)
}

func durationString(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return d.Round(time.Second).String()
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(time.Millisecond).String()
}
