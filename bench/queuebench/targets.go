package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/gocourier/courier/bench/internal/sandbox"
	"github.com/gocourier/courier/pkg/layout"
)

// The real Courier: Debian's packages, configured by the peers' setup.
func (b *bench) courier() (*target, error) {
	const base = "/srv/peer-mail"
	if _, err := os.Stat("/usr/sbin/sendmail"); err != nil {
		return nil, fmt.Errorf("courier-mta is not installed: %w", err)
	}
	if err := b.ensure(courierSetUp, "setup-courier.sh", "teardown-courier.sh"); err != nil {
		return nil, err
	}
	return &target{
		name:     "courier",
		sendmail: "/usr/sbin/sendmail",
		maildir:  func(u string) string { return filepath.Join(base, u, "Maildir") },
		smtp:     "127.0.0.1:2525",
		courier:  "/usr/sbin/courier",
		procs:    "^(couriertcpd|courieresmtpd|courierlogger|submit)$",
		scheduler: func() []int {
			return findProcs(func(comm, exe string, _ []string) bool {
				return comm == "courierd" && exe == "/usr/lib/courier/courier/courierd"
			})
		},
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
	if err := b.ensure(courierSetUp, "setup-courier.sh", "teardown-courier.sh"); err != nil {
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
		scheduler: func() []int {
			return findProcs(func(comm, exe string, _ []string) bool {
				return comm == "qmgr" && exe == x+"/usr/lib/postfix/sbin/qmgr"
			})
		},
		start: func() error { return b.script("start-postfix.sh") },
		stop:  func() error { return b.script("stop-postfix.sh") },
	}, nil
}

// courierSetUp exists while the real Courier is configured by the peers'
// setup script (its hosted domain file; teardown removes it, while the
// maildirs stay).
const courierSetUp = "/etc/courier/hosteddomains/peer"

// ensure runs a peer's setup script when probe (a file its setup makes and
// its teardown removes) is missing and -setup was given, and remembers to
// undo it.
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

// ours is this tree in a sandbox made by scripts/sandbox.sh
// (bench/internal/sandbox), with the benchmark accounts and the SMTP
// settings the peers' setup gives the real Courier (limits of 200
// sessions, no DNS checks, no tarpit).
func (b *bench) ours() (*target, error) {
	var sb *sandbox.Sandbox
	t := &target{name: "ours", smtp: "127.0.0.1:10025", procs: "^(couriertcpd|courieresmtpd|courierlogger|couriertls)$"}
	t.start = func() error {
		var err error
		sb, err = sandbox.Start("queuebench", func(l layout.Layout) error {
			// Remote mail goes to the sink of the outbound test, as the
			// peers' setup routes the real Courier's.
			return os.WriteFile(l.Config("esmtproutes"), []byte(":[127.0.0.1],2526\n"), 0o644)
		}, map[string]map[string]string{"esmtpd": {"MAXDAEMONS": "200", "MAXPERIP": "200", "MAXPERC": "200",
			"BOFHCHECKDNS": "0", "TARPIT": "0", "TCPDOPTS": `"-noidentlookup -nodnslookup"`}})
		if err != nil {
			return err
		}
		var addrs []string
		for _, u := range append([]string{submitUser, oneUser}, fiveUsers...) {
			addrs = append(addrs, u+"@"+domain)
		}
		// The mailboxes apart from the queue, as the peers have them
		// (/srv/peer-mail and /var/lib/courier).
		if err := sb.SeparateHomes("/srv"); err != nil {
			return err
		}
		if _, err := sb.AddAccounts("", addrs...); err != nil {
			return err
		}
		// Our sendmail runs as the mail user: run by root, it creates the
		// queue's msgq/<T> and tmp/<T> directories as root, which the
		// scheduler (the mail user) then cannot use. Submitting as the
		// mail user costs the same work.
		uid, gid := sb.MailUser()
		t.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		t.sendmail = filepath.Join(sb.Config["sbindir"], "sendmail")
		t.courier = filepath.Join(sb.Config["sbindir"], "courier")
		return nil
	}
	t.maildir = func(u string) string { return filepath.Join(sb.Homes, u, "Maildir") }
	t.scheduler = func() []int {
		courierd := filepath.Join(sb.Config["sbindir"], "courierd")
		return findProcs(func(_, exe string, argv []string) bool {
			return exe == courierd && len(argv) == 2 && argv[1] == "scheduler"
		})
	}
	t.stop = func() error {
		if sb == nil {
			return nil
		}
		if b.keep {
			return sb.Stop(true)
		}
		b.removals = append(b.removals, sb.Remove)
		return sb.Halt()
	}
	return t, nil
}
