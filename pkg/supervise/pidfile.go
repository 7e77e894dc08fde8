package supervise

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// PidFile is courierd's locked pid file. The lock (flock) is the proof
// that courierd runs: it is held for the life of the process and released
// by the kernel however the process ends, so a stale file left by a crash
// is recognised and taken over.
type PidFile struct {
	path string
	f    *os.File
}

// PidPath is where courierd keeps its pid file in a run directory
// (layout.RunDir).
func PidPath(runDir string) string { return filepath.Join(runDir, "courierd.pid") }

// RunningError is returned by LockPidFile when another process holds the
// pid file.
type RunningError struct {
	Path string
	Pid  int
}

func (e *RunningError) Error() string {
	return fmt.Sprintf("courierd is already running (pid %d, pid file %s)", e.Pid, e.Path)
}

// LockPidFile creates path (and its directory), locks it and writes the
// pid of this process into it.
func LockPidFile(path string) (*PidFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("cannot create the directory of the pid file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cannot open the pid file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if err == syscall.EWOULDBLOCK {
			pid, _, _ := ReadPidFile(path)
			return nil, &RunningError{Path: path, Pid: pid}
		}
		return nil, fmt.Errorf("cannot lock the pid file %s: %w", path, err)
	}
	err = f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot write the pid file %s: %w", path, err)
	}
	return &PidFile{path: path, f: f}, nil
}

// Remove deletes the pid file and releases its lock. It is removed while
// still locked, so no other process can take it over in between.
func (p *PidFile) Remove() {
	os.Remove(p.path)
	p.f.Close()
}

// ReadPidFile returns the pid recorded in path and whether the process that
// wrote it still holds the lock (runs). A missing file means not running.
func ReadPidFile(path string) (pid int, running bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	switch err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err {
	case nil:
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	case syscall.EWOULDBLOCK:
		running = true
	default:
		return 0, false, fmt.Errorf("cannot check the lock of %s: %w", path, err)
	}
	// The owner locks the file before it writes its pid: give it a
	// moment when the file is locked but still empty.
	for try := 0; ; try++ {
		data, err := io.ReadAll(io.NewSectionReader(f, 0, 64))
		if err != nil {
			return 0, running, fmt.Errorf("cannot read %s: %w", path, err)
		}
		s := strings.TrimSpace(string(data))
		if s == "" && running && try < 50 {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if s == "" {
			return 0, running, nil
		}
		pid, err := strconv.Atoi(s)
		if err != nil || pid <= 0 {
			return 0, running, fmt.Errorf("%s does not hold a process id: %q", path, s)
		}
		return pid, running, nil
	}
}
