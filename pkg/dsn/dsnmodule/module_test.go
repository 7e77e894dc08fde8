package dsnmodule_test

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	message "github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"

	"github.com/gocourier/courier/pkg/address"
	"github.com/gocourier/courier/pkg/module"
	"github.com/gocourier/courier/pkg/module/moduletest"
	"github.com/gocourier/courier/pkg/privsep"
	"github.com/gocourier/courier/pkg/queue"
	"github.com/gocourier/courier/test/testenv"
)

// harness is a sandbox with a queue and a running courierdsn that the test
// feeds delivery lines, playing the scheduler.
type harness struct {
	t     *testing.T
	s     *testenv.Sandbox
	q     *queue.Queue
	proc  *moduletest.Proc
	log   *testenv.SyncBuffer // courierdsn's standard error
	owner *queue.Owner        // the mail user when the test runs as root
}

// moduleEnv is what the scheduler gives the module: Debian's courierd
// settings and the module variables.
var moduleEnv = []string{"PATH=/usr/bin:/bin", "SHELL=/bin/sh", "DSNTOAUTHADDR=0",
	"MAXDELS=4", "MAXHOST=4", "MAXRCPT=1", "COURIER_MODULE=dsn"}

func newHarness(t *testing.T) *harness {
	s := testenv.NewSandbox(t, "courierdsn")
	h := &harness{t: t, s: s}
	words, err := filepath.Glob("../../../etc/dsn/*")
	if err != nil || len(words) < 8 {
		t.Fatalf("wording files in etc/dsn: %v %v", words, err)
	}
	for _, w := range words {
		data, err := os.ReadFile(w)
		if err != nil {
			t.Fatal(err)
		}
		s.WriteConfig(t, filepath.Base(w), string(data), 0o644)
	}
	s.WriteConfig(t, "me", "mx.example.test\n", 0o644)
	s.WriteConfig(t, "defaultdomain", "example.test\n", 0o644)
	if privsep.IsRoot() {
		// courierdsn becomes the mail user, as the scheduler would start it:
		// the queue and the way to it must be theirs.
		testenv.OpenWay(t, filepath.Dir(s.Root), s.Layout.LocalstateDir, s.Layout.SysconfDir, s.Layout.LibexecDir)
		u, err := privsep.LookupUser(s.Layout.MailUser)
		if err != nil {
			t.Fatal(err)
		}
		gid, err := privsep.LookupGroup(s.Layout.MailGroup)
		if err != nil {
			t.Fatal(err)
		}
		h.owner = &queue.Owner{UID: int(u.UID), GID: int(gid)}
	}
	q, err := queue.Open(s.Layout.LocalstateDir, queue.Options{Owner: h.owner})
	if err != nil {
		t.Fatal(err)
	}
	h.q = q
	return h
}

// chownQueue gives the whole queue to the mail user (root only).
func (h *harness) chownQueue() {
	if h.owner == nil {
		return
	}
	err := filepath.Walk(h.s.Layout.LocalstateDir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, h.owner.UID, h.owner.GID)
	})
	if err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) start(extra ...string) {
	h.chownQueue()
	h.proc = moduletest.Start(h.t, h.s.Path("courierdsn"), append(append([]string(nil), moduleEnv...), extra...))
	h.log = h.proc.Log
}

// stop closes the module's input, as a departing scheduler does, and expects
// a clean exit.
func (h *harness) stop() { h.proc.Stop(h.t) }

// queueMessage submits a message and appends delivery results to it.
func (h *harness) queueMessage(env *queue.Envelope, data string, results ...queue.Record) queue.QueueID {
	h.t.Helper()
	id, err := h.q.Submit(env, strings.NewReader(data))
	if err != nil {
		h.t.Fatal(err)
	}
	if len(results) > 0 {
		if err := h.q.Append(id.Inode, results...); err != nil {
			h.t.Fatal(err)
		}
	}
	return id
}

