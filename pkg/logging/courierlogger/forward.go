package courierlogger

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gocourier/courier/pkg/logging"
)

// MaxMessage is the longest message the original sends (its 512-byte line
// buffer): longer lines go out as several messages, cut at character
// boundaries.
const MaxMessage = 511

// prefixes are the original's severity prefixes, plus NOTICE: (which our
// programs write for slog's notice level).
var prefixes = []struct {
	p   string
	sev logging.Severity
}{
	{"ERR:", logging.SevErr},
	{"WARN:", logging.SevWarning},
	{"ALERT:", logging.SevAlert},
	{"CRIT:", logging.SevCrit},
	{"DEBUG:", logging.SevDebug},
	{"INFO:", logging.SevInfo},
	{"NOTICE:", logging.SevNotice},
}

// ParseLine classifies one line read from a program. A leading
// "IDENT[PID]: " (how our programs start their standard error lines, see
// pkg/logging) is taken off and its pid returned, so the message is logged
// as the program itself would have logged it; other lines give pid 0. Then
// a severity prefix (ERR: WARN: ALERT: CRIT: DEBUG: INFO: NOTICE:) selects
// the severity and is removed with the spaces after it; without one the
// severity is info.
func ParseLine(ident, line string) (sev logging.Severity, pid int, text string) {
	text = line
	if rest, ok := strings.CutPrefix(text, ident+"["); ok && ident != "" {
		n, end := 0, 0
		for end < len(rest) && end < 10 && rest[end] >= '0' && rest[end] <= '9' {
			n = n*10 + int(rest[end]-'0')
			end++
		}
		if end > 0 && n > 0 && strings.HasPrefix(rest[end:], "]: ") {
			pid, text = n, rest[end+3:]
		}
	}
	sev = logging.SevInfo
	for _, p := range prefixes {
		if rest, ok := strings.CutPrefix(text, p.p); ok {
			sev, text = p.sev, rest
			break
		}
	}
	return sev, pid, strings.TrimLeft(text, " ")
}

// pieces cuts s into parts of at most max bytes, not inside a UTF-8
// sequence. An empty s is one empty part: the original logs empty lines.
func pieces(s string, max int) []string {
	if len(s) <= max {
		return []string{s}
	}
	var out []string
	for len(s) > max {
		cut := max
		for cut > max-utf8.UTFMax && cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		if !utf8.RuneStart(s[cut]) {
			cut = max
		}
		out = append(out, s[:cut])
		s = s[cut:]
	}
	return append(out, s)
}

// forwarder sends lines to syslog under one ident; lines the system logger
// does not take go to fallback (standard error) as they were read.
type forwarder struct {
	sl       *logging.Syslog
	ident    string
	fallback io.Writer
	failing  bool
}

func (f *forwarder) forward(line string) {
	sev, pid, text := ParseLine(f.ident, line)
	for _, part := range pieces(text, MaxMessage) {
		err := f.sl.SendAs(sev, f.ident, pid, time.Now(), part)
		if err == nil {
			f.failing = false
			continue
		}
		if !f.failing {
			fmt.Fprintf(f.fallback, "courierlogger: %v; writing the lines of %s to standard error\n", err, f.ident)
			f.failing = true
		}
		fmt.Fprintf(f.fallback, "%s\n", line)
		return
	}
}

// copyLines forwards every line of r until end of file (a last line
// without newline included) or a read error, such as the deadline set on
// a pipe being drained.
func (f *forwarder) copyLines(r io.Reader) error {
	br := bufio.NewReaderSize(r, 64*1024)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			f.forward(strings.TrimSuffix(string(line), "\n"))
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, os.ErrClosed) {
				return nil
			}
			return err
		}
	}
}
