package test

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"

	"github.com/gocourier/courier/test/testenv"
)

// TestSendmailToMaildirs is the classic check of issue #4 at a test's
// size: messages with five recipients each, submitted with sendmail from
// several processes at once, end as exactly one copy per recipient in the
// maildirs, each with one Delivered-To: header naming its recipient, with
// nothing left in the queue and no deferral logged. bench/queuebench runs
// it at 1000 messages.
func TestSendmailToMaildirs(t *testing.T) {
	const messages, workers = 60, 4
	rcpts := []string{"u1", "u2", "u3", "u4", "u5"}
	s := newMailSuite(t, rcpts, nil)
	s.start(t)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < messages; i += workers {
				args := []string{"-f", "sender@remote.example"}
				for _, r := range rcpts {
					args = append(args, r+"@example.test")
				}
				s.sendmail(t, fmt.Sprintf("Subject: message %d\n\nbody %d\n", i, i), args...)
			}
		}()
	}
	wg.Wait()
	s.waitFor(t, "every copy in the maildirs", func() bool {
		for _, r := range rcpts {
			if len(s.maildir(t, r)) < messages {
				return false
			}
		}
		return s.queued() == 0
	})
	for _, r := range rcpts {
		files := s.maildir(t, r)
		if len(files) != messages {
			t.Errorf("%s has %d messages, want %d", r, len(files), messages)
		}
		subjects := map[string]bool{}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(string(b), "Delivered-To: "+r+"@example.test\n"); n != 1 || headerCount(t, f, "Delivered-To:") != 1 {
				t.Errorf("%s: %d Delivered-To: %s headers, want exactly 1:\n%s", f, n, r, b)
			}
			if !strings.HasPrefix(string(b), "Delivered-To: "+r+"@example.test\nReturn-Path: <sender@remote.example>\n") {
				t.Errorf("%s does not start with Delivered-To and Return-Path:\n%s", f, b)
			}
			for _, l := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(l, "Subject: ") {
					subjects[l] = true
				}
			}
			st, _ := os.Stat(f)
			if sys := st.Sys().(*syscall.Stat_t); sys.Uid != s.owner.UID {
				t.Errorf("%s belongs to uid %d, want the account's %d", f, sys.Uid, s.owner.UID)
			}
		}
		if len(subjects) != messages {
			t.Errorf("%s got %d different messages, want %d", r, len(subjects), messages)
		}
	}
	if strings.Contains(s.Log.String(), "status: deferred") {
		t.Errorf("deliveries were deferred:\n%s", s.Log)
	}
	// mailq shows an empty queue.
	if out := s.run(t, "sendmail", "-bp"); !strings.Contains(out, "0 messages.") {
		t.Errorf("mailq after delivery:\n%s", out)
	}
}

// TestQueueCrash kills the scheduler and its modules with SIGKILL at random
// moments while mail flows, and restarts them (the supervisor does): every
// accepted message must be delivered at least once. The number of
// duplicates is logged.
func TestQueueCrash(t *testing.T) {
	const messages = 500
	s := newMailSuite(t, []string{"c1", "c2"}, nil)
	s.start(t)
	stop := make(chan struct{})
	var killed atomic.Int32
	var killer sync.WaitGroup
	killer.Add(1)
	go func() {
		defer killer.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(50+rand.IntN(250)) * time.Millisecond):
			}
			// The scheduler (a child of the supervisor) and its modules
			// (children of the scheduler); not authdaemond, and not the
			// delivery children of courierlocal, whose death by a signal
			// is a permanent failure by the original's rules.
			var victims []int
			scheduler := 0
			for _, p := range testenv.Descendants(s.cmd.Process.Pid) {
				exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", p.PID))
				if p.PPID == s.cmd.Process.Pid && filepath.Base(exe) == "courierd" {
					scheduler = p.PID
					victims = append(victims, p.PID)
				}
			}
			for _, p := range testenv.Descendants(scheduler) {
				if p.PPID == scheduler {
					victims = append(victims, p.PID)
				}
			}
			if len(victims) > 0 {
				v := victims[rand.IntN(len(victims))]
				if syscall.Kill(v, syscall.SIGKILL) == nil {
					killed.Add(1)
				}
			}
		}
	}()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < messages; i += 4 {
				s.sendmail(t, fmt.Sprintf("Subject: crash %d\n\nbody\n", i), "-f", "sender@remote.example", "c1@example.test", "c2@example.test")
			}
		}()
	}
	wg.Wait()
	// Submission alone may take less than a second: the kills go on
	// while the queue drains, until there were five or it is empty.
	s.waitFor(t, "five kills or an empty queue", func() bool { return killed.Load() >= 5 || s.queued() == 0 })
	close(stop)
	killer.Wait()
	s.waitFor(t, "the queue to drain after the kills", func() bool { return s.queued() == 0 })
	for _, acct := range []string{"c1", "c2"} {
		seen := map[string]int{}
		for _, f := range s.maildir(t, acct) {
			b, _ := os.ReadFile(f)
			for _, l := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(l, "Subject: crash ") {
					seen[l]++
				}
			}
		}
		dups := 0
		for i := range messages {
			n := seen["Subject: crash "+strconv.Itoa(i)]
			if n == 0 {
				t.Errorf("%s: message %d was accepted but never delivered", acct, i)
			}
			dups += max(n-1, 0)
		}
		t.Logf("%s: %d messages delivered, %d duplicates after %d SIGKILLs", acct, messages, dups, killed.Load())
	}
	if killed.Load() == 0 {
		t.Error("no process was killed: the test did not test anything")
	}
}

