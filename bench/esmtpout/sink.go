package main

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// sink is a minimal SMTP server that takes every message (PIPELINING,
// 8BITMIME, SIZE) and counts them. After per messages on one connection it
// answers the next command with 421 and closes, so that each client
// session carries at most per messages (RFC 5321 3.8: a server may close
// with 421 at any time; a client must then try again on a new
// connection).
type sink struct {
	l        net.Listener
	per      int
	messages atomic.Int64
	sessions atomic.Int64
	closed   atomic.Int64 // sessions ended by the limit
	first    atomic.Int64 // time of the first message, Unix nanoseconds
	mu       sync.Mutex
	conns    map[net.Conn]bool
}

func startSink(addr string, per int) (*sink, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("the sink cannot listen on %s (is another server there?): %w", addr, err)
	}
	s := &sink{l: l, per: per, conns: map[net.Conn]bool{}}
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

// stop closes the listener and every session.
func (s *sink) stop() {
	s.l.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
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
	n := 0
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		if n >= s.per && s.per > 0 && (strings.HasPrefix(cmd, "MAIL") || cmd == "RSET") {
			reply(fmt.Sprintf("421 4.7.0 sink: %d messages on this connection, closing", n))
			w.Flush()
			s.closed.Add(1)
			return
		}
		switch {
		case strings.HasPrefix(cmd, "EHLO"):
			reply("250-sink")
			reply("250-PIPELINING")
			reply("250-8BITMIME")
			reply("250 SIZE")
		case strings.HasPrefix(cmd, "HELO"), strings.HasPrefix(cmd, "MAIL"), strings.HasPrefix(cmd, "RCPT"), cmd == "RSET", cmd == "NOOP":
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
			n++
			s.first.CompareAndSwap(0, time.Now().UnixNano())
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
