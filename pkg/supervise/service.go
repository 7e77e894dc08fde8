package supervise

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gocourier/courier/pkg/privsep"
	"github.com/gocourier/courier/pkg/proc"
)

// pollInterval is how often a stopping service's process group is checked.
const pollInterval = 20 * time.Millisecond

// service is one supervised service: its spec and the goroutine (run) that
// starts, watches and restarts its instances.
type service struct {
	spec     Spec
	stop     chan struct{} // closed to ask run to stop the service
	stopOnce sync.Once
	done     chan struct{} // closed when run has returned

	// guarded by Supervisor.mu
	state  State
	pid    int
	starts int
	since  time.Time
	next   time.Time
}

func (s *Supervisor) skipped(svc *service) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return svc.state == Skipped
}

func (svc *service) requestStop() { svc.stopOnce.Do(func() { close(svc.stop) }) }

// instance is one started process of a service. The process leads its own
// process group (pgid == pid), so signals sent to -pid reach everything it
// started that did not move to another group.
type instance struct {
	pid     int
	cmd     *exec.Cmd
	started time.Time
	exited  chan syscall.WaitStatus // receives the status once reaped
}

// spawn starts an instance of svc. Its stdout and stderr go through a pipe
// into the log, one record per line.
func (s *Supervisor) spawn(svc *service) (*instance, error) {
	sp := &svc.spec
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("service %s: cannot create its output pipe: %w", sp.Name, err)
	}
	env := sp.Env
	if env == nil {
		env = []string{}
	}
	child := privsep.Child{
		Path: sp.Path, Args: sp.Args, Env: env, Dir: sp.dir(), Cred: sp.Cred,
		ExtraFiles: sp.ExtraFiles, Setpgid: true, Stdout: w, Stderr: w,
	}
	inst := &instance{exited: make(chan syscall.WaitStatus, 1)}
	if s.reaper != nil {
		// Hold the reaper until the pid is registered, so that an
		// instance that dies at once is not mistaken for an orphan.
		s.reaper.mu.Lock()
	}
	cmd, err := child.Start()
	if err == nil {
		inst.cmd, inst.pid, inst.started = cmd, cmd.Process.Pid, time.Now()
		if s.reaper != nil {
			s.reaper.waiting[inst.pid] = inst.exited
		}
	}
	if s.reaper != nil {
		s.reaper.mu.Unlock()
	}
	w.Close()
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("service %s: %w", sp.Name, err)
	}
	if s.reaper == nil {
		go func() {
			cmd.Wait()
			// ProcessState is nil only if waiting failed, which the
			// supervisor (sole waiter of its children) never causes;
			// report it as a kill rather than crash.
			ws := syscall.WaitStatus(syscall.SIGKILL)
			if cmd.ProcessState != nil {
				ws = cmd.ProcessState.Sys().(syscall.WaitStatus)
			}
			inst.exited <- ws
		}()
	}
	go s.copyOutput(sp.Name, inst.pid, r)
	if sp.PidFile != "" {
		if err := writePidFile(sp.PidFile, inst.pid); err != nil {
			s.log.Warn(fmt.Sprintf("service %s: cannot write its pid file: %v", sp.Name, err), "service", sp.Name)
		}
	}
	s.mu.Lock()
	svc.state, svc.pid, svc.since, svc.next = Running, inst.pid, inst.started, time.Time{}
	svc.starts++
	s.mu.Unlock()
	attrs := []any{"service", sp.Name, "pid", inst.pid, "program", sp.Path, "args", strings.Join(sp.Args, " ")}
	if sp.Listen != "" {
		attrs = append(attrs, "listen", sp.Listen)
	}
	if sp.Cred != nil {
		attrs = append(attrs, "uid", sp.Cred.UID, "gid", sp.Cred.GID)
	}
	s.log.Info("started "+sp.Name, attrs...)
	return inst, nil
}

// reaped finishes an instance after its process was reaped.
func (s *Supervisor) reaped(svc *service, inst *instance) {
	if s.reaper != nil {
		// The reaper waited for the process; only the pidfd that
		// os.StartProcess holds is left to release.
		inst.cmd.Process.Release()
	}
	if svc.spec.PidFile != "" {
		removePidFile(svc.spec.PidFile, inst.pid)
	}
}