// ask sends one delivery line and returns the module's reply after the
// delivery id.
func (h *harness) ask(inode uint64, qid, sender, host string, rcpts ...string) string {
	h.t.Helper()
	d := module.Delivery{Inode: inode, QueueID: qid, Sender: sender, Host: host}
	for i, r := range rcpts {
		d.Recipients = append(d.Recipients, module.Recipient{Index: i, Address: r})
	}
	return h.proc.Deliver(h.t, d).Text
}

// reports lists the queued messages whose source ends in "/dsn" or is "dsn",
// other than those in seen, and adds them to seen.
func (h *harness) reports(seen map[uint64]bool) []*queue.Control {
	h.t.Helper()
	ents, err := h.q.Scan()
	if err != nil {
		h.t.Fatal(err)
	}
	var out []*queue.Control
	for _, e := range ents {
		if seen[e.Inode] {
			continue
		}
		c, err := h.q.Load(e.Inode)
		if err != nil {
			h.t.Fatal(err)
		}
		if c.Source == "dsn" || strings.HasSuffix(c.Source, "/dsn") {
			seen[e.Inode] = true
			out = append(out, c)
		}
	}
	return out
}

// readReport reads a queued report: its Received: line and the
// per-recipient fields of its delivery-status part.
func (h *harness) readReport(c *queue.Control) (received string, hdr message.Header, rcpts []textproto.Header) {
	h.t.Helper()
	data, err := os.ReadFile(h.q.DataPath(c.ID.Inode))
	if err != nil {
		h.t.Fatal(err)
	}
	e, err := message.Read(bytes.NewReader(data))
	if err != nil {
		h.t.Fatalf("queued report unreadable: %v\n%s", err, data)
	}
	if ct, params, _ := e.Header.ContentType(); ct != "multipart/report" || params["report-type"] != "delivery-status" {
		h.t.Fatalf("queued report is %s %v", ct, params)
	}
	mr := e.MultipartReader()
	for i := 0; ; i++ {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			h.t.Fatal(err)
		}
		body, _ := io.ReadAll(p.Body)
		if i != 1 {
			continue
		}
		br := bufio.NewReader(bytes.NewReader(body))
		if _, err := textproto.ReadHeader(br); err != nil {
			h.t.Fatal(err)
		}
		for {
			if _, err := br.Peek(1); err != nil {
				break
			}
			f, err := textproto.ReadHeader(br)
			if err != nil {
				h.t.Fatal(err)
			}
			rcpts = append(rcpts, f)
		}
	}
	received, _, _ = strings.Cut(string(data), "\nFrom: ")
	return received, e.Header, rcpts
}

const original = "From: carol@example.org\nTo: r1@remote.example\nSubject: hello\n\nbody\n"

