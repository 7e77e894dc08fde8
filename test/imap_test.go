package test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"github.com/gocourier/courier/test/testenv"
)

// imapSuite is the mail suite with imapd and imapd-ssl on free loopback
// ports.
type imapSuite struct {
	*mailSuite
	imap, imaps string
}

var imapPrograms = []string{"couriertcpd", "imaplogin", "imapd", "mkesmtpdcert", "makesmtpaccess", "courierlogger"}

const imapPassword = "Imap-pw5"

func newIMAPSuite(t *testing.T, accounts []string) *imapSuite {
	t.Helper()
	s := &imapSuite{mailSuite: newMailSuite(t, accounts, nil, imapPrograms...)}
	s.imap = s.listenOn(t, "imapd", "", s.ids()+"IMAPDSTART=YES\nMAXPERIP=100\n")
	s.imaps = s.listenOn(t, "imapd-ssl", "SSL", "IMAPDSSLSTART=YES\nIMAPDSTARTTLS=YES\n")
	s.linkProgram(t, "mkimapdcert", "mkesmtpdcert")
	s.linkProgram(t, "makeimapaccess", "makesmtpaccess")
	s.WriteConfig(t, "imapaccess/default", "", 0o644)
	s.run(t, "makeimapaccess")
	s.certificate(t, "mkimapdcert", "imapd.pem")
	return s
}

func (s *imapSuite) start(t *testing.T) {
	t.Helper()
	s.mailSuite.start(t)
	s.waitListening(t, s.imap, s.imaps)
}

