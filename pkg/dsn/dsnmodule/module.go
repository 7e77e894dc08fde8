// Package dsnmodule is the dsn transport module, the program courierdsn: the
// scheduler hands it a message when the message needs a delivery status
// notification (host "final" once no recipient is deferred, host "delay" for a
// delay warning), and it builds the report with pkg/dsn and queues it through
// pkg/submit (spec queue-and-courierd.md §3 "Transport-module protocol", §7).
//
// Callers: cmd/courierdsn calls Main. The scheduler starts the program with the
// courier user's credentials and the courierd environment (DSNTOAUTHADDR,
// DSNDEFAULTNOTIFYDELAY, MAXDELS, ...) and talks to it with the pkg/module
// line protocol.
//
// Division of work with the scheduler (contracts): the module only builds and
// queues the report and answers "<id>" once it is queued (or when there is
// nothing to report); the scheduler then removes the message (final) or appends
// w<time> (delay). When the report cannot be queued for a reason that may pass
// (a full disk, an unreadable alias database) it answers "<id>\tdefer\t<reason>"
// and the scheduler tries again later.
package dsnmodule

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/gocourier/courier/pkg/dsn"
	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/pkg/logging"
	"github.com/gocourier/courier/pkg/module"
	"github.com/gocourier/courier/pkg/privsep"
	"github.com/gocourier/courier/pkg/queue"
	"github.com/gocourier/courier/pkg/submit"
)

// ReceivedFrom is the f record of every report: the original's submit is
// told the report comes from the local host.
const ReceivedFrom = "dns; localhost (localhost [127.0.0.1])"

// TraceIdent is the comment of the report's Received: line: the DSN
// specification the report follows.
const TraceIdent = "https://www.rfc-editor.org/rfc/rfc1894.txt"

const usage = `Usage: courierdsn
       courierdsn INODE [1]

The dsn transport module: the scheduler (courierd) starts it and writes one
delivery line per message that needs a delivery status notification; it
builds the report (RFC 3464) and queues it for the message's sender.

With an inode number it prints the report of that queued message to standard
output instead, as a final report, or as a delay warning when the second
argument is 1 (the original's test mode). Nothing is queued or changed.

Wording: dsnheader.txt, dsnfooter.txt, dsndelivered.txt, dsnrelayed.txt,
dsnfailed.txt, dsndelayed.txt, dsnsubjectnotice.txt, dsnsubjectwarn.txt,
dsnfrom and dsnlimit in %s.
`

// Module handles the scheduler's delivery lines.
type Module struct {
	Queue     *queue.Queue
	Submitter *submit.Submitter
	Settings  dsn.Settings
	Logger    *slog.Logger
}

// Main is the program courierdsn.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	l := layout.Current()
	if len(args) > 0 && (args[0] == "--help" || args[0] == "-help" || args[0] == "-h") {
		fmt.Fprintf(stdout, usage, l.SysconfDir)
		return 0
	}
	if len(args) > 2 {
		fmt.Fprintf(stderr, "courierdsn: too many arguments\n"+usage, l.SysconfDir)
		return 1
	}
	// Standard error only: as a module (no arguments) it is the
	// scheduler's, which is the supervisor's, which sends every line to
	// syslog; run by hand, the terminal.
	log := logging.New(logging.Options{Program: "courierdsn", Stderr: true, Level: slog.LevelInfo})
	if privsep.IsRoot() {
		// Reports are queued as the courier user, whatever started us.
		if err := dropToMailUser(l); err != nil {
			log.Error("courierdsn cannot run as the mail user: " + err.Error())
			return 1
		}
	}
	s, err := dsn.LoadSettings(l, os.Environ())
	if err != nil {
		log.Error("courierdsn cannot start: " + err.Error())
		return 1
	}
	if len(args) > 0 {
		return printReport(l, s, args, stdout, stderr)
	}
	sub, err := submit.Open(l)
	if err != nil {
		log.Error("courierdsn cannot start: " + err.Error())
		return 1
	}
	defer sub.Close()
	m := &Module{Queue: sub.Queue(), Submitter: sub, Settings: s, Logger: log}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	opts := module.OptionsFromEnv()
	opts.Logger = log
	if err := module.Serve(ctx, stdin, stdout, opts, m.Handle); err != nil {
		log.Error("reading deliveries from the scheduler: " + err.Error())
		return 1
	}
	return 0
}

