package sendmail

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/gocourier/courier/pkg/aliases"
	"github.com/gocourier/courier/pkg/privsep"
	"github.com/gocourier/courier/pkg/queue"
	"github.com/gocourier/courier/test/testenv"
)

func newSandbox(t *testing.T) *testenv.Sandbox {
	t.Helper()
	sb := testenv.NewSandbox(t, "sendmail")
	sb.WriteConfig(t, "me", "vm.test\n", 0o644)
	sb.WriteConfig(t, "defaultdomain", "example.test\n", 0o644)
	sb.WriteConfig(t, "locals", "localhost\nvm.test\nexample.test\n", 0o644)
	sb.WriteConfig(t, "aliases", "staff: ann, bob@remote.example\n@virt.example: vuser\n", 0o644)
	h, err := aliases.LoadHosts(sb.Layout.SysconfDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := aliases.Make(aliases.DefaultOptions(sb.Layout.SysconfDir, "", h, aliases.AppendDefaultDomain)); err != nil {
		t.Fatal(err)
	}
	return sb
}

// sendmail runs the sandbox's sendmail (argv[0] name) with exactly env.
func sendmail(t *testing.T, sb *testenv.Sandbox, name string, env []string, stdin string, args ...string) (string, string, int) {
	t.Helper()
	path := sb.Path("sendmail")
	if name != "sendmail" {
		link := filepath.Join(filepath.Dir(path), name)
		if _, err := os.Lstat(link); err != nil {
			if err := os.Link(path, link); err != nil {
				t.Fatal(err)
			}
		}
		path = link
	}
	cmd := exec.Command(path, args...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, env...)
	cmd.Stdin = strings.NewReader(stdin)
	return testenv.Run(t, cmd)
}

type queued struct {
	ctl    *queue.Control
	raw    string
	data   string
	uid    uint32
	linked int64 // when the control file got its queue name (its ctime), in ns
}

// queuedMessages reads every message in the sandbox's queue, oldest first.
func queuedMessages(t *testing.T, sb *testenv.Sandbox) []queued {
	t.Helper()
	q, err := queue.Open(sb.Layout.LocalstateDir, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ents, err := q.Scan()
	if err != nil {
		t.Fatal(err)
	}
	var out []queued
	for _, e := range ents {
		c, err := q.Load(e.Inode)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := os.ReadFile(q.ControlPath(e.Inode))
		data, err := os.ReadFile(q.DataPath(e.Inode))
		if err != nil {
			t.Fatal(err)
		}
		var st, cst syscall.Stat_t
		if err := syscall.Stat(q.DataPath(e.Inode), &st); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Stat(q.ControlPath(e.Inode), &cst); err != nil {
			t.Fatal(err)
		}
		out = append(out, queued{c, string(raw), string(data), st.Uid, cst.Ctim.Nano()})
	}
	// Submission order: each run is a new process, which links its
	// control file into msgs/ when it commits (pids may wrap around).
	sort.Slice(out, func(i, j int) bool { return out[i].linked < out[j].linked })
	return out
}

func rcptList(c *queue.Control) string {
	var s []string
	for _, r := range c.Recipients {
		s = append(s, r.Address+"/"+r.ORCPT+"/"+r.Notify.String())
	}
	return strings.Join(s, " ")
}

func TestRecipientsFromHeaders(t *testing.T) {
	sb := newSandbox(t)
	msg := "Subject: hi\nTo: A <a@Remote.Example>, b\nCc: staff\nBcc: hidden@remote.example\n\nbody\n"
	out, errOut, code := sendmail(t, sb, "sendmail", []string{"LOGNAME=tester", "NAME=Test User"}, msg, "-oi", "-t")
	if code != 0 || out != "" || errOut != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	msgs := queuedMessages(t, sb)
	if len(msgs) != 1 {
		t.Fatalf("%d messages queued", len(msgs))
	}
	m := msgs[0]
	if got := rcptList(m.ctl); got != "a@remote.example// b@example.test// staff@example.test// ann@example.test//NEVER bob@remote.example//NEVER hidden@remote.example//" {
		t.Errorf("recipients %s", got)
	}
	if m.ctl.Sender != "tester@example.test" || m.ctl.Source != "local" || m.ctl.ReceivedFrom != ReceivedFrom ||
		strings.Join(m.ctl.Env, ",") != "TCPREMOTEIP=127.0.0.1" || m.ctl.Recipients[2].Status != queue.StatusDelivered {
		t.Errorf("control file:\n%s", m.raw)
	}
	want := fmt.Sprintf("Received: from localhost (localhost [127.0.0.1])\n  (uid %d)\n  by vm.test with local\n  id %s; ", os.Getuid(), m.ctl.ID)
	if !strings.HasPrefix(m.data, want) {
		t.Errorf("data does not start with %q:\n%s", want, m.data)
	}
	_, rest, _ := strings.Cut(m.data, "\nSubject: hi\n")
	wantRest := fmt.Sprintf("To: A <a@Remote.Example>, b@example.test\nCc: staff@example.test\nFrom: Test User <tester@example.test>\n"+
		"Message-ID: <courier.%016X.%08X@vm.test>\nDate: ", m.ctl.ID.Time.Unix(), m.ctl.ID.PID)
	if !strings.HasPrefix(rest, wantRest) || !strings.HasSuffix(rest, "\n\nbody\n") || strings.Contains(m.data, "Bcc") {
		t.Errorf("data:\n%s\nwant after Subject:\n%s", m.data, wantRest)
	}
	if os.Getuid() == 0 {
		u, err := privsep.LookupUser(sb.Layout.MailUser)
		if err == nil && m.uid != u.UID {
			t.Errorf("root's sendmail mail owned by uid %d, want the mail user %d", m.uid, u.UID)
		}
	}
}

func TestOptionsToRecords(t *testing.T) {
	sb := newSandbox(t)
	_, errOut, code := sendmail(t, sb, "sendmail", []string{"LOGNAME=tester"}, "Subject: x\nFrom: Me <me@here.example>\n\nb",
		"-f", "bounce", "-FFlag Name", "-N", "success,delay", "-R", "hdrs", "-V", "env+id", "-S", "starttls", "-verp", "-i", "-q1h", "-o", "ignored", "--", "r1@remote.example", "Joe <joe>, r1@remote.example")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	_, errOut, code = sendmail(t, sb, "sendmail", []string{"MAILSUSER=su", "MAILHOST=mh.example"}, "\n", "-N", "never", "-f", "", "x@virt.example")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	_, errOut, code = sendmail(t, sb, "sendmail", []string{"MAILSUSER=su", "MAILSHOST=msh.example", "MAILHOST=mh.example"}, "\n", "-R", "FULL", "x@remote.example")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	msgs := queuedMessages(t, sb)
	if len(msgs) != 3 {
		t.Fatalf("%d messages", len(msgs))
	}
	c := msgs[0].ctl
	if c.Sender != "bounce@example.test" || c.EnvID != "env+2Bid" || c.Ret != "H" || !c.VERP || c.Security != "STARTTLS" ||
		rcptList(c) != "r1@remote.example//SUCCESS,DELAY joe@example.test//SUCCESS,DELAY" {
		t.Errorf("control file:\n%s", msgs[0].raw)
	}
	if !strings.Contains(msgs[0].data, "\nFrom: Flag Name <me@here.example>\n") {
		t.Errorf("-F did not set the name of the existing From:\n%s", msgs[0].data)
	}
	c = msgs[1].ctl
	if c.Sender != "" || rcptList(c) != "vuser-x@vm.test/x@virt.example/NEVER" || !strings.Contains(msgs[1].data, "@mh.example>\n") {
		t.Errorf("control file:\n%s\ndata:\n%s", msgs[1].raw, msgs[1].data)
	}
	if c = msgs[2].ctl; c.Sender != "su@msh.example" || c.Ret != "F" || c.EnvID != "" || c.VERP {
		t.Errorf("control file:\n%s", msgs[2].raw)
	}
	for _, m := range msgs {
		if !strings.Contains(m.raw, "\nN") {
			t.Errorf("no N record:\n%s", m.raw)
		}
	}
}

func TestErrorsAndExitCodes(t *testing.T) {
	sb := newSandbox(t)
	big := "Subject: big\n\n" + strings.Repeat("x", 2000) + "\n"
	cases := []struct {
		name   string
		prog   string
		env    []string
		stdin  string
		args   []string
		code   int
		stderr string
	}{
		{"bad address", "sendmail", nil, "\n", []string{"good@remote.example", "bad address@@x"}, 67, "sendmail: bad address@@x: invalid address: 513 Syntax error"},
		{"reserved", "sendmail", nil, "\n", []string{`".x"@example.test`}, 67, "reserved"},
		{"no recipients", "sendmail", nil, "Subject: x\n\n", nil, 67, "511 Headers specify no receipients."},
		{"bad To", "sendmail", nil, "To: a@@b\n\n", nil, 67, "To: header"},
		{"bad -N", "sendmail", nil, "\n", []string{"-N", "sometimes", "x@remote.example"}, 64, `"sometimes" is not one of never, success, fail, delay`},
		{"bad -R", "sendmail", nil, "\n", []string{"-R", "all", "x@remote.example"}, 64, "-R full"},
		{"bad -S", "sendmail", nil, "\n", []string{"-S", "tls", "x@remote.example"}, 64, "NONE or STARTTLS"},
		{"too big", "sendmail", []string{"SIZELIMIT=1000"}, big, []string{"x@remote.example"}, 65, "523 Message length ("},
		{"-bs without courieresmtpd", "sendmail", nil, "", []string{"-bs"}, 69, "which is not installed"},
		{"rmail by root", "rmail", nil, "\n", []string{"-f", "x", "y@remote.example"}, 77, "rmail: permission denied."},
		{"rmail option", "rmail", nil, "\n", []string{"-F", "x", "y@remote.example"}, 64, "rmail: invalid option -F"},
	}
	for _, c := range cases {
		out, errOut, code := sendmail(t, sb, c.prog, c.env, c.stdin, c.args...)
		if code != c.code || !strings.Contains(errOut, c.stderr) || out != "" {
			t.Errorf("%s: exit %d stdout %q stderr %q; want exit %d and %q", c.name, code, out, errOut, c.code, c.stderr)
		}
	}
	if msgs := queuedMessages(t, sb); len(msgs) != 0 {
		t.Errorf("%d messages queued by refused submissions", len(msgs))
	}
	out, _, code := sendmail(t, sb, "sendmail", nil, "", "--help")
	if code != 0 || !strings.HasPrefix(out, "Usage: sendmail") {
		t.Errorf("--help: exit %d, %q", code, out)
	}
}

// TestMailqNames: called as mailq, or with -bp, the program lists the queue.
func TestMailqNames(t *testing.T) {
	sb := newSandbox(t)
	if _, e, code := sendmail(t, sb, "sendmail", nil, "Subject: q\n\n", "q@remote.example"); code != 0 {
		t.Fatal(e)
	}
	for _, c := range [][]string{{"mailq"}, {"sendmail", "-bp"}} {
		out, errOut, code := sendmail(t, sb, c[0], nil, "", c[1:]...)
		if code != 0 || !strings.Contains(out, "q@remote.example") || !strings.Contains(out, "   1 messages.") {
			t.Errorf("%v: exit %d stdout %q stderr %q", c, code, out, errOut)
		}
	}
}

// TestToStdoutLikeOriginal compares -n with the real Courier's sendmail,
// which rewrites From: the same way and prints without queuing anything.
func TestToStdoutLikeOriginal(t *testing.T) {
	testenv.NeedPackage(t, "courier-mta", "/usr/sbin/sendmail")
	sb := newSandbox(t)
	cases := []struct {
		env   []string
		args  []string
		stdin string
	}{
		{[]string{"LOGNAME=lg", "NAME=Full Name"}, nil, "Subject: a\n\nbody\n"},
		{nil, []string{"-F", "Real Name"}, "Subject: b\nFrom: Someone <some@where.example>\nTo: x@y\n\nbody"},
		{[]string{"MAILUSER=mu", "MAILHOST=mh.example"}, nil, "From: Joe <joe@x.example>\nFrom: second@x.example\n\nb\n"},
		{[]string{"MAILNAME=Env Name"}, []string{"-F", "Flag Name"}, "From: joe@x.example\n\n"},
		{[]string{"MAILHOST=mh.example"}, []string{"-F", "Doe, John"}, "Subject: c\n\nx\r\n"}, // (the original keeps a CR in header lines; ours drops it)
		{[]string{"USER=u1"}, []string{"-F", "Doe, John"}, "From: j@x.example\n\n"},
	}
	for i, c := range cases {
		args := append([]string{"-n"}, c.args...)
		ours, oursErr, code := sendmail(t, sb, "sendmail", c.env, c.stdin, args...)
		if code != 0 {
			t.Fatalf("case %d: exit %d: %s", i, code, oursErr)
		}
		cmd := exec.Command("/usr/sbin/sendmail", args...)
		cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, c.env...)
		cmd.Stdin = strings.NewReader(c.stdin)
		theirs, theirsErr, code := testenv.Run(t, cmd)
		if code != 0 {
			t.Fatalf("case %d: the original's sendmail -n: exit %d: %s", i, code, theirsErr)
		}
		if ours != theirs {
			t.Errorf("case %d (%v %v):\nours:\n%q\noriginal:\n%q", i, c.env, c.args, ours, theirs)
		}
	}
	if msgs := queuedMessages(t, sb); len(msgs) != 0 {
		t.Errorf("-n queued %d messages", len(msgs))
	}
}
