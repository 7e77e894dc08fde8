package smtpclient

import (
	"bufio"
	"crypto/hmac"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestReadReply(t *testing.T) {
	good := map[string]Reply{
		"250 OK\r\n":                           {250, []string{"OK"}},
		"250-first\r\n250-second\r\n250 end\n": {250, []string{"first", "second", "end"}},
		"354\r\n":                              {354, []string{""}},
		"550 User <a@b> unknown\r\n":           {550, []string{"User <a@b> unknown"}},
	}
	for in, want := range good {
		r, err := ReadReply(bufio.NewReader(strings.NewReader(in)))
		if err != nil || r.String() != (Reply{want.Code, want.Lines}).String() || r.Code != want.Code {
			t.Errorf("ReadReply(%q) = %+v, %v; want %+v", in, r, err, want)
		}
	}
	for _, in := range []string{
		"25\r\n", "abc hello\r\n", "250xhello\r\n", "650 no\r\n", "199 no\r\n",
		"250-a\r\n251 b\r\n", "250-a\r\n", "250 no end of line",
		"250 " + strings.Repeat("x", MaxLine+10) + "\r\n",
		strings.Repeat("250-x\r\n", MaxReplyLines+1) + "250 end\r\n",
	} {
		r, err := ReadReply(bufio.NewReader(strings.NewReader(in)))
		if !errors.Is(err, ErrMalformed) {
			short := in
			if len(short) > 40 {
				short = short[:40] + "..."
			}
			t.Errorf("ReadReply(%q) = %+v, %v; want an ErrMalformed error", short, r, err)
		}
	}
	if _, err := ReadReply(bufio.NewReader(strings.NewReader(""))); err != io.EOF {
		t.Errorf("empty input: %v, want io.EOF", err)
	}
}

func FuzzReadReply(f *testing.F) {
	f.Add([]byte("250-host\r\n250-PIPELINING\r\n250 8BITMIME\r\n"))
	f.Add([]byte("550 5.1.1 unknown\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReader(strings.NewReader(string(data)))
		for i := 0; i < 100; i++ {
			r, err := ReadReply(br)
			if err != nil {
				if err != io.EOF && !errors.Is(err, ErrMalformed) {
					t.Fatalf("unexpected error kind: %v", err)
				}
				return
			}
			if r.Code < 200 || r.Code > 599 || len(r.Lines) == 0 || len(r.Lines) > MaxReplyLines {
				t.Fatalf("accepted %+v", r)
			}
			for _, l := range r.Lines {
				if len(l) > MaxLine || strings.ContainsAny(l, "\n") {
					t.Fatalf("line %q", l)
				}
			}
		}
	})
}

// server runs handle on one accepted loopback connection and returns a
// client connected to it.
func server(t *testing.T, handle func(c net.Conn, r *bufio.Reader)) net.Conn {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := l.Accept()
		l.Close()
		if err != nil {
			return
		}
		defer c.Close()
		handle(c, bufio.NewReader(c))
	}()
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(); <-done })
	return conn
}

var timeouts = Timeouts{Helo: 5 * time.Second, Command: 5 * time.Second, Data: 5 * time.Second, Quit: time.Second}

func expect(t *testing.T, r *bufio.Reader, want string) bool {
	line, err := r.ReadString('\n')
	if err != nil || line != want+"\r\n" {
		t.Errorf("server got %q (%v), want %q", line, err, want)
		return false
	}
	return true
}

