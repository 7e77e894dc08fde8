package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gocourier/courier/bench/internal/machine"
)

const (
	domain = "example.test"
	sender = "bench@" + domain
)

// Recipients of each test: separate mailboxes, so each count is one test's.
var (
	submitUser = "bench"
	oneUser    = "rcpt"
	fiveUsers  = []string{"user1", "user2", "user3", "user4", "user5"}
)

// target is one mail system under test.
type target struct {
	name      string
	sendmail  string
	env       []string            // added to the environment of sendmail
	cred      *syscall.Credential // sendmail's uid and gid, nil: ours (root)
	maildir   func(string) string // a user's Maildir
	smtp      string              // address of its SMTP server
	courier   string              // its courier command (flush)
	procs     string              // regexp of the SMTP server's process names, for its memory (those of the SMTP port's process tree, but Postfix's)
	scheduler func() []int        // the processes that hand queued mail to delivery (the delivery test stops them)
	start     func() error
	stop      func() error
}

type bench struct {
	procs, per, msgs1, msgs5, size int
	held1, held5                   int // messages of the delivery test
	timeout                        time.Duration
	queue, smtp, out               bool // the tests to run
	outMsgs                        int
	smtpSessions, smtpPer          int
	smtpDuration                   time.Duration
	setup, keep                    bool
	peers                          string
	tornDown                       []string // peers to tear down: set up by us
	// removals delete our sandboxes once every target is measured: the
	// next target's deliveries would pay for freeing their inodes (see
	// the package comment).
	removals []func()
}

// result holds one target's figures.
type result struct {
	name           string
	submitted      int
	submitTime     time.Duration // all sendmail processes of test 1 done
	submitDrain    time.Duration // test 1 messages all delivered (from the start)
	one, five      int           // messages in test 2
	oneTime        time.Duration
	fiveTime       time.Duration
	sendmailErrors int64
	held           *heldResult // nil: not measured
	smtp           *smtpResult // nil: not measured
	out            *outResult  // nil: not measured
}

func (r *result) submitRate() float64 { return rate(r.submitted, r.submitTime) }

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func (b *bench) measure(name string) (*result, error) {
	var t *target
	var err error
	switch name {
	case "courier":
		t, err = b.courier()
	case "postfix":
		t, err = b.postfix()
	case "ours":
		t, err = b.ours()
	default:
		return nil, fmt.Errorf("unknown target (courier, postfix, ours)")
	}
	if err != nil {
		return nil, err
	}
	machine.Settle()
	fmt.Fprintf(os.Stderr, "queuebench: starting %s\n", name)
	if err := t.start(); err != nil {
		t.stop()
		return nil, fmt.Errorf("start: %w", err)
	}
	defer func() {
		fmt.Fprintf(os.Stderr, "queuebench: stopping %s\n", name)
		if err := t.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "queuebench: stopping %s: %v\n", name, err)
		}
	}()
	r := &result{name: name}
	if b.queue {
		if err := b.queueTests(t, r); err != nil {
			return r, err
		}
	}
	if b.out {
		if err := b.outbound(t, r); err != nil {
			return r, fmt.Errorf("outbound test: %w", err)
		}
	}
	if b.smtp {
		if t.smtp == "" {
			return r, errNoSMTP
		}
		machine.Settle()
		if err := b.smtpLoad(t, r); err != nil {
			return r, fmt.Errorf("SMTP load test: %w", err)
		}
	}
	return r, nil
}

// queueTests are the sendmail and delivery tests.
func (b *bench) queueTests(t *target, r *result) error {
	name := t.name
	// A warm-up message, so start-up work is not measured.
	if err := b.wait(t, r, []string{submitUser}, 1, func() error {
		return b.submit(t, r, 1, 1, []string{submitUser})
	}); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}

	// 1. sendmail submissions.
	r.submitted = b.procs * b.per
	start := time.Now()
	if err := b.wait(t, r, []string{submitUser}, r.submitted, func() error {
		err := b.submit(t, r, b.procs, b.per, []string{submitUser})
		r.submitTime = time.Since(start)
		fmt.Fprintf(os.Stderr, "queuebench: %s: %d submissions in %v\n", name, r.submitted, r.submitTime.Round(time.Millisecond))
		return err
	}); err != nil {
		return fmt.Errorf("submission test: %w", err)
	}
	r.submitDrain = time.Since(start)

	// 2. queue to maildir, 1 and 5 recipients.
	// Each process submits the same number of messages.
	r.one, r.five = b.msgs1/b.procs*b.procs, b.msgs5/b.procs*b.procs
	start = time.Now()
	if err := b.wait(t, r, []string{oneUser}, r.one, func() error {
		return b.submit(t, r, b.procs, r.one/b.procs, []string{oneUser})
	}); err != nil {
		return fmt.Errorf("1-recipient test: %w", err)
	}
	r.oneTime = time.Since(start)
	start = time.Now()
	if err := b.wait(t, r, fiveUsers, r.five, func() error {
		return b.submit(t, r, b.procs, r.five/b.procs, fiveUsers)
	}); err != nil {
		return fmt.Errorf("5-recipient test: %w", err)
	}
	r.fiveTime = time.Since(start)

	// 3. delivery alone.
	if err := b.heldTests(t, r); err != nil {
		return fmt.Errorf("delivery test: %w", err)
	}
	if r.sendmailErrors > 0 {
		return fmt.Errorf("%d sendmail runs failed", r.sendmailErrors)
	}
	return nil
}

