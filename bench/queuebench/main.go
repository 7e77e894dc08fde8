// Command queuebench measures the mail queue from the outside, for the
// acceptance points of issue #4 (and the local-delivery figures of #5):
//
//  1. sendmail submissions per second: -procs processes in parallel, each
//     running sendmail -per times (one message, one local recipient, per run);
//     then the time until those messages are in the maildir;
//  2. queue-to-delivery throughput: -msgs1 messages to one local recipient
//     and -msgs5 messages to five, submitted through sendmail by -procs
//     processes, timed from the first submission until every copy is in the
//     recipients' maildirs (Maildir/new and cur are counted, so mail read
//     meanwhile still counts);
//  3. delivery alone: -held1 messages to one recipient and -held5 to five
//     are queued through sendmail while the target's scheduler is stopped
//     (SIGSTOP: the real Courier's courierd, Postfix's qmgr, our courierd
//     scheduler), then it goes on (SIGCONT), and the deliveries are timed
//     from the first one seen in the maildirs to the last.
//
// Targets, one at a time (the machine has 2 cores):
//
//		courier  the real Courier 1.0.16 (Debian), set up and started with
//		         /work/shared/peers/{setup,start,stop}-courier.sh; maildirs in
//		         /srv/peer-mail/<user>/Maildir
//		postfix  Postfix 3.7 unpacked in /opt/postfix-x, with
//		         {setup,start,stop}-postfix.sh; maildirs in /srv/peer-mail-postfix
//		ours     this tree, built and configured by scripts/sandbox.sh into a
//		         temporary sandbox tree (courierd with its scheduler, courierlocal,
//		         authdaemond), with the benchmark accounts added by userdb;
//		         maildirs in a directory of their own under /srv
//
//	 3. SMTP load (-tests smtp): -smtp-sessions sessions at once for
//	    -smtp-duration, each sending -smtp-per messages to one local recipient
//	    with PIPELINING, then a new session; figures: sessions/s, messages
//	    accepted/s, errors, the peak memory of the SMTP server's processes
//	    (summed proportional set sizes, sampled: the process tree started
//	    with the SMTP port among its arguments, so the IMAP and POP3
//	    servers' couriertcpd do not count; Postfix's smtpd, cleanup,
//	    trivial-rewrite and anvil by name), and the time until every
//	    accepted message is in the maildir.
//
//		go run ./bench/queuebench [-targets courier,postfix,ours] [-tests queue,smtp] [-procs 4] [-per 250] [-msgs1 500] [-msgs5 200] [-held1 2000] [-held5 400] [-smtp-sessions 200] [-smtp-duration 60s] [-setup] [-teardown]
//
// Removed files weigh on the measurements that follow them: on this
// machine's ext4, which has no journal, allocating an inode passes over
// every free inode of its block group that was freed in the last 60 s (360
// s while its inode table block is still dirty), reading each one's
// deletion time (the kernel's recently_deleted()). A run started a few
// minutes after tens of thousands of files were removed (a previous run's
// sandbox, a peer's teardown, rm -rf) measures that scan: our local
// deliveries spent half their time in it. queuebench therefore removes our
// sandboxes only after the last target, and a run should start at least
// six minutes after the last large removal (a run's own writes soon dirty
// the inode table blocks again). Each server's own removals of finished
// queue files are part of what is measured.
//
// Runs as root (the peers' sendmail, their daemons). -setup runs the peers'
// setup scripts for a peer that is not configured yet, -teardown undoes what
// -setup did at the end. Every server the tool starts is stopped again.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

func main() {
	targets := flag.String("targets", "courier,postfix,ours", "targets to measure, in this order")
	procs := flag.Int("procs", 4, "sendmail processes running in parallel")
	per := flag.Int("per", 250, "messages each process submits in the submission test")
	msgs1 := flag.Int("msgs1", 500, "messages with 1 recipient in the delivery test")
	msgs5 := flag.Int("msgs5", 200, "messages with 5 recipients in the delivery test")
	held1 := flag.Int("held1", 2000, "messages with 1 recipient queued with the scheduler stopped, in the delivery-only test")
	held5 := flag.Int("held5", 400, "messages with 5 recipients queued with the scheduler stopped, in the delivery-only test")
	size := flag.Int("size", 2048, "message size in bytes")
	timeout := flag.Duration("timeout", 10*time.Minute, "limit for each wait for deliveries")
	setup := flag.Bool("setup", false, "run the peers' setup scripts for a peer not configured yet")
	teardown := flag.Bool("teardown", false, "undo at the end what -setup configured")
	peers := flag.String("peers", "/work/shared/peers", "directory of the peers' scripts")
	keep := flag.Bool("keep", false, "keep our sandbox tree (its path is printed)")
	tests := flag.String("tests", "queue,smtp", "tests to run: queue (sendmail and delivery), smtp (SMTP load), out (outbound SMTP to a sink)")
	outMsgs := flag.Int("out-msgs", 1000, "messages in the outbound test")
	smtpSessions := flag.Int("smtp-sessions", 200, "SMTP sessions running at once in the SMTP load test")
	smtpPer := flag.Int("smtp-per", 5, "messages per SMTP session")
	smtpDuration := flag.Duration("smtp-duration", 60*time.Second, "length of the SMTP load")
	resultFile := flag.String("result", "", "internal: write the one target's result as JSON to this file")
	cooldown := flag.Duration("cooldown", 0, "wait before each target but the first (on ext4 without a journal, a target measured within minutes of another's mass of deleted files pays for them: see bench/internal/machine)")
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "queuebench: run it as root: the peers' sendmail and daemons need it")
		os.Exit(1)
	}
	b := &bench{procs: *procs, per: *per, msgs1: *msgs1, msgs5: *msgs5, held1: *held1, held5: *held5, size: *size, timeout: *timeout,
		setup: *setup, peers: *peers, keep: *keep,
		smtpSessions: *smtpSessions, smtpPer: *smtpPer, smtpDuration: *smtpDuration, outMsgs: *outMsgs}
	for _, t := range strings.Split(*tests, ",") {
		switch strings.TrimSpace(t) {
		case "queue":
			b.queue = true
		case "smtp":
			b.smtp = true
		case "out":
			b.out = true
		default:
			fmt.Fprintf(os.Stderr, "queuebench: unknown test %q (queue, smtp, out)\n", t)
			os.Exit(2)
		}
	}
	var results []*result
	var failed []string
	first := true
	for _, name := range strings.Split(*targets, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if !first && *cooldown > 0 {
			fmt.Fprintf(os.Stderr, "queuebench: waiting %v before measuring %s\n", *cooldown, name)
			time.Sleep(*cooldown)
		}
		first = false
		var r *result
		var err error
		if name == "courier" && *resultFile == "" {
			r, err = b.courierInNamespace()
		} else {
			r, err = b.measure(name)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "queuebench: %s: %v\n", name, err)
			failed = append(failed, name)
			continue
		}
		results = append(results, r)
	}
	for _, remove := range b.removals {
		remove()
	}
	if *teardown {
		b.teardown()
	}
	if *resultFile != "" {
		if err := writeResult(*resultFile, results); err != nil {
			fmt.Fprintln(os.Stderr, "queuebench:", err)
			os.Exit(1)
		}
		return
	}
	printTable(os.Stdout, b, results)
	if len(failed) > 0 {
		os.Exit(1)
	}
}
