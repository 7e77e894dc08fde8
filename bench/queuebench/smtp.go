package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// smtpUser receives the SMTP load test's messages.
const smtpUser = "user5"

// smtpResult holds the figures of the SMTP load test (issue #6): sessions
// running in parallel for a fixed time, each sending several messages with
// PIPELINING, then the time until every accepted message is delivered.
type smtpResult struct {
	Sessions, Messages, Errors int64
	Duration                   time.Duration // of the load
	Drain                      time.Duration // from the start of the load until all are delivered
	PeakRSS                    int64         // kB, proportional set size of the server processes (target.procs) summed, sampled
	FirstError                 string
}

// smtpLoad runs the SMTP load against t.
func (b *bench) smtpLoad(t *target, r *result) error {
	res := &smtpResult{}
	r.smtp = res
	// The server may still be starting (the peers' start script returns
	// before esmtpd listens).
	if err := waitGreeting(t.smtp, time.Minute); err != nil {
		return err
	}
	base, err := count(t.maildir(smtpUser))
	if err != nil {
		return err
	}
	body := smtpBody(b.size)
	stop := make(chan struct{})
	var peak atomic.Int64
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		re := regexp.MustCompile(t.procs)
		// Postfix's smtpd is started by master, whose arguments do
		// not name the port: its processes are found by name alone.
		port := ""
		if t.name != "postfix" {
			_, port, _ = net.SplitHostPort(t.smtp)
		}
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			if kb := rssOf(re, port); kb > peak.Load() {
				peak.Store(kb)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	start := time.Now()
	deadline := start.Add(b.smtpDuration)
	var errOnce sync.Once
	var wg sync.WaitGroup
	for i := 0; i < b.smtpSessions; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				n, err := smtpSession(t.smtp, body, b.smtpPer)
				atomic.AddInt64(&res.Messages, int64(n))
				if err != nil {
					atomic.AddInt64(&res.Errors, 1)
					errOnce.Do(func() { res.FirstError = err.Error() })
					time.Sleep(100 * time.Millisecond)
					continue
				}
				atomic.AddInt64(&res.Sessions, 1)
			}
		}()
	}
	wg.Wait()
	res.Duration = time.Since(start)
	fmt.Fprintf(os.Stderr, "queuebench: %s: %d SMTP sessions, %d messages accepted in %v, %d errors\n",
		t.name, res.Sessions, res.Messages, res.Duration.Round(time.Millisecond), res.Errors)
	err = b.waitCount(t.maildir(smtpUser), base+int(res.Messages))
	res.Drain = time.Since(start)
	close(stop)
	sampler.Wait()
	res.PeakRSS = peak.Load()
	return err
}

// waitCount waits until maildir holds n messages. It polls every 50 ms,
// or ten times as long as the last count took, so that counting a large
// maildir takes at most a tenth of one core from the deliveries.
func (b *bench) waitCount(maildir string, n int) error {
	deadline := time.Now().Add(b.timeout)
	for {
		start := time.Now()
		c, err := count(maildir)
		if err != nil {
			return err
		}
		if c >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d deliveries missing in %s after %v", n-c, maildir, b.timeout)
		}
		time.Sleep(max(50*time.Millisecond, 10*time.Since(start)))
	}
}

// smtpSession sends per messages over one connection, pipelining MAIL,
// RCPT and DATA (RFC 2920), and returns how many were accepted.
func smtpSession(addr string, body []byte, per int) (int, error) {
	c, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	rd := bufio.NewReader(c)
	if err := expect(rd, 220, "greeting"); err != nil {
		return 0, err
	}
	if _, err := c.Write([]byte("EHLO bench.example\r\n")); err != nil {
		return 0, err
	}
	if err := expect(rd, 250, "EHLO"); err != nil {
		return 0, err
	}
	cmds := []byte("MAIL FROM:<" + sender + ">\r\nRCPT TO:<" + smtpUser + "@" + domain + ">\r\nDATA\r\n")
	n := 0
	for i := 0; i < per; i++ {
		if _, err := c.Write(cmds); err != nil {
			return n, err
		}
		for _, s := range []struct {
			code int
			what string
		}{{250, "MAIL"}, {250, "RCPT"}, {354, "DATA"}} {
			if err := expect(rd, s.code, s.what); err != nil {
				return n, err
			}
		}
		if _, err := c.Write(body); err != nil {
			return n, err
		}
		if err := expect(rd, 250, "end of data"); err != nil {
			return n, err
		}
		n++
	}
	c.Write([]byte("QUIT\r\n"))
	return n, expect(rd, 221, "QUIT")
}

// expect reads one (possibly multi-line) reply and checks its code.
func expect(rd *bufio.Reader, code int, what string) error {
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if len(line) < 4 {
			return fmt.Errorf("%s: short reply %q", what, line)
		}
		got, err := strconv.Atoi(line[:3])
		if err != nil {
			return fmt.Errorf("%s: bad reply %q", what, line)
		}
		if line[3] == '-' {
			continue
		}
		if got != code {
			return fmt.Errorf("%s: %s", what, strings.TrimSpace(line))
		}
		return nil
	}
}

// smtpBody is the DATA of each message, CRLF lines and the final dot.
func smtpBody(size int) []byte {
	msg := message(size, []string{smtpUser})
	var b bytes.Buffer
	for _, l := range strings.SplitAfter(string(msg), "\n") {
		if l == "" {
			continue
		}
		b.WriteString(strings.TrimSuffix(l, "\n") + "\r\n")
	}
	b.WriteString(".\r\n")
	return b.Bytes()
}

// waitGreeting waits until the server at addr answers with its 220.
func waitGreeting(addr string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.SetDeadline(time.Now().Add(5 * time.Second))
			err = expect(bufio.NewReader(c), 220, "greeting")
			c.Write([]byte("QUIT\r\n"))
			c.Close()
			if err == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the SMTP server at %s does not answer: %v", addr, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// rssOf sums the proportional set size (kB; Pss of smaps_rollup: shared
// pages divided among the processes that share them, so that a hundred
// processes of one program are not counted a hundred times) of the
// processes whose command name matches re.
func rssOf(re *regexp.Regexp, port string) int64 {
	procs := processes()
	// The SMTP service: the processes started with the SMTP port among
	// their arguments (couriertcpd, or the courierlogger running it) and
	// all their descendants. Other couriertcpd processes (IMAP, POP3)
	// and other sandboxes on the machine do not count.
	listens := func(p process) bool {
		for _, a := range p.argv {
			for _, item := range strings.Split(a, ",") {
				if item == port || strings.HasSuffix(item, "."+port) {
					return true
				}
			}
		}
		return false
	}
	inService := func(pid int) bool {
		for n := 0; pid > 1 && n < 64; n++ {
			p, ok := procs[pid]
			if !ok {
				return false
			}
			if listens(p) {
				return true
			}
			pid = p.ppid
		}
		return false
	}
	var sum int64
	for pid, p := range procs {
		if !re.MatchString(p.comm) || (port != "" && !inService(pid)) {
			continue
		}
		sum += pssOf(pid)
	}
	return sum
}

// pssOf is the proportional set size of a process in kB.
func pssOf(pid int) int64 {
	rollup, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "smaps_rollup"))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(rollup), "\n") {
		if v, ok := strings.CutPrefix(l, "Pss:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb
		}
	}
	return 0
}

// errNoSMTP: the target has no SMTP server to load.
var errNoSMTP = errors.New("no SMTP address for this target")