func dropToMailUser(l layout.Layout) error {
	c, err := privsep.MailCredential(l.MailUser, l.MailGroup)
	if err != nil {
		return err
	}
	return privsep.Drop(c)
}

// printReport is the test mode: the report of one queued message on stdout.
func printReport(l layout.Layout, s dsn.Settings, args []string, stdout, stderr io.Writer) int {
	inode, err := strconv.ParseUint(args[0], 10, 64)
	if err != nil {
		fmt.Fprintf(stderr, "courierdsn: %q is not an inode number\n", args[0])
		return 1
	}
	k := dsn.Final
	if len(args) > 1 && args[1] != "0" {
		k = dsn.Delay
	}
	q, err := queue.Open(l.LocalstateDir, queue.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "courierdsn: %v\n", err)
		return 1
	}
	r, err := build(q, inode, k, s)
	if err != nil {
		fmt.Fprintf(stderr, "courierdsn: %v\n", err)
		return 1
	}
	if r == nil {
		fmt.Fprintf(stderr, "courierdsn: message %d: no recipient to report in a %s report\n", inode, k)
		return 1
	}
	if _, err := stdout.Write(r.Message); err != nil {
		fmt.Fprintf(stderr, "courierdsn: %v\n", err)
		return 1
	}
	return 0
}

// build loads a queued message and builds its report; nil without error when
// there is nothing to report.
func build(q *queue.Queue, inode uint64, k dsn.Kind, s dsn.Settings) (*dsn.Report, error) {
	c, err := q.Load(inode)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(q.DataPath(inode))
	if err != nil {
		return nil, fmt.Errorf("message %s: %w", c.ID, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("message %s: %w", c.ID, err)
	}
	r, err := dsn.Build(c, f, st.Size(), st.ModTime(), k, s)
	if err != nil {
		return nil, fmt.Errorf("message %s: %w", c.ID, err)
	}
	return r, nil
}

// Handle serves one delivery line: build the report of the message and queue
// it. The reply is "" (done: queued, or nothing to report) or
// module.Deferral, a tab and the reason (try again later).
func (m *Module) Handle(ctx context.Context, d module.Delivery) string {
	log := m.Logger.With("id", d.QueueID)
	deferral := func(reason string) string {
		log.Warn("report not queued, will try again: " + reason)
		return module.Deferral + "\t" + reason
	}
	k, ok := dsn.ParseKind(d.Host)
	if !ok {
		return deferral(fmt.Sprintf("the scheduler asked for a report of unknown kind %q (want final or delay)", d.Host))
	}
	r, err := build(m.Queue, d.Inode, k, m.Settings)
	if errors.Is(err, fs.ErrNotExist) {
		// The message is gone (removed by hand, or a report of a previous
		// scheduler run completed it): there is nobody left to tell.
		log.Warn(fmt.Sprintf("no %s report: the message is no longer in the queue", k), "error", err.Error())
		return ""
	}
	if err != nil {
		return deferral(err.Error())
	}
	if r == nil {
		return ""
	}
	msg := &submit.Message{
		Module: "dsn",
		Envelope: queue.Envelope{
			Sender:         r.Sender,
			ReceivedFrom:   ReceivedFrom,
			HasSubmitDelay: true, // L0: the report is delivered at once
			Recipients:     []queue.Recipient{{Address: r.Recipient}},
			Source:         r.Source,
			Security:       r.Security,
		},
		Trace:      &submit.Trace{Ident: TraceIdent},
		AddHeaders: true,
	}
	id, err := m.Submitter.Submit(msg, bytes.NewReader(r.Message))
	var refusal *submit.Error
	if errors.As(err, &refusal) && !refusal.Temporary() {
		// A permanent refusal (the sender's address is unusable, say) would
		// be refused again on every retry: the report is dropped, loudly.
		log.Error(fmt.Sprintf("%s report to <%s> refused by submission, dropped: %v", k, r.Recipient, err))
		return ""
	}
	if err != nil {
		return deferral(fmt.Sprintf("%s report to <%s>: %v", k, r.Recipient, err))
	}
	log.Info(fmt.Sprintf("%s report to <%s> queued as %s", k, r.Recipient, id))
	return ""
}
