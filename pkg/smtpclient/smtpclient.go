// Package smtpclient is the suite's SMTP client on net/textproto (RFC
// 5321), written here because go-smtp's client cannot pipeline (RFC 2920):
// one transaction sends MAIL FROM and every RCPT TO in one write and reads
// the replies after, as Courier's courieresmtp does.
//
// It speaks to servers that may be hostile: reply lines are bounded
// (MaxLine), replies have at most MaxReplyLines lines, and every read and
// write has a deadline, so a server can neither exhaust memory nor hold a
// delivery forever.
//
// Callers: the outbound module (pkg/esmtp).
package smtpclient

import (
	"bufio"
	"crypto/hmac"
	"crypto/md5"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
)

// MaxLine bounds one reply line. RFC 5321 4.5.3.1.5 allows 512 octets;
// real servers exceed that a little, so we take four times as much.
const MaxLine = 2048

// MaxReplyLines bounds the lines of one multi-line reply.
const MaxReplyLines = 1000

// Reply is one SMTP reply: its code and its lines of text.
type Reply struct {
	Code  int
	Lines []string
}

// String is the reply as the server sent it, lines joined by "\n", each
// with the code: "550 User unknown".
func (r Reply) String() string {
	out := make([]string, len(r.Lines))
	for i, l := range r.Lines {
		sep := "-"
		if i == len(r.Lines)-1 {
			sep = " "
		}
		out[i] = strconv.Itoa(r.Code) + sep + l
	}
	return strings.Join(out, "\n")
}

// ErrMalformed is wrapped by the errors ReadReply returns for replies
// that break RFC 5321 4.2.
var ErrMalformed = errors.New("malformed SMTP reply")

// ReadReply reads one reply (RFC 5321 4.2: "xyz-text" continuation
// lines, then "xyz text" or "xyz"). Lines may end in CRLF or LF. Errors
// quote the offending line.
func ReadReply(r *bufio.Reader) (Reply, error) {
	var rep Reply
	for {
		line, err := readLine(r)
		if err != nil {
			if err == io.EOF && rep.Code != 0 {
				err = fmt.Errorf("%w: the connection closed within a multi-line reply", ErrMalformed)
			}
			return rep, err
		}
		if len(line) < 3 || (len(line) > 3 && line[3] != ' ' && line[3] != '-') {
			return rep, fmt.Errorf("%w: %q does not begin with a code and a space or hyphen", ErrMalformed, line)
		}
		code, err := strconv.Atoi(line[:3])
		if err != nil || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' || line[2] < '0' || line[2] > '9' {
			return rep, fmt.Errorf("%w: %q has no reply code 200-599", ErrMalformed, line)
		}
		if rep.Code != 0 && code != rep.Code {
			return rep, fmt.Errorf("%w: the code changes within a multi-line reply at %q", ErrMalformed, line)
		}
		rep.Code = code
		text := ""
		if len(line) > 4 {
			text = line[4:]
		}
		rep.Lines = append(rep.Lines, text)
		if len(line) == 3 || line[3] == ' ' {
			return rep, nil
		}
		if len(rep.Lines) >= MaxReplyLines {
			return rep, fmt.Errorf("%w: more than %d lines in one reply", ErrMalformed, MaxReplyLines)
		}
	}
}

// readLine reads one line of at most MaxLine bytes, without its CRLF/LF.
func readLine(r *bufio.Reader) (string, error) {
	var buf []byte
	for {
		chunk, err := r.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > MaxLine+2 {
			return "", fmt.Errorf("%w: a reply line longer than %d bytes", ErrMalformed, MaxLine)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF && len(buf) > 0 {
				return "", fmt.Errorf("%w: the connection closed within the line %q", ErrMalformed, buf)
			}
			return "", err
		}
		return strings.TrimSuffix(strings.TrimSuffix(string(buf), "\n"), "\r"), nil
	}
}

// Timeouts are the limits of one session, as the original's
// esmtptimeout* control files set them (spec aliases-and-control-files.md
// §2). Zero means no limit.
type Timeouts struct {
	Helo    time.Duration // greeting, EHLO/HELO, STARTTLS, AUTH (esmtptimeouthelo)
	Command time.Duration // MAIL, RCPT, RSET and other replies (esmtptimeout)
	Data    time.Duration // writing the message and the reply after the dot (esmtptimeoutdata)
	Quit    time.Duration // the reply to QUIT (esmtptimeoutquit)
}

