package queue

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gocourier/courier/pkg/address"
)

// Envelope is what a submitter knows about a message before its data: the
// records that submission writes once at the head of the control file
// (spec §1, "Observed submit order").
type Envelope struct {
	Sender       string // s: envelope sender, "" for <>
	ReceivedFrom string // f: "dns; client.example ([::ffff:127.0.0.1])"
	EnvID        string // e: ENVID, still xtext-encoded as received
	Ret          string // t: "F" (RET=FULL), "H" (RET=HDRS) or ""
	// SubmitDelay is the L record; DSN messages carry L0. HasSubmitDelay
	// says whether the record is written at all.
	SubmitDelay    time.Duration
	HasSubmitDelay bool
	Recipients     []Recipient
	EightBit       bool     // 8: BODY=8BITMIME
	SMTPUTF8       bool     // m
	VERP           bool     // V
	VHost          string   // v: virtual host, written when not empty
	Security       string   // U: SECURITY level, written when not empty
	AuthUser       string   // i: authenticated user, written when not empty
	Env            []string // O: delivery environment, "NAME=value" each
	Source         string   // u: authsmtp, smtp, local, local/dsn, ...
	Track          bool     // T: backscatter tracking of failures
}

// Recipient is one r/R/N triple.
type Recipient struct {
	Address string         // r: canonical recipient address
	ORCPT   string         // R: original recipient, xtext-decoded; "" if none
	Notify  address.Notify // N: zero = NOTIFY not given
}

// Times are the expiry, fax expiry and warning intervals that submission
// freezes into the E, p and W records (spec §3: later changes of queuetime
// or warntime do not affect queued mail).
type Times struct {
	QueueTime    time.Duration // E = arrival + QueueTime (Courier default 1w)
	FaxQueueTime time.Duration // p = arrival + FaxQueueTime (8h)
	WarnTime     time.Duration // W = arrival + WarnTime (4h)
}

// DefaultTimes are Courier's defaults for queuetime, faxqueuetime, warntime.
var DefaultTimes = Times{QueueTime: 7 * 24 * time.Hour, FaxQueueTime: 8 * time.Hour, WarnTime: 4 * time.Hour}

// ReadTimes reads queuetime, warntime and faxqueuetime with the caller's
// reader of interval control files (controlfiles.Files.Duration); a missing
// file gives the default.
func ReadTimes(duration func(name string, def time.Duration) (time.Duration, error)) (Times, error) {
	t := DefaultTimes
	var err error
	if t.QueueTime, err = duration("queuetime", t.QueueTime); err != nil {
		return t, err
	}
	if t.WarnTime, err = duration("warntime", t.WarnTime); err != nil {
		return t, err
	}
	if t.FaxQueueTime, err = duration("faxqueuetime", t.FaxQueueTime); err != nil {
		return t, err
	}
	return t, nil
}

// notifyLetters is the N record's text: "N" for NEVER, else S, F, D in that
// order; "" when NOTIFY was not given.
func notifyLetters(n address.Notify) string {
	if n&address.NotifyNever != 0 {
		return "N"
	}
	var b strings.Builder
	if n&address.NotifySuccess != 0 {
		b.WriteByte('S')
	}
	if n&address.NotifyFailure != 0 {
		b.WriteByte('F')
	}
	if n&address.NotifyDelay != 0 {
		b.WriteByte('D')
	}
	return b.String()
}

// validate refuses envelope values that would break the line format, so a
// control file on disk always parses back to the envelope written.
func (e *Envelope) validate() error {
	check := func(what, v string) error {
		if i := strings.IndexAny(v, "\n\x00"); i >= 0 {
			return fmt.Errorf("queue: %s %q contains a newline or NUL byte, which the control file cannot hold", what, v)
		}
		return nil
	}
	fields := []struct{ what, v string }{
		{"sender", e.Sender}, {"received-from", e.ReceivedFrom}, {"ENVID", e.EnvID},
		{"virtual host", e.VHost}, {"SECURITY", e.Security}, {"authenticated user", e.AuthUser},
		{"source", e.Source},
	}
	for _, f := range fields {
		if err := check(f.what, f.v); err != nil {
			return err
		}
	}
	if e.Ret != "" && e.Ret != "F" && e.Ret != "H" {
		return fmt.Errorf("queue: RET %q must be \"F\", \"H\" or empty", e.Ret)
	}
	if e.HasSubmitDelay && e.SubmitDelay < 0 {
		return fmt.Errorf("queue: negative submit delay %v", e.SubmitDelay)
	}
	if len(e.Recipients) == 0 {
		return errors.New("queue: a message needs at least one recipient")
	}
	for i, r := range e.Recipients {
		if r.Address == "" {
			return fmt.Errorf("queue: recipient %d has an empty address", i)
		}
		if err := check("recipient", r.Address); err != nil {
			return err
		}
		if err := check("ORCPT", r.ORCPT); err != nil {
			return err
		}
		if r.Notify&address.NotifyNever != 0 && r.Notify != address.NotifyNever {
			return fmt.Errorf("queue: recipient %s: NOTIFY=NEVER cannot be combined with other values", r.Address)
		}
	}
	for _, o := range e.Env {
		if err := check("environment entry", o); err != nil {
			return err
		}
	}
	return nil
}

