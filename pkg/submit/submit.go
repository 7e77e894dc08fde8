package submit

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gocourier/courier/pkg/address"
	"github.com/gocourier/courier/pkg/aliases"
	"github.com/gocourier/courier/pkg/controlfiles"
	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/pkg/queue"
)

// Error is a refusal with an SMTP reply code and text, as the original's
// submit answers: courieresmtpd sends it as the reply, sendmail prints it
// and maps the code to an exit status. Addr names the address concerned
// ("" when the refusal is about the message).
type Error struct {
	Code int
	Addr string
	Text string
}

func (e *Error) Error() string { return strconv.Itoa(e.Code) + " " + e.Text }

// Temporary reports whether the refusal is a 4xx one: try again later.
func (e *Error) Temporary() bool { return e.Code >= 400 && e.Code < 500 }

// ErrRead wraps a failure to read the message from the caller's reader.
var ErrRead = errors.New("reading the message failed")

// Message is one message to queue.
type Message struct {
	// Module is whose address rewriting and aliases-<module>.dat apply:
	// "local" (sendmail), "esmtp" (SMTP), "dsn".
	Module string
	// Envelope is the envelope as received. Sender "" is <>. Recipients
	// are addresses as given ("user", "user@Example.COM"), with their
	// ORCPT and NOTIFY; Submit canonicalises and alias-expands them.
	Envelope queue.Envelope
	// Received is prepended to the message as given (whole header lines,
	// each ending in "\n"); "" for none.
	Received string
	// Trace, when set, makes Submit prepend the original's Received: line
	// (after Received), which needs the queue id only Submit knows:
	//   Received: from <f record after "dns; ">
	//     (<Ident>)
	//     by <me> with <With, default Module>
	//     id <queue id>; <date>
	Trace *Trace
	// AddHeaders adds a missing Date: and Message-ID: (unless NoAddDate,
	// NoAddMsgID or the environment's NOADDDATE / NOADDMSGID say not to)
	// and "To: undisclosed-recipients: ;" when there is no To: or Cc:,
	// as the original's submit does for every message.
	AddHeaders bool
	NoAddDate  bool
	NoAddMsgID bool
	// FromHeaders takes the recipients from the To:, Cc: and Bcc: fields
	// when Envelope.Recipients is empty (sendmail without address
	// arguments); BccOnly from Bcc: alone. Bcc: fields are then removed.
	FromHeaders bool
	BccOnly     bool
	// DefaultNotify is the NOTIFY of recipients that have none (sendmail
	// -N, the original's DSNNOTIFY); zero leaves them without.
	DefaultNotify address.Notify
	// Header, when set, is the message's header block already read (with
	// ReadHeader) and data is the body after it.
	Header *Header
	// Getenv, when set, is the environment of this message's client for
	// NOADDDATE, NOADDMSGID, NOADDRREWRITE and BOFHHEADERLIMIT: a
	// pass-mode courieresmtpd serves every client in one process, and the
	// access file sets these per client. nil: the Submitter's.
	Getenv func(string) string
}

// Trace describes the Received: line Submit generates.
type Trace struct {
	Ident string // the parenthesised line: "uid 0" for sendmail, the RFC 1894 URL for DSNs; "" for none
	With  string // protocol after "with": "ESMTPA"...; "" means the module name
}

