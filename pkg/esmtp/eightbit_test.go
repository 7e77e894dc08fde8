package esmtp_test

import (
	"bufio"
	"io"
	"mime/quotedprintable"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/gocourier/courier/pkg/queue"
	"github.com/gocourier/courier/pkg/rfc2045"
)

// oldServer is a raw SMTP server from before 8BITMIME: EHLO lists only
// PIPELINING; it keeps the DATA it receives.
func oldServer(t *testing.T) (addr string, got func() []string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var mu sync.Mutex
	var msgs []string
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				rd := bufio.NewReader(c)
				io.WriteString(c, "220 old ESMTP\r\n")
				for {
					line, err := rd.ReadString('\n')
					if err != nil {
						return
					}
					switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
					case strings.HasPrefix(cmd, "EHLO"):
						io.WriteString(c, "250-old\r\n250 PIPELINING\r\n")
					case cmd == "DATA":
						io.WriteString(c, "354 go on\r\n")
						var b strings.Builder
						for {
							l, err := rd.ReadString('\n')
							if err != nil || l == ".\r\n" {
								break
							}
							b.WriteString(l)
						}
						mu.Lock()
						msgs = append(msgs, b.String())
						mu.Unlock()
						io.WriteString(c, "250 Ok\r\n")
					case cmd == "QUIT":
						io.WriteString(c, "221 Bye\r\n")
						return
					default:
						io.WriteString(c, "250 Ok\r\n")
					}
				}
			}()
		}
	}()
	return l.Addr().String(), func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), msgs...)
	}
}

// TestEightBitToSevenBitServer: an 8-bit message to a server without
// 8BITMIME arrives as valid quoted-printable; one with an 8-bit header
// fails with the reason, and nothing is sent.
// eightBit marks a message 8-bit (its 8 record).
func eightBit(env *queue.Envelope) { env.EightBit = true }

func TestEightBitToSevenBitServer(t *testing.T) {
	addr, got := oldServer(t)
	host, port, _ := net.SplitHostPort(addr)
	e := newEnv(t, ": ["+host+"],"+port+"\n")
	text := "Grüße, café — naïve\n"
	st := e.sendEnv(t, "old.example", "Subject: umlauts\nContent-Type: text/plain; charset=utf-8\n\n"+text, eightBit, "someone@old.example")[0]
	if st.Status != queue.StatusDelivered {
		t.Fatalf("status %v, info:\n%s", st.Status, replyText(st))
	}
	msgs := got()
	if len(msgs) != 1 || rfc2045.Has8bit([]byte(msgs[0])) || !strings.Contains(msgs[0], "Content-Transfer-Encoding: quoted-printable\r\n") {
		t.Fatalf("received %q", msgs)
	}
	_, body, _ := strings.Cut(msgs[0], "\r\n\r\n")
	dec, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(body)))
	if err != nil || strings.ReplaceAll(string(dec), "\r\n", "\n") != text {
		t.Errorf("the body decodes to %q, %v; want %q", dec, err, text)
	}
	st = e.sendEnv(t, "old.example", "Subject: Grüße\n\nx\n", eightBit, "someone@old.example")[0]
	if st.Status != queue.StatusFailed || !strings.Contains(replyText(st), "8-bit characters in its header") {
		t.Errorf("8-bit header: status %v, info:\n%s", st.Status, replyText(st))
	}
	if len(got()) != 1 {
		t.Errorf("the message with an 8-bit header was sent")
	}
}