// Client is one SMTP connection.
type Client struct {
	conn     net.Conn
	text     *textproto.Conn
	Timeouts Timeouts
	timeout  time.Duration // the current stage's
	Ext      map[string]string
	Banner   Reply
	TLS      bool
	// Dirty says a transaction was begun and not completed by the reply
	// after the final dot: a RSET must come before the next MAIL.
	Dirty bool
	// Trace, when set, is called with every line written and read
	// (">" or "<", the line without CRLF), for debugging.
	Trace func(dir, line string)
}

// New starts an SMTP session on conn: it reads the greeting (within
// Timeouts.Helo). A greeting other than 220 is returned as *Error, with
// the client, which the caller should Quit.
func New(conn net.Conn, t Timeouts) (*Client, error) {
	c := &Client{conn: conn, text: textproto.NewConn(conn), Timeouts: t, timeout: t.Helo}
	r, err := c.Read()
	if err != nil {
		return nil, err
	}
	c.Banner = r
	if r.Code != 220 {
		return c, &Error{Reply: r, Stage: "greeting"}
	}
	return c, nil
}

// Error is a reply that is not the one wanted.
type Error struct {
	Reply Reply
	Stage string // "greeting", "EHLO", "MAIL", "RCPT", "DATA", "end of data"
}

func (e *Error) Error() string { return e.Stage + ": " + e.Reply.String() }

func deadline(d time.Duration) time.Time {
	if d <= 0 {
		return time.Time{}
	}
	return time.Now().Add(d)
}

// Read reads one reply.
func (c *Client) Read() (Reply, error) {
	c.conn.SetReadDeadline(deadline(c.timeout))
	r, err := ReadReply(c.text.R)
	if c.Trace != nil && err == nil {
		c.Trace("<", r.String())
	}
	return r, err
}

// Cmd sends one command and reads its reply.
func (c *Client) Cmd(format string, args ...any) (Reply, error) {
	if err := c.Send(format, args...); err != nil {
		return Reply{}, err
	}
	return c.Read()
}

// Send writes one command line without reading.
func (c *Client) Send(format string, args ...any) error {
	c.conn.SetWriteDeadline(deadline(c.timeout))
	if c.Trace != nil {
		c.Trace(">", fmt.Sprintf(format, args...))
	}
	return c.text.PrintfLine(format, args...)
}

// Hello says EHLO, and HELO when EHLO is refused, and records the
// extensions (keys upper-cased, values as sent).
func (c *Client) Hello(name string) error {
	c.timeout = c.Timeouts.Helo
	defer func() { c.timeout = c.Timeouts.Command }()
	r, err := c.Cmd("EHLO %s", name)
	if err != nil {
		return err
	}
	c.Ext = map[string]string{}
	if r.Code != 250 {
		if r, err = c.Cmd("HELO %s", name); err != nil {
			return err
		}
		if r.Code != 250 {
			return &Error{Reply: r, Stage: "HELO"}
		}
		return nil
	}
	for _, l := range r.Lines[1:] {
		k, v, _ := strings.Cut(l, " ")
		c.Ext[strings.ToUpper(k)] = v
	}
	return nil
}

// Has says whether the server announced an extension.
func (c *Client) Has(ext string) bool {
	_, ok := c.Ext[ext]
	return ok
}

// StartTLS upgrades the connection (RFC 3207); EHLO must be said again.
func (c *Client) StartTLS(cfg *tls.Config) error {
	c.timeout = c.Timeouts.Helo
	defer func() { c.timeout = c.Timeouts.Command }()
	r, err := c.Cmd("STARTTLS")
	if err != nil {
		return err
	}
	if r.Code != 220 {
		return &Error{Reply: r, Stage: "STARTTLS"}
	}
	tc := tls.Client(c.conn, cfg)
	tc.SetDeadline(deadline(c.timeout))
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("TLS handshake: %w", err)
	}
	tc.SetDeadline(time.Time{})
	c.conn = tc
	c.text = textproto.NewConn(tc)
	c.TLS = true
	c.Ext = nil
	return nil
}