// TestModule runs the real courierdsn in a sandbox and checks that reports
// land in the queue as new messages with the right envelope.
func TestModule(t *testing.T) {
	h := newHarness(t)
	t0 := time.Now()
	failed := h.queueMessage(&queue.Envelope{
		Sender: "carol@example.org", ReceivedFrom: "dns; client.example ([192.0.2.1])", EnvID: "env+2B1", Source: "smtp", Track: true,
		Recipients: []queue.Recipient{{Address: "r1@remote.example", ORCPT: "orig@remote.example"}, {Address: "user1@example.test", Notify: address.NotifySuccess}},
	}, original,
		queue.Info(0, queue.InfoPeer, "[192.0.2.9] [192.0.2.9]"), queue.Info(0, queue.InfoReplyType, "smtp"),
		queue.Info(0, queue.InfoReply, "550 5.1.1 no such user"), queue.Failed(0, t0),
		queue.Info(1, queue.InfoReply, "Message delivered."), queue.Delivered(1, t0, queue.SuccessLocal), queue.PassComplete(t0))
	delayed := h.queueMessage(&queue.Envelope{
		Sender: "dave@example.org", ReceivedFrom: "dns; localhost", Source: "local",
		Recipients: []queue.Recipient{{Address: "slow@remote.example"}},
	}, original, queue.Info(0, queue.InfoReply, "Connection refused"), queue.Deferred(0, t0), queue.PassComplete(t0))
	quiet := h.queueMessage(&queue.Envelope{
		Sender: "erin@example.org", ReceivedFrom: "dns; localhost", Source: "local",
		Recipients: []queue.Recipient{{Address: "x@remote.example", Notify: address.NotifyNever}},
	}, original, queue.Info(0, queue.InfoReply, "550 no"), queue.Failed(0, t0), queue.PassComplete(t0))

	h.start()
	if privsep.IsRoot() {
		// Started as root, the module becomes the mail user in every thread.
		want := privsep.Credential{UID: uint32(h.owner.UID), GID: uint32(h.owner.GID), Groups: []uint32{uint32(h.owner.GID)}}
		testenv.WaitFor(t, "courierdsn running as the mail user", func() bool {
			return privsep.VerifyProcess(h.proc.Cmd.Process.Pid, want) == nil
		})
	}
	seen := map[uint64]bool{}

	if reply := h.ask(failed.Inode, failed.String(), "carol@example.org", "final", "r1@remote.example", "user1@example.test"); reply != "" {
		t.Fatalf("final report: reply %q\n%s", reply, h.log)
	}
	got := h.reports(seen)
	if len(got) != 1 {
		t.Fatalf("%d reports queued, want 1\n%s", len(got), h.log)
	}
	c := got[0]
	if c.Sender != "" || len(c.Recipients) != 1 || c.Recipients[0].Address != "carol@example.org" || c.Source != "smtp/dsn" ||
		!c.HasSubmitDelay || c.SubmitDelay != 0 || c.ReceivedFrom != "dns; localhost (localhost [127.0.0.1])" || c.Track {
		t.Errorf("report envelope: sender %q recipients %+v source %q L %v/%v f %q track %v",
			c.Sender, c.Recipients, c.Source, c.HasSubmitDelay, c.SubmitDelay, c.ReceivedFrom, c.Track)
	}
	received, hdr, rcpts := h.readReport(c)
	wantReceived := "Received: from localhost (localhost [127.0.0.1])\n  (https://www.rfc-editor.org/rfc/rfc1894.txt)\n  by mx.example.test with dsn\n  id " + c.ID.String() + "; "
	if !strings.HasPrefix(received, wantReceived) {
		t.Errorf("Received: line\n%s\nwant it to start\n%s", received, wantReceived)
	}
	if hdr.Get("To") != "carol@example.org" || hdr.Get("Subject") != "Delivery status report" || !strings.HasPrefix(hdr.Get("Message-Id"), "<courier.") {
		t.Errorf("report header: %v", hdr.Map())
	}
	if len(rcpts) != 2 || rcpts[0].Get("Action") != "failed" || rcpts[0].Get("Status") != "5.0.0" ||
		rcpts[0].Get("Original-Recipient") != "rfc822; orig@remote.example" || rcpts[0].Get("Diagnostic-Code") != "smtp; 550 5.1.1 no such user" ||
		rcpts[1].Get("Action") != "delivered" || rcpts[1].Get("Status") != "2.0.0" {
		t.Errorf("per-recipient fields: %v", rcpts)
	}

	if reply := h.ask(delayed.Inode, delayed.String(), "dave@example.org", "delay", "slow@remote.example"); reply != "" {
		t.Fatalf("delay warning: reply %q\n%s", reply, h.log)
	}
	got = h.reports(seen)
	if len(got) != 1 || got[0].Recipients[0].Address != "dave@example.org" || got[0].Source != "local/dsn" {
		t.Fatalf("delay warning: %d reports %+v\n%s", len(got), got, h.log)
	}
	_, hdr, rcpts = h.readReport(got[0])
	ctl, err := h.q.Load(delayed.Inode)
	if err != nil {
		t.Fatal(err)
	}
	if len(rcpts) != 1 || rcpts[0].Get("Action") != "delayed" || rcpts[0].Get("Status") != "4.0.0" ||
		rcpts[0].Get("Will-Retry-Until") != ctl.Expires.Local().Format("Mon, 02 Jan 2006 15:04:05 -0700") ||
		hdr.Get("Subject") != "Delivery delayed: your message is still queued" {
		t.Errorf("delay warning fields: %v, Subject %q", rcpts, hdr.Get("Subject"))
	}

	// Nothing to report, a message that is gone, an unknown kind.
	if reply := h.ask(quiet.Inode, quiet.String(), "erin@example.org", "final", "x@remote.example"); reply != "" {
		t.Errorf("NOTIFY=NEVER: reply %q", reply)
	}
	if reply := h.ask(999999999, "00000000000F423F.0000000000000000.00000000", "a@b", "final", "x@remote.example"); reply != "" {
		t.Errorf("a message no longer queued: reply %q", reply)
	}
	if reply := h.ask(quiet.Inode, quiet.String(), "erin@example.org", "remote.example", "x@remote.example"); !strings.HasPrefix(reply, "defer\t") || !strings.Contains(reply, `"remote.example"`) {
		t.Errorf("unknown kind: reply %q", reply)
	}
	if got := h.reports(seen); len(got) != 0 {
		t.Errorf("%d unexpected reports queued", len(got))
	}
	h.stop()
	if !strings.Contains(h.log.String(), "final report to <carol@example.org> queued as ") {
		t.Errorf("log does not record the queued report:\n%s", h.log)
	}
}

