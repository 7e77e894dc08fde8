package supervise

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"strconv"
	"time"
)

// maxLine bounds one logged line; longer output is logged in pieces.
const maxLine = 4096

// levelPrefixes are the priority prefixes courierlogger(1) understands at
// the start of a line (spec/couriertcpd.md §5); the supervisor honours them
// for its children's output the same way.
var levelPrefixes = []struct {
	prefix string
	level  slog.Level
}{
	{"EMERG:", slog.LevelError}, {"ALERT:", slog.LevelError}, {"CRIT:", slog.LevelError},
	{"ERR:", slog.LevelError}, {"WARN:", slog.LevelWarn}, {"NOTICE:", slog.LevelInfo},
	{"INFO:", slog.LevelInfo}, {"DEBUG:", slog.LevelDebug},
}

// copyOutput logs what an instance (and whatever it started that kept the
// descriptors) writes on stdout and stderr, until all of them closed it.
func (s *Supervisor) copyOutput(name string, pid int, r io.ReadCloser) {
	defer r.Close()
	br := bufio.NewReaderSize(r, maxLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			s.logLine(name, pid, line)
		}
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}

func (s *Supervisor) logLine(name string, pid int, line []byte) {
	line = bytes.TrimRight(line, "\r\n")
	if len(bytes.TrimSpace(line)) == 0 {
		return
	}
	attrs := []any{"service", name, "pid", pid}
	// The suite's daemons start their standard error lines with
	// "program[pid]: " (pkg/logging); the pid may be a descendant's.
	if prog, p, rest, ok := cutIdent(line); ok {
		attrs = []any{"service", name, "program", prog, "pid", p}
		line = rest
	}
	level := slog.LevelInfo
	for _, p := range levelPrefixes {
		if bytes.HasPrefix(line, []byte(p.prefix)) {
			level = p.level
			line = bytes.TrimLeft(line[len(p.prefix):], " ")
			break
		}
	}
	// The child chose to write the line, so it is passed on whatever the
	// supervisor's own level: DEBUG_LOGIN makes authdaemond and the login
	// programs write debug lines, and the supervisor logs at Info.
	r := slog.NewRecord(time.Now(), level, string(line), 0)
	r.Add(attrs...)
	s.log.Handler().Handle(context.Background(), r)
}

// cutIdent splits "name[pid]: rest".
func cutIdent(line []byte) (string, int, []byte, bool) {
	open := bytes.IndexByte(line, '[')
	if open <= 0 || open > 64 || bytes.ContainsAny(line[:open], " \t:") {
		return "", 0, nil, false
	}
	end := bytes.Index(line[open:], []byte("]: "))
	if end < 0 {
		return "", 0, nil, false
	}
	pid, err := strconv.Atoi(string(line[open+1 : open+end]))
	if err != nil || pid <= 0 {
		return "", 0, nil, false
	}
	return string(line[:open]), pid, line[open+end+3:], true
}
