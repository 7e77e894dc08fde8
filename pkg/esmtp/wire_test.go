package esmtp_test

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gocourier/courier/pkg/address"
	"github.com/gocourier/courier/pkg/module"
	"github.com/gocourier/courier/pkg/queue"
)

// rawReceiver is an SMTP server on a raw socket whose replies the test
// chooses exactly. It announces ext in EHLO, answers RCPT TO:<local@...>
// with rcpt[local] (default "250 ok") and the final dot with dataReply.
// With PIPELINING in ext it reads MAIL and every RCPT it expects before
// it answers any of them: a client that waits for the MAIL reply gets
// nothing (and the test fails on the timeout).
type rawReceiver struct {
	addr      string
	ext       []string
	rcpt      map[string]string
	dataReply string
	nrcpt     int // RCPT lines to read before replying, when pipelining
	per       int // messages per session: then 421 to the next MAIL, and close

	mu       sync.Mutex
	lines    []string // every command line received
	messages []string
	sessions int
	errs     []string
	dataPipe int // times DATA arrived in the same write as the envelope
}

func newRawReceiver(t *testing.T, r *rawReceiver) *rawReceiver {
	t.Helper()
	if r.dataReply == "" {
		r.dataReply = "250 2.0.0 queued as X"
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = l.Addr().String()
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go r.serve(c)
		}
	}()
	return r
}

func (r *rawReceiver) fail(msg string) {
	r.mu.Lock()
	r.errs = append(r.errs, msg)
	r.mu.Unlock()
}

func (r *rawReceiver) serve(c net.Conn) {
	defer c.Close()
	r.mu.Lock()
	r.sessions++
	r.mu.Unlock()
	rd := bufio.NewReader(c)
	read := func() (string, bool) {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		l, err := rd.ReadString('\n')
		if err != nil {
			return "", false
		}
		l = strings.TrimSuffix(l, "\r\n")
		r.mu.Lock()
		r.lines = append(r.lines, l)
		r.mu.Unlock()
		return l, true
	}
	pipelining := false
	for _, e := range r.ext {
		pipelining = pipelining || e == "PIPELINING"
	}
	rcptReply := func(l string) string {
		a := strings.TrimPrefix(l, "RCPT TO:<")
		if rep, ok := r.rcpt[a[:strings.IndexAny(a, "@>")]]; ok {
			return rep
		}
		return "250 ok"
	}
	io.WriteString(c, "220 raw.test ESMTP\r\n")
	n := 0
	for {
		l, ok := read()
		if !ok {
			return
		}
		cmd := strings.ToUpper(l)
		switch {
		case strings.HasPrefix(cmd, "EHLO"):
			out := "250-raw.test\r\n"
			for i, e := range r.ext {
				sep := "-"
				if i == len(r.ext)-1 {
					sep = " "
				}
				out += "250" + sep + e + "\r\n"
			}
			if len(r.ext) == 0 {
				out = "250 raw.test\r\n"
			}
			io.WriteString(c, out)
		case strings.HasPrefix(cmd, "MAIL") && r.per > 0 && n >= r.per:
			io.WriteString(c, "421 4.7.0 enough for this session\r\n")
			return
		case strings.HasPrefix(cmd, "MAIL") && pipelining:
			// Everything of the envelope arrives before any reply.
			replies := "250 sender ok\r\n"
			for i := 0; i < r.nrcpt; i++ {
				l, ok := read()
				if !ok || !strings.HasPrefix(l, "RCPT TO:") {
					r.fail("pipelining: RCPT " + string(rune('1'+i)) + " did not arrive before the MAIL reply (got " + l + ")")
					return
				}
				replies += rcptReply(l) + "\r\n"
			}
			if peek, _ := rd.Peek(rd.Buffered()); strings.HasPrefix(string(peek), "DATA\r\n") {
				r.mu.Lock()
				r.dataPipe++
				r.mu.Unlock()
			}
			io.WriteString(c, replies)
		case strings.HasPrefix(cmd, "MAIL"):
			io.WriteString(c, "250 sender ok\r\n")
		case strings.HasPrefix(cmd, "RCPT"):
			io.WriteString(c, rcptReply(l)+"\r\n")
		case cmd == "DATA":
			io.WriteString(c, "354 go ahead\r\n")
			var b strings.Builder
			for {
				l, err := rd.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(l)
			}
			n++
			r.mu.Lock()
			r.messages = append(r.messages, b.String())
			r.mu.Unlock()
			io.WriteString(c, r.dataReply+"\r\n")
		case cmd == "QUIT":
			io.WriteString(c, "221 bye\r\n")
			return
		default:
			io.WriteString(c, "250 ok\r\n")
		}
	}
}

