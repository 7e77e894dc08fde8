package supervise

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/gocourier/courier/pkg/logging/pidfile"
	"github.com/gocourier/courier/pkg/proc"
)

// Control is the client side of courierd used by `courier start`, `courier
// stop` and `courier restart`.
type Control struct {
	PidFile string // courierd's pid file
	Program string // courierd's path, for Start
	Args    []string
	Stdout  io.Writer // what was started, informational messages
	Stderr  io.Writer // the log of a failed start
	Timeout time.Duration
}

// DefaultControlTimeout bounds how long Start waits for courierd to finish
// starting and Stop waits for it to exit.
const DefaultControlTimeout = 60 * time.Second

// tailLines is how much of a failed start's log Start shows.
const tailLines = 30

func (c *Control) timeout() time.Duration {
	if c.Timeout <= 0 {
		return DefaultControlTimeout
	}
	return c.Timeout
}

// Start launches courierd detached (its own session, stdio on /dev/null)
// and waits until it has started every service: its start-up log arrives
// over a pipe (courierd -startup-fd=3) and is printed, and courierd must
// then hold its pid file. If courierd dies instead, the tail of its log is
// printed to Stderr and the error says how it ended. Starting a running
// courierd only says so.
func (c *Control) Start() error {
	if pid, running, err := pidfile.Status(c.PidFile); err != nil {
		return err
	} else if running {
		fmt.Fprintf(c.Stdout, "courierd is already running (pid %d)\n", pid)
		return nil
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer devnull.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	cmd := exec.Command(c.Program, append(append([]string(nil), c.Args...), "-startup-fd=3")...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, devnull
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return fmt.Errorf("cannot start courierd: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	// Collect the start-up log until courierd closes the pipe (started,
	// or dead) or the timeout passes.
	r.SetReadDeadline(time.Now().Add(c.timeout()))
	var lines []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	readErr := sc.Err()

	pid := cmd.Process.Pid
	if errors.Is(readErr, os.ErrDeadlineExceeded) {
		c.printTail(lines)
		return fmt.Errorf("courierd (pid %d) has not finished starting after %s; it keeps trying in the background: see its log", pid, c.timeout())
	}
	// courierd holds its pid file from before it reads the configuration
	// until it exits: holding it now means it started.
	owner, running, err := pidfile.Status(c.PidFile)
	if err != nil {
		return err
	}
	if running && owner == pid {
		for _, l := range lines {
			fmt.Fprintln(c.Stdout, l)
		}
		return nil
	}
	c.printTail(lines)
	select {
	case err := <-exited:
		return fmt.Errorf("courierd failed to start: %s", exitText(err))
	case <-time.After(c.timeout()):
		return fmt.Errorf("courierd (pid %d) ended its start-up report but does not hold its pid file %s", pid, c.PidFile)
	}
}

func (c *Control) printTail(lines []string) {
	if len(lines) > tailLines {
		lines = lines[len(lines)-tailLines:]
	}
	if len(lines) > 0 {
		fmt.Fprintln(c.Stderr, "courierd's log:")
	}
	for _, l := range lines {
		fmt.Fprintln(c.Stderr, "  "+l)
	}
}

func exitText(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok {
			return describe(ws)
		}
	}
	if err == nil {
		return "exited with status 0"
	}
	return err.Error()
}

// Stop sends SIGTERM to courierd and waits until it has exited, which it
// does after stopping every service. Stopping a courierd that does not run
// only says so.
func (c *Control) Stop() error {
	pid, running, err := pidfile.Status(c.PidFile)
	if err != nil {
		return err
	}
	if !running {
		fmt.Fprintln(c.Stdout, "courierd is not running")
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("cannot stop courierd (pid %d): %w", pid, err)
	}
	deadline := time.Now().Add(c.timeout())
	for {
		running, err := pidfile.Running(c.PidFile)
		if err != nil {
			return err
		}
		if !running && !proc.Alive(pid) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("courierd (pid %d) is still running %s after SIGTERM", pid, c.timeout())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Restart asks a running courierd to re-read its configuration (SIGHUP):
// services whose configuration changed are restarted, the others keep
// running.
func (c *Control) Restart() error {
	pid, running, err := pidfile.Status(c.PidFile)
	if err != nil {
		return err
	}
	if !running {
		return errors.New("courierd is not running: start it with \"courier start\"")
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		return fmt.Errorf("cannot signal courierd (pid %d): %w", pid, err)
	}
	return nil
}