// run watches a service until it is asked to stop: each time its instance
// exits, the rest of its process group is stopped and a new instance is
// started after the backoff delay. inst is the first instance, or nil when
// starting it failed with err.
func (s *Supervisor) run(svc *service, inst *instance, err error) {
	defer close(svc.done)
	sp := &svc.spec
	var delay time.Duration
	for {
		if inst != nil {
			select {
			case ws := <-inst.exited:
				ran := time.Since(inst.started)
				s.reaped(svc, inst)
				s.clearGroup(sp, inst.pid)
				delay = sp.Backoff.next(delay, ran)
				s.log.Warn(fmt.Sprintf("service %s (pid %d) %s after running %s; restarting in %s",
					sp.Name, inst.pid, describe(ws), durationString(ran), durationString(delay)),
					"service", sp.Name, "pid", inst.pid, "status", describe(ws), "ran", ran,
					"delay", delay, "next", time.Now().Add(delay).Format(time.TimeOnly))
			case <-svc.stop:
				s.terminate(svc, inst)
				return
			}
		} else {
			delay = sp.Backoff.next(delay, 0)
			s.log.Error(fmt.Sprintf("cannot start %v; retrying in %s", err, durationString(delay)),
				"service", sp.Name, "delay", delay)
		}
		s.mu.Lock()
		svc.state, svc.pid, svc.next = Waiting, 0, time.Now().Add(delay)
		s.mu.Unlock()
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-svc.stop:
			t.Stop()
			s.log.Info(fmt.Sprintf("service %s stopped (it was waiting to restart)", sp.Name), "service", sp.Name)
			return
		}
		inst, err = s.spawn(svc)
	}
}

// terminate stops a running instance: SIGTERM to its process group, SIGKILL
// to the group if anything of it is left after the stop timeout.
func (s *Supervisor) terminate(svc *service, inst *instance) {
	sp := &svc.spec
	s.mu.Lock()
	svc.state = Stopping
	s.mu.Unlock()
	timeout := sp.stopTimeout()
	deadline := time.Now().Add(timeout)
	signalGroup(inst.pid, syscall.SIGTERM)
	var ws syscall.WaitStatus
	t := time.NewTimer(timeout)
	select {
	case ws = <-inst.exited:
		t.Stop()
	case <-t.C:
		s.log.Warn(fmt.Sprintf("service %s (pid %d) did not stop within %s of SIGTERM; sending SIGKILL",
			sp.Name, inst.pid, durationString(timeout)), "service", sp.Name, "pid", inst.pid)
		signalGroup(inst.pid, syscall.SIGKILL)
		ws = <-inst.exited
	}
	s.reaped(svc, inst)
	s.finishGroup(sp, inst.pid, deadline)
	s.log.Info(fmt.Sprintf("service %s (pid %d) stopped: %s", sp.Name, inst.pid, describe(ws)),
		"service", sp.Name, "pid", inst.pid, "status", describe(ws))
}

// clearGroup stops what is left of the process group of an instance that
// exited on its own, so that the next instance starts clean.
func (s *Supervisor) clearGroup(sp *Spec, pgid int) {
	if !groupAlive(pgid) {
		return
	}
	s.log.Warn(fmt.Sprintf("service %s: processes of its group %d outlived it; sending SIGTERM", sp.Name, pgid),
		"service", sp.Name, "pgid", pgid)
	signalGroup(pgid, syscall.SIGTERM)
	s.finishGroup(sp, pgid, time.Now().Add(sp.stopTimeout()))
}

// finishGroup waits until no live process is left in the group, and sends
// SIGKILL to the group when deadline passes first.
func (s *Supervisor) finishGroup(sp *Spec, pgid int, deadline time.Time) {
	killed := false
	for groupAlive(pgid) {
		if !killed && time.Now().After(deadline) {
			s.log.Warn(fmt.Sprintf("service %s: processes of its group %d ignored SIGTERM; sending SIGKILL", sp.Name, pgid),
				"service", sp.Name, "pgid", pgid)
			signalGroup(pgid, syscall.SIGKILL)
			killed = true
		}
		time.Sleep(pollInterval)
	}
}

func signalGroup(pgid int, sig syscall.Signal) {
	// ESRCH (nothing left in the group) is the normal end.
	syscall.Kill(-pgid, sig)
}

// groupAlive reports whether a process group has a member that is not a
// zombie. kill(-pgid, 0) alone counts zombies, which wait for their parent
// (possibly not us) to reap them but run nothing any more.
func groupAlive(pgid int) bool {
	if err := syscall.Kill(-pgid, 0); err == syscall.ESRCH {
		return false
	}
	found := false
	proc.Scan(func(p proc.Stat) bool {
		if p.Pgrp == pgid && !p.Exited() {
			found = true
			return false
		}
		return true
	})
	return found
}

// describe says how a process ended, for the admin.
func describe(ws syscall.WaitStatus) string {
	switch {
	case ws.Exited():
		return "exited with status " + strconv.Itoa(ws.ExitStatus())
	case ws.Signaled():
		d := "was killed by signal " + unix.SignalName(ws.Signal())
		if ws.CoreDump() {
			d += " (core dumped)"
		}
		return d
	}
	return fmt.Sprintf("ended with wait status %#x", uint32(ws))
}

// writePidFile replaces path with one holding pid.
func writePidFile(path string, pid int) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// removePidFile removes path if it still names pid.
func removePidFile(path string, pid int) {
	data, err := os.ReadFile(path)
	if err == nil && strings.TrimSpace(string(data)) == strconv.Itoa(pid) {
		os.Remove(path)
	}
}
