// Package pidfile owns the daemon control protocol of Courier's liblock
// (lockdaemon.c), which courierlogger and couriertcpd use for their -pid=
// -start/-stop/-restart options, so that our programs and the original
// ones can stop and restart each other:
//
//   - FILE.lock (mode 0600) carries a POSIX record lock (fcntl F_SETLK,
//     whole file) held by the running daemon for its whole life. Whether a
//     daemon runs is whether the lock is held, not whether FILE exists.
//   - FILE holds the daemon's pid and a newline; it is replaced (unlinked
//     and rewritten) at each start and left behind at exit.
//   - -start of a second copy quietly succeeds without starting anything.
//   - -stop sends SIGTERM to the pid in FILE, then SIGKILL every 10
//     seconds, until the lock is released; -restart sends SIGHUP. Both do
//     nothing when no daemon runs.
//
// Daemonize detaches the calling program into the background by
// re-executing it (Go cannot fork) in a new session, and holds the lock.
package pidfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gocourier/courier/pkg/proc"
)

// LockPath returns the lock file of a pid file.
func LockPath(pidFile string) string { return pidFile + ".lock" }

// Lock is a held daemon lock. It stays held until the process exits; the
// process must not open and close the lock file any other way meanwhile
// (closing any descriptor of a file drops the process's POSIX locks on it).
type Lock struct {
	f       *os.File
	pidFile string
}

// lockFiles keeps the lock files of this process open for its whole life:
// an *os.File nobody refers to any more is closed by the garbage
// collector, which would release the lock of a daemon that dropped its
// Lock.
var lockFiles struct {
	sync.Mutex
	files []*os.File
}

// openLock opens (creating) the lock file like liblock: if it cannot be
// opened, perhaps because an older daemon ran under another uid, it is
// removed and created again.
func openLock(pidFile string) (*os.File, error) {
	p := LockPath(pidFile)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		os.Remove(p)
		f, err = os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	}
	return f, err
}

func wholeFile(typ int16) *unix.Flock_t {
	return &unix.Flock_t{Type: typ, Whence: io.SeekStart, Start: 0, Len: 0}
}

// tryLock takes the write lock on f without waiting; held reports that
// another process has it.
func tryLock(f *os.File) (held bool, err error) {
	for {
		err = unix.FcntlFlock(f.Fd(), unix.F_SETLK, wholeFile(unix.F_WRLCK))
		if err != unix.EINTR {
			break
		}
	}
	if err == unix.EAGAIN || err == unix.EACCES {
		return true, nil
	}
	return false, err
}

// TryLock takes the daemon lock of pidFile. It returns (nil, nil) when
// another process holds it, that is when the daemon already runs.
func TryLock(pidFile string) (*Lock, error) {
	f, err := openLock(pidFile)
	if err != nil {
		return nil, err
	}
	held, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", f.Name(), err)
	}
	if held {
		f.Close()
		return nil, nil
	}
	keepOpen(f)
	return &Lock{f: f, pidFile: pidFile}, nil
}

func keepOpen(f *os.File) {
	lockFiles.Lock()
	lockFiles.files = append(lockFiles.files, f)
	lockFiles.Unlock()
}

// WritePID replaces the pid file with pid and a newline.
func (l *Lock) WritePID(pid int) error {
	os.Remove(l.pidFile)
	f, err := os.OpenFile(l.pidFile, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(strconv.Itoa(pid) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", l.pidFile, err)
	}
	return nil
}

// ParsePID parses pid file contents: a decimal process id greater than 1
// on the first line (pid 1 and the process-group forms of kill(2) are
// never signalled).
func ParsePID(data []byte) (int, error) {
	line, _, _ := strings.Cut(string(data), "\n")
	line = strings.TrimSpace(line)
	if line == "" {
		return 0, errors.New("no process id on the first line")
	}
	for _, c := range line {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a process id", line)
		}
	}
	pid, err := strconv.Atoi(line)
	if err != nil || pid < 2 || pid > 1<<22 {
		return 0, fmt.Errorf("%q is not a valid process id", line)
	}
	return pid, nil
}

