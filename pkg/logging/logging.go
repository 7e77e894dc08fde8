// Package logging owns how the suite's programs log: log/slog handlers that
// write to the system logger (syslog, facility mail by default, as the
// original Courier does) and to standard error, and the Syslog client
// (RFC 3164 lines over /dev/log) that courierlogger forwards lines with.
// Every daemon calls Setup once at start; courierlogger
// (pkg/logging/courierlogger) uses Syslog directly.
//
// A syslog line reads
//
//	<PRI>Nov 22 04:19:43 authdaemond[812]: message key=value key2="two words"
//
// and a standard error line
//
//	authdaemond[812]: ERR: message key=value
//
// Standard error lines carry no timestamp unless standard error is a
// terminal: a daemon's standard error normally goes to courierlogger, to
// the systemd journal or to a file written by an init script, all of which
// add their own. The level appears as the prefix the original Courier
// programs write on standard error (DEBUG:, WARN:, ERR:, CRIT:, ALERT:; none
// for informational lines; NOTICE: for notices), so that courierlogger
// restores the syslog severity from it. Our courierlogger also recognizes
// the leading "name[pid]: " and logs the line under that pid.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// Options selects where and what a logger writes.
type Options struct {
	Program  string     // name in every line; default: base name of os.Args[0]
	Syslog   bool       // log to the system logger
	Stderr   bool       // log to standard error (the default when neither is set)
	Level    slog.Level // least severe level logged
	Facility string     // syslog facility; default "mail"

	// SocketPath is the syslog socket; see SocketPath. Tests set it.
	SocketPath string
	// Writer replaces os.Stderr as the standard error destination.
	Writer io.Writer
}

// New returns a logger for the options. When the system logger cannot be
// reached and standard error is not also selected, lines go to standard
// error instead (with a note saying so) until the system logger is back.
func New(o Options) *slog.Logger {
	if o.Program == "" {
		o.Program = filepath.Base(os.Args[0])
	}
	if !o.Syslog && !o.Stderr {
		o.Stderr = true
	}
	w := o.Writer
	if w == nil {
		w = os.Stderr
	}
	c := &core{
		program: o.Program,
		pid:     os.Getpid(),
		level:   o.Level,
		out:     w,
		tty:     isTerminal(w),
		stderr:  o.Stderr,
	}
	var facErr error
	if o.Syslog {
		fac := Facility(2)
		if o.Facility != "" {
			if fac, facErr = ParseFacility(o.Facility); facErr != nil {
				fac = 2
			}
		}
		c.syslog = NewSyslog(SyslogConfig{Ident: o.Program, PID: c.pid, Facility: fac, Path: o.SocketPath})
	}
	l := slog.New(&handler{c: c})
	if facErr != nil {
		l.Warn(facErr.Error() + ": logging to facility mail")
	}
	return l
}

// Setup is New followed by slog.SetDefault.
func Setup(o Options) *slog.Logger {
	l := New(o)
	slog.SetDefault(l)
	return l
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// core is what all handlers derived from one New share.
type core struct {
	program string
	pid     int
	level   slog.Level
	syslog  *Syslog
	stderr  bool // write every line to out

	mu       sync.Mutex // serializes writes to out
	out      io.Writer
	tty      bool
	syslogOK bool // false after a failed send: the next failure is not announced again
	noted    bool
}

type handler struct {
	c     *core
	pre   []byte // attributes from WithAttrs, formatted, each with a leading space
	group string // current group prefix, "a.b." or ""
}

func (h *handler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.c.level }

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	if len(as) == 0 {
		return h
	}
	n := &handler{c: h.c, group: h.group}
	n.pre = append([]byte(nil), h.pre...)
	for _, a := range as {
		n.pre = appendAttr(n.pre, h.group, a)
	}
	return n
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &handler{c: h.c, pre: h.pre, group: h.group + name + "."}
}