// submit runs procs workers, each running sendmail count times for a message
// to rcpts. Failures are counted and the first few reported.
func (b *bench) submit(t *target, r *result, procs, count int, rcpts []string) error {
	body := message(b.size, rcpts)
	args := []string{"-oi", "-f", sender}
	for _, u := range rcpts {
		if !strings.Contains(u, "@") {
			u += "@" + domain
		}
		args = append(args, u)
	}
	env := append(os.Environ(), t.env...)
	var wg sync.WaitGroup
	var reported atomic.Int32
	for p := 0; p < procs; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < count; i++ {
				cmd := exec.Command(t.sendmail, args...)
				cmd.Env = env
				if t.cred != nil {
					cmd.SysProcAttr = &syscall.SysProcAttr{Credential: t.cred}
				}
				cmd.Stdin = bytes.NewReader(body)
				if out, err := cmd.CombinedOutput(); err != nil {
					atomic.AddInt64(&r.sendmailErrors, 1)
					if reported.Add(1) <= 3 {
						fmt.Fprintf(os.Stderr, "queuebench: %s %s: %v %s\n", t.sendmail, strings.Join(args, " "), err, out)
					}
				}
			}
		}()
	}
	wg.Wait()
	return nil
}

// message is a plain message of about size bytes.
func message(size int, rcpts []string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Queue Bench <%s>\nTo: %s@%s\nSubject: queuebench\n\n", sender, rcpts[0], domain)
	line := strings.Repeat("0123456789abcdef", 4) + "\n"
	for b.Len() < size {
		b.WriteString(line)
	}
	return b.Bytes()
}

// wait counts the users' maildirs, runs submit, and waits until each user
// has n more messages (or the timeout).
func (b *bench) wait(t *target, r *result, users []string, n int, submit func() error) error {
	base := make([]int, len(users))
	for i, u := range users {
		c, err := count(t.maildir(u))
		if err != nil {
			return err
		}
		base[i] = c
	}
	if err := submit(); err != nil {
		return err
	}
	deadline := time.Now().Add(b.timeout)
	for {
		done := true
		missing := 0
		for i, u := range users {
			c, err := count(t.maildir(u))
			if err != nil {
				return err
			}
			if c-base[i] < n {
				done = false
				missing += n - (c - base[i])
			}
		}
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d deliveries missing after %v (see the server's log and mailq)", missing, b.timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// count is the number of messages in a maildir's new/ and cur/. The
// entries are counted in the raw directory records, without a string per
// name: the SMTP test polls maildirs of a hundred thousand messages, and
// the poll must not take the CPU the deliveries it waits for need.
func count(maildir string) (int, error) {
	n := 0
	buf := make([]byte, 64<<10)
	for _, sub := range []string{"new", "cur"} {
		dir := filepath.Join(maildir, sub)
		fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
		if err != nil {
			return 0, fmt.Errorf("maildir: open %s: %w", dir, err)
		}
		for {
			got, err := syscall.ReadDirent(fd, buf)
			if err == syscall.EINTR {
				continue
			}
			if err != nil {
				syscall.Close(fd)
				return 0, fmt.Errorf("maildir: read %s: %w", dir, err)
			}
			if got <= 0 {
				break
			}
			n += countDirents(buf[:got])
		}
		syscall.Close(fd)
	}
	return n, nil
}

// countDirents counts the entries but "." and ".." of linux_dirent64
// records (getdents64(2)): inode 8 bytes, offset 8, record length 2,
// type 1, then the NUL-terminated name.
func countDirents(b []byte) int {
	n := 0
	for len(b) >= 19 {
		reclen := int(binary.NativeEndian.Uint16(b[16:18]))
		if reclen < 19 || reclen > len(b) {
			break
		}
		name := b[19:reclen]
		if !(name[0] == '.' && (name[1] == 0 || name[1] == '.' && name[2] == 0)) {
			n++
		}
		b = b[reclen:]
	}
	return n
}

// script runs one of the peers' scripts, its output to stderr.
func (b *bench) script(name string, env ...string) error {
	cmd := exec.Command(filepath.Join(b.peers, name))
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func (b *bench) teardown() {
	for _, s := range b.tornDown {
		env := []string{}
		if s == "teardown-courier.sh" {
			env = append(env, "PURGE_MAIL=1")
		}
		if err := b.script(s, env...); err != nil {
			fmt.Fprintln(os.Stderr, "queuebench:", err)
		}
	}
}
