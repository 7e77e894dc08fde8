package smtpd_test

import (
	"strings"
	"testing"
)

// BenchmarkTransaction is one whole SMTP transaction through couriertcpd
// and a pass-mode courieresmtpd on a kept connection: MAIL, RCPT (with the
// account lookup through authdaemond), DATA of a 2 KB message queued and
// fsynced, and the 250 reply.
func BenchmarkTransaction(b *testing.B) {
	e := newEnv(b, "")
	d := e.start(b, nil)
	c := newDialogue(b, "127.0.0.2", d.addr)
	c.hello()
	msg := "Subject: bench\r\n\r\n" + strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n", 30)
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	for b.Loop() {
		c.send("MAIL FROM:<sender@remote.example>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n")
		for _, want := range []string{"250", "250", "354"} {
			if r := c.reply(); !strings.HasPrefix(r, want) {
				b.Fatalf("reply %q, want %s", r, want)
			}
		}
		c.send(msg + ".\r\n")
		if r := c.reply(); !strings.HasPrefix(r, "250 Ok. ") {
			b.Fatalf("after DATA: %q", r)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
