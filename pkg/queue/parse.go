package queue

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gocourier/courier/pkg/address"
)

// Status is a recipient's delivery state as the control file records it.
type Status int

const (
	StatusPending   Status = iota // no S, F or D record yet
	StatusDeferred                // last result was D
	StatusDelivered               // an S record
	StatusFailed                  // an F record
)

func (s Status) String() string {
	return [...]string{"pending", "deferred", "delivered", "failed"}[s]
}

// Done reports whether no further delivery attempt is due.
func (s Status) Done() bool { return s == StatusDelivered || s == StatusFailed }

// InfoLine is one I record, kept in file order.
type InfoLine struct {
	Code byte // InfoPeer, InfoSent, InfoReplyType, InfoReply, InfoConnError
	Text string
	Pass int // number of C records before it: which delivery pass wrote it
}

// RecipientState is one recipient with everything recorded about it.
type RecipientState struct {
	Recipient
	Status        Status
	StatusTime    time.Time // time of the record that set Status
	SuccessSuffix string    // "", "l" or "r" of the S record
	Info          []InfoLine
}

// Control is a parsed control file: the submitted envelope and the state
// rebuilt from the appended records.
type Control struct {
	ID             QueueID
	Sender         string
	ReceivedFrom   string
	EnvID          string // xtext-encoded
	Ret            string
	SubmitDelay    time.Duration
	HasSubmitDelay bool
	Recipients     []RecipientState
	EightBit       bool
	SMTPUTF8       bool
	VERP           bool
	VHost          string
	Security       string
	AuthUser       string
	Env            []string
	Source         string
	Track          bool
	Expires        time.Time // E
	FaxExpires     time.Time // p (zero if absent)
	Warn           time.Time // W
	WarningSent    time.Time // last w, zero if none
	Arrival        time.Time // first A
	NextAttempt    time.Time // last A
	Passes         int       // number of C records
	CancelReasons  []string  // X records in order
	CancelAcked    bool      // x record present
}

// Done reports whether every recipient is delivered or failed: the message
// can be deleted (once its DSNs are written).
func (c *Control) Done() bool {
	for _, r := range c.Recipients {
		if !r.Status.Done() {
			return false
		}
	}
	return true
}

// Cancelled reports whether cancelmsg asked for cancellation.
func (c *Control) Cancelled() bool { return len(c.CancelReasons) > 0 }

// ParseError is a malformed control file, with the file and 1-based line.
type ParseError struct {
	File string
	Line int
	Msg  string
	// Torn is set when the only fault is an unterminated last line after
	// the submitted records: an append interrupted by a crash, which
	// recovery repairs by cutting the line off.
	Torn bool
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("control file %s:%d: %s", e.File, e.Line, e.Msg)
}

// letters that carry no data
const flagLetters = "8mVTx"

// ParseControl parses a control file's bytes. name is used in errors only.
// It rejects anything the writer and appender do not produce: unknown
// letters, repeated envelope records, R or N before any r, recipient
// indexes out of range, bad numbers, missing s, M, r, E, W or A records,
// NUL bytes, and a missing final newline.
func ParseControl(name string, data []byte) (*Control, error) {
	c := &Control{}
	lineNo := 0
	fail := func(format string, a ...any) (*Control, error) {
		return nil, &ParseError{File: name, Line: lineNo, Msg: fmt.Sprintf(format, a...)}
	}
	if len(data) == 0 {
		lineNo = 1
		return fail("empty file: no records")
	}
	seen := map[byte]bool{}
	var rN, nN []bool // whether recipient i already had its R / N record
	haveA := false
	headerDone := false // set once the first A (the last submitted record) is read
	rest := data
	for len(rest) > 0 {
		lineNo++
		nl := bytes.IndexByte(rest, '\n')
		if nl < 0 {
			return nil, &ParseError{File: name, Line: lineNo, Torn: headerDone,
				Msg: "last record has no newline: the file was cut off while being written"}
		}
		line := string(rest[:nl])
		rest = rest[nl+1:]
		if line == "" {
			return fail("empty line: every record starts with a type letter")
		}
		if strings.IndexByte(line, 0) >= 0 {
			return fail("NUL byte in record")
		}
		letter, v := line[0], line[1:]
		if strings.IndexByte(flagLetters, letter) >= 0 && v != "" {
			return fail("record %q takes no data, found %q", string(letter), v)
		}
		switch letter {
		case 's', 'f', 'e', 't', 'M', 'L', 'u', 'i', 'v', 'U', 'E', 'p', 'W', '8', 'm', 'V', 'T':
			if seen[letter] {
				return fail("second %q record: it may appear only once", string(letter))
			}
			seen[letter] = true
		}
		switch letter {
		case 's':
			c.Sender = v
		case 'f':
			c.ReceivedFrom = v
		case 'e':
			c.EnvID = v
		case 't':
			if v != "" && v != "F" && v != "H" {
				return fail("RET record %q: want \"F\", \"H\" or empty", v)
			}
			c.Ret = v
		case 'M':
			id, err := ParseQueueID(v)
			if err != nil {
				return fail("%v", err)
			}
			c.ID = id
		case 'L':
			n, ok := parseNum(v)
			if !ok {
				return fail("submit delay %q is not a number of seconds", v)
			}
			c.SubmitDelay, c.HasSubmitDelay = time.Duration(n)*time.Second, true
		case 'r':
			if v == "" {
				return fail("recipient record with an empty address")
			}
			c.Recipients = append(c.Recipients, RecipientState{Recipient: Recipient{Address: v}})
			rN, nN = append(rN, false), append(nN, false)
		case 'R', 'N':
			n := len(c.Recipients) - 1
			if n < 0 {
				return fail("%q record before any recipient (r) record", string(letter))
			}
			if letter == 'R' {
				if rN[n] {
					return fail("second ORCPT (R) record for recipient %d", n)
				}
				rN[n] = true
				c.Recipients[n].ORCPT = v
				break
			}
			if nN[n] {
				return fail("second NOTIFY (N) record for recipient %d", n)
			}
			nN[n] = true
			nf, ok := parseNotifyLetters(v)
			if !ok {
				return fail("NOTIFY record %q: want N alone, or letters from S, F, D", v)
			}
			c.Recipients[n].Notify = nf
		case '8':
			c.EightBit = true
		case 'm':
			c.SMTPUTF8 = true
		case 'V':
			c.VERP = true
		case 'v':
			c.VHost = v
		case 'U':
			c.Security = v
		case 'i':
			c.AuthUser = v
		case 'O':
			c.Env = append(c.Env, v)
		case 'u':
			c.Source = v
		case 'T':
			c.Track = true
		case 'E', 'p', 'W', 'w', 'A', 'C', 'X', 'x', 'I', 'S', 'F', 'D':
			if msg := c.state(letter, v); msg != "" {
				return fail("%s", msg)
			}
			if letter == 'A' {
				haveA, headerDone = true, true
			}
		default:
			return fail("unknown record type %q", string(letter))
		}
	}
	lineNo++
	for _, need := range []struct {
		letter byte
		what   string
	}{{'s', "sender (s)"}, {'M', "queue id (M)"}, {'E', "expiry (E)"}, {'W', "warning time (W)"}} {
		if !seen[need.letter] {
			return fail("no %s record", need.what)
		}
	}
	if len(c.Recipients) == 0 {
		return fail("no recipient (r) record")
	}
	if !haveA {
		return fail("no next-attempt (A) record")
	}
	return c, nil
}

