package courierlogger

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gocourier/courier/pkg/logging"
	"github.com/gocourier/courier/pkg/logging/pidfile"
	"github.com/gocourier/courier/pkg/privsep"
)

// The original's timings: a program that ignores SIGTERM is killed after
// 8 seconds; -respawn waits 5 seconds before starting it again.
const (
	killAfter    = 8 * time.Second
	respawnDelay = 5 * time.Second
	// drainAfter bounds how long, once stopping and the program has
	// exited, its standard error is still read: processes it left behind
	// may hold the pipe open forever (the original then hangs until
	// -stop kills it).
	drainAfter = time.Second
)

// Run executes a parsed command line and returns the exit status.
// Messages for the admin running it go to stderr.
func Run(c Config, stdin io.Reader, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "courierlogger: %v\n", err)
		return 1
	}
	switch c.Mode {
	case Stop:
		if err := pidfile.Stop(c.PIDFile); err != nil {
			return fail(err)
		}
		return 0
	case Restart:
		if err := pidfile.Restart(c.PIDFile); err != nil {
			return fail(err)
		}
		return 0
	}
	cred, err := credential(c.User, c.Group)
	if err != nil {
		return fail(err)
	}
	var daemon *pidfile.Daemon
	if c.Mode == Start {
		if daemon, err = pidfile.Daemonize(c.PIDFile); err != nil {
			return fail(err)
		}
		if daemon == nil {
			return 0 // started in the background, or already running
		}
		stderr = io.Discard
	}
	sl := logging.NewSyslog(logging.SyslogConfig{Ident: c.Name, Facility: c.Facility})
	defer sl.Close()
	// courierlogger's own messages (such as the sandbox note of
	// pkg/privsep) go to syslog too, under its own name.
	slog.SetDefault(logging.New(logging.Options{Program: "courierlogger", Syslog: true,
		Facility: facilityName(c.Facility), Writer: stderr}))
	f := &forwarder{sl: sl, ident: c.Name, fallback: stderr}

	if len(c.Argv) == 0 {
		if cred != nil {
			if _, err := privsep.DropIfRoot(*cred); err != nil {
				return fail(err)
			}
		}
		if err := f.copyLines(stdin); err != nil {
			return fail(fmt.Errorf("reading standard input: %w", err))
		}
		return 0
	}

	// courierlogger works in / once the program runs (as the original
	// does), so a program given by a relative path is restarted by its
	// absolute one.
	path := c.Argv[0]
	if strings.Contains(path, "/") && !filepath.IsAbs(path) {
		if abs, err := filepath.Abs(path); err == nil {
			path = abs
		}
	}
	r := &runner{c: c, path: path, cred: cred, f: f, sigs: make(chan os.Signal, 4)}
	signal.Notify(r.sigs, syscall.SIGTERM, syscall.SIGHUP)
	if err := r.start(); err != nil {
		if daemon != nil {
			daemon.Fail(err)
		}
		return fail(err)
	}
	if daemon != nil {
		if err := daemon.Ready(); err != nil {
			r.cmd.Process.Kill()
			return 1
		}
	}
	// Like the original, do not keep a directory busy.
	os.Chdir("/")
	if cred != nil {
		if _, err := privsep.DropIfRoot(*cred); err != nil {
			slog.Error("cannot drop privileges: stopping "+c.Argv[0], "err", err)
			r.cmd.Process.Signal(syscall.SIGTERM)
			r.stopping = true
			r.loop()
			return 1
		}
	}
	return r.loop()
}

func facilityName(f logging.Facility) string {
	for _, n := range []string{"kern", "user", "mail", "daemon", "auth", "lpr", "news", "uucp", "cron", "authpriv", "ftp",
		"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"} {
		if g, _ := logging.ParseFacility(n); g == f {
			return n
		}
	}
	return "mail"
}

