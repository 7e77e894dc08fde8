package smtpd_test

import (
	"bufio"
	"crypto/hmac"
	"crypto/md5"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/gocourier/courier/pkg/privsep"
	"github.com/gocourier/courier/test/testenv"
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

func TestRules(t *testing.T) {
	e := newEnv(t, testBofh)
	d := e.start(t, nil)
	msg := "Subject: test\r\n\r\nhello\r\n"
	count := func() int { return len(e.messages(t)) }

	t.Run("relaying", func(t *testing.T) {
		c := newDialogue(t, "127.0.0.2", d.addr)
		c.hello()
		c.expect("MAIL FROM:<sender@remote.example>", "250 *")
		c.expect("RCPT TO:<someone@elsewhere.example>", "513 Relaying denied.")
		c.expect("RCPT TO:<someone@backup.example>", "250 *") // esmtpacceptmailfor
		c.expect("RCPT TO:<nosuchuser@example.test>", "550 User <nosuchuser@example.test> unknown")
		c.expect("RCPT TO:<bob@example.test>", "250 *")
		// An alias in a hosted domain other than the default one: a
		// hosted domain keeps its name for the alias lookup.
		c.expect("RCPT TO:<staff@other.example>", "250 *")
		ctl, _ := e.message(t, queueID(t, c.data(msg)))
		if ctl.Source != "smtp" || len(ctl.Recipients) != 3 {
			t.Errorf("source %q, recipients %+v", ctl.Source, ctl.Recipients)
		}
		r := newDialogue(t, "127.0.0.1", d.addr) // RELAYCLIENT
		r.hello()
		r.expect("MAIL FROM:<sender@example.test>", "250 *")
		r.expect("RCPT TO:<someone@elsewhere.example>", "250 *")
		r.expect("RCPT TO:<nosuchuser@example.test>", "550 User <nosuchuser@example.test> unknown")
		ctl, _ = e.message(t, queueID(t, r.data(msg)))
		if ctl.Source != "authsmtp" || ctl.Track || len(ctl.Recipients) != 1 || ctl.Recipients[0].Address != "someone@elsewhere.example" {
			t.Errorf("relayed message: source %q track %v recipients %+v", ctl.Source, ctl.Track, ctl.Recipients)
		}
	})

	t.Run("sizes", func(t *testing.T) {
		c := newDialogue(t, "127.0.0.2", d.addr)
		c.hello()
		c.expect("MAIL FROM:<sender@remote.example> SIZE=20000000", "534 SIZE=Message too big.")
		small := newDialogue(t, "127.0.0.4", d.addr) // SIZELIMIT=2000
		small.hello()
		small.expect("MAIL FROM:<sender@remote.example> SIZE=2001", "534 SIZE=Message too big.")
		small.expect("MAIL FROM:<sender@remote.example> SIZE=1000", "250 *")
		small.expect("RCPT TO:<bob@example.test>", "250 *")
		before := count()
		big := "Subject: big\r\n\r\n" + strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef\r\n", 100)
		if r := small.data(big); r != "523 Message length (5016 bytes) exceeds administrative limit(2000)." {
			t.Errorf("DATA over SIZELIMIT: %q", r)
		}
		if n := count(); n != before {
			t.Errorf("%d messages queued by a refused DATA", n-before)
		}
		small.expect("NOOP", "250 *")
	})

	t.Run("maxrcpts", func(t *testing.T) {
		c := newDialogue(t, "127.0.0.2", d.addr)
		c.hello()
		c.expect("MAIL FROM:<sender@remote.example>", "250 *")
		for range 3 {
			c.expect("RCPT TO:<bob@example.test>", "250 *")
		}
		c.expect("RCPT TO:<alice@example.test>", "431 Too many recipients.")
	})

	t.Run("BLOCK", func(t *testing.T) {
		c := newDialogue(t, "127.0.0.3", d.addr)
		c.hello()
		c.expect("MAIL FROM:<sender@remote.example>", "250 *")
		c.expect("RCPT TO:<bob@example.test>", "550 Mail from your network is refused.")
		c.expect("RSET", "250 *")
		c.startTLS(e.tlsConfig())
		c.expect("AUTH PLAIN "+plain("bob@example.test", password), "235 *")
		c.expect("MAIL FROM:<bob@example.test>", "250 *")
		c.expect("RCPT TO:<alice@example.test>", "250 *") // AUTH clears BLOCK, as in the original
	})

	t.Run("senders", func(t *testing.T) {
		c := newDialogue(t, "127.0.0.2", d.addr)
		c.hello()
		c.expect("MAIL FROM:<someone@spam.example>", "517 Sender rejected: someone@spam.example")
		c.expect("MAIL FROM:<someone@freemail.example>", "517-Sender rejected: someone@freemail.example can be accepted only from\n517 freemail.example's mail relays.")
		c.expect("MAIL FROM:<someone@nodot>", "517 Syntax error.")
		c.expect("MAIL FROM:<>", "250 *")
		r := newDialogue(t, "127.0.0.1", d.addr) // RELAYCLIENT: freemail does not apply
		r.hello()
		r.expect("MAIL FROM:<someone@freemail.example>", "250 *")
	})

	t.Run("spamtrap", func(t *testing.T) {
		c := newDialogue(t, "127.0.0.2", d.addr)
		c.hello()
		c.expect("MAIL FROM:<sender@remote.example>", "250 *")
		c.expect("RCPT TO:<bob@example.test>", "250 *")
		c.expect("RCPT TO:<trap@example.test>", "250 *")
		before := count()
		if r := c.data(msg); r != "550 Spam refused." {
			t.Errorf("DATA with a spam trap recipient: %q", r)
		}
		if n := count(); n != before {
			t.Errorf("%d messages queued for a spam trap", n-before)
		}
	})

	t.Run("backscatter", func(t *testing.T) {
		// The scheduler's records (track.Tracker.Record refuses to write
		// as root into the courier user's queue).
		now := time.Now().Unix()
		testenv.WriteFile(t, filepath.Join(e.s.Layout.LocalstateDir, "track", strconv.FormatInt(now/3600, 10)),
			fmt.Sprintf("%d Fgone@elsewhere.example\n%d Dalice@example.test\n", now, now), 0o644)
		e.chownQueue(t)
		c := newDialogue(t, "127.0.0.2", d.addr)
		c.hello()
		c.expect("MAIL FROM:<>", "250 *")
		c.expect("RCPT TO:<alice@example.test>", "456 Address temporarily unavailable.")
		c.expect("RCPT TO:<team@example.test>", "456 Address temporarily unavailable.") // a member is listed
		r := newDialogue(t, "127.0.0.1", d.addr)                                        // authsmtp: not suppressed by default
		r.hello()
		r.expect("MAIL FROM:<>", "250 *")
		r.expect("RCPT TO:<gone@elsewhere.example>", "250 *")
		r.expect("RCPT TO:<alice@example.test>", "250 *")
	})

	t.Run("AUTH", func(t *testing.T) {
		c := newDialogue(t, "127.0.0.2", d.addr)
		c.hello()
		c.expect("AUTH PLAIN "+plain("alice@example.test", password), "502 ESMTP command error")
		c.startTLS(e.tlsConfig())
		c.expect("AUTH PLAIN "+plain("alice@example.test", "wrong"), "535 Authentication failed.")
		c.expect("AUTH LOGIN", "334 VXNlcm5hbWU6")
		c.expect(b64("alice@example.test"), "334 UGFzc3dvcmQ6")
		c.expect(b64("wrong"), "535 Authentication failed.")
		c.expect("AUTH XYZZY", "535 Authentication failed.")
		ch := c.expect("AUTH CRAM-MD5", "334 *")
		chal, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(ch, "334 "))
		if err != nil || !strings.HasSuffix(string(chal), "@mx.example.test>") {
			t.Fatalf("CRAM-MD5 challenge %q (%v)", chal, err)
		}
		m := hmac.New(md5.New, []byte(password))
		m.Write(chal)
		c.expect(b64("alice@example.test "+hex.EncodeToString(m.Sum(nil))), "235 *")
		c.expect("AUTH PLAIN", "503 *") // go-smtp's "Already authenticated"
		c.expect("MAIL FROM:<alice@example.test>", "250 *")
		c.expect("RCPT TO:<someone@elsewhere.example>", "250 *")
		ctl, data := e.message(t, queueID(t, c.data(msg)))
		if ctl.AuthUser != "alice@example.test" || ctl.Source != "authsmtp" {
			t.Errorf("authenticated message: auth %q source %q", ctl.AuthUser, ctl.Source)
		}
		rcvd := "Received: from client.example ([::ffff:127.0.0.2])\n  (AUTH: CRAM-MD5 alice@example.test, TLS: TLS1.3,"
		if !strings.HasPrefix(data, rcvd) || !strings.Contains(data, "\n  by mx.example.test with ESMTPSA\n") {
			t.Errorf("Received line of an authenticated message:\n%s", data[:min(300, len(data))])
		}
	})

	t.Run("AUTH LOGIN and PLAIN", func(t *testing.T) {
		c := newDialogue(t, "127.0.0.2", d.addr)
		c.hello()
		c.startTLS(e.tlsConfig())
		c.expect("AUTH LOGIN "+b64("bob@example.test"), "334 UGFzc3dvcmQ6")
		c.expect(b64(password), "235 *")
		p := newDialogue(t, "127.0.0.2", d.addr)
		p.hello()
		p.startTLS(e.tlsConfig())
		p.expect("AUTH PLAIN", "334 ")
		p.expect(plain("bob@example.test", password), "235 *")
		p.expect("MAIL FROM:<bob@example.test>", "250 *")
		p.expect("RCPT TO:<someone@elsewhere.example>", "250 *")
	})

	t.Run("ESMTP_TLS_REQUIRED", func(t *testing.T) {
		c := newDialogue(t, "127.0.0.5", d.addr)
		c.hello()
		c.expect("MAIL FROM:<sender@remote.example>", "400 STARTTLS is required first.")
		c.startTLS(e.tlsConfig())
		c.expect("MAIL FROM:<sender@remote.example>", "250 *")
	})

	t.Run("syntax", func(t *testing.T) {
		c := newDialogue(t, "127.0.0.1", d.addr)
		c.hello()
		c.expect("MAIL FROM:<sender@remote.example>", "250 *")
		c.expect("RCPT TO:<bob@example..test>", "513 *")
		c.expect(`RCPT TO:<"bob smith"@elsewhere.example>`, "250 *")
		c.expect("RCPT TO:<.xalias/x@mx.example.test>", "550 *")
		// The percent hack, for a domain in esmtppercentrelay only.
		p := newDialogue(t, "127.0.0.2", d.addr)
		p.hello()
		p.expect("MAIL FROM:<sender@remote.example>", "250 *")
		p.expect("RCPT TO:<someone%elsewhere.example@example.test>", "550 User <someone%elsewhere.example@example.test> unknown")
		p.expect("RCPT TO:<someone%backup.example@example.test>", "250 *")
		ctl, _ := e.message(t, queueID(t, p.data(msg)))
		if len(ctl.Recipients) != 1 || ctl.Recipients[0].Address != "someone@backup.example" {
			t.Errorf("percent hack recipients %+v", ctl.Recipients)
		}
	})
}