func imapDial(t *testing.T, addr string, implicitTLS bool, h *imapclient.UnilateralDataHandler) *imapclient.Client {
	t.Helper()
	opts := &imapclient.Options{UnilateralDataHandler: h, TLSConfig: &tls.Config{InsecureSkipVerify: true}}
	var c *imapclient.Client
	var err error
	if implicitTLS {
		c, err = imapclient.DialTLS(addr, opts)
	} else {
		c, err = imapclient.DialInsecure(addr, opts)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.WaitGreeting(); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestIMAPSuite(t *testing.T) {
	s := newIMAPSuite(t, []string{"imap1:" + imapPassword, "imap2:" + imapPassword, "imap3:" + imapPassword})
	s.start(t)
	for i := 1; i <= 3; i++ {
		s.sendmail(t, fmt.Sprintf("Subject: imap test %d\n\nbody %d\n", i, i), "imap1@example.test")
	}
	s.waitFor(t, "three deliveries to imap1", func() bool { return len(s.maildir(t, "imap1")) == 3 })

	t.Run("login", func(t *testing.T) {
		c, err := net.Dial("tcp", s.imap)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		r := bufio.NewReader(c)
		line := func() string {
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			return strings.TrimRight(l, "\r\n")
		}
		if g := line(); !strings.HasPrefix(g, "* OK [CAPABILITY IMAP4rev1 ") || !strings.Contains(g, " STARTTLS") || !strings.HasSuffix(g, "Courier-IMAP ready. Copyright 1998-2022 S. Varshavchik.  See COPYING for distribution information.") {
			t.Fatalf("greeting %q", g)
		}
		start := time.Now()
		fmt.Fprintf(c, "a LOGIN imap1@example.test wrong\r\n")
		if l := line(); l != "a NO Login failed." {
			t.Fatalf("bad password: %q", l)
		}
		if d := time.Since(start); d < 4*time.Second {
			t.Errorf("a failed login was answered after %v, want the original's 5 s", d)
		}
		fmt.Fprintf(c, "b SELECT INBOX\r\n")
		if l := line(); l != "b NO Error in IMAP command received by server." {
			t.Fatalf("SELECT before login: %q", l)
		}
		// A login with commands pipelined behind it.
		fmt.Fprintf(c, "c LOGIN imap1@example.test %s\r\nd SELECT INBOX\r\ne LOGOUT\r\n", imapPassword)
		if l := line(); l != "c OK LOGIN Ok." {
			t.Fatalf("LOGIN: %q", l)
		}
		var got []string
		for l := line(); !strings.HasPrefix(l, "e "); l = line() {
			got = append(got, l)
		}
		if !strings.Contains(strings.Join(got, "\n"), "* 3 EXISTS") || !strings.Contains(strings.Join(got, "\n"), "d OK [READ-WRITE] Ok") {
			t.Fatalf("pipelined SELECT: %q", got)
		}
		if os.Geteuid() == 0 {
			checkIMAPUID(t, s, s.owner.UID)
		}
	})

	t.Run("STARTTLS and AUTHENTICATE", func(t *testing.T) {
		c := imapDial(t, s.imap, false, nil)
		if !c.Caps().Has("STARTTLS") {
			t.Fatalf("no STARTTLS: %v", c.Caps())
		}
		conn, err := net.Dial("tcp", s.imap)
		if err != nil {
			t.Fatal(err)
		}
		c2, err := imapclient.NewStartTLS(conn, &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
		if err != nil {
			t.Fatal(err)
		}
		defer c2.Close()
		if err := c2.Authenticate(sasl.NewPlainClient("", "imap1@example.test", imapPassword)); err != nil {
			t.Fatal(err)
		}
		st, err := c2.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
		if err != nil || *st.NumMessages != 3 {
			t.Fatalf("STATUS after AUTHENTICATE: %+v %v", st, err)
		}
	})

	t.Run("IMAPS and IDLE", func(t *testing.T) {
		exists := make(chan uint32, 10)
		c := imapDial(t, s.imaps, true, &imapclient.UnilateralDataHandler{Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				exists <- *d.NumMessages
			}
		}})
		if err := c.Login("imap1@example.test", imapPassword).Wait(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		idle, err := c.Idle()
		if err != nil {
			t.Fatal(err)
		}
		s.sendmail(t, "Subject: while idle\n\nx\n", "imap1@example.test")
		select {
		case n := <-exists:
			if n != 4 {
				t.Errorf("EXISTS %d during IDLE, want 4", n)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("no EXISTS during IDLE after a delivery")
		}
		idle.Close()
		idle.Wait()
	})

	t.Run("mbsync", func(t *testing.T) {
		testenv.NeedPackage(t, "isync", "mbsync")
		dir := t.TempDir()
		local := filepath.Join(dir, "mail")
		host, port, _ := net.SplitHostPort(s.imap)
		rc := filepath.Join(dir, "mbsyncrc")
		testenv.WriteFile(t, rc, fmt.Sprintf(`IMAPAccount test
Host %s
Port %s
User imap2@example.test
Pass %s
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account test

MaildirStore local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel sync
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
`, host, port, imapPassword, local, local), 0o600)
		// Mail on both sides: the server's INBOX and a local folder tree.
		s.sendmail(t, "Subject: from the server\n\nx\n", "imap2@example.test")
		s.waitFor(t, "the delivery to imap2", func() bool { return len(s.maildir(t, "imap2")) == 1 })
		for _, d := range []string{"Work/Projects/cur", "Work/Projects/new", "Work/Projects/tmp", "Work/cur", "Work/new", "Work/tmp"} {
			os.MkdirAll(filepath.Join(local, d), 0o700)
		}
		testenv.WriteFile(t, filepath.Join(local, "Work", "Projects", "cur", "1700000000.1.local:2,FS"), "Subject: local flagged\n\nbody\n", 0o600)
		mbsync := func() {
			t.Helper()
			cmd := exec.Command("mbsync", "-c", rc, "-a")
			cmd.Env = append(os.Environ(), "HOME="+dir)
			stdout, stderr, code := testenv.Run(t, cmd)
			if code != 0 {
				t.Fatalf("mbsync exit %d\n%s%s", code, stdout, stderr)
			}
		}
		mbsync()
		c := imapDial(t, s.imap, false, nil)
		if err := c.Login("imap2@example.test", imapPassword).Wait(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Select("INBOX.Work.Projects", nil).Wait(); err != nil {
			t.Fatalf("the local folder tree did not reach the server: %v", err)
		}
		msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Flags: true, Envelope: true}).Collect()
		if err != nil || len(msgs) != 1 || msgs[0].Envelope.Subject != "local flagged" || !hasFlags(msgs[0].Flags, imap.FlagFlagged, imap.FlagSeen) {
			t.Fatalf("the local message on the server: %+v %v", msgs, err)
		}
		// A flag set on the server reaches the local copy.
		if _, err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagAnswered}}, nil).Collect(); err != nil {
			t.Fatal(err)
		}
		local1, _ := filepath.Glob(filepath.Join(local, "INBOX", "*", "*"))
		if len(local1) != 1 {
			t.Fatalf("the server's INBOX message locally: %v", local1)
		}
		mbsync()
		m, _ := filepath.Glob(filepath.Join(local, "Work", "Projects", "cur", "*"))
		if len(m) != 1 || !strings.HasSuffix(m[0], ",FRS") {
			t.Fatalf("the flag set on the server did not reach the local copy: %v", m)
		}
	})

	t.Run("fetchmail", func(t *testing.T) {
		testenv.NeedPackage(t, "fetchmail", "fetchmail")
		for i := 1; i <= 4; i++ {
			s.sendmail(t, fmt.Sprintf("Subject: fetch %d\n\nbody\n", i), "imap3@example.test")
		}
		s.waitFor(t, "four deliveries to imap3", func() bool { return len(s.maildir(t, "imap3")) == 4 })
		dir := t.TempDir()
		rc := filepath.Join(dir, "fetchmailrc")
		out := filepath.Join(dir, "mbox")
		host, port, _ := net.SplitHostPort(s.imap)
		testenv.WriteFile(t, rc, fmt.Sprintf("poll %s protocol imap port %s user \"imap3@example.test\" password \"%s\" sslproto \"\" mda \"/bin/sh -c 'cat >> %s'\"\n", host, port, imapPassword, out), 0o600)
		cmd := exec.Command("fetchmail", "-f", rc, "--nosyslog", "-v")
		cmd.Env = append(os.Environ(), "HOME="+dir, "FETCHMAILHOME="+dir)
		stdout, stderr, code := testenv.Run(t, cmd)
		if code != 0 {
			t.Fatalf("fetchmail exit %d\n%s%s", code, stdout, stderr)
		}
		b, _ := os.ReadFile(out)
		if n := strings.Count(string(b), "Subject: fetch "); n != 4 {
			t.Fatalf("fetchmail delivered %d messages, want 4\n%s%s", n, stdout, stderr)
		}
		s.waitFor(t, "fetchmail's deletions", func() bool { return len(s.maildir(t, "imap3")) == 0 })
	})
}

func hasFlags(have []imap.Flag, want ...imap.Flag) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}

// checkIMAPUID checks that the imapd processes below the suite run as
// the mailbox owner.
func checkIMAPUID(t *testing.T, s *imapSuite, uid uint32) {
	t.Helper()
	found := 0
	for _, p := range testenv.Descendants(s.cmd.Process.Pid) {
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", p.PID))
		if filepath.Base(exe) != "imapd" {
			continue
		}
		found++
		status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.PID))
		for _, l := range strings.Split(string(status), "\n") {
			if f := strings.Fields(l); len(f) == 5 && f[0] == "Uid:" && (f[1] != fmt.Sprint(uid) || f[2] != fmt.Sprint(uid)) {
				t.Errorf("imapd (pid %d) runs with uids %v, want %d", p.PID, f[1:], uid)
			}
		}
	}
	if found == 0 {
		t.Error("no imapd process found below the supervisor")
	}
}
