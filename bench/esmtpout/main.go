// Command esmtpout measures outbound SMTP, for issue #7: messages per
// second that courieresmtp sends to a local sink, ours against the real
// Courier's on the same machine.
//
// For each target and each -per value: the target's scheduler is stopped,
// -msgs messages to sink@remote.example are queued with the target's own
// sendmail, the sink starts on 127.0.0.1:2526 (where both targets'
// esmtproutes send remote mail), the scheduler starts, and the time until
// the sink has every message is taken. The sink closes each connection
// after -per messages (a 421 to the next command), so the figures are for
// 10 and 100 messages per connection (and, with 0, for as many as the
// client sends). A client that loses a message to such a close defers it
// (the real Courier does: it says RSET and MAIL to a connection the server
// has closed); the tool runs "courier flush" every second while it waits,
// so deferred messages are retried soon, and reports how often it did.
//
//	ours     this tree, built and installed into a temporary sandbox by
//	         scripts/sandbox.sh, with esmtproutes ":[127.0.0.1],2526"
//	courier  the real Courier 1.0.16 (Debian), its courierd started in a
//	         private mount namespace over a copy of /etc/courier that adds
//	         the same esmtproutes, so /etc/courier is never changed
//
//	go run ./bench/esmtpout [-targets ours,courier] [-msgs 1000] [-per 10,100,0] [-procs 4] [-size 2048] [-timeout 5m] [-keep]
//
// Runs as root (the real Courier's daemons; our sandbox's mail user).
// Every daemon it starts is stopped again; it refuses to run when the real
// courierd is already running.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

const (
	sinkAddr  = "127.0.0.1:2526"
	recipient = "sink@remote.example"
	sender    = "bench@example.test"
)

// target is one mail system under test.
type target struct {
	name string
	// queue submits n messages with procs sendmail processes at once.
	queue func(n, procs int, body []byte) error
	// startScheduler and stopScheduler start and stop delivery; flush
	// asks the scheduler to retry every message now.
	startScheduler, stopScheduler, flush func() error
	cleanup                              func() error
}

// run is one measurement.
type run struct {
	target   string
	per      int
	msgs     int
	time     time.Duration // scheduler start until the last message
	flow     time.Duration // first message until the last
	sessions int64
	closes   int64
	flushes  int
	// CPU time of the scheduler (courierd) and the module (courieresmtp)
	// processes once the sink has every message.
	cpuScheduler, cpuModule time.Duration
}

func main() {
	targets := flag.String("targets", "ours,courier", "targets to measure, in this order")
	msgs := flag.Int("msgs", 1000, "messages per measurement")
	perList := flag.String("per", "10,100,0", "messages per connection the sink allows, comma-separated; 0: no limit")
	procs := flag.Int("procs", 4, "sendmail processes running at once while queueing")
	size := flag.Int("size", 2048, "message size in bytes")
	timeout := flag.Duration("timeout", 5*time.Minute, "limit for one measurement")
	keep := flag.Bool("keep", false, "keep our sandbox tree (its path is printed)")
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "esmtpout: run it as root: the real Courier's daemons and our sandbox's mail user need it")
		os.Exit(1)
	}
	var pers []int
	for _, p := range strings.Split(*perList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 0 {
			fmt.Fprintf(os.Stderr, "esmtpout: -per %q: expected numbers separated by commas (0: no limit)\n", *perList)
			os.Exit(2)
		}
		pers = append(pers, n)
	}
	body := message(*size)
	var runs []run
	failed := false
	for _, name := range strings.Split(*targets, ",") {
		var t *target
		var err error
		switch strings.TrimSpace(name) {
		case "ours":
			t, err = ours(*keep)
		case "courier":
			t, err = realCourier()
		default:
			err = fmt.Errorf("unknown target (ours, courier)")
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "esmtpout: %s: %v\n", name, err)
			failed = true
			continue
		}
		for _, per := range pers {
			r, err := measure(t, *msgs, per, *procs, body, *timeout)
			if err != nil {
				fmt.Fprintf(os.Stderr, "esmtpout: %s, %d per connection: %v\n", t.name, per, err)
				failed = true
				continue
			}
			runs = append(runs, r)
		}
		if err := t.cleanup(); err != nil {
			fmt.Fprintf(os.Stderr, "esmtpout: %s: cleaning up: %v\n", t.name, err)
			failed = true
		}
	}
	report(runs)
	if failed {
		os.Exit(1)
	}
}

