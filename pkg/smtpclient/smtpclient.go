// Package smtpclient is the suite's SMTP client on net/textproto (RFC
// 5321), written here because go-smtp's client cannot pipeline (RFC 2920):
// one transaction sends MAIL FROM and every RCPT TO in one write and reads
// the replies after, as Courier's courieresmtp does.
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
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
)

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

// Client is one SMTP connection.
type Client struct {
	conn    net.Conn
	text    *textproto.Conn
	Timeout time.Duration // for each reply
	Ext     map[string]string
	Banner  Reply
	TLS     bool
}

// New starts an SMTP session on conn: it reads the greeting.
func New(conn net.Conn, timeout time.Duration) (*Client, error) {
	c := &Client{conn: conn, text: textproto.NewConn(conn), Timeout: timeout}
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

// Read reads one reply.
func (c *Client) Read() (Reply, error) {
	c.conn.SetReadDeadline(time.Now().Add(c.Timeout))
	var r Reply
	for {
		line, err := c.text.ReadLine()
		if err != nil {
			return r, err
		}
		if len(line) < 3 {
			return r, fmt.Errorf("malformed reply line %q", line)
		}
		code, err := strconv.Atoi(line[:3])
		if err != nil || code < 200 || code > 599 {
			return r, fmt.Errorf("malformed reply line %q", line)
		}
		if r.Code != 0 && code != r.Code {
			return r, fmt.Errorf("reply code changes within a multi-line reply: %q", line)
		}
		r.Code = code
		text := ""
		if len(line) > 4 {
			text = line[4:]
		}
		r.Lines = append(r.Lines, text)
		if len(line) == 3 || line[3] != '-' {
			return r, nil
		}
		if len(r.Lines) > 1000 {
			return r, fmt.Errorf("a reply of more than 1000 lines")
		}
	}
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
	c.conn.SetWriteDeadline(time.Now().Add(c.Timeout))
	return c.text.PrintfLine(format, args...)
}

// Hello says EHLO, and HELO when EHLO is refused, and records the
// extensions.
func (c *Client) Hello(name string) error {
	r, err := c.Cmd("EHLO %s", name)
	if err != nil {
		return err
	}
	if r.Code != 250 {
		if r, err = c.Cmd("HELO %s", name); err != nil {
			return err
		}
		if r.Code != 250 {
			return &Error{Reply: r, Stage: "HELO"}
		}
		c.Ext = map[string]string{}
		return nil
	}
	c.Ext = map[string]string{}
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
	r, err := c.Cmd("STARTTLS")
	if err != nil {
		return err
	}
	if r.Code != 220 {
		return &Error{Reply: r, Stage: "STARTTLS"}
	}
	tc := tls.Client(c.conn, cfg)
	tc.SetDeadline(time.Now().Add(c.Timeout))
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("TLS handshake: %w", err)
	}
	tc.SetDeadline(time.Time{})
	c.conn = tc
	c.text = textproto.NewConn(tc)
	c.TLS = true
	return nil
}

// Transaction sends MAIL FROM:<from> params and the recipients,
// pipelined when the server allows it, and returns the MAIL reply and one
// reply per recipient. A refused MAIL leaves the recipients' replies empty.
func (c *Client) Transaction(from, mailParams string, rcpts []string, rcptParams []string) (Reply, []Reply, error) {
	mail := "MAIL FROM:<" + from + ">" + mailParams
	if c.Has("PIPELINING") {
		c.conn.SetWriteDeadline(time.Now().Add(c.Timeout))
		w := c.text.Writer.W
		fmt.Fprintf(w, "%s\r\n", mail)
		for i, r := range rcpts {
			fmt.Fprintf(w, "RCPT TO:<%s>%s\r\n", r, rcptParams[i])
		}
		if err := w.Flush(); err != nil {
			return Reply{}, nil, err
		}
		mr, err := c.Read()
		if err != nil {
			return mr, nil, err
		}
		replies := make([]Reply, len(rcpts))
		for i := range rcpts {
			if replies[i], err = c.Read(); err != nil {
				return mr, nil, err
			}
		}
		return mr, replies, nil
	}
	mr, err := c.Cmd("%s", mail)
	if err != nil || mr.Code != 250 {
		return mr, make([]Reply, len(rcpts)), err
	}
	replies := make([]Reply, len(rcpts))
	for i, r := range rcpts {
		if replies[i], err = c.Cmd("RCPT TO:<%s>%s", r, rcptParams[i]); err != nil {
			return mr, nil, err
		}
	}
	return mr, replies, nil
}

// Data sends DATA and the message (LF or CRLF lines; dot-stuffed and sent
// with CRLF) and returns the reply after the final dot.
func (c *Client) Data(msg io.Reader) (Reply, error) {
	r, err := c.Cmd("DATA")
	if err != nil {
		return r, err
	}
	if r.Code != 354 {
		return r, &Error{Reply: r, Stage: "DATA"}
	}
	c.conn.SetWriteDeadline(time.Time{})
	w := bufio.NewWriterSize(c.conn, 64<<10)
	br := bufio.NewReaderSize(msg, 64<<10)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			line = trimEOL(line)
			if len(line) > 0 && line[0] == '.' {
				w.WriteByte('.')
			}
			w.Write(line)
			w.WriteString("\r\n")
		}
		if err == bufio.ErrBufferFull {
			return Reply{}, fmt.Errorf("a line of the message is longer than %d bytes", 64<<10)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return Reply{}, err
		}
	}
	w.WriteString(".\r\n")
	if err := w.Flush(); err != nil {
		return Reply{}, err
	}
	return c.Read()
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

// Quit says QUIT and closes the connection.
func (c *Client) Quit() {
	c.Cmd("QUIT")
	c.conn.Close()
}

// Close closes the connection without QUIT.
func (c *Client) Close() { c.conn.Close() }

// Auth authenticates with the SASL client a (RFC 4954): "AUTH <mech>
// [initial response]", then challenge and response lines until 235.
func (c *Client) Auth(a sasl.Client) error {
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
