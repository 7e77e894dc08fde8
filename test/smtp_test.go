package test

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/gocourier/courier/pkg/privsep"
	"github.com/gocourier/courier/test/testenv"
)

// smtpSuite is a mail suite whose supervisor also runs the SMTP services
// of the service table, esmtpd, esmtpd-msa and esmtpd-ssl (couriertcpd in
// pass mode with courieresmtpd), each on a free loopback port, configured
// from etc/*.dist and the default access file.
type smtpSuite struct {
	*mailSuite
	smtp, msa, smtps string // host:port
}

var smtpPrograms = []string{"couriertcpd", "courieresmtpd", "makesmtpaccess", "mkesmtpdcert", "courierlogger"}

const smtpPassword = "Secret-pw1"

func newSMTPSuite(t *testing.T, accounts []string, extra map[string]string, programs ...string) *smtpSuite {
	t.Helper()
	s := &smtpSuite{mailSuite: newMailSuite(t, accounts, extra, append(append([]string(nil), smtpPrograms...), programs...)...)}
	s.smtp = s.listenOn(t, "esmtpd", "", s.ids()+"BOFHCHECKDNS=0\nTARPIT=0\nTCPDOPTS=\"-noidentlookup -nodnslookup\"\n")
	s.msa = s.listenOn(t, "esmtpd-msa", "", "ESMTPDSTART=YES\n")
	s.smtps = s.listenOn(t, "esmtpd-ssl", "SSL", "ESMTPDSSLSTART=YES\n")
	repo, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(repo, "etc", "smtpaccess", "default"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := extra["smtpaccess/default"]; !ok {
		s.WriteConfig(t, "smtpaccess/default", string(b), 0o644)
	}
	s.run(t, "makesmtpaccess")
	s.certificate(t, "mkesmtpdcert", "esmtpd.pem")
	return s
}

// start starts the suite and waits until the three SMTP ports answer.
func (s *smtpSuite) start(t *testing.T) {
	t.Helper()
	s.mailSuite.start(t)
	s.waitListening(t, s.smtp, s.msa, s.smtps)
}

// freeAddr is a loopback address with a port nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// dialFrom connects to addr from the loopback address from (127.0.0.2 is
// not in the default access file, so it may not relay).
func dialFrom(t *testing.T, from, addr string) *smtp.Client {
	return dialFromTLS(t, from, addr, false)
}

// dialFromTLS is dialFrom, with STARTTLS first when startTLS is set.
func dialFromTLS(t *testing.T, from, addr string, startTLS bool) *smtp.Client {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if startTLS {
		// go-smtp says EHLO localhost before STARTTLS and again after it.
		c, err := smtp.NewClientStartTLS(conn, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatalf("STARTTLS: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	c := smtp.NewClient(conn)
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.example"); err != nil {
		t.Fatal(err)
	}
	return c
}

// smtpCode is the reply code of an SMTP error, 0 for none.
func smtpCode(err error) (int, string) {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code, se.Message
	}
	return 0, ""
}

func sendOne(c *smtp.Client, from, to, msg string) error {
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	if err := c.Rcpt(to, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(msg)); err != nil {
		return err
	}
	return w.Close()
}

// TestSMTPSuite: the SMTP services as courierd runs them: mail over SMTP
// reaches the maildir with Courier's Received line; relaying is refused
// from a client the access file does not list and allowed from 127.0.0.1
// and after AUTH over STARTTLS; the submission port wants AUTH; SMTPS
// works; and as root no process that reads the network runs as root.
func TestSMTPSuite(t *testing.T) {
	s := newSMTPSuite(t, []string{"alice:" + smtpPassword, "bob"}, map[string]string{
		"sizelimit":          "20000\n",
		"bofh":               "maxrcpts 3\n",
		"smtpaccess/default": "127.0.0.1\tallow,RELAYCLIENT\n127.0.0.3\tallow,BLOCK=550 Mail from your network is refused.\n",
	})
	s.start(t)

	t.Run("delivery", func(t *testing.T) {
		c := dialFrom(t, "127.0.0.1", s.smtp)
		if err := sendOne(c, "sender@remote.example", "bob@example.test", "Subject: over SMTP\r\n\r\nhello\r\n"); err != nil {
			t.Fatal(err)
		}
		c.Quit()
		s.waitFor(t, "the message in bob's maildir", func() bool { return len(s.maildir(t, "bob")) == 1 })
		data, err := os.ReadFile(s.maildir(t, "bob")[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"Received: from client.example ([::ffff:127.0.0.1])\n", "  by mx.example.test with ESMTP\n", "Return-Path: <sender@remote.example>\n", "Subject: over SMTP\n"} {
			if !strings.Contains(string(data), want) {
				t.Errorf("delivered message lacks %q:\n%s", want, data)
			}
		}
	})

	t.Run("unknown user", func(t *testing.T) {
		c := dialFrom(t, "127.0.0.1", s.smtp)
		if err := c.Mail("sender@remote.example", nil); err != nil {
			t.Fatal(err)
		}
		code, msg := smtpCode(c.Rcpt("nosuchuser@example.test", nil))
		if code != 550 || msg != "User <nosuchuser@example.test> unknown" {
			t.Errorf("RCPT to an unknown user: %d %q, want 550 User <nosuchuser@example.test> unknown", code, msg)
		}
	})

	t.Run("relaying", func(t *testing.T) {
		c := dialFrom(t, "127.0.0.2", s.smtp)
		if err := c.Mail("sender@remote.example", nil); err != nil {
			t.Fatal(err)
		}
		if code, msg := smtpCode(c.Rcpt("someone@elsewhere.example", nil)); code != 513 || msg != "Relaying denied." {
			t.Errorf("relay from 127.0.0.2: %d %q, want 513 Relaying denied.", code, msg)
		}
		if err := c.Rcpt("bob@example.test", nil); err != nil {
			t.Errorf("local mail from 127.0.0.2: %v", err)
		}

		c = dialFrom(t, "127.0.0.1", s.smtp)
		if err := c.Mail("sender@remote.example", nil); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt("someone@elsewhere.example", nil); err != nil {
			t.Errorf("relay from 127.0.0.1 (RELAYCLIENT in the default access file): %v", err)
		}

		c = dialFromTLS(t, "127.0.0.2", s.smtp, true)
		if err := c.Auth(sasl.NewPlainClient("", "alice@example.test", "wrong")); err == nil {
			t.Error("AUTH with a wrong password succeeded")
		}
		if err := c.Auth(sasl.NewPlainClient("", "alice@example.test", smtpPassword)); err != nil {
			t.Fatalf("AUTH PLAIN after STARTTLS: %v", err)
		}
		if err := c.Mail("alice@example.test", nil); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt("someone@elsewhere.example", nil); err != nil {
			t.Errorf("relay after AUTH: %v", err)
		}
	})

	t.Run("submission needs AUTH", func(t *testing.T) {
		c := dialFrom(t, "127.0.0.1", s.msa)
		err := c.Mail("alice@example.test", nil)
		if err == nil {
			err = c.Rcpt("bob@example.test", nil)
		}
		if code, _ := smtpCode(err); code < 500 {
			t.Errorf("mail on the submission port without AUTH: %v, want a 5xx refusal", err)
		}
		c = dialFromTLS(t, "127.0.0.1", s.msa, true)
		if err := c.Auth(sasl.NewPlainClient("", "alice@example.test", smtpPassword)); err != nil {
			t.Fatal(err)
		}
		if err := sendOne(c, "alice@example.test", "bob@example.test", "Subject: submitted\r\n\r\nhi\r\n"); err != nil {
			t.Fatal(err)
		}
		s.waitFor(t, "the submitted message in bob's maildir", func() bool { return len(s.maildir(t, "bob")) == 2 })
	})

	t.Run("SMTPS", func(t *testing.T) {
		conn, err := tls.Dial("tcp", s.smtps, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		c := smtp.NewClient(conn)
		defer c.Close()
		if err := c.Hello("client.example"); err != nil {
			t.Fatal(err)
		}
		if err := sendOne(c, "sender@remote.example", "alice@example.test", "Subject: over SMTPS\r\n\r\nhi\r\n"); err != nil {
			t.Fatal(err)
		}
		s.waitFor(t, "the SMTPS message in alice's maildir", func() bool { return len(s.maildir(t, "alice")) >= 1 })
	})

	t.Run("swaks", func(t *testing.T) {
		testenv.NeedPackage(t, "swaks", "/usr/bin/swaks")
		before := len(s.maildir(t, "bob"))
		_, port, _ := net.SplitHostPort(s.msa)
		out, errOut, code := testenv.Run(t, exec.Command("swaks", "--server", "127.0.0.1", "--port", port, "--tls",
			"--auth", "PLAIN", "--auth-user", "alice@example.test", "--auth-password", smtpPassword,
			"--from", "alice@example.test", "--to", "bob@example.test", "--header", "Subject: from swaks"))
		if code != 0 {
			t.Fatalf("swaks: exit %d\n%s%s", code, out, errOut)
		}
		s.waitFor(t, "swaks's message in bob's maildir", func() bool { return len(s.maildir(t, "bob")) == before+1 })
	})

	t.Run("size limit", func(t *testing.T) {
		c := dialFrom(t, "127.0.0.1", s.smtp)
		if code, msg := smtpCode(c.Mail("sender@remote.example", &smtp.MailOptions{Size: 30000})); code != 534 || msg != "SIZE=Message too big." {
			t.Errorf("MAIL SIZE=30000 over sizelimit 20000: %d %q, want 534 SIZE=Message too big.", code, msg)
		}
		big := "Subject: big\r\n\r\n" + strings.Repeat(strings.Repeat("x", 70)+"\r\n", 400)
		err := sendOne(c, "sender@remote.example", "bob@example.test", big)
		if code, _ := smtpCode(err); code < 500 {
			t.Errorf("a 29 KB message over sizelimit 20000: %v, want a 5xx refusal", err)
		}
	})

	t.Run("maxrcpts", func(t *testing.T) {
		c := dialFrom(t, "127.0.0.1", s.smtp)
		if err := c.Mail("sender@remote.example", nil); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			if err := c.Rcpt("bob@example.test", nil); err != nil {
				t.Fatalf("recipient %d of maxrcpts 3: %v", i+1, err)
			}
		}
		// Without "hard" the refusal is temporary: the client sends the
		// rest in another transaction.
		if code, _ := smtpCode(c.Rcpt("alice@example.test", nil)); code/100 != 4 {
			t.Errorf("recipient 4 of maxrcpts 3: code %d, want a 4xx", code)
		}
	})

	t.Run("BLOCK", func(t *testing.T) {
		c := dialFrom(t, "127.0.0.3", s.smtp)
		if err := c.Mail("sender@remote.example", nil); err != nil {
			t.Fatal(err)
		}
		if code, msg := smtpCode(c.Rcpt("bob@example.test", nil)); code != 550 || msg != "Mail from your network is refused." {
			t.Errorf("RCPT with BLOCK set by the access file: %d %q", code, msg)
		}
	})

	t.Run("open relay battery", func(t *testing.T) {
		// Classic relay tricks from a client that may not relay: every
		// one must be refused, none queued.
		for _, rcpt := range []string{
			"someone@elsewhere.example",
			"SOMEONE@ELSEWHERE.EXAMPLE",
			"someone@elsewhere.example.",
			"someone%elsewhere.example@example.test",
			"someone%elsewhere.example@mx.example.test",
			"elsewhere.example!someone@example.test",
			"elsewhere.example!someone",
			"someone%elsewhere.example",
			"@example.test:someone@elsewhere.example",
			"@mx.example.test,@example.test:someone@elsewhere.example",
			`"someone@elsewhere.example"@example.test`,
			`"someone%elsewhere.example"@example.test`,
			`"someone@elsewhere.example"`,
			"someone@elsewhere.example@example.test",
			"someone@[192.0.2.1]",
			"someone@[127.0.0.1]",
			"someone@[IPv6:::1]",
			"someone@ElseWhere.Example",
			"someone@example.test.elsewhere.example",
		} {
			c := dialFrom(t, "127.0.0.2", s.smtp)
			if err := c.Mail("sender@remote.example", nil); err != nil {
				t.Fatal(err)
			}
			err := c.Rcpt(rcpt, nil)
			if err == nil {
				t.Errorf("RCPT TO:<%s> from 127.0.0.2 was accepted: an open relay", rcpt)
			}
			c.Close()
		}
	})

	t.Run("smuggling", func(t *testing.T) {
		// The published bare-LF and bare-CR end-of-data variants
		// (SMTP smuggling, 2023): none may end the message, so the
		// smuggled MAIL, RCPT and DATA stay text of the one message.
		before := len(s.maildir(t, "bob"))
		variants := []string{"\n.\n", "\n.\r\n", "\r.\r", "\r\n.\r", "\r.\r\n", "\r\n.\n", "\n.\r"}
		for _, v := range variants {
			conn, err := net.Dial("tcp", s.smtp)
			if err != nil {
				t.Fatal(err)
			}
			conn.SetDeadline(time.Now().Add(30 * time.Second))
			rd := bufio.NewReader(conn)
			readReply(t, rd, 220)
			fmt.Fprintf(conn, "EHLO client.example\r\n")
			readReply(t, rd, 250)
			fmt.Fprintf(conn, "MAIL FROM:<sender@remote.example>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n")
			readReply(t, rd, 250)
			readReply(t, rd, 250)
			readReply(t, rd, 354)
			fmt.Fprint(conn, "Subject: carrier\r\n\r\nfirst part"+v+"MAIL FROM:<evil@remote.example>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n.\r\nQUIT\r\n")
			readReply(t, rd, 250) // the one message
			readReply(t, rd, 221) // QUIT: no reply for a smuggled command came first
			conn.Close()
		}
		s.waitFor(t, "the carrier messages in bob's maildir", func() bool { return len(s.maildir(t, "bob")) == before+len(variants) })
		for _, f := range s.maildir(t, "alice") {
			if data, _ := os.ReadFile(f); strings.Contains(string(data), "Subject: smuggled") {
				t.Errorf("a smuggled message reached alice: %s", data)
			}
		}
	})

	t.Run("privileges", func(t *testing.T) {
		testenv.NeedRoot(t)
		mail, err := privsep.LookupUser(s.Layout.MailUser)
		if err != nil {
			t.Fatal(err)
		}
		// A session in progress, so that every kind of process exists.
		c := dialFrom(t, "127.0.0.1", s.smtp)
		defer c.Quit()
		seen := map[string]int{}
		for _, p := range testenv.Descendants(s.cmd.Process.Pid) {
			comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p.PID))
			name := strings.TrimSpace(string(comm))
			if err != nil || (name != "couriertcpd" && name != "courieresmtpd") {
				continue
			}
			seen[name]++
			tasks, err := privsep.ReadTasks(p.PID)
			if err != nil {
				t.Fatal(err)
			}
			for _, task := range tasks {
				if task.UID != [4]uint32{mail.UID, mail.UID, mail.UID, mail.UID} {
					t.Errorf("%s (pid %d, thread %d) has uids %v, want only the mail user's %d", name, p.PID, task.TID, task.UID, mail.UID)
					break
				}
			}
		}
		if seen["couriertcpd"] < 3 || seen["courieresmtpd"] < 3 {
			t.Errorf("processes found: %v; want 3 couriertcpd and 3 courieresmtpd (esmtpd, esmtpd-msa, esmtpd-ssl)", seen)
		}
	})
}

// readReply reads one SMTP reply and checks its code.
func readReply(t *testing.T, rd *bufio.Reader, code int) {
	t.Helper()
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("reading a reply (want %d): %v", code, err)
		}
		if len(line) < 4 || line[:3] != fmt.Sprint(code) {
			t.Fatalf("reply %q, want %d", strings.TrimSpace(line), code)
		}
		if line[3] != '-' {
			return
		}
	}
}

