package queue

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gocourier/courier/pkg/address"
)

// The observed control file of spec queue-and-courierd.md §1 (a 4-recipient
// message over SMTP with RELAYCLIENT), up to the submitted records.
const observedControl = `scarol@example.org
fdns; client.example ([::ffff:127.0.0.1])
e
t
M00000000000C2005.000000006B0267A1.00007614
rr1@remote.example
R
N
rr2@remote.example
R
N
rr3@other.example
R
N
ruser1@example.test
R
N
ORELAYCLIENT=
OTCPREMOTEIP=::ffff:127.0.0.1
uauthsmtp
E1795924513
p1795348513
W1795334113
A1795319713
`

func observedEnvelope() *Envelope {
	return &Envelope{
		Sender:       "carol@example.org",
		ReceivedFrom: "dns; client.example ([::ffff:127.0.0.1])",
		Recipients: []Recipient{
			{Address: "r1@remote.example"}, {Address: "r2@remote.example"},
			{Address: "r3@other.example"}, {Address: "user1@example.test"},
		},
		Source: "authsmtp",
	}
}

func TestControlBytesMatchObserved(t *testing.T) {
	env := observedEnvelope()
	env.Env = []string{"RELAYCLIENT=", "TCPREMOTEIP=::ffff:127.0.0.1"}
	id, err := ParseQueueID("00000000000C2005.000000006B0267A1.00007614")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ControlBytes(env, id, DefaultTimes)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != observedControl {
		t.Errorf("control file differs from the observed one\n got:\n%s\nwant:\n%s", got, observedControl)
	}
}

