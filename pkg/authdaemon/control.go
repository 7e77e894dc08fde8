package authdaemon

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/gocourier/courier/pkg/layout"
)

const usage = `Usage: authdaemond [-pidfile=FILE] [-syslog]
       authdaemond start | stop | restart

Without a command authdaemond runs in the foreground (as a supervisor starts
it) and logs to standard error (-syslog: to the system logger). It answers authentication requests on
$authdaemonvar/socket with the modules of authmodulelist in authdaemonrc.
SIGHUP reloads authdaemonrc and the modules; SIGTERM stops it.

  start     start a detached daemon (pid in $authdaemonvar/pid)
  stop      stop it
  restart   make it reload its configuration (SIGHUP), or start it
  -pidfile  write the process id to FILE while running in the foreground
  -syslog   log to the system logger (facility mail, or LOGGEROPTS' -facility=)
`

// startWait bounds how long "start" waits for the daemon's socket.
const startWait = 10 * time.Second

// Main is the authdaemond command: it returns the exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 {
		switch args[0] {
		case "--help", "-help", "-h":
			fmt.Fprint(stdout, usage)
			return 0
		case "start", "stop", "restart":
			return control(args[0], stdout, stderr)
		}
	}
	opts := Options{Stderr: stderr}
	for _, a := range args {
		switch {
		case strings.HasPrefix(a, "-pidfile=") && len(a) > len("-pidfile="):
			opts.PidFile = strings.TrimPrefix(a, "-pidfile=")
		case a == "-syslog":
			opts.Syslog = true
		default:
			fmt.Fprint(stderr, usage)
			return 1
		}
	}
	if err := Run(opts); err != nil {
		fmt.Fprintf(stderr, "authdaemond: %v\n", err)
		return 1
	}
	return 0
}

func control(cmd string, stdout, stderr io.Writer) int {
	l := layout.Current()
	cfg, err := LoadConfig(l.Config("authdaemonrc"), l)
	if err != nil {
		fmt.Fprintf(stderr, "authdaemond: %v\n", err)
		return 1
	}
	pid, err := runningDaemon(cfg.PidFile())
	if err != nil {
		fmt.Fprintf(stderr, "authdaemond: %v\n", err)
		return 1
	}
	switch cmd {
	case "start":
		if pid != 0 {
			fmt.Fprintf(stderr, "authdaemond: already running (pid %d)\n", pid)
			return 0
		}
		return start(cfg, stderr)
	case "stop":
		if pid == 0 {
			fmt.Fprintf(stderr, "authdaemond: not running (no live process in %s)\n", cfg.PidFile())
			return 0
		}
		return stop(pid, cfg.PidFile(), stderr)
	default: // restart: the original's wrapper sends SIGHUP
		if pid == 0 {
			return start(cfg, stderr)
		}
		if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
			fmt.Fprintf(stderr, "authdaemond: signalling pid %d: %v\n", pid, err)
			return 1
		}
		return 0
	}
}

// start checks the configuration here, where errors can still be shown,
// then starts a detached foreground daemon and waits for its socket.
func start(cfg *Config, stderr io.Writer) int {
	l := layout.Current()
	if _, stack, err := loadStack(l, slog.New(slog.DiscardHandler)); err != nil {
		fmt.Fprintf(stderr, "authdaemond: %v\n", err)
		return 1
	} else {
		stack.Close()
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "authdaemond: %v\n", err)
		return 1
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintf(stderr, "authdaemond: %v\n", err)
		return 1
	}
	defer null.Close()
	before := socketIno(cfg.Socket())
	cmd := exec.Command(exe, "-pidfile="+cfg.PidFile(), "-syslog")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, null
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Dir = "/"
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "authdaemond: starting %s: %v\n", exe, err)
		return 1
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(startWait)
	for {
		select {
		case err := <-exited:
			fmt.Fprintf(stderr, "authdaemond: the daemon exited while starting (%v): run authdaemond without arguments to see its messages\n", err)
			return 1
		case <-deadline:
			fmt.Fprintf(stderr, "authdaemond: the daemon (pid %d) did not create %s within %v\n", cmd.Process.Pid, cfg.Socket(), startWait)
			return 1
		case <-time.After(20 * time.Millisecond):
		}
		if ino := socketIno(cfg.Socket()); ino != 0 && ino != before {
			if pid, _ := readPidFile(cfg.PidFile()); pid == cmd.Process.Pid {
				return 0
			}
		}
	}
}

func socketIno(path string) uint64 {
	var st syscall.Stat_t
	if syscall.Stat(path, &st) != nil {
		return 0
	}
	return st.Ino
}

// stop sends SIGTERM and waits for the daemon to go.
func stop(pid int, pidFile string, stderr io.Writer) int {
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		fmt.Fprintf(stderr, "authdaemond: signalling pid %d: %v\n", pid, err)
		return 1
	}
	end := time.Now().Add(shutdownGrace + 5*time.Second)
	for time.Now().Before(end) {
		if syscall.Kill(pid, 0) != nil {
			return 0
		}
		if p, _ := runningDaemon(pidFile); p == 0 {
			return 0
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Fprintf(stderr, "authdaemond: pid %d did not stop within %v\n", pid, shutdownGrace+5*time.Second)
	return 1
}