func (h *handler) Handle(_ context.Context, r slog.Record) error {
	msg := appendEscaped(make([]byte, 0, 128), r.Message)
	msg = append(msg, h.pre...)
	r.Attrs(func(a slog.Attr) bool {
		msg = appendAttr(msg, h.group, a)
		return true
	})
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	c := h.c
	if c.syslog != nil {
		err := c.syslog.Send(SeverityOf(r.Level), string(msg))
		if err != nil && !c.stderr {
			c.fallback(err, t, r.Level, msg)
		} else if err == nil && !c.stderr {
			c.mu.Lock()
			c.syslogOK = true
			c.mu.Unlock()
		}
	}
	if c.stderr {
		c.writeStderr(t, r.Level, msg)
	}
	return nil
}

// fallback writes a line the system logger did not take to standard
// error, announcing the outage once per outage.
func (c *core) fallback(err error, t time.Time, l slog.Level, msg []byte) {
	c.mu.Lock()
	announce := c.syslogOK || !c.noted
	c.syslogOK, c.noted = false, true
	c.mu.Unlock()
	if announce {
		c.writeStderr(t, slog.LevelWarn, []byte(fmt.Sprintf("%v; logging to standard error until it is back", err)))
	}
	c.writeStderr(t, l, msg)
}

// writeStderr writes one line in a single Write.
func (c *core) writeStderr(t time.Time, l slog.Level, msg []byte) {
	b := make([]byte, 0, len(msg)+64)
	if c.tty {
		b = t.AppendFormat(b, time.Stamp)
		b = append(b, ' ')
	}
	b = append(b, c.program...)
	b = append(b, '[')
	b = strconv.AppendInt(b, int64(c.pid), 10)
	b = append(b, ']', ':', ' ')
	b = append(b, LevelPrefix(l)...)
	b = append(b, msg...)
	b = append(b, '\n')
	c.mu.Lock()
	c.out.Write(b)
	c.mu.Unlock()
}

// LevelPrefix returns the prefix a standard error line of that level
// starts its message with: the original Courier programs' "ERR: " and
// friends, which courierlogger turns back into syslog severities.
func LevelPrefix(l slog.Level) string {
	switch SeverityOf(l) {
	case SevDebug:
		return "DEBUG: "
	case SevInfo:
		return ""
	case SevNotice:
		return "NOTICE: "
	case SevWarning:
		return "WARN: "
	case SevErr:
		return "ERR: "
	case SevCrit:
		return "CRIT: "
	}
	// Emergencies are logged as alerts: a syslog emergency is broadcast
	// to every terminal.
	return "ALERT: "
}

// appendAttr appends " key=value" (slog's text format) for a, flattening
// groups into dotted keys.
func appendAttr(b []byte, group string, a slog.Attr) []byte {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		attrs := v.Group()
		if len(attrs) == 0 {
			return b
		}
		if a.Key != "" {
			group += a.Key + "."
		}
		for _, ga := range attrs {
			b = appendAttr(b, group, ga)
		}
		return b
	}
	if a.Equal(slog.Attr{}) {
		return b
	}
	b = append(b, ' ')
	b = appendValue(b, group+a.Key)
	b = append(b, '=')
	var s string
	switch v.Kind() {
	case slog.KindString:
		s = v.String()
	case slog.KindTime:
		s = v.Time().Format(time.RFC3339)
	case slog.KindAny:
		if e, ok := v.Any().(error); ok {
			s = e.Error()
		} else {
			s = fmt.Sprint(v.Any())
		}
	default:
		s = v.String()
	}
	return appendValue(b, s)
}

// appendValue appends s, quoted (Go syntax) when it is empty or contains
// spaces, quotes, '=' or anything not printable.
func appendValue(b []byte, s string) []byte {
	if needsQuote(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

func needsQuote(s string) bool {
	if s == "" {
		return true
	}
	for _, r := range s {
		if r <= ' ' || r == '=' || r == '"' || r == 0x7f || r == utf8.RuneError || (r >= 0x80 && r < 0xa0) {
			return true
		}
	}
	return false
}

// appendEscaped appends a message with control characters escaped (\n,
// \r, \t, \xNN), so that one record stays one line.
func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < ' ' || c == 0x7f:
			b = append(b, '\\', 'x', "0123456789abcdef"[c>>4], "0123456789abcdef"[c&15])
		default:
			b = append(b, c)
		}
	}
	return b
}
