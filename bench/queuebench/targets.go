package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/pkg/queue"
)

// The real Courier: Debian's packages, configured by the peers' setup.
func (b *bench) courier() (*target, error) {
	const base = "/srv/peer-mail"
	if _, err := os.Stat("/usr/sbin/sendmail"); err != nil {
		return nil, fmt.Errorf("courier-mta is not installed: %w", err)
	}
	if err := b.ensure(filepath.Join(base, submitUser, "Maildir"), "setup-courier.sh", "teardown-courier.sh"); err != nil {
		return nil, err
	}
	return &target{
		name:     "courier",
		sendmail: "/usr/sbin/sendmail",
		maildir:  func(u string) string { return filepath.Join(base, u, "Maildir") },
		smtp:     "127.0.0.1:2525",
		courier:  "/usr/sbin/courier",
		procs:    "^(couriertcpd|courieresmtpd|courierlogger|submit)$",
		start: func() error {
			if err := b.script("start-courier.sh"); err != nil {
				return err
			}
			// start-courier.sh leaves authdaemond alone when any process
			// of that name runs (our own test daemons are named so too);
			// the real one must answer on its socket.
			if authdaemonAnswers() {
				return nil
			}
			if out, err := exec.Command("/usr/sbin/authdaemond", "start").CombinedOutput(); err != nil {
				return fmt.Errorf("authdaemond start: %v %s", err, out)
			}
			ownAuth = true
			for i := 0; i < 50 && !authdaemonAnswers(); i++ {
				time.Sleep(100 * time.Millisecond)
			}
			if !authdaemonAnswers() {
				return errors.New("the real authdaemond does not answer on " + authSocket)
			}
			return nil
		},
		stop: func() error {
			err := b.script("stop-courier.sh")
			if ownAuth {
				if out, aerr := exec.Command("/usr/sbin/authdaemond", "stop").CombinedOutput(); aerr != nil {
					err = errors.Join(err, fmt.Errorf("authdaemond stop: %v %s", aerr, out))
				}
				ownAuth = false
			}
			return err
		},
	}, nil
}

const authSocket = "/run/courier/authdaemon/socket"

// ownAuth: the real authdaemond was started by us, not by start-courier.sh.
var ownAuth bool

