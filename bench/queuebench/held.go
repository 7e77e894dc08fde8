package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gocourier/courier/pkg/proc"
)

// heldResult holds the figures of the delivery test (issue #5's local
// deliveries per second, issue #4's queue-to-delivery throughput without
// sendmail): messages are queued while the target's scheduler is stopped
// (SIGSTOP), then it runs again (SIGCONT) and the deliveries are timed
// from the first one seen in the maildirs to the last, so neither sendmail
// nor any start-up counts.
type heldResult struct {
	One, Five           int           // messages with 1 and with 5 recipients
	OneFirst, FiveFirst int           // deliveries already there when the first was seen
	OneTime, FiveTime   time.Duration // from the first delivery seen to the last
}

// heldTests runs the delivery test for 1 and for 5 recipients.
func (b *bench) heldTests(t *target, r *result) error {
	res := &heldResult{One: b.held1 / b.procs * b.procs, Five: b.held5 / b.procs * b.procs}
	r.held = res
	var err error
	if res.OneFirst, res.OneTime, err = b.heldRun(t, r, []string{oneUser}, res.One); err != nil {
		return fmt.Errorf("1 recipient: %w", err)
	}
	if res.FiveFirst, res.FiveTime, err = b.heldRun(t, r, fiveUsers, res.Five); err != nil {
		return fmt.Errorf("5 recipients: %w", err)
	}
	fmt.Fprintf(os.Stderr, "queuebench: %s: held deliveries: %d in %v (1 recipient), %d in %v (5 recipients)\n",
		t.name, res.One-res.OneFirst, res.OneTime.Round(time.Millisecond), 5*res.Five-res.FiveFirst, res.FiveTime.Round(time.Millisecond))
	return nil
}

// heldRun stops the scheduler, submits n messages to users, lets the
// scheduler go and waits until every copy is delivered. It returns the
// deliveries already made when the first was seen and the time from then
// to the last.
func (b *bench) heldRun(t *target, r *result, users []string, n int) (int, time.Duration, error) {
	pids := t.scheduler()
	if len(pids) == 0 {
		return 0, 0, fmt.Errorf("no scheduler process of %s found", t.name)
	}
	base := make([]int, len(users))
	delivered := func() (int, error) {
		got := 0
		for i, u := range users {
			c, err := count(t.maildir(u))
			if err != nil {
				return 0, err
			}
			got += c - base[i]
		}
		return got, nil
	}
	for i, u := range users {
		c, err := count(t.maildir(u))
		if err != nil {
			return 0, 0, err
		}
		base[i] = c
	}
	signal := func(sig syscall.Signal) {
		for _, p := range pids {
			syscall.Kill(p, sig)
		}
	}
	signal(syscall.SIGSTOP)
	stopped := true
	defer func() {
		if stopped {
			signal(syscall.SIGCONT)
		}
	}()
	if err := b.submit(t, r, b.procs, n/b.procs, users); err != nil {
		return 0, 0, err
	}
	// Give a scheduler that was not really stopped time to show it.
	time.Sleep(500 * time.Millisecond)
	if got, err := delivered(); err != nil || got != 0 {
		return 0, 0, fmt.Errorf("%d delivered while the scheduler (pids %v) was stopped: the wrong process was stopped (%v)", got, pids, err)
	}
	signal(syscall.SIGCONT)
	stopped = false
	total := n * len(users)
	var first time.Time
	firstCount := 0
	deadline := time.Now().Add(b.timeout)
	for {
		got, err := delivered()
		if err != nil {
			return 0, 0, err
		}
		now := time.Now()
		if got > 0 && first.IsZero() {
			first, firstCount = now, got
		}
		if got >= total {
			return firstCount, now.Sub(first), nil
		}
		if now.After(deadline) {
			return 0, 0, fmt.Errorf("%d deliveries missing after %v (see the server's log and mailq)", total-got, b.timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// heldRate is deliveries per second after the first one seen.
func heldRate(copies, first int, d time.Duration) float64 { return rate(copies-first, d) }

// process is a running process as the benchmarks look for them.
type process struct {
	ppid int
	comm string   // command name
	exe  string   // path of the executable
	argv []string // arguments, argv[0] first
}

// processes lists the processes of the machine by pid.
func processes() map[int]process {
	procs := map[int]process{}
	proc.Scan(func(st proc.Stat) bool {
		d := filepath.Join("/proc", strconv.Itoa(st.PID))
		comm, _ := os.ReadFile(filepath.Join(d, "comm"))
		exe, _ := os.Readlink(filepath.Join(d, "exe"))
		cmdline, _ := os.ReadFile(filepath.Join(d, "cmdline"))
		procs[st.PID] = process{st.PPID, strings.TrimSpace(string(comm)), exe, strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")}
		return true
	})
	return procs
}

// findProcs lists the processes for which match holds, given their command
// name, the path of their executable and their arguments.
func findProcs(match func(comm, exe string, argv []string) bool) []int {
	var pids []int
	for pid, p := range processes() {
		if match(p.comm, p.exe, p.argv) {
			pids = append(pids, pid)
		}
	}
	return pids
}