func (r *rawReceiver) got() (lines, messages, errs []string, sessions int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...), append([]string(nil), r.messages...), append([]string(nil), r.errs...), r.sessions
}

// sendEnvelope queues env with data and delivers all its recipients to
// domain in one delivery line.
func (e *env) sendEnvelope(t *testing.T, domain string, env *queue.Envelope, data string) []queue.RecipientState {
	t.Helper()
	d := module.Delivery{Sender: env.Sender, Host: domain}
	for i, r := range env.Recipients {
		d.Recipients = append(d.Recipients, module.Recipient{Index: i, Address: r.Address})
	}
	id, err := e.q.Submit(env, strings.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	d.Inode, d.QueueID = id.Inode, id.String()
	e.m.Deliver(t, d)
	ctl, err := e.q.Load(id.Inode)
	if err != nil {
		t.Fatal(err)
	}
	return ctl.Recipients
}

func hasLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

// TestPipelinedWire: a DSN peer with PIPELINING gets MAIL and all RCPT
// lines in one go, with SIZE, BODY, RET, ENVID, NOTIFY and ORCPT; each
// recipient gets its own outcome, the peer's multi-line reply recorded
// line by line for the bounce.
func TestPipelinedWire(t *testing.T) {
	r := newRawReceiver(t, &rawReceiver{
		ext:   []string{"PIPELINING", "SIZE 1000000", "8BITMIME", "DSN"},
		nrcpt: 3,
		rcpt: map[string]string{
			"gone": "550-5.1.1 <gone@wire.test>: no such user here\r\n550 5.1.1 see you",
			"full": "452 4.2.2 mailbox full",
		},
	})
	host, port, _ := net.SplitHostPort(r.addr)
	e := newEnv(t, "wire.test: ["+host+"],"+port+"\n")
	data := "Subject: pipelined\n\nbody\n"
	st := e.sendEnvelope(t, "wire.test", &queue.Envelope{
		Sender: "alice@sender.test", EnvID: "ENV+2B1", Ret: "H", Source: "local",
		Recipients: []queue.Recipient{
			{Address: "ok@wire.test", ORCPT: "rfc822;Ok@Wire.Test", Notify: address.NotifySuccess | address.NotifyFailure},
			{Address: "gone@wire.test"},
			{Address: "full@wire.test"},
		},
	}, data)
	lines, msgs, errs, _ := r.got()
	for _, e := range errs {
		t.Error(e)
	}
	if want := "MAIL FROM:<alice@sender.test> SIZE=" + strconv.Itoa(len(data)) + " BODY=7BIT RET=HDRS ENVID=ENV+2B1"; !hasLine(lines, want) {
		t.Errorf("no %q in %q", want, lines)
	}
	if want := "RCPT TO:<ok@wire.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Ok@Wire.Test"; !hasLine(lines, want) {
		t.Errorf("no %q in %q", want, lines)
	}
	want := []queue.Status{queue.StatusDelivered, queue.StatusFailed, queue.StatusDeferred}
	for i, s := range st {
		if s.Status != want[i] {
			t.Errorf("%s: %v, want %v; info:\n%s", s.Address, s.Status, want[i], replyText(s))
		}
	}
	if st[0].SuccessSuffix != queue.SuccessRelayedDSN {
		t.Errorf("a DSN peer's success is marked %q", st[0].SuccessSuffix)
	}
	if info := replyText(st[1]); !strings.Contains(info, "R 550-5.1.1 <gone@wire.test>: no such user here\nR 550 5.1.1 see you") || !strings.Contains(info, "P [127.0.0.1]") {
		t.Errorf("the 550 reply is not recorded as sent:\n%s", info)
	}
	if !strings.Contains(replyText(st[0]), "R 250 2.0.0 queued as X") {
		t.Errorf("the DATA reply is not recorded:\n%s", replyText(st[0]))
	}
	if len(msgs) != 1 || msgs[0] != "Subject: pipelined\r\n\r\nbody\r\n" {
		t.Errorf("received %q", msgs)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dataPipe != 1 {
		t.Errorf("DATA did not come in the envelope's write (RFC 2920)")
	}
}

// TestKeptSessionClosed: a server that ends each session after one
// message with a 421 to the next MAIL loses nothing: the module sends
// each message on a new connection.
func TestKeptSessionClosed(t *testing.T) {
	r := newRawReceiver(t, &rawReceiver{ext: []string{"PIPELINING"}, nrcpt: 1, per: 1})
	host, port, _ := net.SplitHostPort(r.addr)
	e := newEnv(t, ": ["+host+"],"+port+"\n")
	for i := 0; i < 3; i++ {
		if st := e.send(t, "closing.test", "Subject: x\n\nx\n", "a@closing.test")[0]; st.Status != queue.StatusDelivered {
			t.Fatalf("message %d: %v; info:\n%s", i, st.Status, replyText(st))
		}
	}
	_, msgs, _, sessions := r.got()
	if len(msgs) != 3 || sessions != 3 {
		t.Errorf("%d messages over %d sessions, want 3 over 3", len(msgs), sessions)
	}
}

// TestPeerWithoutDSN: no DSN parameters go to a peer without DSN, and
// the successes are marked relayed (r) so that a NOTIFY=SUCCESS sender
// gets a "relayed" report; a 554 after DATA fails the accepted
// recipients, a 451 defers them.
func TestPeerWithoutDSN(t *testing.T) {
	r := newRawReceiver(t, &rawReceiver{ext: []string{"8BITMIME"}})
	host, port, _ := net.SplitHostPort(r.addr)
	e := newEnv(t, ": ["+host+"],"+port+"\n")
	env := func() *queue.Envelope {
		return &queue.Envelope{Sender: "alice@sender.test", EnvID: "E1", Ret: "F", Source: "local",
			Recipients: []queue.Recipient{{Address: "a@nodsn.test", ORCPT: "rfc822;a@nodsn.test", Notify: address.NotifySuccess}}}
	}
	st := e.sendEnvelope(t, "nodsn.test", env(), "Subject: x\n\nx\n")[0]
	if st.Status != queue.StatusDelivered || st.SuccessSuffix != queue.SuccessRelayed {
		t.Errorf("status %v suffix %q; info:\n%s", st.Status, st.SuccessSuffix, replyText(st))
	}
	lines, _, _, _ := r.got()
	if !hasLine(lines, "MAIL FROM:<alice@sender.test> BODY=7BIT") || !hasLine(lines, "RCPT TO:<a@nodsn.test>") {
		t.Errorf("envelope %q", lines)
	}
	for reply, want := range map[string]queue.Status{"554 5.6.0 content rejected": queue.StatusFailed, "451 4.3.0 try later": queue.StatusDeferred} {
		r.mu.Lock()
		r.dataReply = reply
		r.mu.Unlock()
		st := e.sendEnvelope(t, "nodsn.test", env(), "Subject: x\n\nx\n")[0]
		if st.Status != want || !strings.Contains(replyText(st), "R "+reply) {
			t.Errorf("after %q: %v, want %v; info:\n%s", reply, st.Status, want, replyText(st))
		}
	}
}

// TestUnicodeToOldPeer: a message that needs SMTPUTF8 (8-bit headers) to
// a peer without it fails before MAIL with the original's reply.
func TestUnicodeToOldPeer(t *testing.T) {
	r := newRawReceiver(t, &rawReceiver{ext: []string{"8BITMIME", "PIPELINING"}, nrcpt: 1})
	host, port, _ := net.SplitHostPort(r.addr)
	e := newEnv(t, ": ["+host+"],"+port+"\n")
	st := e.sendEnvelope(t, "old.test", &queue.Envelope{Sender: "alice@sender.test", Source: "local", EightBit: true, SMTPUTF8: true,
		Recipients: []queue.Recipient{{Address: "x@old.test"}}}, "Subject: Grüße\n\nx\n")[0]
	if st.Status != queue.StatusFailed || !strings.Contains(replyText(st), "R 553 Unable to deliver Unicode E-mail to a non-Unicode mail server.") {
		t.Errorf("status %v; info:\n%s", st.Status, replyText(st))
	}
	lines, msgs, _, _ := r.got()
	for _, l := range lines {
		if strings.HasPrefix(l, "MAIL") {
			t.Errorf("MAIL was sent: %q", lines)
		}
	}
	if len(msgs) != 0 {
		t.Errorf("the message was sent")
	}
}
