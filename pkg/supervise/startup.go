package supervise

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
)

// startupLog copies courierd's log records, as plain lines, to the pipe
// `courier start` reads, until it is closed once every service is started.
// `courier start` then prints what was started and where, or, if courierd
// died, the lines that say why.
type startupLog struct {
	mu sync.Mutex
	w  io.WriteCloser // nil once closed
}

func (l *startupLog) write(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w == nil {
		return
	}
	if _, err := io.WriteString(l.w, line); err != nil {
		// courier start went away: nobody is listening any more.
		l.w.Close()
		l.w = nil
	}
}

func (l *startupLog) open() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w != nil
}

// Close ends the start-up report.
func (l *startupLog) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w != nil {
		l.w.Close()
		l.w = nil
	}
}

// teeHandler passes every record to next and, while the start-up log is
// open, writes records of level Info and above to it.
type teeHandler struct {
	next   slog.Handler
	log    *startupLog
	prefix string // group prefix for keys
	attrs  string // preformatted attributes from WithAttrs
}

func (h *teeHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l) || l >= slog.LevelInfo && h.log.open()
}

func (h *teeHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelInfo && h.log.open() {
		var b strings.Builder
		switch {
		case r.Level >= slog.LevelError:
			b.WriteString("error: ")
		case r.Level >= slog.LevelWarn:
			b.WriteString("warning: ")
		}
		b.WriteString(r.Message)
		b.WriteString(h.attrs)
		r.Attrs(func(a slog.Attr) bool {
			appendAttr(&b, h.prefix, a)
			return true
		})
		b.WriteByte('\n')
		h.log.write(b.String())
	}
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	var b strings.Builder
	for _, a := range as {
		appendAttr(&b, h.prefix, a)
	}
	return &teeHandler{next: h.next.WithAttrs(as), log: h.log, prefix: h.prefix, attrs: h.attrs + b.String()}
}

func (h *teeHandler) WithGroup(name string) slog.Handler {
	return &teeHandler{next: h.next.WithGroup(name), log: h.log, prefix: h.prefix + name + ".", attrs: h.attrs}
}

func appendAttr(b *strings.Builder, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		for _, g := range v.Group() {
			appendAttr(b, prefix+a.Key+".", g)
		}
		return
	}
	var s string
	switch v.Kind() {
	case slog.KindDuration:
		s = durationString(v.Duration())
	case slog.KindTime:
		s = v.Time().Format(time.RFC3339)
	default:
		s = v.String()
	}
	if s == "" || strings.ContainsAny(s, " \t\"=\\") || !strconv.CanBackquote(s) {
		s = strconv.Quote(s)
	}
	b.WriteString(" " + prefix + a.Key + "=" + s)
}