func plain(user, pw string) string { return b64("\x00" + user + "\x00" + pw) }

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// TestPerClientHeaders: in pass mode, one process serves every client, and
// the access file's NOADDMSGID and NOADDDATE still apply per client.
func TestPerClientHeaders(t *testing.T) {
	e := newEnv(t, "")
	d := e.start(t, nil)
	for _, c := range []struct {
		ip   string
		adds bool
	}{{"127.0.0.6", true}, {"127.0.0.2", false}} {
		cl := client(t, c.ip, d.addr)
		if err := cl.SendMail("sender@remote.example", []string{"bob@example.test"}, strings.NewReader("Subject: headers\r\n\r\nhello\r\n")); err != nil {
			t.Fatal(err)
		}
		cl.Close()
		_, data := e.message(t, "")
		got := strings.Contains(data, "\nMessage-ID: <courier.") && strings.Contains(data, "\nDate: ")
		if got != c.adds {
			t.Errorf("from %s: Message-ID and Date added %v, want %v:\n%s", c.ip, got, c.adds, data)
		}
	}
}

// TestServices runs the other configurations: submission (AUTH_REQUIRED,
// esmtpd-msa), SMTPS (ESMTP_TLS=1, esmtpd-ssl), exec mode, and a pass-mode
// server that rereads its configuration on SIGHUP.
func TestServices(t *testing.T) {
	e := newEnv(t, "")
	msg := "Subject: test\r\n\r\nhello\r\n"

	t.Run("msa", func(t *testing.T) {
		d := e.start(t, []string{"AUTH_REQUIRED=1", "NOADDMSGID=0", "NOADDDATE=0"})
		c := client(t, "127.0.0.1", d.addr) // even a RELAYCLIENT must authenticate
		if n, m := code(c.Mail("alice@example.test", nil)); n != 535 || m != "Authentication required." {
			t.Errorf("MAIL without AUTH: %d %q", n, m)
		}
		c.Close()
		c, err := smtp.NewClientStartTLS(dialRaw(t, "127.0.0.2", d.addr), e.tlsConfig())
		if err != nil {
			t.Fatal(err)
		}
		if ok, mechs := c.Extension("AUTH"); !ok || mechs != "PLAIN LOGIN CRAM-MD5" {
			t.Errorf("AUTH after STARTTLS: %v %q", ok, mechs)
		}
		if err := c.Auth(sasl.NewPlainClient("", "alice@example.test", password)); err != nil {
			t.Fatal(err)
		}
		if err := c.SendMail("alice@example.test", []string{"someone@elsewhere.example"}, strings.NewReader(msg)); err != nil {
			t.Fatal(err)
		}
		ctls := e.messages(t)
		ctl := ctls[len(ctls)-1]
		data, _ := os.ReadFile(e.q.DataPath(ctl.ID.Inode))
		if ctl.AuthUser != "alice@example.test" || !strings.Contains(string(data), "\nMessage-ID: <courier.") || !strings.Contains(string(data), "\nDate: ") {
			t.Errorf("submitted message: auth %q\n%s", ctl.AuthUser, data)
		}
	})

	t.Run("smtps", func(t *testing.T) {
		d := e.start(t, []string{"ESMTP_TLS=1"})
		tc := tls.Client(dialRaw(t, "127.0.0.2", d.addr), e.tlsConfig())
		c := &dialogue{t: t, c: tc, rd: bufio.NewReader(tc)}
		if r := c.reply(); r != "220 mx.example.test ESMTP" {
			t.Errorf("SMTPS greeting %q", r)
		}
		ehlo := c.cmd("EHLO client.example")
		if strings.Contains(ehlo, "STARTTLS") || !strings.Contains(ehlo, "AUTH PLAIN LOGIN CRAM-MD5") {
			t.Errorf("EHLO under implicit TLS:\n%s", ehlo)
		}
		c.expect("AUTH PLAIN "+plain("bob@example.test", password), "235 *")
		c.expect("MAIL FROM:<bob@example.test>", "250 *")
		c.expect("RCPT TO:<someone@elsewhere.example>", "250 *")
		_, data := e.message(t, queueID(t, c.data(msg)))
		if !strings.Contains(data, "\n  (AUTH: PLAIN bob@example.test, TLS: TLS1.3,") || !strings.Contains(data, "with ESMTPSA\n") {
			t.Errorf("Received line under SMTPS:\n%s", data)
		}
	})

	t.Run("exec mode", func(t *testing.T) {
		d := e.start(t, nil, "-exec")
		c := newDialogue(t, "127.0.0.2", d.addr)
		c.hello()
		c.expect("MAIL FROM:<sender@remote.example>", "250 *")
		c.expect("RCPT TO:<someone@elsewhere.example>", "513 Relaying denied.")
		c.expect("RCPT TO:<bob@example.test>", "250 *")
		ctl, _ := e.message(t, queueID(t, c.data(msg)))
		if ctl.ReceivedFrom != "dns; client.example ([::ffff:127.0.0.2])" {
			t.Errorf("f record %q", ctl.ReceivedFrom)
		}
		c.expect("QUIT", "221 *")
		// Each connection is a new process, which reads the control
		// files afresh.
		e.s.WriteConfig(t, "esmtpgreeting", "first line\nmx.example.test welcomes you\n", 0o644)
		defer os.Remove(e.s.Layout.Config("esmtpgreeting"))
		c = newDialogue(t, "127.0.0.2", d.addr)
		if r := c.reply(); r != "220-first line\n220 mx.example.test welcomes you" {
			t.Errorf("multi-line greeting %q", r)
		}
	})

	t.Run("privileges", func(t *testing.T) {
		testenv.NeedRoot(t)
		d := e.start(t, nil)
		mail, err := privsep.LookupUser(e.s.Layout.MailUser)
		if err != nil {
			t.Fatal(err)
		}
		tasks, err := privsep.ReadTasks(serverPID(t, d))
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range tasks {
			if task.UID != [4]uint32{mail.UID, mail.UID, mail.UID, mail.UID} {
				t.Errorf("courieresmtpd thread %d has uids %v, want only the mail user's %d", task.TID, task.UID, mail.UID)
			}
		}
	})

	t.Run("SMTPUTF8", func(t *testing.T) {
		d := e.start(t, nil)
		c := newDialogue(t, "127.0.0.2", d.addr)
		c.hello()
		c.expect("MAIL FROM:<jöran@remote.example>", "517 Syntax error.") // UTF-8 only with SMTPUTF8
		c.expect("MAIL FROM:<jöran@bücher.example> SMTPUTF8", "250 *")
		c.expect("RCPT TO:<bob@example.test>", "250 *")
		ctl, data := e.message(t, queueID(t, c.data("Subject: grüße\r\n\r\nhallo\r\n")))
		if !ctl.SMTPUTF8 || ctl.Sender != "jöran@bücher.example" || !strings.Contains(data, "\n  by mx.example.test with UTF8SMTP\n") {
			t.Errorf("SMTPUTF8 message: m %v sender %q\n%s", ctl.SMTPUTF8, ctl.Sender, data)
		}
	})

	t.Run("HELO", func(t *testing.T) {
		d := e.start(t, nil)
		c := newDialogue(t, "127.0.0.2", d.addr)
		c.reply()
		c.expect("HELO old.client", "250 *")
		c.expect("MAIL FROM:<sender@remote.example>", "250 *")
		c.expect("RCPT TO:<bob@example.test>", "250 *")
		_, data := e.message(t, queueID(t, c.data("Subject: helo\r\n\r\nhi\r\n")))
		if !strings.HasPrefix(data, "Received: from old.client ([::ffff:127.0.0.2])\n  by mx.example.test with SMTP\n") {
			t.Errorf("Received line after HELO:\n%s", data)
		}
	})

	t.Run("SIGHUP", func(t *testing.T) {
		d := e.start(t, nil)
		c := newDialogue(t, "127.0.0.2", d.addr)
		if r := c.reply(); r != "220 mx.example.test ESMTP" {
			t.Errorf("greeting %q", r)
		}
		e.s.WriteConfig(t, "esmtpgreeting", "reloaded\n", 0o644)
		defer os.Remove(e.s.Layout.Config("esmtpgreeting"))
		pid := serverPID(t, d)
		if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		testenv.WaitFor(t, "the reload", func() bool { return strings.Contains(d.log.String(), "configuration reloaded") })
		c = newDialogue(t, "127.0.0.2", d.addr)
		if r := c.reply(); r != "220 reloaded" {
			t.Errorf("greeting after SIGHUP %q", r)
		}
	})
}