// ConnectionState is the TLS state of a session after StartTLS or on a
// tls.Conn; ok is false for a session in clear.
func (c *Client) ConnectionState() (tls.ConnectionState, bool) {
	if tc, ok := c.conn.(*tls.Conn); ok {
		return tc.ConnectionState(), true
	}
	return tls.ConnectionState{}, false
}

// Transaction sends MAIL FROM:<from> params and the recipients,
// pipelined when the server allows it (RFC 2920: one write, then the
// replies in order), and returns the MAIL reply and one reply per
// recipient. A refused MAIL without pipelining leaves the recipients'
// replies zero. Data (or Abort) must follow.
func (c *Client) Transaction(from, mailParams string, rcpts []string, rcptParams []string) (Reply, []Reply, error) {
	mr, replies, _, err := c.transaction(from, mailParams, rcpts, rcptParams, false)
	return mr, replies, err
}

// TransactionData is Transaction followed by DATA in the same pipelined
// group when the server has PIPELINING (RFC 2920 3.1: DATA may end a
// group), which saves a round trip per message. dataReply is the reply to
// DATA: with 354, Body must send the message (or, when no recipient was
// accepted, only the final dot); without PIPELINING dataReply is zero and
// Data is to be called as usual.
func (c *Client) TransactionData(from, mailParams string, rcpts []string, rcptParams []string) (mail Reply, rcpt []Reply, data Reply, err error) {
	return c.transaction(from, mailParams, rcpts, rcptParams, true)
}

func (c *Client) transaction(from, mailParams string, rcpts []string, rcptParams []string, withData bool) (Reply, []Reply, Reply, error) {
	c.timeout = c.Timeouts.Command
	c.Dirty = true
	mail := "MAIL FROM:<" + from + ">" + mailParams
	replies := make([]Reply, len(rcpts))
	if c.Has("PIPELINING") {
		c.conn.SetWriteDeadline(deadline(c.timeout))
		w := c.text.Writer.W
		lines := []string{mail}
		for i, r := range rcpts {
			lines = append(lines, "RCPT TO:<"+r+">"+rcptParams[i])
		}
		if withData {
			lines = append(lines, "DATA")
		}
		for _, l := range lines {
			if c.Trace != nil {
				c.Trace(">", l)
			}
			w.WriteString(l)
			w.WriteString("\r\n")
		}
		if err := w.Flush(); err != nil {
			return Reply{}, nil, Reply{}, err
		}
		mr, err := c.Read()
		if err != nil {
			return mr, nil, Reply{}, err
		}
		for i := range rcpts {
			if replies[i], err = c.Read(); err != nil {
				return mr, nil, Reply{}, err
			}
		}
		var dr Reply
		if withData {
			if dr, err = c.Read(); err != nil {
				return mr, replies, dr, err
			}
		}
		return mr, replies, dr, nil
	}
	mr, err := c.Cmd("%s", mail)
	if err != nil || mr.Code != 250 {
		return mr, replies, Reply{}, err
	}
	for i, r := range rcpts {
		if replies[i], err = c.Cmd("RCPT TO:<%s>%s", r, rcptParams[i]); err != nil {
			return mr, nil, Reply{}, err
		}
	}
	return mr, replies, Reply{}, nil
}

// deadlineWriter renews the write deadline before each write, so a slow
// but moving transfer goes on while a stalled one ends after d.
type deadlineWriter struct {
	conn net.Conn
	d    time.Duration
}

func (w deadlineWriter) Write(p []byte) (int, error) {
	w.conn.SetWriteDeadline(deadline(w.d))
	return w.conn.Write(p)
}

// Data sends DATA and the message (LF or CRLF lines; dot-stuffed and sent
// with CRLF, RFC 5321 4.5.2) and returns the reply after the final dot.
// A reply other than 354 to DATA comes back as *Error.
func (c *Client) Data(msg io.Reader) (Reply, error) {
	c.timeout = c.Timeouts.Command
	r, err := c.Cmd("DATA")
	if err != nil {
		return r, err
	}
	if r.Code != 354 {
		return r, &Error{Reply: r, Stage: "DATA"}
	}
	return c.Body(msg)
}