// ReadPID reads a pid file.
func ReadPID(pidFile string) (int, error) {
	data, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, err
	}
	pid, err := ParsePID(data)
	if err != nil {
		return 0, fmt.Errorf("%s: %v", pidFile, err)
	}
	return pid, nil
}

// running opens the lock file and reports whether a daemon holds it,
// taking the lock itself when none does (Stop waits on it).
func running(pidFile string) (bool, *os.File, error) {
	f, err := os.OpenFile(LockPath(pidFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return false, nil, err
	}
	held, err := tryLock(f)
	if err != nil {
		f.Close()
		return false, nil, fmt.Errorf("locking %s: %w", f.Name(), err)
	}
	return held, f, nil
}

// Running reports whether a daemon holds the lock of pidFile. It only
// asks (F_GETLK): it neither creates the lock file (a missing one means
// no daemon) nor takes the lock even for a moment, so it cannot make a
// daemon starting at the same time believe that another copy runs. It
// must not be called by the daemon itself (see Lock).
func Running(pidFile string) (bool, error) {
	f, err := os.Open(LockPath(pidFile))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	lk := wholeFile(unix.F_WRLCK)
	for {
		err = unix.FcntlFlock(f.Fd(), unix.F_GETLK, lk)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return false, fmt.Errorf("checking the lock on %s: %w", f.Name(), err)
	}
	return lk.Type != unix.F_UNLCK, nil
}

// Status reports whether a daemon holds the lock of pidFile and, if one
// does, its pid, allowing for a daemon that is still starting (locked,
// pid file not yet written) or stopping (pid file removed, lock not yet
// released).
func Status(pidFile string) (pid int, running bool, err error) {
	running, err = Running(pidFile)
	if err != nil || !running {
		return 0, false, err
	}
	pid, gone, err := readPIDPatiently(pidFile)
	if err != nil {
		return 0, true, fmt.Errorf("a daemon holds %s but its pid is unknown: %w", LockPath(pidFile), err)
	}
	return pid, !gone, nil
}

// readPIDPatiently reads the pid file of a daemon known to run, allowing
// for one that is still starting (locked, pid file not yet written); gone
// reports that the daemon released its lock meanwhile.
func readPIDPatiently(pidFile string) (pid int, gone bool, err error) {
	for i := 0; ; i++ {
		if pid, err = ReadPID(pidFile); err == nil {
			return pid, false, nil
		}
		if i == 20 {
			return 0, false, err
		}
		time.Sleep(100 * time.Millisecond)
		if held, err := Running(pidFile); err == nil && !held {
			return 0, true, nil
		}
	}
}

// Restart sends SIGHUP to the daemon of pidFile, if one runs.
func Restart(pidFile string) error {
	pid, held, err := Status(pidFile)
	if err != nil || !held {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil && err != syscall.ESRCH {
		return fmt.Errorf("sending SIGHUP to process %d (from %s): %w", pid, pidFile, err)
	}
	return nil
}

// KillInterval is how long Stop waits after each signal before it sends
// SIGKILL.
const KillInterval = 10 * time.Second

// Stop stops the daemon of pidFile, if one runs: SIGTERM to the pid in
// the pid file, then SIGKILL every KillInterval, until the daemon's lock is
// released. It returns when the daemon has exited.
func Stop(pidFile string) error {
	held, f, err := running(pidFile)
	if err != nil {
		return err
	}
	defer f.Close()
	if !held {
		return nil
	}
	pid, gone, err := readPIDPatiently(pidFile)
	if err != nil {
		return fmt.Errorf("a daemon holds %s but its pid is unknown, so it cannot be stopped: %w", LockPath(pidFile), err)
	}
	if gone {
		return nil
	}
	locked := make(chan error, 1)
	go func() {
		for {
			err := unix.FcntlFlock(f.Fd(), unix.F_SETLKW, wholeFile(unix.F_WRLCK))
			if err != unix.EINTR {
				locked <- err
				return
			}
		}
	}()
	sig := syscall.SIGTERM
	for {
		if err := syscall.Kill(pid, sig); err != nil && err != syscall.ESRCH {
			return fmt.Errorf("sending %v to process %d (from %s): %w", sig, pid, pidFile, err)
		}
		select {
		case err := <-locked:
			if err != nil {
				return fmt.Errorf("waiting for the lock on %s: %w", LockPath(pidFile), err)
			}
			// The kernel releases the lock while the process exits,
			// a moment before it is gone: let it finish, so that
			// whoever runs -stop and then looks finds it gone.
			for i := 0; i < 100 && proc.Alive(pid); i++ {
				time.Sleep(10 * time.Millisecond)
			}
			return nil
		case <-time.After(KillInterval):
		}
		sig = syscall.SIGKILL
		// The pid file may have been rewritten by a restarted daemon.
		if p, err := ReadPID(pidFile); err == nil {
			pid = p
		}
	}
}

// daemonEnv tells a re-executed program that it is the detached daemon and
// which descriptor reports its start to the waiting parent.
const daemonEnv = "COURIER_PIDFILE_DAEMON_FD"

// Daemon is the detached process started by Daemonize, holding the lock.
type Daemon struct {
	Lock   *Lock
	report *os.File
}

// Daemonize runs the calling program as a daemon controlled through
// pidFile. The first call, in the program started by the admin, re-executes
// the program with the same arguments in a new session, with standard
// input and output on /dev/null, and waits: when the daemon reports Ready,
// or finds another copy running, Daemonize returns (nil, nil) and the
// caller exits with status 0; when the daemon fails, it returns the
// daemon's error. In the re-executed program, Daemonize takes the lock and
// returns the Daemon, which must call Ready or Fail; if another copy
// already runs it returns (nil, nil) and the program exits quietly.
func Daemonize(pidFile string) (*Daemon, error) {
	if fdStr := os.Getenv(daemonEnv); fdStr != "" {
		os.Unsetenv(daemonEnv)
		fd, err := strconv.Atoi(fdStr)
		if err != nil || fd < 3 {
			return nil, fmt.Errorf("%s=%q is not a descriptor", daemonEnv, fdStr)
		}
		report := os.NewFile(uintptr(fd), "start report")
		syscall.CloseOnExec(fd)
		l, err := TryLock(pidFile)
		if err != nil {
			fmt.Fprintf(report, "%v", err)
			report.Close()
			return nil, err
		}
		if l == nil {
			report.Write([]byte{0})
			report.Close()
			return nil, nil
		}
		return &Daemon{Lock: l, report: report}, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	// Descriptors inherited from whoever started us (a shell's pipes)
	// must not stay open in the daemon for its whole life; liblock closes
	// them, here they are marked close-on-exec (Go's own already are).
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		for _, e := range ents {
			if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
				syscall.CloseOnExec(fd)
			}
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	cmd.Env = append(os.Environ(), daemonEnv+"=3")
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return nil, fmt.Errorf("starting the daemon: %w", err)
	}
	msg, _ := io.ReadAll(r)
	if len(msg) > 0 && msg[0] == 0 {
		// Running in the background now: not our child any more
		// once we exit.
		cmd.Process.Release()
		return nil, nil
	}
	cmd.Wait()
	if len(msg) == 0 {
		return nil, errors.New("the daemon exited before it finished starting")
	}
	return nil, errors.New(string(msg))
}

// Ready writes the pid file and lets the waiting parent exit successfully.
func (d *Daemon) Ready() error {
	if err := d.Lock.WritePID(os.Getpid()); err != nil {
		d.Fail(err)
		return err
	}
	d.report.Write([]byte{0})
	return d.report.Close()
}

// Fail passes err to the waiting parent, which prints it and exits with
// status 1.
func (d *Daemon) Fail(err error) {
	fmt.Fprintf(d.report, "%v", err)
	d.report.Close()
}