// TestTerm: SIGTERM lets a message being received finish (couriertcpd
// waits 10 seconds for its server).
func TestTerm(t *testing.T) {
	e := newEnv(t, "")
	d := e.start(t, nil)
	c := newDialogue(t, "127.0.0.2", d.addr)
	c.hello()
	c.expect("MAIL FROM:<sender@remote.example>", "250 *")
	c.expect("RCPT TO:<bob@example.test>", "250 *")
	c.expect("DATA", "354 *")
	c.send("Subject: cut?\r\n\r\nfirst half\r\n")
	time.Sleep(200 * time.Millisecond) // the server is inside DATA
	pid := serverPID(t, d)
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	c.send("second half\r\n.\r\n")
	_, data := e.message(t, queueID(t, c.reply()))
	if !strings.HasSuffix(data, "first half\nsecond half\n") {
		t.Errorf("message %q", data)
	}
	testenv.WaitFor(t, "courieresmtpd to stop", func() bool {
		return strings.Contains(d.log.String(), "terminated: stopping (0 messages still being received were cut off)")
	})
}

// serverPID is the pass-mode courieresmtpd under a couriertcpd.
func serverPID(t *testing.T, d *daemon) int {
	t.Helper()
	var pid int
	testenv.WaitFor(t, "courieresmtpd under couriertcpd", func() bool {
		for _, p := range testenv.Descendants(d.cmd.Process.Pid) {
			if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p.PID)); strings.TrimSpace(string(comm)) == "courieresmtpd" {
				pid = p.PID
				return true
			}
		}
		return false
	})
	return pid
}

