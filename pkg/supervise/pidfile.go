package supervise

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/gocourier/courier/pkg/logging/pidfile"
)

// courierd's pid file follows the protocol of Courier's liblock, like
// every daemon of the suite (pkg/logging/pidfile): the POSIX lock on
// PidPath+".lock", held for the life of the process and released by the
// kernel however it ends, is the proof that courierd runs; the pid file
// only says which process it is (pidfile.Status reads both). Unlike liblock, courierd removes the pid
// file when it stops (still holding the lock, so that it cannot remove a
// successor's).

// PidPath is where courierd keeps its pid file in a run directory
// (layout.RunDir).
func PidPath(runDir string) string { return filepath.Join(runDir, "courierd.pid") }

// RunningError is returned by lockPidFile when another process holds the
// pid file's lock.
type RunningError struct {
	Path string
	Pid  int
}

func (e *RunningError) Error() string {
	return fmt.Sprintf("courierd is already running (pid %d, pid file %s)", e.Pid, e.Path)
}

// lockPidFile creates the directory of path, takes the lock and writes the
// pid of this process into path. The lock is held until the process exits.
func lockPidFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("cannot create the directory of the pid file: %w", err)
	}
	l, err := pidfile.TryLock(path)
	if err != nil {
		return fmt.Errorf("cannot lock the pid file %s: %w", path, err)
	}
	if l == nil {
		pid, _, _ := pidfile.Status(path)
		return &RunningError{Path: path, Pid: pid}
	}
	if err := l.WritePID(os.Getpid()); err != nil {
		return fmt.Errorf("cannot write the pid file %s: %w", path, err)
	}
	return nil
}

// OnlyPidPath is the pid file of a courierd that supervises one service
// (courierd -only=NAME, as the systemd units run it).
func OnlyPidPath(runDir, service string) string {
	return filepath.Join(runDir, "courierd-"+service+".pid")
}