// Options adjust Open for tests and special callers.
type Options struct {
	// Getenv reads NOADDDATE, NOADDMSGID, SIZELIMIT and BOFHHEADERLIMIT;
	// default os.Getenv.
	Getenv func(string) string
	// Owner of new queue files; default the layout's mail user when the
	// process is root (spec §1: root's sendmail mail belongs to courier),
	// else the files stay the caller's.
	Owner *queue.Owner
	// Now is the queue's clock; default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Submitter is an open submission path: the queue, a snapshot of the
// control files, and the alias databases. It is safe for concurrent use.
// The control files (queuetime, warntime, faxqueuetime, sizelimit, me,
// defaultdomain, locals ...) are read at Open, the domain databases
// (hosteddomains.dat ...) when first needed; a long-running caller opens a
// new Submitter to see changes. The alias databases follow makealiases.
type Submitter struct {
	q         *queue.Queue
	files     *controlfiles.Files
	domains   sync.Once // files.LoadDomains
	domainErr error
	meACE     string
	msgidHost string
	defDomain address.Domain
	sizeLimit int64
	limits    Limits
	getenv    func(string) string
	now       func() time.Time

	mu        sync.Mutex
	searchers map[string]*aliases.Searcher
}

// Open opens the submission path of the installation l.
func Open(l layout.Layout) (*Submitter, error) { return OpenOptions(l, Options{}) }

// OpenOptions is Open with options.
func OpenOptions(l layout.Layout, o Options) (*Submitter, error) {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	files, err := controlfiles.LoadLocals(l.SysconfDir)
	if err != nil {
		return nil, err
	}
	times, err := queue.ReadTimes(files.Duration)
	if err != nil {
		return nil, err
	}
	s := &Submitter{files: files, getenv: o.Getenv, now: o.Now, limits: DefaultLimits, searchers: map[string]*aliases.Searcher{}}
	if s.sizeLimit, err = files.Int("sizelimit", 10485760); err != nil {
		return nil, err
	}
	if v := o.Getenv("SIZELIMIT"); v != "" {
		if s.sizeLimit, err = strconv.ParseInt(v, 10, 64); err != nil || s.sizeLimit < 0 {
			return nil, fmt.Errorf("submit: environment variable SIZELIMIT=%q is not a number of bytes", v)
		}
	}
	if s.limits, err = limitsFrom(o.Getenv("BOFHHEADERLIMIT")); err != nil {
		return nil, err
	}
	s.meACE = files.Rules.Me.ASCII()
	host, err := files.Value("msgidhost", files.Me)
	if err != nil {
		return nil, err
	}
	if d, err := address.ParseDomain(host); err == nil {
		host = d.ASCII()
	}
	s.msgidHost = host
	if s.defDomain, err = address.ParseDomain(files.DefaultDomain); err != nil {
		return nil, fmt.Errorf("submit: %s: %q is not a domain name: %v", l.Config("defaultdomain"), files.DefaultDomain, err)
	}
	if o.Owner == nil {
		if o.Owner, err = queue.MailOwner(l.MailUser, l.MailGroup); err != nil {
			return nil, fmt.Errorf("submit: %w", err)
		}
	}
	s.q, err = queue.Open(l.LocalstateDir, queue.Options{Times: times, Owner: o.Owner, Now: o.Now, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Close releases the alias databases.
func (s *Submitter) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	for m, sr := range s.searchers {
		if e := sr.Close(); e != nil && err == nil {
			err = e
		}
		delete(s.searchers, m)
	}
	return err
}

// Queue is the queue messages are written to.
func (s *Submitter) Queue() *queue.Queue { return s.q }

// Files is the snapshot of the control files Submit works with, complete
// with the domain databases.
func (s *Submitter) Files() (*controlfiles.Files, error) {
	if _, err := s.rules(); err != nil {
		return nil, err
	}
	return s.files, nil
}

// rules are the Rules of the control files, with the domain databases,
// which are read the first time they are needed.
func (s *Submitter) rules() (*address.Rules, error) {
	s.domains.Do(func() { s.domainErr = s.files.LoadDomains() })
	return s.files.Rules, s.domainErr
}

// SizeLimit is the largest message accepted, 0 for no limit (control file
// sizelimit, environment SIZELIMIT), for courieresmtpd's EHLO SIZE.
func (s *Submitter) SizeLimit() int64 { return s.sizeLimit }

func (s *Submitter) searcher(module string) (*aliases.Searcher, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sr, ok := s.searchers[module]; ok {
		return sr, nil
	}
	sr, err := aliases.OpenSearcher(s.files.Dir, module, s.files.DefaultDomain, s.files.Me, s.files.InLocals)
	if err != nil {
		return nil, &Error{Code: 451, Text: "Service temporarily unavailable: the alias database cannot be read (" + err.Error() + ")."}
	}
	s.searchers[module] = sr
	return sr, nil
}

// envTrue is the original's test of a flag: set, and not starting with 0;
// read from the message's environment when it has one.
func (s *Submitter) envTrue(m *Message, name string) bool {
	v := s.env(m, name)
	return v != "" && v[0] != '0'
}

func (s *Submitter) env(m *Message, name string) string {
	if m.Getenv != nil {
		return m.Getenv(name)
	}
	return s.getenv(name)
}

// headerLimits are the header limits of m: BOFHHEADERLIMIT of its own
// environment, or the Submitter's.
func (s *Submitter) headerLimits(m *Message) (Limits, error) {
	if m.Getenv == nil {
		return s.limits, nil
	}
	return limitsFrom(m.Getenv("BOFHHEADERLIMIT"))
}

// limitsFrom is DefaultLimits with BOFHHEADERLIMIT (bytes, at least 1000)
// when it is set.
func limitsFrom(v string) (Limits, error) {
	l := DefaultLimits
	if v == "" {
		return l, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return l, fmt.Errorf("submit: environment variable BOFHHEADERLIMIT=%q is not a number of bytes", v)
	}
	l.MaxBytes = max(n, 1000)
	return l, nil
}

// readers are Submit's input buffers, kept for the next message: a busy
// courieresmtpd would otherwise allocate one per message.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 16<<10) }}

// Submit queues one message: the envelope is canonicalised and its
// recipients alias-expanded, the header is read (unless m.Header is set)
// and completed, the data streamed into the queue with CRLF line ends turned
// into LF and a final newline added when missing, and the message
// committed. The returned id means the message is on disk and fsynced.
// Refusals are *Error values with the original's reply codes and texts;
// other errors are system failures (treat them as temporary). Submit reads
// data to its end even when it refuses the message, so that an SMTP caller
// stays in step with its client.
func (s *Submitter) Submit(m *Message, data io.Reader) (queue.QueueID, error) {
	br := readers.Get().(*bufio.Reader)
	br.Reset(data)
	defer func() {
		br.Reset(nil)
		readers.Put(br)
	}()
	drain := func(err error) (queue.QueueID, error) {
		io.Copy(io.Discard, br)
		return queue.QueueID{}, err
	}
	h := m.Header
	if h == nil {
		lim, err := s.headerLimits(m)
		if err != nil {
			return drain(err)
		}
		if h, err = ReadHeader(br, lim); err != nil {
			return drain(err)
		}
	}
	env := m.Envelope
	env.Recipients = nil
	sender, err := s.canonicalSender(m.Module, m.Envelope.Sender)
	if err != nil {
		return drain(err)
	}
	env.Sender = sender
	in := m.Envelope.Recipients
	fromHeaders := len(in) == 0 && m.FromHeaders
	if fromHeaders {
		if in, err = s.headerRecipients(m.Module, h, m.BccOnly); err != nil {
			return drain(err)
		}
		if len(in) == 0 {
			return drain(&Error{Code: 511, Text: "Headers specify no receipients."})
		}
	}
	if len(in) == 0 {
		return drain(&Error{Code: 511, Text: "No recipients."})
	}
	for i := range in {
		if in[i].Notify == 0 {
			in[i].Notify = m.DefaultNotify
		}
	}
	rcpts, err := s.expand(m.Module, in)
	if err != nil {
		return drain(err)
	}
	env.Recipients = make([]queue.Recipient, len(rcpts))
	for i, r := range rcpts {
		env.Recipients[i] = r.Recipient
	}
	fields, err := s.prepareHeader(m, h, fromHeaders)
	if err != nil {
		return drain(err)
	}
	header8 := has8bit(fields.Fields)
	env.SMTPUTF8 = env.SMTPUTF8 || header8

	sub, err := s.q.Begin(&env)
	if err != nil {
		return drain(err)
	}
	id := sub.ID()
	w := &limitWriter{w: sub, limit: s.sizeLimit}
	io.WriteString(w, m.Received)
	if m.Trace != nil {
		io.WriteString(w, s.received(m, id))
	}
	fields.WriteTo(w)
	if m.AddHeaders {
		if !fields.Has("Message-ID") && !m.NoAddMsgID && !s.envTrue(m, "NOADDMSGID") {
			fmt.Fprintf(w, "Message-ID: <courier.%016X.%08X@%s>\n", id.Time.Unix(), id.PID, s.msgidHost)
		}
		if !fields.Has("Date") && !m.NoAddDate && !s.envTrue(m, "NOADDDATE") {
			io.WriteString(w, "Date: "+FormatDate(id.Time)+"\n")
		}
		if !fields.Has("To") && !fields.Has("Cc") {
			io.WriteString(w, "To: undisclosed-recipients: ;\n")
		}
	}
	if h.Separated {
		io.WriteString(w, "\n")
	}
	eight, err := copyBody(w, br)
	eight = eight || header8
	if err != nil {
		sub.Abort()
		return drain(err)
	}
	if w.err != nil {
		sub.Abort()
		return drain(w.err)
	}
	if w.over {
		sub.Abort()
		return drain(&Error{Code: 523, Text: fmt.Sprintf("Message length (%d bytes) exceeds administrative limit(%d).", w.n, s.sizeLimit)})
	}
	var recs []queue.Record
	for i, r := range rcpts {
		if r.alias {
			recs = append(recs, queue.Info(i, queue.InfoReply, "250 Ok - delivered to alias."), queue.Delivered(i, id.Time, queue.SuccessRelayed))
		}
	}
	if eight && !env.EightBit || len(recs) > 0 {
		env.EightBit = env.EightBit || eight
		if err := sub.Rewrite(&env, recs...); err != nil {
			sub.Abort()
			return queue.QueueID{}, err
		}
	}
	return sub.Commit()
}

// FormatDate is the original's RFC 5322 date (rfc822_mkdate): local time,
// two-digit day, numeric zone.
func FormatDate(t time.Time) string { return t.Local().Format("Mon, 02 Jan 2006 15:04:05 -0700") }

func (s *Submitter) received(m *Message, id queue.QueueID) string {
	from := m.Envelope.ReceivedFrom
	if i := strings.IndexByte(from, ';'); i >= 0 {
		from = strings.TrimLeft(from[i+1:], " ")
	}
	var b strings.Builder
	b.WriteString("Received: from " + from)
	if m.Trace.Ident != "" {
		b.WriteString("\n  (" + m.Trace.Ident + ")")
	}
	with := m.Trace.With
	if with == "" {
		with = m.Module
	}
	b.WriteString("\n  by " + s.meACE + " with " + with)
	b.WriteString("\n  id " + id.String() + "; " + FormatDate(id.Time) + "\n")
	return b.String()
}

// prepareHeader applies the original's header rules: at most 100
// Received: fields (else a routing loop), Return-Path: renamed
// Old-Return-Path:, Bcc: removed when it gave the recipients, and the
// default domain added to the addresses of To:, Cc:, From:, Reply-To: and
// Sender: for the modules whose rewriting does that, unless NOADDRREWRITE.
func (s *Submitter) prepareHeader(m *Message, h *Header, fromHeaders bool) (*Header, error) {
	out := &Header{Separated: h.Separated, Fields: make([]Field, 0, len(h.Fields))}
	rw, _ := aliases.ModuleRewrite(m.Module)
	rewrite := rw == aliases.AppendDefaultDomain && !s.envTrue(m, "NOADDRREWRITE")
	received := 0
	for _, f := range h.Fields {
		switch {
		case f.Is("Received"):
			received++
		case f.Is("Bcc") && fromHeaders:
			continue
		case f.Is("Return-Path"):
			f = Field{Name: "Old-" + f.Name, Raw: append([]byte("Old-"), f.Raw...)}
		case rewrite && (f.Is("To") || f.Is("Cc") || f.Is("From") || f.Is("Reply-To") || f.Is("Sender")):
			body := f.body()
			// A field whose addresses do not parse is kept as written:
			// the recipients were checked already, and the message is
			// the author's.
			if nb, err := address.AddDefaultDomain(body, s.defDomain); err == nil && nb != body {
				f = Field{Name: f.Name, Raw: []byte(f.Name + ":" + nb + "\n")}
			}
		}
		out.Fields = append(out.Fields, f)
	}
	if received > 100 {
		return nil, &Error{Code: 546, Text: "Routing loop detected -- too many Received: headers."}
	}
	return out, nil
}

func has8bit(fields []Field) bool {
	for _, f := range fields {
		for _, c := range f.Raw {
			if c >= 0x80 {
				return true
			}
		}
	}
	return false
}

// limitWriter counts what is written and stops writing past the size
// limit; the rest is still counted, for the 523 reply.
type limitWriter struct {
	w     io.Writer
	limit int64
	n     int64
	over  bool
	err   error
}

func (l *limitWriter) Write(p []byte) (int, error) {
	l.n += int64(len(p))
	if l.limit > 0 && l.n > l.limit {
		l.over = true
	}
	if l.over || l.err != nil {
		return len(p), nil
	}
	if _, err := l.w.Write(p); err != nil {
		l.err = err
	}
	return len(p), nil
}

// copyBody streams the body: "\r\n" becomes "\n", a last line without a
// newline gets one. It reports whether the body has 8-bit bytes.
func copyBody(w io.Writer, r *bufio.Reader) (bool, error) {
	eight := false
	pendingCR := false
	wrote := false
	last := byte('\n')
	for {
		chunk, err := r.ReadSlice('\n')
		if len(chunk) > 0 {
			if pendingCR && chunk[0] != '\n' {
				w.Write([]byte{'\r'})
			}
			pendingCR = false
			if !eight {
				for _, c := range chunk {
					if c >= 0x80 {
						eight = true
						break
					}
				}
			}
			switch {
			case len(chunk) >= 2 && chunk[len(chunk)-1] == '\n' && chunk[len(chunk)-2] == '\r':
				w.Write(chunk[:len(chunk)-2])
				w.Write([]byte{'\n'})
			case chunk[len(chunk)-1] == '\r':
				w.Write(chunk[:len(chunk)-1])
				pendingCR = true
			default:
				w.Write(chunk)
			}
			wrote = true
			last = chunk[len(chunk)-1]
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return eight, fmt.Errorf("submit: %w: %w", ErrRead, err)
		}
	}
	if wrote && (last != '\n' || pendingCR) {
		// A lone CR at the very end is a line end of its own.
		w.Write([]byte{'\n'})
	}
	return eight, nil
}