func TestControlBytesAllRecords(t *testing.T) {
	env := &Envelope{
		Sender: "", ReceivedFrom: "dns; localhost (localhost [127.0.0.1])", EnvID: "abc+2Bdef", Ret: "H",
		SubmitDelay: 0, HasSubmitDelay: true,
		Recipients: []Recipient{
			{Address: "a@x", ORCPT: "rfc822;Y+y@x", Notify: address.NotifySuccess | address.NotifyFailure | address.NotifyDelay},
			{Address: "b@x", Notify: address.NotifyNever},
			{Address: "c@x", Notify: address.NotifyDelay},
		},
		EightBit: true, SMTPUTF8: true, VERP: true, VHost: "vh.example", Security: "STARTTLS",
		AuthUser: "user1@example.test", Env: []string{"RELAYCLIENT="}, Source: "smtp/dsn", Track: true,
	}
	id := QueueID{Inode: 0x2a, Time: time.Unix(1000, 0), PID: 7}
	got, err := ControlBytes(env, id, Times{QueueTime: time.Minute, FaxQueueTime: 2 * time.Minute, WarnTime: 3 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	want := "s\nfdns; localhost (localhost [127.0.0.1])\neabc+2Bdef\ntH\nM000000000000002A.00000000000003E8.00000007\nL0\n" +
		"ra@x\nRrfc822;Y+y@x\nNSFD\nrb@x\nR\nNN\nrc@x\nR\nND\n8\nm\nV\nvvh.example\nUSTARTTLS\niuser1@example.test\nORELAYCLIENT=\nusmtp/dsn\nT\n" +
		"E1060\np1120\nW1180\nA1000\n"
	if string(got) != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}

func TestRoundTrip(t *testing.T) {
	env := observedEnvelope()
	env.EnvID, env.Ret, env.EightBit, env.SMTPUTF8, env.Track = "e+2Bx", "F", true, true, true
	env.Recipients[1].ORCPT = "orig@x"
	env.Recipients[1].Notify = address.NotifyNever
	env.Recipients[2].Notify = address.NotifyFailure | address.NotifyDelay
	env.AuthUser, env.VHost, env.Security, env.VERP = "u@x", "v.example", "NONE", true
	env.HasSubmitDelay, env.SubmitDelay = true, 90*time.Second
	id := QueueID{Inode: 77, Time: time.Unix(1795319713, 0), PID: 99}
	data, err := ControlBytes(env, id, DefaultTimes)
	if err != nil {
		t.Fatal(err)
	}
	t0 := id.Time
	recs := []Record{
		Info(3, InfoReply, "Message delivered."), Delivered(3, t0, SuccessLocal),
		Info(0, InfoPeer, "[127.0.0.1] [127.0.0.1]"), Info(0, InfoSent, "RCPT TO:<r1@remote.example>"),
		Info(0, InfoReplyType, "smtp"), Info(0, InfoReply, "550 5.1.1 no\nsuch"), Failed(0, t0),
		Info(1, InfoReply, "Network is down"), Deferred(1, t0), Deferred(2, t0), PassComplete(t0),
		NextAttempt(t0.Add(300 * time.Second)), Delivered(1, t0.Add(400*time.Second), SuccessRelayed),
		Info(2, InfoReply, ""), PassComplete(t0.Add(400 * time.Second)), WarningSent(t0.Add(time.Hour)),
		CancelRequest("Cancelled by the admin"), CancelRequest("second"), CancelAcknowledged(),
		NextAttempt(t0.Add(2000 * time.Second)),
	}
	for _, r := range recs {
		data = append(data, r.String()+"\n"...)
	}
	c, err := ParseControl("C77", data)
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != id || c.Sender != env.Sender || c.ReceivedFrom != env.ReceivedFrom || c.EnvID != env.EnvID ||
		c.Ret != "F" || !c.EightBit || !c.SMTPUTF8 || !c.Track || !c.VERP || c.VHost != "v.example" ||
		c.Security != "NONE" || c.AuthUser != "u@x" || c.Source != "authsmtp" || !c.HasSubmitDelay || c.SubmitDelay != 90*time.Second {
		t.Errorf("envelope not round-tripped: %+v", c)
	}
	for i, r := range c.Recipients {
		if r.Recipient != env.Recipients[i] {
			t.Errorf("recipient %d: got %+v want %+v", i, r.Recipient, env.Recipients[i])
		}
	}
	wantStatus := []Status{StatusFailed, StatusDelivered, StatusDeferred, StatusDelivered}
	for i, w := range wantStatus {
		if c.Recipients[i].Status != w {
			t.Errorf("recipient %d status %v, want %v", i, c.Recipients[i].Status, w)
		}
	}
	if c.Recipients[3].SuccessSuffix != "l" || c.Recipients[1].SuccessSuffix != "r" {
		t.Errorf("suffixes %q %q", c.Recipients[3].SuccessSuffix, c.Recipients[1].SuccessSuffix)
	}
	wantInfo := []InfoLine{{'P', "[127.0.0.1] [127.0.0.1]", 0}, {'S', "RCPT TO:<r1@remote.example>", 0}, {'T', "smtp", 0}, {'R', "550 5.1.1 no such", 0}}
	if !reflect.DeepEqual(c.Recipients[0].Info, wantInfo) {
		t.Errorf("info %+v", c.Recipients[0].Info)
	}
	if got := c.Recipients[2].Info; len(got) != 1 || got[0].Pass != 1 || got[0].Text != "" {
		t.Errorf("info of recipient 2 %+v", got)
	}
	if c.Passes != 2 || !c.NextAttempt.Equal(t0.Add(2000*time.Second)) || !c.Arrival.Equal(t0) ||
		!c.WarningSent.Equal(t0.Add(time.Hour)) || !c.Expires.Equal(t0.Add(7*24*time.Hour)) ||
		!c.Warn.Equal(t0.Add(4*time.Hour)) || !c.FaxExpires.Equal(t0.Add(8*time.Hour)) {
		t.Errorf("times: %+v", c)
	}
	if !reflect.DeepEqual(c.CancelReasons, []string{"Cancelled by the admin", "second"}) || !c.CancelAcked || !c.Cancelled() {
		t.Errorf("cancel: %q %v", c.CancelReasons, c.CancelAcked)
	}
	if c.Done() {
		t.Error("Done with a deferred recipient")
	}
	c2, err := ParseControl("C77", append(data, Failed(2, t0).String()+"\n"...))
	if err != nil || !c2.Done() {
		t.Errorf("after F2: done=%v err=%v", c2 != nil && c2.Done(), err)
	}
}

func TestParseObserved(t *testing.T) {
	c, err := ParseControl("C", []byte(observedControl+"I3 R Message delivered.\nS3 1795319713 l\nI0 R Network is down\nD0 1795319713\nC1795319713\nA1795320013\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Recipients) != 4 || c.Recipients[3].Status != StatusDelivered || c.Recipients[0].Status != StatusDeferred ||
		c.Recipients[1].Status != StatusPending || c.NextAttempt.Unix() != 1795320013 || c.Passes != 1 ||
		!reflect.DeepEqual(c.Env, []string{"RELAYCLIENT=", "TCPREMOTEIP=::ffff:127.0.0.1"}) {
		t.Errorf("parsed %+v", c)
	}
}

func TestParseMalformed(t *testing.T) {
	head := strings.TrimSuffix(observedControl, "A1795319713\n")
	cases := []struct {
		name, data string
		line       int
		msg        string
		torn       bool
	}{
		{"empty", "", 1, "empty file", false},
		{"blank line", "s\n\n", 2, "empty line", false},
		{"unknown", head + "A1\nZfoo\n", 25, `unknown record type "Z"`, false},
		{"two senders", "s\ns\n", 2, `second "s" record`, false},
		{"R first", "s\nRx\n", 2, `"R" record before any recipient`, false},
		{"two N", "s\nra\nN\nNS\n", 4, "second NOTIFY", false},
		{"bad notify", "s\nra\nNX\n", 3, `NOTIFY record "X"`, false},
		{"never plus", "s\nra\nNNS\n", 3, "NOTIFY record", false},
		{"ret", "s\ntX\n", 2, "RET record", false},
		{"bad id", "s\nMxyz\n", 2, "queue id", false},
		{"index range", head + "A1\nD4 1\n", 25, `names recipient "4", but the message has 4 recipients`, false},
		{"info code", head + "A1\nI0 Q text\n", 25, "want a code P, S, T, R or C", false},
		{"info no space", head + "A1\nI0 Rtext\n", 25, "want a code", false},
		{"time", head + "A1\nC12x\n", 25, `"C" record "12x" is not a time`, false},
		{"negative", head + "A-5\n", 24, "not a time", false},
		{"suffix", head + "A1\nS0 1 q\n", 25, "unexpected data", false},
		{"F suffix", head + "A1\nF0 1 l\n", 25, "unexpected data", false},
		{"flag data", "s\n8x\n", 2, "takes no data", false},
		{"NUL", "s\x00\n", 1, "NUL byte", false},
		{"no A", head, 24, "no next-attempt (A) record", false},
		{"no r", "s\nM00000000000C2005.000000006B0267A1.00007614\nE1\nW1\nA1\n", 6, "no recipient", false},
		{"no M", "s\nra\nE1\nW1\nA1\n", 6, "no queue id (M)", false},
		{"torn header", "s\nra", 2, "no newline", false},
		{"torn append", head + "A1\nD0 17", 25, "no newline", true},
		{"no recipient index", head + "A1\nD0\n", 25, "want <recipient> <data>", false},
	}
	for _, tc := range cases {
		_, err := ParseControl("msgs/5/C105", []byte(tc.data))
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("%s: got %v, want a ParseError", tc.name, err)
			continue
		}
		if pe.Line != tc.line || !strings.Contains(pe.Msg, tc.msg) || pe.Torn != tc.torn {
			t.Errorf("%s: got %q (line %d, torn %v), want line %d containing %q torn %v", tc.name, err, pe.Line, pe.Torn, tc.line, tc.msg, tc.torn)
		}
		if !strings.HasPrefix(err.Error(), "control file msgs/5/C105:") {
			t.Errorf("%s: error %q does not name the file", tc.name, err)
		}
	}
}

func TestEnvelopeValidation(t *testing.T) {
	id := QueueID{Inode: 1, Time: time.Unix(1, 0), PID: 1}
	for name, mod := range map[string]func(*Envelope){
		"newline sender":   func(e *Envelope) { e.Sender = "a\nb" },
		"no recipients":    func(e *Envelope) { e.Recipients = nil },
		"empty rcpt":       func(e *Envelope) { e.Recipients[0].Address = "" },
		"bad ret":          func(e *Envelope) { e.Ret = "X" },
		"never combined":   func(e *Envelope) { e.Recipients[0].Notify = address.NotifyNever | address.NotifyDelay },
		"NUL in env":       func(e *Envelope) { e.Env = []string{"A=\x00"} },
		"newline in orcpt": func(e *Envelope) { e.Recipients[0].ORCPT = "x\n" },
	} {
		env := observedEnvelope()
		mod(env)
		if _, err := ControlBytes(env, id, DefaultTimes); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestQueueID(t *testing.T) {
	s := "00000000000C2166.000000006B025E89.000060DB"
	id, err := ParseQueueID(s)
	if err != nil || id.String() != s || id.Inode != 0xC2166 || id.PID != 0x60DB || id.Short() != "000000006B025E89.000060DB" {
		t.Fatalf("%v %v", id, err)
	}
	if id2, err := ParseQueueID(strings.ToLower(s)); err != nil || id2 != id {
		t.Errorf("lower case: %v %v", id2, err)
	}
	for _, bad := range []string{"", "1.2.3", "00000000000C2166.000000006B025E89", "00000000000C216G.000000006B025E89.000060DB", "00000000000C2166.000000006B025E89.000060DB.1"} {
		if _, err := ParseQueueID(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestApply: a Control with records applied in memory equals the one read
// back from the file they were appended to.
func TestApply(t *testing.T) {
	q := openTest(t, filepath.Join(t.TempDir(), "courier"))
	id, err := q.Submit(testEnvelope("a@example.test"), strings.NewReader("x\n"))
	if err != nil {
		t.Fatal(err)
	}
	mem, err := q.Load(id.Inode)
	if err != nil {
		t.Fatal(err)
	}
	now := id.Time.Add(time.Minute)
	recs := []Record{Info(0, InfoReply, "Message delivered."), Delivered(0, now, SuccessLocal),
		Info(1, InfoPeer, "[192.0.2.1] [192.0.2.1]"), Info(1, InfoReply, "451 try later"), Deferred(1, now),
		PassComplete(now), Failed(1, now), Delivered(1, now, ""), WarningSent(now), CancelRequest("stop"), CancelAcknowledged(), NextAttempt(now)}
	if err := q.Append(id.Inode, recs...); err != nil {
		t.Fatal(err)
	}
	if err := mem.Apply(recs...); err != nil {
		t.Fatal(err)
	}
	file, err := q.Load(id.Inode)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(mem, file) {
		t.Errorf("applied in memory:\n%+v\nread from the file:\n%+v", mem, file)
	}
}