// Body sends the message after a 354 and returns the reply after the
// final dot; a nil msg sends the dot alone.
func (c *Client) Body(msg io.Reader) (Reply, error) {
	c.timeout = c.Timeouts.Data
	defer func() { c.timeout = c.Timeouts.Command }()
	w := bufio.NewWriterSize(deadlineWriter{c.conn, c.timeout}, 64<<10)
	if msg != nil {
		if err := writeDotStuffed(w, msg); err != nil {
			return Reply{}, err
		}
	}
	w.WriteString(".\r\n")
	if err := w.Flush(); err != nil {
		return Reply{}, err
	}
	if c.Trace != nil {
		c.Trace(">", "(message) .")
	}
	r, err := c.Read()
	if err == nil {
		c.Dirty = false
	}
	return r, err
}

func writeDotStuffed(w *bufio.Writer, msg io.Reader) error {
	br := bufio.NewReaderSize(msg, 64<<10)
	bol := true // at the beginning of a line
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			if bol && line[0] == '.' {
				w.WriteByte('.')
			}
			if err == bufio.ErrBufferFull {
				// A line longer than the buffer: its rest follows, not
				// dot-stuffed. RFC 5321 4.5.3.1.6 limits lines to 1000
				// octets, but the original sends what it has.
				w.Write(line)
				bol = false
				continue
			}
			eol := line[len(line)-1] == '\n'
			w.Write(trimEOL(line))
			w.WriteString("\r\n")
			bol = eol
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

// Reset says RSET before the next transaction on a kept session; any
// answer but 250 is an error (the session should be closed).
func (c *Client) Reset() error {
	c.timeout = c.Timeouts.Command
	r, err := c.Cmd("RSET")
	if err != nil {
		return err
	}
	if r.Code != 250 {
		return &Error{Reply: r, Stage: "RSET"}
	}
	c.Dirty = false
	return nil
}

// Quit says QUIT, waits Timeouts.Quit for the answer, and closes the
// connection.
func (c *Client) Quit() {
	c.timeout = c.Timeouts.Quit
	c.Cmd("QUIT")
	c.conn.Close()
}

// Close closes the connection without QUIT.
func (c *Client) Close() { c.conn.Close() }

// Auth authenticates with the SASL client a (RFC 4954): "AUTH <mech>
// [initial response]", then challenge and response lines until 235.
func (c *Client) Auth(a sasl.Client) error {
	c.timeout = c.Timeouts.Helo
	defer func() { c.timeout = c.Timeouts.Command }()
	mech, ir, err := a.Start()
	if err != nil {
		return err
	}
	cmd := "AUTH " + mech
	if ir != nil {
		enc := base64.StdEncoding.EncodeToString(ir)
		if enc == "" {
			enc = "="
		}
		cmd += " " + enc
	}
	r, err := c.Cmd("%s", cmd)
	for err == nil && r.Code == 334 {
		var challenge, resp []byte
		if challenge, err = base64.StdEncoding.DecodeString(strings.TrimSpace(strings.Join(r.Lines, ""))); err != nil {
			c.Cmd("*")
			return fmt.Errorf("AUTH %s: the server's challenge is not base64", mech)
		}
		if resp, err = a.Next(challenge); err != nil {
			c.Cmd("*")
			return err
		}
		r, err = c.Cmd("%s", base64.StdEncoding.EncodeToString(resp))
	}
	if err != nil {
		return err
	}
	if r.Code != 235 {
		return &Error{Reply: r, Stage: "AUTH " + mech}
	}
	return nil
}

// CRAMMD5 is the client side of CRAM-MD5 (RFC 2195), which go-sasl does
// not provide.
type CRAMMD5 struct{ User, Password string }

// Start implements sasl.Client.
func (c CRAMMD5) Start() (string, []byte, error) { return "CRAM-MD5", nil, nil }

// Next implements sasl.Client.
func (c CRAMMD5) Next(challenge []byte) ([]byte, error) {
	m := hmac.New(md5.New, []byte(c.Password))
	m.Write(challenge)
	return []byte(c.User + " " + hex.EncodeToString(m.Sum(nil))), nil
}
