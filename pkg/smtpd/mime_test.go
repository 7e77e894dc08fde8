package smtpd_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestMIME: the original's submit refuses a message of more than 300 MIME
// parts and rewrites the MIME headers of one that lacks some, before it
// is queued; 8-bit bytes in a part's header make it SMTPUTF8.
func TestMIME(t *testing.T) {
	e := newEnv(t, testBofh)
	d := e.start(t, nil)
	c := newDialogue(t, "127.0.0.1", d.addr)
	c.hello()
	send := func(msg string) string {
		c.expect("MAIL FROM:<s@remote.example>", "250 *")
		c.expect("RCPT TO:<alice@example.test>", "250 *")
		return c.data(strings.ReplaceAll(msg, "\n", "\r\n"))
	}
	var b strings.Builder
	b.WriteString("Subject: many\nMime-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n")
	for i := 0; i < 301; i++ {
		fmt.Fprintf(&b, "--b\nContent-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 7bit\n\n%d\n", i)
	}
	b.WriteString("--b--\n")
	if r := send(b.String()); r != "550 Message MIME complexity exceeds the policy maximum." {
		t.Errorf("301 parts: %q", r)
	}

	id := queueID(t, send("Subject: rw\nMime-Version: 1.0\nContent-Type: multipart/mixed; boundary=xx\n\npre\n--xx\nContent-Type: text/plain\n\none\n--xx\nContent-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 8bit\n\ntwo\n--xx--\nepi\n"))
	_, data := e.message(t, id)
	i := strings.Index(data, "boundary=\"=_")
	if i < 0 {
		t.Fatalf("not rewritten:\n%s", data)
	}
	bnd := data[i+len("boundary=\"") : i+strings.IndexByte(data[i+len("boundary=\""):], '"')+len("boundary=\"")]
	want := "\nSubject: rw\nMime-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"" + bnd + "\"\n"
	wantBody := "\n\nThis is a MIME-formatted message.  If you see this text it means that your\nE-mail software does not support MIME-formatted messages.\n" +
		"\n--" + bnd + "\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 7bit\n\none" +
		"\n--" + bnd + "\nContent-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 7bit\nX-Mime-Autoconverted: from 8bit to 7bit by courier 1.0\n\ntwo" +
		"\n--" + bnd + "--\n"
	if !strings.Contains(data, want) || !strings.HasSuffix(data, wantBody) || !strings.HasSuffix(bnd, "-2") {
		t.Errorf("rewritten message:\n%s", data)
	}

	id = queueID(t, send("Subject: ok\nMime-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain; name=\"\xc3\xa9\"; charset=utf-8\nContent-Transfer-Encoding: 7bit\n\nx\n--b--\n"))
	ctl, data := e.message(t, id)
	if !ctl.SMTPUTF8 || !strings.Contains(data, "\n--b\n") {
		t.Errorf("8-bit part header: SMTPUTF8 %v, data\n%s", ctl.SMTPUTF8, data)
	}
}