func authdaemonAnswers() bool {
	c, err := net.DialTimeout("unix", authSocket, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Postfix 3.7, unpacked in /opt/postfix-x, its own configuration and queue.
func (b *bench) postfix() (*target, error) {
	const base = "/srv/peer-mail-postfix"
	const x = "/opt/postfix-x"
	if _, err := os.Stat(x + "/usr/sbin/sendmail"); err != nil {
		return nil, fmt.Errorf("no unpacked Postfix (run %s/install.sh): %w", b.peers, err)
	}
	if err := b.ensure(filepath.Join("/srv/peer-mail", submitUser, "Maildir"), "setup-courier.sh", "teardown-courier.sh"); err != nil {
		return nil, err
	}
	if err := b.ensure(filepath.Join(base, submitUser, "Maildir"), "setup-postfix.sh", "teardown-postfix.sh"); err != nil {
		return nil, err
	}
	return &target{
		name:     "postfix",
		sendmail: x + "/usr/sbin/sendmail",
		env:      []string{"MAIL_CONFIG=/etc/peer-postfix", "LD_LIBRARY_PATH=" + x + "/usr/lib/postfix"},
		maildir:  func(u string) string { return filepath.Join(base, u, "Maildir") },
		smtp:     "127.0.0.1:3525",
		procs:    "^(smtpd|cleanup|trivial-rewrite|anvil)$",
		start:    func() error { return b.script("start-postfix.sh") },
		stop:     func() error { return b.script("stop-postfix.sh") },
	}, nil
}

// ensure runs a peer's setup script when probe (a benchmark maildir) is
// missing and -setup was given, and remembers to undo it.
func (b *bench) ensure(probe, setup, teardown string) error {
	if _, err := os.Stat(probe); err == nil {
		return nil
	}
	if !b.setup {
		return fmt.Errorf("%s is missing: run %s/%s (or give -setup)", probe, b.peers, setup)
	}
	if err := b.script(setup); err != nil {
		return err
	}
	b.tornDown = append([]string{teardown}, b.tornDown...)
	return nil
}

// ours is this tree in a sandbox made by scripts/sandbox.sh, which builds,
// installs and configures it and then runs courierd in the foreground.
func (b *bench) ours() (*target, error) {
	src, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	root, err := os.MkdirTemp("", "queuebench-")
	if err != nil {
		return nil, err
	}
	// As root the sandbox's mail user is courier, which must reach the tree.
	if err := os.Chmod(root, 0o755); err != nil {
		return nil, err
	}
	b.ourRoot = root
	var cmd *exec.Cmd
	var logf *os.File
	cfg := map[string]string{}
	t := &target{name: "ours", smtp: "127.0.0.1:10025", procs: "^(couriertcpd|courieresmtpd)$"}
	t.start = func() error {
		logf, err = os.Create(filepath.Join(root, "courierd.log"))
		if err != nil {
			return err
		}
		// The queue directories exist before courierd starts, so that
		// sandbox.sh hands them to the mail user: a supervisor running as
		// root would otherwise create them for itself, and the scheduler,
		// running as the mail user, could not use them.
		l, err := layout.ForPreset("sandbox", root)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(l.LocalstateDir, 0o755); err != nil {
			return err
		}
		if _, err := queue.Open(l.LocalstateDir, queue.Options{}); err != nil {
			return err
		}
		// Remote mail goes to the sink of the outbound test, as the peers'
		// setup routes the real Courier's.
		if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(root, "etc", "esmtproutes"), []byte(":[127.0.0.1],2526\n"), 0o644); err != nil {
			return err
		}
		cmd = exec.Command(filepath.Join(src, "scripts", "sandbox.sh"), root)
		cmd.Dir = src
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "queuebench: building and starting the sandbox in %s (log: %s)\n", root, logf.Name())
		// sandbox.sh ends by exec'ing courierd, which writes its pid file.
		deadline := time.Now().Add(5 * time.Minute)
		for {
			if c, err := courierConfig(root); err == nil {
				cfg = c
				if _, err := os.Stat(filepath.Join(cfg["rundir"], "courierd.pid")); err == nil {
					break
				}
			}
			if cmd.ProcessState != nil || time.Now().After(deadline) {
				return fmt.Errorf("the sandbox did not start; see %s", logf.Name())
			}
			time.Sleep(200 * time.Millisecond)
		}
		uid, gid, err := addAccounts(root, cfg)
		if err != nil {
			return err
		}
		if err := esmtpdLikePeers(cfg); err != nil {
			return err
		}
		// Our sendmail runs as the mail user: run by root, it creates the
		// queue's msgq/<T> and tmp/<T> directories as root, which the
		// scheduler (the mail user) then cannot use (reported to the queue's
		// owner). Submitting as the mail user costs the same work.
		t.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		t.sendmail = filepath.Join(cfg["sbindir"], "sendmail")
		t.courier = filepath.Join(cfg["sbindir"], "courier")
		if _, err := os.Stat(t.sendmail); err != nil {
			return fmt.Errorf("no sendmail in the sandbox: %w", err)
		}
		return nil
	}
	t.maildir = func(u string) string { return filepath.Join(root, "home", u, "Maildir") }
	t.stop = func() error {
		var err error
		if cmd != nil && cmd.Process != nil {
			syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-done
				err = errors.New("courierd did not stop within 30 s after SIGTERM; killed")
			}
		}
		if logf != nil {
			logf.Close()
		}
		if b.keep {
			fmt.Fprintf(os.Stderr, "queuebench: sandbox kept in %s\n", root)
		} else {
			os.RemoveAll(root)
		}
		return err
	}
	return t, nil
}

