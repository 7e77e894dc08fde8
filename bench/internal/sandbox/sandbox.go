// Package sandbox starts this tree for the load tools in bench/: it builds,
// installs and configures it into a temporary sandbox with
// scripts/sandbox.sh (the same as make run), waits until courierd runs,
// and adds benchmark accounts with the sandbox's own userdb tools.
//
// Callers: bench/pop3bench, bench/imapbench, bench/esmtpout and
// bench/queuebench.
package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/pkg/queue"
)

// Sandbox is a running sandbox tree.
type Sandbox struct {
	Root string
	// Homes holds the home directories AddAccounts makes: Root/home, or a
	// directory of its own (SeparateHomes).
	Homes  string
	Config map[string]string // courier-config's output: sbindir, rundir, mailuser, ...
	Log    string            // the file with sandbox.sh's and courierd's output
	src    string
	cmd    *exec.Cmd
	done   chan error
}

// Start builds and starts the sandbox in a new directory named after
// prefix. prepare, when not nil, may write configuration files first (the
// layout's SysconfDir exists). vars are settings of the configuration
// files to change from the sandbox's (file → name → value), such as the
// peers' connection limits; the sandbox is restarted with them.
func Start(prefix string, prepare func(l layout.Layout) error, vars map[string]map[string]string) (*Sandbox, error) {
	src, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	root, err := os.MkdirTemp("", prefix+"-")
	if err != nil {
		return nil, err
	}
	// As root the sandbox's mail user is courier, which must reach the tree.
	if err := os.Chmod(root, 0o755); err != nil {
		return nil, err
	}
	l, err := layout.ForPreset("sandbox", root)
	if err != nil {
		return nil, err
	}
	// The queue exists before courierd starts, so that sandbox.sh hands it
	// to the mail user.
	if err := os.MkdirAll(l.LocalstateDir, 0o755); err != nil {
		return nil, err
	}
	if _, err := queue.Open(l.LocalstateDir, queue.Options{}); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(l.SysconfDir, 0o755); err != nil {
		return nil, err
	}
	if prepare != nil {
		if err := prepare(l); err != nil {
			return nil, err
		}
	}
	s := &Sandbox{Root: root, Log: filepath.Join(root, "sandbox.log"), src: src}
	fmt.Fprintf(os.Stderr, "%s: building and starting our sandbox in %s (log: %s)\n", prefix, root, s.Log)
	if err := s.run(); err != nil {
		return nil, err
	}
	if len(vars) == 0 {
		return s, nil
	}
	for file, set := range vars {
		if err := setVars(l.Config(file), set); err != nil {
			s.Stop(false)
			return nil, err
		}
	}
	fmt.Fprintf(os.Stderr, "%s: restarting our sandbox with the benchmark's settings\n", prefix)
	if err := s.stop(); err != nil {
		return nil, err
	}
	if err := s.run(); err != nil {
		return nil, err
	}
	return s, nil
}

// setVars replaces NAME=... lines of a configuration file, or adds them.
func setVars(path string, set map[string]string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	for name, value := range set {
		found := false
		for i, l := range lines {
			if strings.HasPrefix(l, name+"=") {
				lines[i], found = name+"="+value, true
			}
		}
		if !found {
			lines = append(lines, name+"="+value)
		}
	}
	return os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}

// run starts scripts/sandbox.sh and waits until courierd runs.
func (s *Sandbox) run() error {
	root := s.Root
	s.done = make(chan error, 1)
	logf, err := os.OpenFile(s.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	s.cmd = exec.Command(filepath.Join(s.src, "scripts", "sandbox.sh"), root)
	s.cmd.Dir = s.src
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return err
	}
	go func() { s.done <- s.cmd.Wait() }()
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		if c, err := config(root); err == nil {
			if _, err := os.Stat(filepath.Join(c["rundir"], "courierd.pid")); err == nil {
				s.Config = c
				return nil
			}
		}
		select {
		case err := <-s.done:
			return fmt.Errorf("the sandbox did not start (%v); see %s", err, s.Log)
		default:
		}
		if time.Now().After(deadline) {
			syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			return fmt.Errorf("the sandbox did not start in 5 minutes; see %s", s.Log)
		}
	}
}

// MailUser returns the uid and gid of the sandbox's mail user, which owns
// the accounts' maildirs.
func (s *Sandbox) MailUser() (uid, gid int) {
	uid, gid = os.Getuid(), os.Getgid()
	if out, err := exec.Command("id", "-u", s.Config["mailuser"]).Output(); err == nil {
		fmt.Sscan(string(out), &uid)
	}
	if out, err := exec.Command("id", "-g", s.Config["mailuser"]).Output(); err == nil {
		fmt.Sscan(string(out), &gid)
	}
	return uid, gid
}