// TestRepliesTogether: the lines of a multi-line reply, and the replies to
// a group of pipelined commands, leave together (RFC 2920 §3.2): one read
// of the client gets them all, sent as they are once the server has
// nothing more to read.
func TestRepliesTogether(t *testing.T) {
	e := newEnv(t, "")
	d := e.start(t, nil)
	c := newDialogue(t, "127.0.0.2", d.addr)
	if r := c.reply(); !strings.HasPrefix(r, "220") || c.rd.Buffered() != 0 {
		t.Fatalf("greeting %q", r)
	}
	// readOnce reads once and checks the lines got against want's
	// prefixes; a want ending in "..." stands for any number of lines
	// with that prefix.
	readOnce := func(what string, want ...string) {
		t.Helper()
		buf := make([]byte, 4096)
		c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := c.c.Read(buf)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		got := string(buf[:n])
		lines := strings.Split(strings.TrimSuffix(got, "\r\n"), "\r\n")
		for _, w := range want {
			if p, ok := strings.CutSuffix(w, "..."); ok {
				for len(lines) > 1 && strings.HasPrefix(lines[0], p) {
					lines = lines[1:]
				}
				continue
			}
			if len(lines) == 0 || !strings.HasPrefix(lines[0], w) {
				t.Fatalf("%s: one read got %q, want %q", what, got, want)
			}
			lines = lines[1:]
		}
		if len(lines) > 0 {
			t.Fatalf("%s: one read got %q, want %q", what, got, want)
		}
	}
	c.send("EHLO client.example\r\n")
	readOnce("EHLO", "250-Hello", "250-...", "250 ")
	c.send("MAIL FROM:<sender@remote.example>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n")
	readOnce("MAIL, RCPT, DATA", "250 ", "250 ", "354 ")
	c.send("Subject: together\r\n\r\nbody\r\n.\r\nQUIT\r\n")
	readOnce("end of data and QUIT", "250 Ok. ", "221 ")
}