// TestInflowDelay: while the scheduler is full (queuehi messages in
// progress and more due), courieresmtpd holds each MAIL FROM back for up to
// ESMTP_INFLOWDELAY; once deliveries catch up, it answers at once.
func TestInflowDelay(t *testing.T) {
	s := newSMTPSuite(t, []string{"slow"}, map[string]string{"queuehi": "2\n"})
	s.appendConfig(t, "esmtpd", "ESMTP_INFLOWDELAY=3\n")
	writeOwned(t, s.mailSuite, filepath.Join(s.Root, "home", "slow", ".courier"), "| sleep 6\n")
	s.start(t)
	flag := filepath.Join(s.Layout.LocalstateDir, "tmp", "inflow")
	full := func() bool { b, _ := os.ReadFile(flag); return string(b) == "1" }
	for range 3 {
		s.sendmail(t, "Subject: slow\n\nbody\n", "slow@example.test")
	}
	s.waitFor(t, "the scheduler to be full (two deliveries running, one more due)", full)
	mail := func() time.Duration {
		c := dialFrom(t, "127.0.0.1", s.smtp)
		defer c.Close()
		start := time.Now()
		if err := c.Mail("sender@remote.example", nil); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	// The deliveries in progress last 6 s: the flag stays set for the
	// whole delay.
	if d := mail(); d < 2500*time.Millisecond {
		t.Errorf("MAIL FROM answered after %v while the scheduler was full, want the 3 s ESMTP_INFLOWDELAY", d)
	}
	s.waitFor(t, "the scheduler to have room again", func() bool { return !full() })
	if d := mail(); d > 2*time.Second {
		t.Errorf("MAIL FROM answered after %v with the scheduler not full, want at once", d)
	}
}
