package privsep

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// Child describes a program to start with its own identity.
type Child struct {
	Path  string   // program; looked up in $PATH when it has no slash
	Args  []string // argv[1:]
	Argv0 string   // argv[0]; Path when empty
	Env   []string // nil: the parent's environment
	Dir   string   // working directory; the parent's when empty

	// Cred is the identity of the child: nil keeps the parent's. When
	// the parent is not root (sandbox mode) it is ignored, which is
	// logged once per process if it differs from the parent's uid/gid.
	// An empty Groups list gives the child no supplementary groups.
	Cred *Credential

	ExtraFiles []*os.File // become fd 3, 4, ... in the child

	// NoNewPrivs sets PR_SET_NO_NEW_PRIVS in the child: neither it nor
	// anything it executes can gain privileges through setuid/setgid
	// bits or file capabilities.
	NoNewPrivs bool

	Setpgid bool // the child leads a new process group

	Stdin          io.Reader // nil: /dev/null
	Stdout, Stderr io.Writer // nil: /dev/null
}

// Start starts the child and returns the running command; the caller
// waits for it with cmd.Wait.
func (c *Child) Start() (*exec.Cmd, error) {
	cmd := exec.Command(c.Path, c.Args...)
	if cmd.Err != nil {
		return nil, fmt.Errorf("starting %s: %w", c.Path, cmd.Err)
	}
	if c.Argv0 != "" {
		cmd.Args[0] = c.Argv0
	}
	cmd.Env = c.Env
	cmd.Dir = c.Dir
	cmd.ExtraFiles = c.ExtraFiles
	cmd.Stdin, cmd.Stdout, cmd.Stderr = c.Stdin, c.Stdout, c.Stderr
	attr := &syscall.SysProcAttr{Setpgid: c.Setpgid}
	if c.Cred != nil {
		if IsRoot() {
			// A nil or empty Groups still makes the child call
			// setgroups(0, NULL): Go skips setgroups only when
			// NoSetGroups is set.
			groups := make([]uint32, len(c.Cred.Groups))
			copy(groups, c.Cred.Groups)
			attr.Credential = &syscall.Credential{Uid: c.Cred.UID, Gid: c.Cred.GID, Groups: groups}
		} else {
			noteSandbox(*c.Cred, c.Path)
		}
	}
	cmd.SysProcAttr = attr
	var err error
	if c.NoNewPrivs {
		err = startNoNewPrivs(cmd)
	} else {
		err = cmd.Start()
	}
	if err != nil {
		who := ""
		if attr.Credential != nil {
			who = " as " + c.Cred.String()
		}
		return nil, fmt.Errorf("starting %s%s: %w", c.Path, who, err)
	}
	return cmd, nil
}

// startNoNewPrivs starts cmd from a thread that has PR_SET_NO_NEW_PRIVS
// set; the flag is per thread and inherited through fork, and Go has no
// SysProcAttr field for it. The goroutine stays locked to that thread and
// exits without unlocking, so the runtime destroys the thread instead of
// running other goroutines (or forking other children) on it. The runtime
// never clones new threads from a locked thread either: it asks its
// template thread to.
func startNoNewPrivs(cmd *exec.Cmd) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() != unix.Getpid() {
			errc <- startOnTaintedThread(cmd)
			return
		}
		// This is the main thread, which the runtime cannot destroy:
		// it would park it forever with the flag set. While this
		// goroutine holds it, another goroutine necessarily runs on
		// another thread; this one stays untainted and is released.
		inner := make(chan error, 1)
		go func() {
			runtime.LockOSThread()
			inner <- startOnTaintedThread(cmd)
		}()
		err := <-inner
		runtime.UnlockOSThread()
		errc <- err
	}()
	return <-errc
}

// startOnTaintedThread must run on a goroutine locked to a thread it owns
// and that exits without unlocking.
func startOnTaintedThread(cmd *exec.Cmd) error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	return cmd.Start()
}