func parseNotifyLetters(v string) (address.Notify, bool) {
	if v == "N" {
		return address.NotifyNever, true
	}
	var n address.Notify
	for i := 0; i < len(v); i++ {
		var bit address.Notify
		switch v[i] {
		case 'S':
			bit = address.NotifySuccess
		case 'F':
			bit = address.NotifyFailure
		case 'D':
			bit = address.NotifyDelay
		default:
			return 0, false
		}
		if n&bit != 0 {
			return 0, false
		}
		n |= bit
	}
	return n, true
}

// parseNum reads a record's decimal number: digits only, at most 18.
func parseNum(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}

// state applies one record of the times and the delivery state (E p W w A C
// X x I S F D) to c, and returns why it is malformed, or "". ParseControl
// and Apply share it, so the scheduler's view after an append is exactly
// what a new read of the file gives.
func (c *Control) state(letter byte, v string) string {
	switch letter {
	case 'E', 'p', 'W', 'w', 'A', 'C':
		n, ok := parseNum(v)
		if !ok {
			return fmt.Sprintf("%q record %q is not a time in seconds", string(letter), v)
		}
		t := time.Unix(n, 0)
		switch letter {
		case 'E':
			c.Expires = t
		case 'p':
			c.FaxExpires = t
		case 'W':
			c.Warn = t
		case 'w':
			c.WarningSent = t
		case 'A':
			if c.Arrival.IsZero() {
				c.Arrival = t // the first A is the arrival
			}
			c.NextAttempt = t
		case 'C':
			c.Passes++
		}
	case 'X':
		c.CancelReasons = append(c.CancelReasons, v)
	case 'x':
		c.CancelAcked = true
	case 'I', 'S', 'F', 'D':
		idx, after, ok := strings.Cut(v, " ")
		if !ok {
			return fmt.Sprintf("%q record %q: want <recipient> <data>", string(letter), v)
		}
		n, okn := parseNum(idx)
		if !okn || n >= int64(len(c.Recipients)) {
			return fmt.Sprintf("%q record names recipient %q, but the message has %d recipients", string(letter), idx, len(c.Recipients))
		}
		r := &c.Recipients[n]
		if letter == 'I' {
			if len(after) < 1 || strings.IndexByte("PSTRC", after[0]) < 0 || (len(after) > 1 && after[1] != ' ') {
				return fmt.Sprintf("delivery info %q: want a code P, S, T, R or C, then a space and text", after)
			}
			text := ""
			if len(after) > 2 {
				text = after[2:]
			}
			r.Info = append(r.Info, InfoLine{Code: after[0], Text: text, Pass: c.Passes})
			return ""
		}
		ts, suffix, _ := strings.Cut(after, " ")
		tn, okt := parseNum(ts)
		if !okt {
			return fmt.Sprintf("%q record time %q is not a number of seconds", string(letter), ts)
		}
		if letter != 'S' && suffix != "" || letter == 'S' && suffix != "" && suffix != "l" && suffix != "r" {
			return fmt.Sprintf("%q record has unexpected data %q after the time", string(letter), suffix)
		}
		if r.Status.Done() {
			// A result after a final one (possible when a crash made a
			// module deliver twice) does not undo the final state.
			return ""
		}
		r.StatusTime = time.Unix(tn, 0)
		switch letter {
		case 'S':
			r.Status, r.SuccessSuffix = StatusDelivered, suffix
		case 'F':
			r.Status = StatusFailed
		case 'D':
			r.Status = StatusDeferred
		}
	}
	return ""
}

// Apply updates c with records that were appended to its control file, as
// reading the file again would: the scheduler applies its own appends
// instead of parsing the whole file once more.
func (c *Control) Apply(recs ...Record) error {
	for _, r := range recs {
		if msg := c.state(r.line[0], r.line[1:]); msg != "" {
			return fmt.Errorf("queue: record %q: %s", r.line, msg)
		}
	}
	return nil
}
