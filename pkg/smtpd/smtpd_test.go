package smtpd_test

import (
	"strings"
	"testing"
)

const testBofh = "maxrcpts 3\nspamtrap trap@example.test\nbadfrom @spam.example\nfreemail freemail.example\n"

func TestDelivery(t *testing.T) {
	e := newEnv(t, testBofh)
	d := e.start(t, nil)
	c := newDialogue(t, "127.0.0.2", d.addr)
	if r := c.reply(); r != "220 mx.example.test ESMTP" {
		t.Errorf("greeting %q, want the original's default", r)
	}
	ehlo := c.cmd("EHLO client.example")
	for _, want := range []string{"PIPELINING", "8BITMIME", "DSN", "SIZE", "STARTTLS", "SMTPUTF8"} {
		if !strings.Contains(ehlo, "250-"+want+"\n") && !strings.HasSuffix(ehlo, "250 "+want) {
			t.Errorf("EHLO reply lacks %s:\n%s", want, ehlo)
		}
	}
	if strings.Contains(ehlo, "AUTH") {
		t.Errorf("AUTH offered before TLS with ESMTPAUTH empty:\n%s", ehlo)
	}
	if r := c.cmd("MAIL FROM:<sender@remote.example> SIZE=100 BODY=8BITMIME RET=HDRS ENVID=x+2By"); !strings.HasPrefix(r, "250 ") {
		t.Fatalf("MAIL: %q", r)
	}
	if r := c.cmd("RCPT TO:<alice@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;alice@example.test"); !strings.HasPrefix(r, "250 ") {
		t.Fatalf("RCPT alice: %q", r)
	}
	if r := c.cmd("RCPT TO:<team@example.test>"); !strings.HasPrefix(r, "250 ") {
		t.Fatalf("RCPT team: %q", r)
	}
	if r := c.cmd("DATA"); !strings.HasPrefix(r, "354") {
		t.Fatalf("DATA: %q", r)
	}
	c.send("Subject: hello\r\nTo: alice@example.test\r\n\r\nbody line\r\n..dot line\r\n.\r\n")
	id := queueID(t, c.reply())
	ctl, data := e.message(t, id)
	if ctl.Sender != "sender@remote.example" || ctl.Source != "smtp" || ctl.Ret != "H" || ctl.EnvID != "x+2By" || !ctl.EightBit || !ctl.Track {
		t.Errorf("envelope %+v", ctl)
	}
	var rcpts []string
	for _, r := range ctl.Recipients {
		rcpts = append(rcpts, r.Address)
	}
	if got := strings.Join(rcpts, " "); got != "alice@example.test team@example.test bob@example.test" {
		t.Errorf("recipients %q", got)
	}
	if n := ctl.Recipients[0]; n.Notify.String() != "SUCCESS,FAILURE" || n.ORCPT != "rfc822;alice@example.test" {
		t.Errorf("alice's DSN options: notify %v orcpt %q", n.Notify, n.ORCPT)
	}
	if ctl.ReceivedFrom != "dns; client.example ([::ffff:127.0.0.2])" {
		t.Errorf("f record %q", ctl.ReceivedFrom)
	}
	wantRcvd := "Received: from client.example ([::ffff:127.0.0.2])\n  by mx.example.test with ESMTP\n  id " + ctl.ID.String() + "; "
	if !strings.HasPrefix(data, wantRcvd) {
		t.Errorf("message starts %q, want %q", data[:min(len(data), 200)], wantRcvd)
	}
	if !strings.Contains(data, "\nSubject: hello\n") || !strings.HasSuffix(data, "\n\nbody line\n.dot line\n") {
		t.Errorf("message data %q", data)
	}
	if r := c.cmd("QUIT"); !strings.HasPrefix(r, "221") {
		t.Errorf("QUIT: %q", r)
	}
}
