package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gocourier/courier/bench/internal/sandbox"
	"github.com/gocourier/courier/pkg/layout"
)

// sendmails runs n sendmail processes, procs at a time, each submitting
// body to the recipient.
func sendmails(n, procs int, body []byte, cmd func() *exec.Cmd) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	next := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		next <- struct{}{}
	}
	close(next)
	for p := 0; p < procs; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				c := cmd()
				c.Stdin = bytes.NewReader(body)
				if out, err := c.CombinedOutput(); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("%s: %v %s", c.Path, err, out))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("%d of %d sendmail runs failed, the first: %w", len(errs), n, errs[0])
	}
	return nil
}

func command(name string, args ...string) error {
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %v %s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// ours builds and installs this tree into a temporary sandbox with
// scripts/sandbox.sh (bench/internal/sandbox), with remote mail routed to
// the sink as the peers route the real Courier's.
func ours(keep bool) (*target, error) {
	sb, err := sandbox.Start("esmtpout", func(l layout.Layout) error {
		return os.WriteFile(l.Config("esmtproutes"), []byte(":[127.0.0.1],2526\n"), 0o644)
	}, nil)
	if err != nil {
		return nil, err
	}
	cfg := sb.Config
	courier := filepath.Join(cfg["sbindir"], "courier")
	sendmail := filepath.Join(cfg["sbindir"], "sendmail")
	// Our sendmail runs as the mail user: run by root, it would create
	// queue directories the scheduler (the mail user) cannot use.
	uid, gid := sb.MailUser()
	stop := func() error {
		if _, err := os.Stat(filepath.Join(cfg["rundir"], "courierd.pid")); err != nil {
			return nil
		}
		out, err := exec.Command(courier, "stop").CombinedOutput()
		if err != nil && !strings.Contains(string(out), "not running") {
			return fmt.Errorf("courier stop: %v %s", err, out)
		}
		return nil
	}
	t := &target{
		name: "ours",
		queue: func(n, procs int, body []byte) error {
			return sendmails(n, procs, body, func() *exec.Cmd {
				c := exec.Command(sendmail, "-oi", "-f", sender, recipient)
				c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
				return c
			})
		},
		startScheduler: func() error { return command(courier, "start") },
		stopScheduler:  stop,
		flush:          func() error { return command(courier, "flush") },
		cleanup: func() error {
			return errors.Join(stop(), sb.Stop(keep))
		},
	}
	return t, nil
}

// realCourier is Debian's Courier. Its courierd runs in a private mount
// namespace where a copy of /etc/courier with esmtproutes
// ":[127.0.0.1],2526" is bound over the real one: the real configuration is
// never changed, and nothing it sends can leave loopback.
func realCourier() (*target, error) {
	if _, err := os.Stat("/usr/lib/courier/courier/modules/esmtp/courieresmtp"); err != nil {
		if _, err2 := os.Stat("/usr/sbin/courier"); err2 != nil {
			return nil, fmt.Errorf("courier-mta is not installed: %w", err2)
		}
	}
	if running() {
		return nil, errors.New("the real courierd is running already (someone else's?): stop it first")
	}
	dir, err := os.MkdirTemp("", "esmtpout-courier-")
	if err != nil {
		return nil, err
	}
	etc := filepath.Join(dir, "etc")
	if err := command("cp", "-a", "/etc/courier", etc); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(etc, "esmtproutes"), []byte(":[127.0.0.1],2526\n"), 0o644); err != nil {
		return nil, err
	}
	stop := func() error {
		if !running() {
			return nil
		}
		err := command("/usr/sbin/courier", "stop")
		for i := 0; i < 200 && running(); i++ {
			time.Sleep(50 * time.Millisecond)
		}
		if running() {
			err = errors.Join(err, errors.New("courierd still runs 10 s after courier stop"))
		}
		return err
	}
	return &target{
		name: "courier",
		queue: func(n, procs int, body []byte) error {
			return sendmails(n, procs, body, func() *exec.Cmd {
				return exec.Command("/usr/sbin/sendmail", "-oi", "-f", sender, recipient)
			})
		},
		startScheduler: func() error {
			script := `mount --bind "$0" /etc/courier && exec /usr/sbin/courier start`
			return command("unshare", "-m", "--propagation", "private", "sh", "-c", script, etc)
		},
		stopScheduler: stop,
		flush:         func() error { return command("/usr/sbin/courier", "flush") },
		cleanup: func() error {
			err := stop()
			os.RemoveAll(dir)
			return err
		},
	}, nil
}

// running says whether a courierd process runs (a zombie left by a stop does not count).
func running() bool {
	return exec.Command("pgrep", "-x", "-r", "D,R,S,T", "courierd").Run() == nil
}