// ControlBytes renders the control file that submission writes for env, with
// queue id id and arrival time id.Time, in the observed record order:
// s f e t M [L] (r R N)… 8 m V v U i O… u [T] E p W A. The order of m, V, v
// and U, which the observed files did not contain, is ours.
func ControlBytes(env *Envelope, id QueueID, t Times) ([]byte, error) {
	if err := env.validate(); err != nil {
		return nil, err
	}
	arrival := id.Time.Unix()
	var b bytes.Buffer
	line := func(letter byte, v string) {
		b.WriteByte(letter)
		b.WriteString(v)
		b.WriteByte('\n')
	}
	line('s', env.Sender)
	line('f', env.ReceivedFrom)
	line('e', env.EnvID)
	line('t', env.Ret)
	line('M', id.String())
	if env.HasSubmitDelay {
		line('L', strconv.FormatInt(int64(env.SubmitDelay/time.Second), 10))
	}
	for _, r := range env.Recipients {
		line('r', r.Address)
		line('R', r.ORCPT)
		line('N', notifyLetters(r.Notify))
	}
	if env.EightBit {
		line('8', "")
	}
	if env.SMTPUTF8 {
		line('m', "")
	}
	if env.VERP {
		line('V', "")
	}
	if env.VHost != "" {
		line('v', env.VHost)
	}
	if env.Security != "" {
		line('U', env.Security)
	}
	if env.AuthUser != "" {
		line('i', env.AuthUser)
	}
	for _, o := range env.Env {
		line('O', o)
	}
	line('u', env.Source)
	if env.Track {
		line('T', "")
	}
	line('E', strconv.FormatInt(arrival+int64(t.QueueTime/time.Second), 10))
	line('p', strconv.FormatInt(arrival+int64(t.FaxQueueTime/time.Second), 10))
	line('W', strconv.FormatInt(arrival+int64(t.WarnTime/time.Second), 10))
	line('A', strconv.FormatInt(arrival, 10))
	return b.Bytes(), nil
}

// Record is one line appended to a control file after submission. Build it
// with the constructors below; the zero Record is invalid.
type Record struct{ line string }

// String is the record as it appears in the file, without the newline.
func (r Record) String() string { return r.line }

func secs(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// Info codes of I records (spec §1).
const (
	InfoPeer      = 'P' // peer the delivery connected to
	InfoSent      = 'S' // command we sent
	InfoReplyType = 'T' // reply type, e.g. "smtp"
	InfoReply     = 'R' // one reply line
	InfoConnError = 'C' // connection error
)

// Info is "I<n> <code> <text>": delivery information for recipient n.
// Newlines in text are replaced by spaces: a multi-line reply is one Info
// per line (spec §1).
func Info(n int, code byte, text string) Record {
	return Record{fmt.Sprintf("I%d %c %s", n, code, oneLine(text))}
}

// Success suffixes of S records (spec §1).
const (
	SuccessRelayedDSN = ""  // relayed to a DSN-capable peer: no success DSN
	SuccessLocal      = "l" // delivered locally: DSN action "delivered"
	SuccessRelayed    = "r" // relayed without DSN support: action "relayed"
)

// Delivered is "S<n> <time>[ l| r]": recipient n succeeded.
func Delivered(n int, t time.Time, suffix string) Record {
	if suffix != "" {
		suffix = " " + suffix
	}
	return Record{fmt.Sprintf("S%d %s%s", n, secs(t), suffix)}
}

// Failed is "F<n> <time>": recipient n failed permanently.
func Failed(n int, t time.Time) Record { return Record{fmt.Sprintf("F%d %s", n, secs(t))} }

// Deferred is "D<n> <time>": recipient n deferred.
func Deferred(n int, t time.Time) Record { return Record{fmt.Sprintf("D%d %s", n, secs(t))} }

// PassComplete is "C<time>": the end of one delivery pass; courierd counts
// them for the retry schedule (spec §3).
func PassComplete(t time.Time) Record { return Record{"C" + secs(t)} }

// NextAttempt is "A<time>"; the last A record wins. Queue.Reschedule appends
// it and renames the msgq/ link in one step.
func NextAttempt(t time.Time) Record { return Record{"A" + secs(t)} }

// WarningSent is "w<time>": the delay DSN was generated.
func WarningSent(t time.Time) Record { return Record{"w" + secs(t)} }

// CancelRequest is "X<text>": one cancelmsg reason line.
func CancelRequest(text string) Record { return Record{"X" + oneLine(text)} }

// CancelAcknowledged is "x": courierd has acted on the cancel request.
func CancelAcknowledged() Record { return Record{"x"} }

func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == 0 {
			return ' '
		}
		return r
	}, s)
}
