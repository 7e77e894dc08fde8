// Package syslogtest stands up a real Unix datagram socket in place of
// /dev/log for tests, and parses the RFC 3164 lines that arrive on it. Tests
// of any daemon point the programs they start at it with
// COURIER_SYSLOG_SOCKET=<Server.Path> (pkg/logging.SocketEnv), or pass the
// path in logging.Options.SocketPath.
package syslogtest

import (
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gocourier/courier/pkg/logging"
)

// Message is one received syslog line.
type Message struct {
	Raw      string
	Facility logging.Facility
	Severity logging.Severity
	Time     string // "Mmm dd hh:mm:ss" as sent
	Ident    string
	PID      int // 0 when the line has no [pid]
	Text     string
}

// String formats the message the way tests usually compare it:
// "<PRI>ident[pid]: text" without the timestamp.
func (m Message) String() string {
	pid := ""
	if m.PID != 0 {
		pid = "[" + strconv.Itoa(m.PID) + "]"
	}
	return fmt.Sprintf("<%d>%s%s: %s", int(m.Facility)*8+int(m.Severity), m.Ident, pid, m.Text)
}

// Server is the listening socket.
type Server struct {
	Path string
	conn *net.UnixConn
	msgs chan string
}

// Listen creates the socket in a temporary directory of t; it is closed
// when the test ends.
func Listen(t testing.TB) *Server {
	t.Helper()
	return ListenAt(t, filepath.Join(t.TempDir(), "log"))
}

// ListenAt creates the socket at path.
func ListenAt(t testing.TB, path string) *Server {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Path: path, conn: c, msgs: make(chan string, 10000)}
	go func() {
		buf := make([]byte, 1<<16)
		for {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				close(s.msgs)
				return
			}
			s.msgs <- string(buf[:n])
		}
	}()
	t.Cleanup(func() { c.Close() })
	return s
}

// Close stops listening (the path stays until the test's directory goes).
func (s *Server) Close() error { return s.conn.Close() }

// Next returns the next message, failing the test if none arrives within
// 20 seconds or if it is not a well-formed RFC 3164 line.
func (s *Server) Next(t testing.TB) Message {
	t.Helper()
	select {
	case raw, ok := <-s.msgs:
		if !ok {
			t.Fatal("syslogtest: socket closed")
		}
		m, err := Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		return m
	case <-time.After(20 * time.Second):
		t.Fatalf("syslogtest: no message arrived at %s", s.Path)
	}
	return Message{}
}

// WaitFor returns the first message (skipping others) for which match is
// true.
func (s *Server) WaitFor(t testing.TB, match func(Message) bool) Message {
	t.Helper()
	for {
		if m := s.Next(t); match(m) {
			return m
		}
	}
}

// Pending returns the messages that have arrived and were not read yet.
func (s *Server) Pending(t testing.TB) []Message {
	t.Helper()
	var out []Message
	for {
		select {
		case raw, ok := <-s.msgs:
			if !ok {
				return out
			}
			m, err := Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, m)
		default:
			return out
		}
	}
}

var lineRE = regexp.MustCompile(`^<(\d{1,3})>([A-Z][a-z][a-z] [ 123]\d \d\d:\d\d:\d\d) ([^\s\[:]+)(\[(\d+)\])?: (.*)$`)

// Parse parses one syslog line as glibc's syslog(3) and pkg/logging
// write it.
func Parse(raw string) (Message, error) {
	sm := lineRE.FindStringSubmatch(strings.TrimSuffix(raw, "\x00"))
	if sm == nil {
		return Message{}, fmt.Errorf("syslogtest: not an RFC 3164 line: %q", raw)
	}
	pri, _ := strconv.Atoi(sm[1])
	if pri > 191 {
		return Message{}, fmt.Errorf("syslogtest: PRI %d out of range in %q", pri, raw)
	}
	if _, err := time.Parse(time.Stamp, sm[2]); err != nil {
		return Message{}, fmt.Errorf("syslogtest: timestamp %q: %v", sm[2], err)
	}
	m := Message{Raw: raw, Facility: logging.Facility(pri / 8), Severity: logging.Severity(pri % 8), Time: sm[2], Ident: sm[3], Text: sm[6]}
	if sm[5] != "" {
		m.PID, _ = strconv.Atoi(sm[5])
	}
	return m, nil
}