// courierConfig reads the sandbox's courier-config output.
func courierConfig(root string) (map[string]string, error) {
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

// addAccounts makes the benchmark's accounts with the sandbox's userdb tools,
// as sandbox.sh makes its demo account: maildirs owned by the mail user.
func addAccounts(root string, cfg map[string]string) (uid, gid int, err error) {
	users := append([]string{submitUser, oneUser}, fiveUsers...)
	uid, gid = os.Getuid(), os.Getgid()
	if out, err := exec.Command("id", "-u", cfg["mailuser"]).Output(); err == nil {
		fmt.Sscan(string(out), &uid)
	}
	if out, err := exec.Command("id", "-g", cfg["mailuser"]).Output(); err == nil {
		fmt.Sscan(string(out), &gid)
	}
	for _, u := range users {
		home := filepath.Join(root, "home", u)
		for _, d := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(home, "Maildir", d), 0o700); err != nil {
				return 0, 0, err
			}
		}
		if out, err := exec.Command("chown", "-R", fmt.Sprintf("%d:%d", uid, gid), home).CombinedOutput(); err != nil {
			return 0, 0, fmt.Errorf("chown %s: %v %s", home, err, out)
		}
		args := []string{u + "@" + domain, "set", fmt.Sprintf("uid=%d", uid), fmt.Sprintf("gid=%d", gid), "home=" + home, "mail=" + filepath.Join(home, "Maildir")}
		if out, err := exec.Command(filepath.Join(cfg["sbindir"], "userdb"), args...).CombinedOutput(); err != nil {
			return 0, 0, fmt.Errorf("userdb %s: %v %s", u, err, out)
		}
	}
	if out, err := exec.Command(filepath.Join(cfg["sbindir"], "makeuserdb")).CombinedOutput(); err != nil {
		return 0, 0, fmt.Errorf("makeuserdb: %v %s", err, out)
	}
	return uid, gid, nil
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
			return "", errors.New("run queuebench from the source tree (no go.mod above the working directory)")
		}
		dir = parent
	}
}

// esmtpdLikePeers gives our SMTP server the settings the peers' setup gives
// the real Courier's (limits of 200 sessions, no DNS checks, no tarpit),
// makes courierd apply them and waits until the new server listens.
func esmtpdLikePeers(cfg map[string]string) error {
	path := filepath.Join(cfg["sysconfdir"], "esmtpd")
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("our esmtpd configuration: %w", err)
	}
	set := map[string]string{"MAXDAEMONS": "200", "MAXPERIP": "200", "MAXPERC": "200", "BOFHCHECKDNS": "0",
		"TARPIT": "0", "TCPDOPTS": `"-noidentlookup -nodnslookup"`}
	var out []string
	for _, l := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		if k, _, ok := strings.Cut(l, "="); ok {
			if v, ok := set[k]; ok {
				l = k + "=" + v
				delete(set, k)
			}
		}
		out = append(out, l)
	}
	for k, v := range set {
		out = append(out, k+"="+v)
	}
	if err := os.WriteFile(path, []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	pidfile := filepath.Join(cfg["rundir"], "esmtpd.pid")
	old, _ := os.ReadFile(pidfile)
	if out, err := exec.Command(filepath.Join(cfg["sbindir"], "courier"), "restart").CombinedOutput(); err != nil {
		return fmt.Errorf("courier restart: %v %s", err, out)
	}
	for i := 0; i < 100; i++ {
		if now, err := os.ReadFile(pidfile); err == nil && len(now) > 0 && !bytes.Equal(now, old) {
			if c, err := net.DialTimeout("tcp", "127.0.0.1:10025", time.Second); err == nil {
				c.Close()
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("our SMTP server did not come back on 127.0.0.1:10025 after courier restart")
}