// AddAccounts makes userdb accounts (full addresses) with password (none
// when empty: accounts that only receive mail), their maildirs under
// home/<local part> owned by the mail user, and rebuilds userdb.dat. It
// returns the maildirs by address.
func (s *Sandbox) AddAccounts(password string, addrs ...string) (map[string]string, error) {
	uid, gid := s.MailUser()
	userdb := filepath.Join(s.Config["sbindir"], "userdb")
	out := map[string]string{}
	for _, a := range addrs {
		local, _, _ := strings.Cut(a, "@")
		home := filepath.Join(s.homes(), local)
		for _, d := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(home, "Maildir", d), 0o700); err != nil {
				return nil, err
			}
		}
		if o, err := exec.Command("chown", "-R", fmt.Sprintf("%d:%d", uid, gid), home).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("chown %s: %v %s", home, err, o)
		}
		args := []string{a, "set", fmt.Sprintf("uid=%d", uid), fmt.Sprintf("gid=%d", gid), "home=" + home, "mail=" + filepath.Join(home, "Maildir")}
		if o, err := exec.Command(userdb, args...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("userdb %s: %v %s", a, err, o)
		}
		if password != "" {
			hash := exec.Command(filepath.Join(s.Config["sbindir"], "userdbpw"), "-md5")
			hash.Stdin = strings.NewReader(password + "\n")
			h, err := hash.Output()
			if err != nil {
				return nil, fmt.Errorf("userdbpw: %v", err)
			}
			set := exec.Command(userdb, a, "set", "systempw")
			set.Stdin = strings.NewReader(string(h))
			if o, err := set.CombinedOutput(); err != nil {
				return nil, fmt.Errorf("userdb %s set systempw: %v %s", a, err, o)
			}
		}
		out[a] = filepath.Join(home, "Maildir")
	}
	if o, err := exec.Command(filepath.Join(s.Config["sbindir"], "makeuserdb")).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("makeuserdb: %v %s", err, o)
	}
	return out, nil
}

func (s *Sandbox) homes() string {
	if s.Homes != "" {
		return s.Homes
	}
	return filepath.Join(s.Root, "home")
}

// SeparateHomes makes the accounts' home directories in a new directory
// under parent instead of in the sandbox tree, as an installation keeps
// its mailboxes (/home) apart from its queue (/var/lib/courier), and the
// peers theirs (/srv/peer-mail). On a file system that places a directory
// near its parent this keeps the queue's churn of new and deleted files
// out of the mailboxes' inode groups, as it is for the peers. Stop
// removes it.
func (s *Sandbox) SeparateHomes(parent string) error {
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	dir, err := os.MkdirTemp(parent, "sandbox-homes-")
	if err != nil {
		return err
	}
	s.Homes = dir
	return os.Chmod(dir, 0o755)
}

// Stop stops courierd (and with it every server) and removes the tree
// unless keep.
func (s *Sandbox) Stop(keep bool) error {
	err := s.stop()
	if keep {
		fmt.Fprintf(os.Stderr, "sandbox kept in %s\n", s.Root)
		if s.Homes != "" {
			fmt.Fprintf(os.Stderr, "its home directories in %s\n", s.Homes)
		}
	} else {
		s.Remove()
	}
	return err
}

// Halt stops the suite and leaves its trees for Remove.
func (s *Sandbox) Halt() error { return s.stop() }

// Remove deletes the sandbox tree and its home directories.
func (s *Sandbox) Remove() {
	os.RemoveAll(s.Root)
	if s.Homes != "" {
		os.RemoveAll(s.Homes)
	}
}

// stop stops courierd and waits for sandbox.sh to end.
func (s *Sandbox) stop() error {
	syscall.Kill(s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
		return nil
	case <-time.After(30 * time.Second):
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
		return errors.New("courierd did not stop within 30 s after SIGTERM; killed")
	}
}

// config reads the sandbox's courier-config output.
func config(root string) (map[string]string, error) {
	out, err := exec.Command(filepath.Join(root, "sbin", "courier-config")).Output()
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			m[k] = v
		}
	}
	return m, nil
}

// moduleRoot is the source tree: the directory with go.mod above the
// working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run it inside the source tree (no go.mod found)")
		}
		dir = parent
	}
}
