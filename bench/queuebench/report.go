package main

import (
	"fmt"
	"io"
	"runtime"
	"time"
)

// printTable prints each target's figures and ours against each peer.
func printTable(w io.Writer, b *bench, rs []*result) {
	if b.queue {
		printQueue(w, b, rs)
	}
	if b.smtp {
		printSMTP(w, b, rs)
	}
	if b.out {
		printOut(w, b, rs)
	}
}

// printOut prints the outbound test's figures.
func printOut(w io.Writer, b *bench, rs []*result) {
	fmt.Fprintf(w, "\noutbound SMTP: %d messages of %d bytes submitted by %d sendmail processes, to a sink on %s\n", b.outMsgs, b.size, b.procs, sinkAddr)
	fmt.Fprintf(w, "  submitted: from the first sendmail until the sink has them all; flush: queued while the sink was away, from \"courier flush\"\n")
	fmt.Fprintf(w, "%-8s %14s %10s %10s %12s %10s %10s\n", "target", "submitted/s", "seconds", "sessions", "flushed/s", "seconds", "sessions")
	var ours *outResult
	for _, r := range rs {
		if o := r.out; o != nil {
			if r.name == "ours" {
				ours = o
			}
			fmt.Fprintf(w, "%-8s %14.1f %10.2f %10d %12.1f %10.2f %10d\n", r.name, rate(o.Messages, o.Time), secs(o.Time), o.Sessions,
				rate(o.Queued, o.Flush), secs(o.Flush), o.FlushSessions)
		}
	}
	for _, r := range rs {
		if o := r.out; o != nil && ours != nil && o != ours {
			fmt.Fprintf(w, "ours/%-7s outbound msgs/s: submitted %.2fx, flushed %.2fx\n", r.name,
				ratio(rate(ours.Messages, ours.Time), rate(o.Messages, o.Time)), ratio(rate(ours.Queued, ours.Flush), rate(o.Queued, o.Flush)))
		}
	}
}

// printSMTP prints the SMTP load test's figures and ours against each peer.
func printSMTP(w io.Writer, b *bench, rs []*result) {
	fmt.Fprintf(w, "\nSMTP load: %d sessions at once for %v, %d messages of %d bytes per session with PIPELINING, %d CPUs\n",
		b.smtpSessions, b.smtpDuration, b.smtpPer, b.size, runtime.NumCPU())
	fmt.Fprintf(w, "%-8s %10s %10s %8s %14s %12s %12s\n", "target", "sessions/s", "msgs/s", "errors", "all delivered", "deliv msg/s", "peak PSS MB")
	var ours *smtpResult
	for _, r := range rs {
		s := r.smtp
		if s == nil {
			continue
		}
		if r.name == "ours" {
			ours = s
		}
		fmt.Fprintf(w, "%-8s %10.1f %10.1f %8d %13.1fs %12.1f %12.1f\n", r.name, rate(int(s.Sessions), s.Duration), rate(int(s.Messages), s.Duration),
			s.Errors, secs(s.Drain), rate(int(s.Messages), s.Drain), float64(s.PeakRSS)/1024)
		if s.FirstError != "" {
			fmt.Fprintf(w, "         first error: %s\n", s.FirstError)
		}
	}
	if ours == nil {
		return
	}
	for _, r := range rs {
		s := r.smtp
		if s == nil || s == ours {
			continue
		}
		fmt.Fprintf(w, "ours/%-7s accepted msgs/s %.2fx, delivered msgs/s %.2fx, memory %.2fx of theirs\n", r.name,
			ratio(rate(int(ours.Messages), ours.Duration), rate(int(s.Messages), s.Duration)),
			ratio(rate(int(ours.Messages), ours.Drain), rate(int(s.Messages), s.Drain)),
			ratio(float64(ours.PeakRSS), float64(s.PeakRSS)))
	}
}

// printQueue prints the sendmail and delivery tests' figures.
func printQueue(w io.Writer, b *bench, rs []*result) {
	fmt.Fprintf(w, "\nqueuebench: %d sendmail processes in parallel, %d-byte messages, %d CPUs\n", b.procs, b.size, runtime.NumCPU())
	fmt.Fprintf(w, "  submit: %d×%d messages, 1 recipient: sendmail runs/s; drain: until all are in the maildir\n", b.procs, b.per)
	fmt.Fprintf(w, "  1 rcpt: %d messages, 5 rcpt: %d messages (%d deliveries), from the first sendmail to the last maildir file\n\n", b.msgs1, b.msgs5, 5*b.msgs5)
	fmt.Fprintf(w, "%-8s %12s %10s %14s %14s %14s\n", "target", "submit/s", "drain s", "1 rcpt msg/s", "5 rcpt msg/s", "deliveries/s")
	for _, r := range rs {
		fmt.Fprintf(w, "%-8s %12.1f %10.2f %14.1f %14.1f %14.1f\n", r.name, r.submitRate(), secs(r.submitDrain),
			rate(r.one, r.oneTime), rate(r.five, r.fiveTime), rate(r.one+5*r.five, r.oneTime+r.fiveTime))
	}
	var ours *result
	for _, r := range rs {
		if r.name == "ours" {
			ours = r
		}
	}
	if ours != nil {
		fmt.Fprintln(w)
		for _, r := range rs {
			if r == ours {
				continue
			}
			fmt.Fprintf(w, "ours/%-7s submit %.2fx, drain %.2fx faster, 1 rcpt %.2fx, 5 rcpt %.2fx\n", r.name,
				ratio(ours.submitRate(), r.submitRate()), ratio(secs(r.submitDrain), secs(ours.submitDrain)),
				ratio(rate(ours.one, ours.oneTime), rate(r.one, r.oneTime)), ratio(rate(ours.five, ours.fiveTime), rate(r.five, r.fiveTime)))
		}
	}
	printHeld(w, b, rs, ours)
}

// printHeld prints the delivery test's figures.
func printHeld(w io.Writer, b *bench, rs []*result, ours *result) {
	fmt.Fprintf(w, "\ndelivery alone: queued with the scheduler stopped, timed from the first delivery to the last\n")
	fmt.Fprintf(w, "%-8s %20s %20s %22s\n", "target", "1 rcpt deliveries/s", "5 rcpt deliveries/s", "5 rcpt messages/s")
	oneRate := func(h *heldResult) float64 { return heldRate(h.One, h.OneFirst, h.OneTime) }
	fiveRate := func(h *heldResult) float64 { return heldRate(5*h.Five, h.FiveFirst, h.FiveTime) }
	for _, r := range rs {
		if h := r.held; h != nil {
			fmt.Fprintf(w, "%-8s %20.1f %20.1f %22.1f\n", r.name, oneRate(h), fiveRate(h), fiveRate(h)/5)
		}
	}
	if ours == nil || ours.held == nil {
		return
	}
	for _, r := range rs {
		if r == ours || r.held == nil {
			continue
		}
		fmt.Fprintf(w, "ours/%-7s delivery alone: 1 rcpt %.2fx, 5 rcpt %.2fx\n", r.name,
			ratio(oneRate(ours.held), oneRate(r.held)), ratio(fiveRate(ours.held), fiveRate(r.held)))
	}
}

func secs(d time.Duration) float64 { return d.Seconds() }

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func durationNS(ns int64) time.Duration { return time.Duration(ns) }