// message is a plain message of about size bytes.
func message(size int) []byte {
	var b strings.Builder
	b.WriteString("From: " + sender + "\nTo: " + recipient + "\nSubject: esmtpout\n\n")
	line := strings.Repeat("0123456789abcdef", 4) + "\n"
	for b.Len() < size {
		b.WriteString(line)
	}
	return []byte(b.String())
}

// measure queues msgs messages while the scheduler is stopped, then
// starts it and times the way to the sink.
func measure(t *target, msgs, per, procs int, body []byte, timeout time.Duration) (run, error) {
	r := run{target: t.name, per: per, msgs: msgs}
	if err := t.stopScheduler(); err != nil {
		return r, fmt.Errorf("stopping the scheduler: %w", err)
	}
	qstart := time.Now()
	if err := t.queue(msgs, procs, body); err != nil {
		return r, fmt.Errorf("queueing: %w", err)
	}
	fmt.Fprintf(os.Stderr, "esmtpout: %s: %d messages queued in %v\n", t.name, msgs, time.Since(qstart).Round(time.Millisecond))
	s, err := startSink(sinkAddr, per)
	if err != nil {
		return r, err
	}
	defer s.stop()
	start := time.Now()
	if err := t.startScheduler(); err != nil {
		return r, fmt.Errorf("starting the scheduler: %w", err)
	}
	deadline := start.Add(timeout)
	lastFlush := time.Now()
	for s.messages.Load() < int64(msgs) {
		if time.Now().After(deadline) {
			return r, fmt.Errorf("the sink has %d of %d messages after %v", s.messages.Load(), msgs, timeout)
		}
		if time.Since(lastFlush) >= time.Second {
			if err := t.flush(); err == nil {
				r.flushes++
			}
			lastFlush = time.Now()
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.time = time.Since(start)
	r.flow = time.Since(time.Unix(0, s.first.Load()))
	r.cpuScheduler, r.cpuModule = cpuOf("courierd"), cpuOf("courieresmtp")
	r.sessions, r.closes = s.sessions.Load(), s.closed.Load()
	limit := "no limit per session"
	if per > 0 {
		limit = fmt.Sprintf("at most %d messages each", per)
	}
	fmt.Fprintf(os.Stderr, "esmtpout: %s: %d messages at the sink %v after the scheduler's start (%v from the first to the last) over %d sessions (%s), %d flushes; CPU: courierd %v, courieresmtp %v\n", t.name, msgs, r.time.Round(time.Millisecond), r.flow.Round(time.Millisecond), r.sessions, limit, r.flushes, r.cpuScheduler, r.cpuModule)
	return r, nil
}

// report prints the figures: msg/s is messages over the time from the
// first to the last at the sink (the module's pace, without the
// scheduler's start), total/s over the time from the scheduler's start.
func report(runs []run) {
	fmt.Printf("%-8s %9s %8s %10s %8s %10s %8s %9s %8s\n", "target", "per-conn", "messages", "flow", "msg/s", "total", "total/s", "sessions", "flushes")
	rate := map[string]float64{}
	total := map[string]float64{}
	for _, r := range runs {
		k := r.target + "/" + strconv.Itoa(r.per)
		rate[k] = float64(r.msgs-1) / r.flow.Seconds()
		total[k] = float64(r.msgs) / r.time.Seconds()
		fmt.Printf("%-8s %9d %8d %10v %8.1f %10v %8.1f %9d %8d\n", r.target, r.per, r.msgs, r.flow.Round(time.Millisecond), rate[k], r.time.Round(time.Millisecond), total[k], r.sessions, r.flushes)
	}
	for _, r := range runs {
		if r.target != "ours" {
			continue
		}
		k, c := "ours/"+strconv.Itoa(r.per), "courier/"+strconv.Itoa(r.per)
		if _, ok := rate[c]; ok {
			fmt.Printf("ratio ours/courier at %d messages per connection: %.2f (msg/s), %.2f (total/s)\n", r.per, rate[k]/rate[c], total[k]/total[c])
		}
	}
}