// credential resolves -user= and -group= like the original: -group alone
// changes the gid (and makes it the only supplementary group); a numeric
// -user keeps the gid (or takes -group's) with that as the only group; a
// user name takes the account's gid (or -group's) and its groups from
// /etc/group.
func credential(user, group string) (*privsep.Credential, error) {
	if user == "" && group == "" {
		return nil, nil
	}
	c := &privsep.Credential{UID: uint32(os.Geteuid()), GID: uint32(os.Getegid())}
	if group != "" {
		gid, err := privsep.LookupGroup(group)
		if err != nil {
			return nil, err
		}
		c.GID = gid
	}
	c.Groups = []uint32{c.GID}
	if user == "" {
		return c, nil
	}
	if uid, ok := privsep.ParseID(user); ok {
		c.UID = uid
		return c, nil
	}
	u, err := privsep.LookupUser(user)
	if err != nil {
		return nil, err
	}
	c.UID = u.UID
	if group == "" {
		c.GID = u.GID
	}
	if c.Groups, err = privsep.UserGroups(u.Name, c.GID); err != nil {
		return nil, err
	}
	return c, nil
}

// runner runs the program, restarting it as the options and signals say.
type runner struct {
	c    Config
	path string // c.Argv[0], absolute when it was relative
	cred *privsep.Credential
	f    *forwarder
	sigs chan os.Signal

	cmd        *childProc
	hupRestart bool // SIGHUP was passed on: restart the program when it ends
	stopping   bool // SIGTERM: end with the program
}

type childProc struct {
	*os.Process
	pipe   *os.File
	exited chan struct{}
	read   chan struct{}
}

// start starts the program with its standard error on a pipe to us and
// standard input and output on /dev/null.
func (r *runner) start() error {
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	ch := &privsep.Child{Path: r.path, Args: r.c.Argv[1:], Argv0: r.c.Argv[0], Stderr: pw}
	if r.c.DropRoot {
		ch.Cred = r.cred
	}
	cmd, err := ch.Start()
	pw.Close()
	if err != nil {
		pr.Close()
		return err
	}
	p := &childProc{Process: cmd.Process, pipe: pr, exited: make(chan struct{}), read: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	go func() {
		r.f.copyLines(pr)
		close(p.read)
	}()
	r.cmd = p
	return nil
}

// loop forwards the program's lines and handles its end and the signals,
// like the original: SIGHUP is passed on and the program is started again
// when it ends; SIGTERM is passed on, followed by SIGKILL 8 seconds later,
// and courierlogger ends with the program; -respawn restarts a program
// that ended by itself after 5 seconds. The program has ended when it has
// exited and its standard error is closed.
func (r *runner) loop() int {
	for {
		r.waitChild()
		if r.stopping {
			return 0
		}
		if r.hupRestart {
			r.hupRestart = false
		} else if r.c.Respawn {
			if !r.sleep(respawnDelay) {
				return 0
			}
		} else {
			return 0
		}
		for r.start() != nil {
			slog.Error("cannot restart " + r.c.Argv[0] + ": trying again in 5 seconds")
			if !r.sleep(respawnDelay) {
				return 0
			}
		}
	}
}

// waitChild returns when the program has exited and its pipe is drained.
func (r *runner) waitChild() {
	p := r.cmd
	exited, read := p.exited, p.read
	var kill <-chan time.Time
	for exited != nil || read != nil {
		select {
		case <-exited:
			exited = nil
			if r.stopping {
				p.pipe.SetReadDeadline(time.Now().Add(drainAfter))
			}
		case <-read:
			read = nil
		case sig := <-r.sigs:
			if exited == nil {
				if sig == syscall.SIGTERM {
					r.stopping = true
					p.pipe.SetReadDeadline(time.Now().Add(drainAfter))
				}
				continue
			}
			p.Signal(sig)
			if sig == syscall.SIGHUP {
				r.hupRestart = true
			} else {
				r.stopping, r.hupRestart = true, false
				kill = time.After(killAfter)
			}
		case <-kill:
			p.Signal(syscall.SIGKILL)
		}
	}
	p.pipe.Close()
}

// sleep waits d, returning false when SIGTERM arrives meanwhile (SIGHUP
// ends the wait early).
func (r *runner) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case sig := <-r.sigs:
		return sig != syscall.SIGTERM
	}
}