// TestDoubleBounce: a report about a message whose sender was <> goes to
// the postmaster with the envelope sender #@[].
func TestDoubleBounce(t *testing.T) {
	h := newHarness(t)
	t0 := time.Now()
	id := h.queueMessage(&queue.Envelope{
		Sender: "", ReceivedFrom: "dns; localhost", Source: "local/dsn", HasSubmitDelay: true,
		Recipients: []queue.Recipient{{Address: "gone@example.test"}},
	}, original, queue.Info(0, queue.InfoReply, "550 User <gone@example.test> unknown"), queue.Failed(0, t0), queue.PassComplete(t0))
	h.start()
	if reply := h.ask(id.Inode, id.String(), "", "final", "gone@example.test"); reply != "" {
		t.Fatalf("reply %q\n%s", reply, h.log)
	}
	got := h.reports(map[uint64]bool{id.Inode: true})
	if len(got) != 1 || got[0].Sender != "#@[]" || got[0].Recipients[0].Address != "postmaster@example.test" || got[0].Source != "local/dsn/dsn" {
		t.Fatalf("double bounce: %+v\n%s", got, h.log)
	}
	h.stop()
}

// TestPrintMode runs the original's test mode: the report of a queued message
// on standard output, nothing queued.
func TestPrintMode(t *testing.T) {
	h := newHarness(t)
	t0 := time.Now()
	id := h.queueMessage(&queue.Envelope{
		Sender: "carol@example.org", ReceivedFrom: "dns; localhost", Source: "local",
		Recipients: []queue.Recipient{{Address: "r@remote.example"}},
	}, original, queue.Info(0, queue.InfoReply, "Connection refused"), queue.Deferred(0, t0), queue.PassComplete(t0))
	h.chownQueue()
	cmd := exec.Command(h.s.Path("courierdsn"), strconv.FormatUint(id.Inode, 10), "1")
	cmd.Env = moduleEnv
	stdout, stderr, code := testenv.Run(t, cmd)
	if code != 0 || !strings.Contains(stdout, "\nAction: delayed\nStatus: 4.0.0\nWill-Retry-Until: ") || !strings.HasPrefix(stdout, "From: Mail Delivery System at mx.example.test <@>\nTo: carol@example.org\n") {
		t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if got := h.reports(map[uint64]bool{}); len(got) != 0 {
		t.Errorf("print mode queued %d reports", len(got))
	}

	cmd = exec.Command(h.s.Path("courierdsn"), "--help")
	stdout, _, code = testenv.Run(t, cmd)
	if code != 0 || !strings.HasPrefix(stdout, "Usage: courierdsn") {
		t.Errorf("--help: exit %d\n%s", code, stdout)
	}
	cmd = exec.Command(h.s.Path("courierdsn"), "12x")
	cmd.Env = moduleEnv
	_, stderr, code = testenv.Run(t, cmd)
	if code != 1 || !strings.Contains(stderr, `"12x" is not an inode number`) {
		t.Errorf("bad inode: exit %d, stderr %q", code, stderr)
	}
}
