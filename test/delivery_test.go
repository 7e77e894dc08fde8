package test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// The tests of this file take each kind of .courier instruction of issue #5
// end to end: sendmail submits, the scheduler hands the message to
// courierlocal, which reads the recipient's .courier file (spec
// dot-courier.md) and delivers as the recipient.

// deliveryAccounts are the accounts of TestDelivery's suite.
var deliveryAccounts = []string{
	"plain", "explicit", "mboxer", "prog", "target", "fwd", "ext", "dflt",
	"later", "hard", "ping", "pong", "loopy", "void", "full", "sender",
}

// deliveryMessage is a message whose body has a line that mbox delivery
// must quote.
const deliveryMessage = "Subject: %s\n\nFrom the start of a line\nbody\n"

// TestDelivery runs one suite with an account for each instruction kind
// and takes them one after the other.
func TestDelivery(t *testing.T) {
	quickRaceExit(t)
	s := newMailSuite(t, deliveryAccounts, map[string]string{"retryalpha": "1\n"})
	home := func(a string) string { return filepath.Join(s.Root, "home", a) }
	s.start(t)

	t.Run("default maildir", func(t *testing.T) {
		s.sendmail(t, fmt.Sprintf(deliveryMessage, "plain"), "-f", "someone@remote.example", "plain@example.test")
		s.waitFor(t, "delivery to plain's Maildir", func() bool { return len(s.maildir(t, "plain")) == 1 })
		got := readOwned(t, s, s.maildir(t, "plain")[0], 0o600)
		want := "Delivered-To: plain@example.test\nReturn-Path: <someone@remote.example>\n"
		if !strings.HasPrefix(got, want) || !strings.HasSuffix(got, "\n\nFrom the start of a line\nbody\n") {
			t.Errorf("delivered message:\n%s", got)
		}
	})

	t.Run("explicit maildir lines", func(t *testing.T) {
		// Two maildir lines: the account's Maildir and a second one; each
		// gets its copy, in order.
		makeMaildir(t, s, filepath.Join(home("explicit"), "Second"))
		writeOwned(t, s, filepath.Join(home("explicit"), ".courier"), "./Maildir/\n./Second/\n")
		s.sendmail(t, fmt.Sprintf(deliveryMessage, "explicit"), "-f", "someone@remote.example", "explicit@example.test")
		s.waitFor(t, "both copies", func() bool {
			return len(s.maildir(t, "explicit")) == 1 && len(maildirFiles(filepath.Join(home("explicit"), "Second"))) == 1 && s.queued() == 0
		})
		for _, f := range append(s.maildir(t, "explicit"), maildirFiles(filepath.Join(home("explicit"), "Second"))...) {
			if got := readOwned(t, s, f, 0o600); !strings.HasPrefix(got, "Delivered-To: explicit@example.test\nReturn-Path: <someone@remote.example>\n") {
				t.Errorf("%s:\n%s", f, got)
			}
		}
	})

	t.Run("mbox file", func(t *testing.T) {
		// A path that does not exist is created as an mbox file (spec §3),
		// with mode 0600 (§6), From_ line first and ">From " quoting.
		writeOwned(t, s, filepath.Join(home("mboxer"), ".courier"), "./inbox\n")
		mbox := filepath.Join(home("mboxer"), "inbox")
		for i := range 2 {
			s.sendmail(t, fmt.Sprintf(deliveryMessage, "mbox "+strconv.Itoa(i)), "-f", "someone@remote.example", "mboxer@example.test")
			s.waitFor(t, "delivery into the mbox", func() bool {
				b, _ := os.ReadFile(mbox)
				return strings.Count(string(b), "Subject: mbox ") == i+1 && s.queued() == 0
			})
		}
		got := readOwned(t, s, mbox, 0o600)
		from := regexp.MustCompile(`(?m)^From someone@remote\.example \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\nDelivered-To: mboxer@example\.test\nReturn-Path: <someone@remote\.example>\n`)
		if n := len(from.FindAllString(got, -1)); n != 2 || !strings.HasPrefix(got, "From ") {
			t.Errorf("%d messages with From_, Delivered-To and Return-Path lines, want 2:\n%s", n, got)
		}
		if n := strings.Count(got, "\n>From the start of a line\n"); n != 2 {
			t.Errorf("%d quoted >From lines, want 2:\n%s", n, got)
		}
		if len(s.maildir(t, "mboxer")) != 0 {
			t.Error("the mbox line also delivered to the Maildir")
		}
	})

	t.Run("program", func(t *testing.T) {
		// .courier-tag serves prog-tag@example.test; the program gets the
		// message without the added lines on stdin and the documented
		// variables (spec §5).
		writeOwned(t, s, filepath.Join(home("prog"), ".courier-tag"), "| env >env.out; cat >msg.out; id -u >uid.out\n")
		msg := fmt.Sprintf(deliveryMessage, "program")
		s.sendmail(t, msg, "-f", "someone@remote.example", "prog-tag@example.test")
		s.waitFor(t, "the program's output", func() bool {
			_, err := os.Stat(filepath.Join(home("prog"), "uid.out"))
			return err == nil && s.queued() == 0
		})
		env := map[string]string{}
		for _, l := range strings.Split(readOwned(t, s, filepath.Join(home("prog"), "env.out"), 0), "\n") {
			if k, v, ok := strings.Cut(l, "="); ok {
				env[k] = v
			}
		}
		want := map[string]string{
			"HOME": home("prog"), "USER": "prog@example.test", "SENDER": "someone@remote.example",
			"RECIPIENT": "prog-tag@example.test", "HOST": "example.test", "LOCAL": "prog-tag",
			"EXT": "tag", "EXT2": "", "DEFAULT": "", "DTLINE": "Delivered-To: prog-tag@example.test",
			"RPLINE": "Return-Path: <someone@remote.example>",
		}
		for k, v := range want {
			if got, ok := env[k]; !ok || got != v {
				t.Errorf("%s=%q (set: %v), want %q", k, got, ok, v)
			}
		}
		if !strings.HasPrefix(env["UFLINE"], "From someone@remote.example ") {
			t.Errorf("UFLINE=%q", env["UFLINE"])
		}
		got := readOwned(t, s, filepath.Join(home("prog"), "msg.out"), 0)
		if strings.Contains(got, "Delivered-To:") || strings.Contains(got, "Return-Path:") || !strings.HasSuffix(got, "\n\nFrom the start of a line\nbody\n") || !strings.Contains(got, "Subject: program\n") {
			t.Errorf("the program's standard input:\n%s", got)
		}
		if uid := strings.TrimSpace(readOwned(t, s, filepath.Join(home("prog"), "uid.out"), 0)); uid != strconv.Itoa(int(s.owner.UID)) {
			t.Errorf("the program ran as uid %s, want the account's %d", uid, s.owner.UID)
		}
	})

	t.Run("forward", func(t *testing.T) {
		writeOwned(t, s, filepath.Join(home("fwd"), ".courier"), "target@example.test\n")
		s.sendmail(t, fmt.Sprintf(deliveryMessage, "forwarded"), "-f", "someone@remote.example", "fwd@example.test")
		s.waitFor(t, "the forwarded copy", func() bool { return len(s.maildir(t, "target")) == 1 && s.queued() == 0 })
		got := readOwned(t, s, s.maildir(t, "target")[0], 0o600)
		if !strings.HasPrefix(got, "Delivered-To: target@example.test\nReturn-Path: <someone@remote.example>\n") {
			t.Errorf("forwarded copy does not carry the original sender:\n%s", got)
		}
		if headerCount(t, s.maildir(t, "target")[0], "Delivered-To: fwd@example.test") != 1 || !strings.Contains(got, "Subject: forwarded\n") {
			t.Errorf("forwarded copy lacks the forwarder's Delivered-To or the message:\n%s", got)
		}
		if n := len(s.maildir(t, "fwd")); n != 0 {
			t.Errorf("the forwarding account kept %d copies", n)
		}
	})

	t.Run("extension file", func(t *testing.T) {
		// .courier-foo: ext-foo@ goes where it says; ext-bar@, with neither
		// .courier-bar nor .courier-default, is unknown and returned.
		makeMaildir(t, s, filepath.Join(home("ext"), "Foo"))
		writeOwned(t, s, filepath.Join(home("ext"), ".courier-foo"), "./Foo\n")
		s.sendmail(t, fmt.Sprintf(deliveryMessage, "foo"), "-f", "someone@remote.example", "ext-foo@example.test")
		s.waitFor(t, "delivery to ./Foo", func() bool {
			return len(maildirFiles(filepath.Join(home("ext"), "Foo"))) == 1 && s.queued() == 0
		})
		f := maildirFiles(filepath.Join(home("ext"), "Foo"))[0]
		if got := readOwned(t, s, f, 0o600); !strings.HasPrefix(got, "Delivered-To: ext-foo@example.test\n") {
			t.Errorf("%s:\n%s", f, got)
		}
		if len(s.maildir(t, "ext")) != 0 {
			t.Error("ext-foo also went to the account's Maildir")
		}
		report, _ := sendForReport(t, s, "ext-bar@example.test")
		if report["Action"] != "failed" || report["Final-Recipient"] != "rfc822; ext-bar@example.test" || !strings.HasPrefix(report["Status"], "5.") {
			t.Errorf("report for an address without its .courier file: %v", report)
		}
	})

	t.Run("default fallbacks", func(t *testing.T) {
		// dflt-list-a-b@: .courier-list-a-b and .courier-list-a-default
		// are missing, .courier-list-default matches with DEFAULT=a-b;
		// dflt-other@ falls back to .courier-default with DEFAULT=other.
		writeOwned(t, s, filepath.Join(home("dflt"), ".courier-list-default"), "| echo \"list $DEFAULT $EXT\" >>hits\n")
		writeOwned(t, s, filepath.Join(home("dflt"), ".courier-default"), "| echo \"default $DEFAULT $EXT\" >>hits\n")
		s.sendmail(t, fmt.Sprintf(deliveryMessage, "list"), "-f", "someone@remote.example", "dflt-list-a-b@example.test")
		s.waitFor(t, "the list delivery", func() bool { return s.queued() == 0 && fileHas(filepath.Join(home("dflt"), "hits"), "list ") })
		s.sendmail(t, fmt.Sprintf(deliveryMessage, "other"), "-f", "someone@remote.example", "dflt-other@example.test")
		s.waitFor(t, "the default delivery", func() bool { return s.queued() == 0 && fileHas(filepath.Join(home("dflt"), "hits"), "default ") })
		if got := readOwned(t, s, filepath.Join(home("dflt"), "hits"), 0); got != "list a-b list-a-b\ndefault other other\n" {
			t.Errorf("hits:\n%s", got)
		}
	})

	t.Run("program deferral", func(t *testing.T) {
		// Exit 75 is a temporary failure: the message stays queued, and the
		// retry (retryalpha 1 s) runs the file again from the top.
		script := `n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n >count; [ $n -ge 2 ] || { echo "mailbox locked, try $n" >&2; exit 75; }`
		writeOwned(t, s, filepath.Join(home("later"), ".courier"), "| "+script+"\n./Maildir/\n")
		s.sendmail(t, fmt.Sprintf(deliveryMessage, "later"), "-f", "someone@remote.example", "later@example.test")
		s.waitFor(t, "delivery after the deferral", func() bool { return len(s.maildir(t, "later")) == 1 && s.queued() == 0 })
		if got := readOwned(t, s, filepath.Join(home("later"), "count"), 0); got != "2\n" {
			t.Errorf("the program ran %q times, want 2", got)
		}
		if !strings.Contains(s.Log.String(), "mailbox locked, try 1") || !strings.Contains(s.Log.String(), "addr=<later@example.test>") {
			t.Errorf("the deferral and its reason are not logged:\n%s", s.Log)
		}
	})

	t.Run("program failure", func(t *testing.T) {
		// Exit 100 is permanent: the sender gets a report that quotes the
		// program's error output.
		writeOwned(t, s, filepath.Join(home("hard"), ".courier"), "| echo 'no such folder here' >&2; exit 100\n./Maildir/\n")
		report, text := sendForReport(t, s, "hard@example.test")
		if report["Action"] != "failed" || report["Final-Recipient"] != "rfc822; hard@example.test" || !strings.HasPrefix(report["Status"], "5.") {
			t.Errorf("report fields %v", report)
		}
		if !strings.Contains(text, "no such folder here") {
			t.Errorf("the report does not quote the program's output:\n%s", text)
		}
		if len(s.maildir(t, "hard")) != 0 {
			t.Error("the lines after the failed program were carried out")
		}
	})

	t.Run("loop by header", func(t *testing.T) {
		// The message already says it was delivered to loopy.
		msg := "Delivered-To: loopy@example.test\nSubject: been here\n\nbody\n"
		report, text := sendMessageForReport(t, s, msg, "loopy@example.test")
		if report["Action"] != "failed" || report["Final-Recipient"] != "rfc822; loopy@example.test" || !strings.HasPrefix(report["Status"], "5.") {
			t.Errorf("report fields %v", report)
		}
		if !strings.Contains(text, "Mail loop - already have my Delivered-To: header.") {
			t.Errorf("the report does not name the loop:\n%s", text)
		}
		if len(s.maildir(t, "loopy")) != 0 {
			t.Error("the looping message was delivered")
		}
	})

	t.Run("forwarding loop", func(t *testing.T) {
		// ping forwards to pong, which forwards back: the second visit to
		// ping finds its Delivered-To: and the message is returned.
		writeOwned(t, s, filepath.Join(home("ping"), ".courier"), "pong@example.test\n")
		writeOwned(t, s, filepath.Join(home("pong"), ".courier"), "ping@example.test\n")
		report, text := sendForReport(t, s, "ping@example.test")
		if report["Action"] != "failed" || report["Final-Recipient"] != "rfc822; ping@example.test" || !strings.HasPrefix(report["Status"], "5.") {
			t.Errorf("report fields %v", report)
		}
		if n := len(s.maildir(t, "ping")) + len(s.maildir(t, "pong")); n != 0 {
			t.Errorf("%d copies kept by the forwarders", n)
		}
		if !strings.Contains(text, "Mail loop - already have my Delivered-To: header.") {
			t.Errorf("the report does not name the loop:\n%s", text)
		}
	})

	t.Run("comments only", func(t *testing.T) {
		// A .courier file without instructions discards the message:
		// delivered nowhere, and no report.
		writeOwned(t, s, filepath.Join(home("void"), ".courier"), "# mail to this account is not kept\n\n#./Maildir/\n")
		reports := len(s.maildir(t, "sender"))
		s.sendmail(t, fmt.Sprintf(deliveryMessage, "void"), "-f", "sender@example.test", "-N", "failure,delay", "void@example.test")
		s.waitFor(t, "the discarded message to leave the queue", func() bool {
			return s.queued() == 0 && strings.Contains(s.Log.String(), "addr=<void@example.test>")
		})
		if n := len(s.maildir(t, "void")); n != 0 {
			t.Errorf("the discarded message is in the Maildir (%d)", n)
		}
		if !regexp.MustCompile(`addr=<void@example\.test>[^\n]*success`).MatchString(s.Log.String()) {
			t.Errorf("the discarded message is not logged as a success:\n%s", s.Log)
		}
		entries, _ := os.ReadDir(home("void"))
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if !slices.Equal(names, []string{".courier", "Maildir"}) {
			t.Errorf("the home has %v after the discard", names)
		}
		if n := len(s.maildir(t, "sender")); n != reports {
			t.Errorf("the discard sent %d reports", n-reports)
		}
	})

	t.Run("quota", func(t *testing.T) {
		// Maildir++ quota of 1000 bytes (maildirsize: the quota line, then
		// "bytes messages" lines that add up), 800 of which one message
		// uses. A 400-byte message is over quota and deferred; once the
		// mail client deletes the old message (and says so in
		// maildirsize), courier flush delivers it.
		md := filepath.Join(home("full"), "Maildir")
		old := filepath.Join(md, "cur", "1700000000.M1P1.mx,S=800:2,S")
		writeOwned(t, s, old, strings.Repeat("x", 799)+"\n")
		writeOwned(t, s, filepath.Join(md, "maildirsize"), "1000S\n800 1\n")
		msg := fmt.Sprintf(deliveryMessage, "big") + strings.Repeat("y", 300) + "\n"
		s.sendmail(t, msg, "-f", "someone@remote.example", "full@example.test")
		s.waitFor(t, "the over-quota deferral", func() bool {
			return regexp.MustCompile(`addr=<full@example\.test>[^\n]*Maildir over quota\.`).MatchString(s.Log.String())
		})
		if s.queued() != 1 || len(s.maildir(t, "full")) != 1 {
			t.Fatalf("after the deferral: %d queued, %d in the Maildir; want 1 and 1 (the old one)", s.queued(), len(s.maildir(t, "full")))
		}
		if err := os.Remove(old); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(filepath.Join(md, "maildirsize"), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(f, "%d %d\n", -800, -1)
		f.Close()
		s.run(t, "courier", "flush")
		s.waitFor(t, "delivery once space is free", func() bool { return len(s.maildir(t, "full")) == 1 && s.queued() == 0 })
		got := readOwned(t, s, s.maildir(t, "full")[0], 0o600)
		if !strings.Contains(got, "Subject: big\n") {
			t.Errorf("delivered:\n%s", got)
		}
		// maildirsize now adds up to the one message on disk.
		var bytes, count int64
		lines := strings.Split(strings.TrimSpace(readOwned(t, s, filepath.Join(md, "maildirsize"), 0)), "\n")
		if lines[0] != "1000S" {
			t.Errorf("quota line %q", lines[0])
		}
		for _, l := range lines[1:] {
			var b, c int64
			if _, err := fmt.Sscanf(l, "%d %d", &b, &c); err != nil {
				t.Fatalf("maildirsize line %q: %v", l, err)
			}
			bytes, count = bytes+b, count+c
		}
		if bytes != int64(len(got)) || count != 1 {
			t.Errorf("maildirsize adds up to %d bytes in %d messages, want %d in 1:\n%s", bytes, count, len(got), lines)
		}
	})
}

// TestDeliveryQmailMode: with dotextension "qmail", .qmail files replace
// .courier files (spec §2), -default fallbacks included; the account's
// .courier file is not read.
func TestDeliveryQmailMode(t *testing.T) {
	quickRaceExit(t)
	s := newMailSuite(t, []string{"q"}, map[string]string{"dotextension": "qmail\n"})
	h := filepath.Join(s.Root, "home", "q")
	writeOwned(t, s, filepath.Join(h, ".courier"), "./courier-mbox\n")
	writeOwned(t, s, filepath.Join(h, ".qmail"), "./qmail-mbox\n")
	writeOwned(t, s, filepath.Join(h, ".qmail-news"), "| echo \"news $EXT\" >>hits\n")
	writeOwned(t, s, filepath.Join(h, ".qmail-default"), "| echo \"default $DEFAULT\" >>hits\n")
	s.start(t)
	s.sendmail(t, fmt.Sprintf(deliveryMessage, "qmail"), "-f", "someone@remote.example", "q@example.test")
	s.sendmail(t, fmt.Sprintf(deliveryMessage, "news"), "-f", "someone@remote.example", "q-news@example.test")
	s.sendmail(t, fmt.Sprintf(deliveryMessage, "misc"), "-f", "someone@remote.example", "q-misc@example.test")
	s.waitFor(t, "the three deliveries", func() bool {
		b, _ := os.ReadFile(filepath.Join(h, "hits"))
		return s.queued() == 0 && strings.Count(string(b), "\n") == 2 && fileHas(filepath.Join(h, "qmail-mbox"), "Subject: qmail\n")
	})
	got := readOwned(t, s, filepath.Join(h, "hits"), 0)
	if lines := strings.Split(strings.TrimSpace(got), "\n"); !slices.Contains(lines, "news news") || !slices.Contains(lines, "default misc") {
		t.Errorf("hits:\n%s", got)
	}
	if _, err := os.Stat(filepath.Join(h, "courier-mbox")); err == nil {
		t.Error("the .courier file was used in qmail mode")
	}
	if n := len(s.maildir(t, "q")); n != 0 {
		t.Errorf("%d messages went to the default Maildir", n)
	}
}

// quickRaceExit spares each program of a -race build the race detector's
// one-second sleep at exit (atexit_sleep_ms), which would otherwise add a
// second to every sendmail and every delivery child.
func quickRaceExit(t *testing.T) {
	if _, set := os.LookupEnv("GORACE"); !set {
		t.Setenv("GORACE", "atexit_sleep_ms=0")
	}
}

// sendForReport sends a message from the local account "sender" to rcpt,
// waits for a new failure report in sender's Maildir and returns its
// recipient fields and the report's text.
func sendForReport(t *testing.T, s *mailSuite, rcpt string) (map[string]string, string) {
	t.Helper()
	return sendMessageForReport(t, s, fmt.Sprintf(deliveryMessage, "to "+rcpt), rcpt)
}

func sendMessageForReport(t *testing.T, s *mailSuite, msg, rcpt string) (map[string]string, string) {
	t.Helper()
	before := s.maildir(t, "sender")
	s.sendmail(t, msg, "-f", "sender@example.test", rcpt)
	s.waitFor(t, "the report about "+rcpt, func() bool { return len(s.maildir(t, "sender")) == len(before)+1 && s.queued() == 0 })
	for _, f := range s.maildir(t, "sender") {
		if !slices.Contains(before, f) {
			return parseReport(t, f), readOwned(t, s, f, 0o600)
		}
	}
	t.Fatal("the new report went missing")
	return nil, ""
}

// makeMaildir makes a maildir owned by the accounts' owner.
func makeMaildir(t *testing.T, s *mailSuite, dir string) {
	t.Helper()
	for _, d := range []string{"", "cur", "new", "tmp"} {
		p := filepath.Join(dir, d)
		if err := os.MkdirAll(p, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, int(s.owner.UID), int(s.owner.GID)); err != nil {
			t.Fatal(err)
		}
	}
}

// maildirFiles lists the messages in a maildir's new/ and cur/.
func maildirFiles(dir string) []string {
	n, _ := filepath.Glob(filepath.Join(dir, "new", "*"))
	c, _ := filepath.Glob(filepath.Join(dir, "cur", "*"))
	return append(n, c...)
}

// fileHas reports whether path exists and contains text.
func fileHas(path, text string) bool {
	b, err := os.ReadFile(path)
	return err == nil && strings.Contains(string(b), text)
}

// readOwned reads a file that a delivery wrote, and checks that it belongs
// to the account and, unless mode is 0, has that mode.
func readOwned(t *testing.T, s *mailSuite, path string, mode os.FileMode) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if sys := st.Sys().(*syscall.Stat_t); sys.Uid != s.owner.UID || sys.Gid != s.owner.GID {
		t.Errorf("%s belongs to %d:%d, want the account's %d:%d", path, sys.Uid, sys.Gid, s.owner.UID, s.owner.GID)
	}
	if mode != 0 && st.Mode().Perm() != mode {
		t.Errorf("%s has mode %v, want %v", path, st.Mode().Perm(), mode)
	}
	return string(b)
}