// TestPipelinedTransaction: with PIPELINING the server receives MAIL
// and every RCPT before it sends a single reply (it would wait forever
// for a client that waited for the MAIL reply); the message is
// dot-stuffed and sent with CRLF, also a line longer than the buffer.
func TestPipelinedTransaction(t *testing.T) {
	long := strings.Repeat("y", 100<<10)
	gotData := make(chan string, 1)
	conn := server(t, func(c net.Conn, r *bufio.Reader) {
		io.WriteString(c, "220 test ESMTP\r\n")
		if !expect(t, r, "EHLO me.test") {
			return
		}
		io.WriteString(c, "250-test\r\n250-PIPELINING\r\n250 SIZE 1000000\r\n")
		for _, want := range []string{"MAIL FROM:<a@me.test> SIZE=10", "RCPT TO:<x@test>", "RCPT TO:<y@test> NOTIFY=NEVER", "RCPT TO:<z@test>"} {
			if !expect(t, r, want) {
				return
			}
		}
		io.WriteString(c, "250 ok\r\n250 ok\r\n550-no such\r\n550 user\r\n451 later\r\n")
		if !expect(t, r, "DATA") {
			return
		}
		io.WriteString(c, "354 go\r\n")
		var b strings.Builder
		for {
			l, err := r.ReadString('\n')
			if err != nil || l == ".\r\n" {
				break
			}
			b.WriteString(l)
		}
		gotData <- b.String()
		io.WriteString(c, "250 queued\r\n")
		if expect(t, r, "QUIT") {
			io.WriteString(c, "221 bye\r\n")
		}
	})
	c, err := New(conn, timeouts)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Hello("me.test"); err != nil || !c.Has("PIPELINING") || c.Ext["SIZE"] != "1000000" {
		t.Fatalf("Hello: %v, ext %v", err, c.Ext)
	}
	mr, rr, err := c.Transaction("a@me.test", " SIZE=10", []string{"x@test", "y@test", "z@test"}, []string{"", " NOTIFY=NEVER", ""})
	if err != nil || mr.Code != 250 || len(rr) != 3 || rr[0].Code != 250 || rr[1].String() != "550-no such\n550 user" || rr[2].Code != 451 {
		t.Fatalf("Transaction: %v %v %v", mr, rr, err)
	}
	dr, err := c.Data(strings.NewReader("Subject: x\n\n.dot\r\n..two\n" + long + "\nlast"))
	if err != nil || dr.Code != 250 {
		t.Fatalf("Data: %v %v", dr, err)
	}
	if got, want := <-gotData, "Subject: x\r\n\r\n..dot\r\n...two\r\n"+long+"\r\nlast\r\n"; got != want {
		t.Errorf("the server received %d bytes, want %d (%.60q)", len(got), len(want), got)
	}
	c.Quit()
}

// TestNotPipelined: without PIPELINING each command waits for its reply,
// and a refused MAIL sends no RCPT.
func TestNotPipelined(t *testing.T) {
	conn := server(t, func(c net.Conn, r *bufio.Reader) {
		io.WriteString(c, "220 test\r\n")
		r.ReadString('\n')
		io.WriteString(c, "500 what\r\n")
		if expect(t, r, "HELO me.test") {
			io.WriteString(c, "250 hi\r\n")
		}
		if expect(t, r, "MAIL FROM:<>") {
			io.WriteString(c, "553 not from you\r\n")
		}
		if l, err := r.ReadString('\n'); err == nil {
			t.Errorf("the client went on after a refused MAIL: %q", l)
		}
	})
	c, err := New(conn, timeouts)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Hello("me.test"); err != nil || len(c.Ext) != 0 {
		t.Fatalf("HELO fallback: %v %v", err, c.Ext)
	}
	mr, rr, err := c.Transaction("", "", []string{"x@test"}, []string{""})
	if err != nil || mr.Code != 553 || rr[0].Code != 0 {
		t.Errorf("Transaction: %v %v %v", mr, rr, err)
	}
	c.Close()
}

// TestCRAMMD5: the response is the user and the HMAC-MD5 of the
// challenge (RFC 2195).
func TestCRAMMD5(t *testing.T) {
	challenge := "<1896.697170952@postoffice.example.net>"
	conn := server(t, func(c net.Conn, r *bufio.Reader) {
		io.WriteString(c, "220 test\r\n")
		if !expect(t, r, "AUTH CRAM-MD5") {
			return
		}
		io.WriteString(c, "334 "+base64.StdEncoding.EncodeToString([]byte(challenge))+"\r\n")
		line, _ := r.ReadString('\n')
		resp, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(line))
		h := hmac.New(md5.New, []byte("tanstaaftanstaaf"))
		h.Write([]byte(challenge))
		if string(resp) == "tim "+hex.EncodeToString(h.Sum(nil)) {
			io.WriteString(c, "235 ok\r\n")
		} else {
			io.WriteString(c, "535 no\r\n")
		}
	})
	c, err := New(conn, timeouts)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(CRAMMD5{User: "tim", Password: "tanstaaftanstaaf"}); err != nil {
		t.Errorf("Auth: %v", err)
	}
	c.Close()
}

// TestTimeout: a server that never answers ends the wait after the
// stage's timeout.
func TestTimeout(t *testing.T) {
	conn := server(t, func(c net.Conn, r *bufio.Reader) {
		io.WriteString(c, "220 test\r\n")
		r.ReadString('\n')
		r.ReadString('\n') // until the client gives up
	})
	c, err := New(conn, Timeouts{Helo: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Hello("me.test")
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("Hello against a silent server: %v, want a timeout", err)
	}
	c.Close()
}
