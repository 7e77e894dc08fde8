package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// outResult holds the outbound test's figures.
type outResult struct {
	Messages      int
	Time          time.Duration // first submission until the sink has them all
	Sessions      int64         // SMTP sessions the sink saw
	Queued        int           // messages of the flush test
	Flush         time.Duration // "courier flush" until the sink has them all
	FlushSessions int64
}

// sinkAddr is where the peers' esmtproutes sends remote mail.
const sinkAddr = "127.0.0.1:2526"

// sink is a minimal SMTP server that accepts every message (with
// PIPELINING and 8BITMIME) and counts them.
type sink struct {
	l        net.Listener
	messages atomic.Int64
	sessions atomic.Int64
	mu       sync.Mutex
	conns    map[net.Conn]bool
}

// stop closes the listener and every session, as a server that goes away.
func (s *sink) stop() {
	s.l.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

func startSink() (*sink, error) {
	l, err := net.Listen("tcp", sinkAddr)
	if err != nil {
		return nil, fmt.Errorf("the sink cannot listen on %s: %w", sinkAddr, err)
	}
	s := &sink{l: l, conns: map[net.Conn]bool{}}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s, nil
}

func (s *sink) serve(c net.Conn) {
	s.mu.Lock()
	s.conns[c] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	s.sessions.Add(1)
	rd := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	reply := func(l string) { w.WriteString(l + "\r\n") }
	reply("220 sink ESMTP")
	w.Flush()
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"):
			reply("250-sink")
			reply("250-PIPELINING")
			reply("250-8BITMIME")
			reply("250 SIZE")
		case strings.HasPrefix(cmd, "HELO"), strings.HasPrefix(cmd, "MAIL"), strings.HasPrefix(cmd, "RCPT"), strings.HasPrefix(cmd, "RSET"), strings.HasPrefix(cmd, "NOOP"):
			reply("250 Ok")
		case cmd == "DATA":
			reply("354 go ahead")
			w.Flush()
			for {
				l, err := rd.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" || l == ".\n" {
					break
				}
			}
			s.messages.Add(1)
			reply("250 Ok")
		case cmd == "QUIT":
			reply("221 Bye")
			w.Flush()
			return
		default:
			reply("502 unknown command")
		}
		if rd.Buffered() == 0 {
			w.Flush()
		}
	}
}

// outbound submits b.outMsgs messages to a remote address and times
// their way to the sink.
func (b *bench) outbound(t *target, r *result) error {
	s, err := startSink()
	if err != nil {
		return err
	}
	defer s.stop()
	res := &outResult{}
	r.out = res
	n := b.outMsgs / b.procs * b.procs
	start := time.Now()
	if err := b.submit(t, r, b.procs, n/b.procs, []string{"sink@remote.example"}); err != nil {
		return err
	}
	deadline := time.Now().Add(b.timeout)
	for s.messages.Load() < int64(n) {
		if time.Now().After(deadline) {
			return fmt.Errorf("the sink has %d of %d messages after %v", s.messages.Load(), n, b.timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	res.Messages, res.Time, res.Sessions = n, time.Since(start), s.sessions.Load()
	fmt.Fprintf(os.Stderr, "queuebench: %s: %d messages at the sink in %v over %d sessions\n", t.name, n, res.Time.Round(time.Millisecond), res.Sessions)
	s.stop()

	// The module alone: the messages are queued while the sink is away
	// (every attempt is refused and deferred), then "courier flush" sends
	// them all at once.
	if err := b.submit(t, r, b.procs, n/b.procs, []string{"sink@remote.example"}); err != nil {
		return err
	}
	time.Sleep(10 * time.Second)
	s2, err := startSink()
	if err != nil {
		return err
	}
	defer s2.stop()
	start = time.Now()
	if out, err := exec.Command(t.courier, "flush").CombinedOutput(); err != nil {
		return fmt.Errorf("%s flush: %v %s", t.courier, err, out)
	}
	deadline = time.Now().Add(b.timeout)
	for s2.messages.Load() < int64(n) {
		if time.Now().After(deadline) {
			return fmt.Errorf("after courier flush the sink has %d of %d messages after %v", s2.messages.Load(), n, b.timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	res.Queued, res.Flush, res.FlushSessions = n, time.Since(start), s2.sessions.Load()
	fmt.Fprintf(os.Stderr, "queuebench: %s: %d queued messages at the sink %v after courier flush, over %d sessions\n", t.name, n, res.Flush.Round(time.Millisecond), res.FlushSessions)
	return nil
}