// TestRetrySchedule: a delivery that is deferred three times and then
// succeeds is retried on the configured schedule (shortened times).
func TestRetrySchedule(t *testing.T) {
	s := newMailSuite(t, []string{"flaky"}, map[string]string{
		"retryalpha": "1\n", "retrybeta": "3\n", "retrygamma": "2\n", "retrymaxdelta": "2\n",
	})
	home := filepath.Join(s.Root, "home", "flaky")
	script := `n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; date +%s.%N >> times; [ $n -gt 3 ] || { echo "not yet ($n)" >&2; exit 75; }`
	writeOwned(t, s, filepath.Join(home, ".courier"), "| "+script+"\n./Maildir/\n")
	s.start(t)
	s.sendmail(t, "Subject: retry\n\nbody\n", "-f", "sender@remote.example", "flaky@example.test")
	s.waitFor(t, "delivery after three deferrals", func() bool { return len(s.maildir(t, "flaky")) == 1 })
	b, _ := os.ReadFile(filepath.Join(home, "times"))
	var times []float64
	for _, f := range strings.Fields(string(b)) {
		v, _ := strconv.ParseFloat(f, 64)
		times = append(times, v)
	}
	if len(times) != 4 {
		t.Fatalf("%d attempts, want 4: %q", len(times), b)
	}
	// Passes 1 and 2 wait retryalpha (1 s); pass 3 is a multiple of
	// retrybeta and waits retrygamma × 2^1 = 4 s. The A records hold whole
	// seconds, so an attempt can come up to a second early.
	want := []float64{1, 1, 4}
	for i, w := range want {
		if gap := times[i+1] - times[i]; gap < w-1 {
			t.Errorf("gap %d: %.2f s, want at least %.0f s (attempts %v)", i+1, gap, w, times)
		}
	}
	if times[3]-times[2] < times[2]-times[1]+1 {
		t.Errorf("the third gap is not the longer retrygamma one: %v", times)
	}
	if !strings.Contains(s.Log.String(), "not yet (1)") {
		t.Errorf("the program's error text is not logged:\n%s", s.Log)
	}
}

// TestQueuetimeExpiry: a recipient that is deferred until queuetime passes
// fails, and the sender gets an RFC 3464 report that go-message parses,
// with Action: failed and Status: 5.0.0.
func TestQueuetimeExpiry(t *testing.T) {
	s := newMailSuite(t, []string{"sender", "stuck"}, map[string]string{"queuetime": "3\n", "retryalpha": "1\n"})
	writeOwned(t, s, filepath.Join(s.Root, "home", "stuck", ".courier"), "| echo 'mailbox busy' >&2; exit 75\n")
	s.start(t)
	s.sendmail(t, "Subject: will expire\n\nbody\n", "-f", "sender@example.test", "stuck@example.test")
	s.waitFor(t, "the failure report", func() bool { return len(s.maildir(t, "sender")) == 1 && s.queued() == 0 })
	report := parseReport(t, s.maildir(t, "sender")[0])
	if report["Action"] != "failed" || report["Status"] != "5.0.0" || report["Final-Recipient"] != "rfc822; stuck@example.test" {
		t.Errorf("report fields %v", report)
	}
}

// TestSuccessReport: sendmail -N success gets a success report.
func TestSuccessReport(t *testing.T) {
	s := newMailSuite(t, []string{"sender", "happy"}, nil)
	s.start(t)
	s.sendmail(t, "Subject: receipt please\n\nbody\n", "-f", "sender@example.test", "-N", "success", "happy@example.test")
	s.waitFor(t, "the success report", func() bool { return len(s.maildir(t, "sender")) == 1 && s.queued() == 0 })
	if len(s.maildir(t, "happy")) != 1 {
		t.Fatal("the message itself was not delivered")
	}
	report := parseReport(t, s.maildir(t, "sender")[0])
	if report["Action"] != "delivered" || report["Status"] != "2.0.0" {
		t.Errorf("report fields %v", report)
	}
}

// parseReport parses a delivered RFC 3464 report with go-message and
// returns the fields of its first per-recipient block.
func parseReport(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	e, err := message.Read(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	mt, params, _ := e.Header.ContentType()
	if mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("%s: Content-Type %s %v", path, mt, params)
	}
	mr := e.MultipartReader()
	fields := map[string]string{}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if pt, _, _ := p.Header.ContentType(); pt != "message/delivery-status" {
			continue
		}
		body, _ := io.ReadAll(p.Body)
		blocks := strings.Split(strings.ReplaceAll(string(body), "\r\n", "\n"), "\n\n")
		if len(blocks) < 2 {
			t.Fatalf("delivery-status without a recipient block:\n%s", body)
		}
		h, err := textproto.ReadHeader(bufio.NewReader(strings.NewReader(blocks[1] + "\n\n")))
		if err != nil {
			t.Fatalf("recipient block: %v\n%s", err, blocks[1])
		}
		for fl := h.Fields(); fl.Next(); {
			fields[fl.Key()] = fl.Value()
		}
	}
	if len(fields) == 0 {
		t.Fatalf("%s has no message/delivery-status part", path)
	}
	return fields
}

// writeOwned writes a file in an account's home, owned by the account.
func writeOwned(t *testing.T, s *mailSuite, path, content string) {
	t.Helper()
	testenv.WriteFile(t, path, content, 0o644)
	if err := os.Chown(path, int(s.owner.UID), int(s.owner.GID)); err != nil {
		t.Fatal(err)
	}
}
