package supervise

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gocourier/courier/pkg/proc"
)

// reaper waits for every child of the process (Options.ReapAll): the
// instances the supervisor started, and the orphans re-parented to it as
// the child subreaper (or as pid 1 in a container).
type reaper struct {
	log     *slog.Logger
	mu      sync.Mutex
	waiting map[int]chan syscall.WaitStatus // instance pid -> its exited channel
}

func newReaper(log *slog.Logger) (*reaper, error) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return nil, fmt.Errorf("cannot become the child subreaper (prctl PR_SET_CHILD_SUBREAPER): %w", err)
	}
	r := &reaper{log: log, waiting: map[int]chan syscall.WaitStatus{}}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGCHLD)
	go func() {
		for range sigs {
			r.reapAll()
		}
	}()
	// A child may have ended before SIGCHLD was being listened for.
	r.reapAll()
	return r, nil
}

// reapAll reaps every child that has ended. SIGCHLD signals merge, so one
// signal may stand for several children.
func (r *reaper) reapAll() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		r.mu.Lock()
		c, ok := r.waiting[pid]
		delete(r.waiting, pid)
		r.mu.Unlock()
		if ok {
			c <- ws
		} else {
			r.log.Debug(fmt.Sprintf("reaped orphaned process %d: %s", pid, describe(ws)), "pid", pid)
		}
	}
}

// stopAdopted stops the processes left after every service was stopped:
// descendants that escaped their service's process group (setsid daemons)
// and were re-parented here. SIGTERM first, SIGKILL after timeout; the
// children of a stopped orphan become ours in turn and are handled by the
// next pass.
func (r *reaper) stopAdopted(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	hard := deadline.Add(timeout)
	termed := map[[2]uint64]bool{}
	for {
		left := proc.Children(os.Getpid())
		if len(left) == 0 {
			return
		}
		kill := time.Now().After(deadline)
		if time.Now().After(hard) {
			r.log.Error(fmt.Sprintf("%d processes left behind by services survive SIGKILL (uninterruptible?); giving up on them", len(left)))
			return
		}
		for _, p := range left {
			key := [2]uint64{uint64(p.PID), p.Start}
			switch {
			case kill:
				syscall.Kill(p.PID, syscall.SIGKILL)
			case !termed[key]:
				termed[key] = true
				r.log.Warn(fmt.Sprintf("stopping process %d, left behind by a service", p.PID), "pid", p.PID)
				syscall.Kill(p.PID, syscall.SIGTERM)
			}
		}
		time.Sleep(pollInterval)
	}
}
