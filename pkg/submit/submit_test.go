package submit

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gocourier/courier/pkg/address"
	"github.com/gocourier/courier/pkg/aliases"
	"github.com/gocourier/courier/pkg/queue"
	"github.com/gocourier/courier/test/testenv"
)

// newTestSubmitter makes a sandbox tree with control files and aliases,
// and opens a Submitter on it with env as its environment.
func newTestSubmitter(t testing.TB, env map[string]string) (*Submitter, *testenv.Sandbox) {
	t.Helper()
	sb := testenv.NewSandbox(t)
	sb.WriteConfig(t, "me", "vm.test\n", 0o644)
	sb.WriteConfig(t, "defaultdomain", "example.test\n", 0o644)
	sb.WriteConfig(t, "locals", "localhost\nvm.test\nexample.test\n", 0o644)
	sb.WriteConfig(t, "aliases", "list: a, b@remote.example, c\none: target@remote.example\n@virt.example: vuser\nprog: | /bin/true\n", 0o644)
	sb.WriteConfig(t, "aliases-esmtp", "esmtponly@example.test: e1@remote.example, e2@remote.example\n", 0o644)
	makeAliases(t, sb.Layout.SysconfDir)
	s, err := OpenOptions(sb.Layout, Options{Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, sb
}

func makeAliases(t testing.TB, dir string) {
	t.Helper()
	h, err := aliases.LoadHosts(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"", "esmtp"} {
		rw, _ := aliases.ModuleRewrite(p)
		if p == "" {
			rw = aliases.AppendDefaultDomain
		}
		if err := aliases.Make(aliases.DefaultOptions(dir, p, h, rw)); err != nil {
			t.Fatal(err)
		}
	}
}

func localMessage(rcpts ...string) *Message {
	m := &Message{
		Module: "local",
		Envelope: queue.Envelope{
			Sender: "root", ReceivedFrom: "dns; localhost (localhost [127.0.0.1])",
			Env: []string{"TCPREMOTEIP=127.0.0.1"}, Source: "local",
		},
		Trace:      &Trace{Ident: "uid 0"},
		AddHeaders: true,
	}
	for _, r := range rcpts {
		m.Envelope.Recipients = append(m.Envelope.Recipients, queue.Recipient{Address: r})
	}
	return m
}

// files returns the control file (raw), its parse and the data file.
func files(t *testing.T, s *Submitter, id queue.QueueID) (string, *queue.Control, string) {
	t.Helper()
	raw, err := os.ReadFile(s.Queue().ControlPath(id.Inode))
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Queue().Load(id.Inode)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(s.Queue().DataPath(id.Inode))
	if err != nil {
		t.Fatal(err)
	}
	return string(raw), c, string(data)
}

func TestSubmitLocal(t *testing.T) {
	s, _ := newTestSubmitter(t, nil)
	m := localMessage("user", "X@Remote.EXAMPLE", "user@example.test")
	id, err := s.Submit(m, strings.NewReader("Subject: hi\r\nFrom: joe\r\n\r\nbody\r\nlast line"))
	if err != nil {
		t.Fatal(err)
	}
	raw, c, data := files(t, s, id)
	date := FormatDate(id.Time)
	wantCtl := fmt.Sprintf("sroot@example.test\nfdns; localhost (localhost [127.0.0.1])\ne\nt\nM%s\n"+
		"ruser@example.test\nR\nN\nrX@remote.example\nR\nN\nOTCPREMOTEIP=127.0.0.1\nulocal\n", id)
	if !strings.HasPrefix(raw, wantCtl) {
		t.Errorf("control file:\n%s\nwant it to start with:\n%s", raw, wantCtl)
	}
	if !c.Expires.Equal(id.Time.Add(7*24*time.Hour)) || !c.Warn.Equal(id.Time.Add(4*time.Hour)) || c.EightBit {
		t.Errorf("control %+v", c)
	}
	want := fmt.Sprintf("Received: from localhost (localhost [127.0.0.1])\n  (uid 0)\n  by vm.test with local\n  id %s; %s\n"+
		"Subject: hi\nFrom: joe@example.test\nMessage-ID: <courier.%016X.%08X@vm.test>\nDate: %s\nTo: undisclosed-recipients: ;\n\nbody\nlast line\n",
		id, date, id.Time.Unix(), os.Getpid(), date)
	if data != want {
		t.Errorf("data file:\n%q\nwant\n%q", data, want)
	}
	if !regexp.MustCompile(`^[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4}$`).MatchString(date) {
		t.Errorf("date %q", date)
	}
}

func TestSubmitHeaderRules(t *testing.T) {
	s, _ := newTestSubmitter(t, map[string]string{"NOADDMSGID": "1"})
	m := localMessage()
	m.FromHeaders = true
	msg := "To: A <a@Remote.Example>, b\nCc: c@remote.example\nBcc: d@remote.example,\n  e@remote.example\nReturn-Path: <x@y>\nDate: Mon, 01 Jan 2024 00:00:00 +0000\n\n\xc3\xa9t\xc3\xa9\n"
	id, err := s.Submit(m, strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	_, c, data := files(t, s, id)
	var got []string
	for _, r := range c.Recipients {
		got = append(got, r.Address)
	}
	if strings.Join(got, " ") != "a@remote.example b@example.test c@remote.example d@remote.example e@remote.example" {
		t.Errorf("recipients %v", got)
	}
	if !c.EightBit || c.SMTPUTF8 {
		t.Errorf("8bit %v smtputf8 %v, want the 8 record for an 8-bit body only", c.EightBit, c.SMTPUTF8)
	}
	_, rest, _ := strings.Cut(data, "; "+FormatDate(id.Time)+"\n")
	want := "To: A <a@Remote.Example>, b@example.test\nCc: c@remote.example\nOld-Return-Path: <x@y>\nDate: Mon, 01 Jan 2024 00:00:00 +0000\n\n\xc3\xa9t\xc3\xa9\n"
	if rest != want {
		t.Errorf("data after Received:\n%q\nwant\n%q", rest, want)
	}

	// Recipients given: Bcc: stays, as in the original.
	id, err = s.Submit(localMessage("z@remote.example"), strings.NewReader("Bcc: q@remote.example\nSubject: \xc3\xa9\n\nx\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, c, data = files(t, s, id)
	if len(c.Recipients) != 1 || !strings.Contains(data, "\nBcc: q@remote.example\n") || !c.SMTPUTF8 || !c.EightBit {
		t.Errorf("control %+v data %q", c, data)
	}
}

func TestSubmitNoAdd(t *testing.T) {
	s, _ := newTestSubmitter(t, map[string]string{"NOADDDATE": "1", "NOADDMSGID": "0"})
	m := localMessage("z@remote.example")
	m.Trace = nil
	m.Received = "Received: by hand\n"
	id, err := s.Submit(m, strings.NewReader("Cc: x@remote.example\n\nbody\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, _, data := files(t, s, id)
	want := fmt.Sprintf("Received: by hand\nCc: x@remote.example\nMessage-ID: <courier.%016X.%08X@vm.test>\n\nbody\n", id.Time.Unix(), os.Getpid())
	if data != want {
		t.Errorf("data %q, want %q", data, want)
	}
	m.NoAddMsgID = true
	m.AddHeaders = true
	id, err = s.Submit(m, strings.NewReader("no header at all"))
	if err != nil {
		t.Fatal(err)
	}
	_, _, data = files(t, s, id)
	if data != "Received: by hand\nno header at all\nTo: undisclosed-recipients: ;\n" {
		t.Errorf("data %q", data)
	}
}

func TestSubmitAliases(t *testing.T) {
	s, _ := newTestSubmitter(t, nil)
	m := localMessage()
	m.Envelope.Recipients = []queue.Recipient{
		{Address: "list", Notify: address.NotifySuccess | address.NotifyFailure},
		{Address: "one@example.test", Notify: address.NotifyFailure},
		{Address: "foo@virt.example"},
		{Address: "a@example.test"},                              // a member of list: not twice, but with this NOTIFY
		{Address: "c@example.test", Notify: address.NotifyNever}, // a duplicate of the member
		{Address: "prog"},
	}
	id, err := s.Submit(m, strings.NewReader("Subject: x\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	raw, c, _ := files(t, s, id)
	type r struct {
		addr, orcpt string
		notify      address.Notify
		st          queue.Status
		suffix      string
	}
	want := []r{
		{"list@example.test", "", address.NotifySuccess | address.NotifyFailure, queue.StatusDelivered, "r"},
		{"a@example.test", "", 0, queue.StatusPending, ""}, // the member, given its own NOTIFY below
		{"b@remote.example", "", address.NotifyNever, queue.StatusPending, ""},
		{"c@example.test", "", address.NotifyNever, queue.StatusPending, ""},
		{"target@remote.example", "one@example.test", address.NotifyFailure, queue.StatusPending, ""},
		{"vuser-foo@vm.test", "foo@virt.example", 0, queue.StatusPending, ""},
		{`".xalias/prog@example+2etest"@example.test`, "prog@example.test", 0, queue.StatusPending, ""},
	}
	var got []r
	for _, x := range c.Recipients {
		got = append(got, r{x.Address, x.ORCPT, x.Notify, x.Status, x.SuccessSuffix})
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("recipients\n%v\nwant\n%v\ncontrol file:\n%s", got, want, raw)
	}
	if !strings.Contains(raw, fmt.Sprintf("\nI0 R 250 Ok - delivered to alias.\nS0 %d r\n", id.Time.Unix())) {
		t.Errorf("control file lacks the alias delivery records:\n%s", raw)
	}

	// The DSN module's triple-bounce sender is kept as it is.
	m = &Message{Module: "dsn", Envelope: queue.Envelope{Sender: TripleBounce, Recipients: []queue.Recipient{{Address: "postmaster"}}, Source: "local/dsn", HasSubmitDelay: true}}
	id, err = s.Submit(m, strings.NewReader("Subject: report\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, c, _ = files(t, s, id); c.Sender != TripleBounce || c.Recipients[0].Address != "postmaster@example.test" || !c.HasSubmitDelay {
		t.Errorf("DSN control %+v", c)
	}

	// aliases-esmtp.dat serves module esmtp only.
	m = localMessage("esmtponly@example.test")
	m.Envelope.Sender = "root@example.test"
	id, err = s.Submit(m, strings.NewReader("\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, c, _ = files(t, s, id); len(c.Recipients) != 1 {
		t.Errorf("local module expanded an esmtp alias: %+v", c.Recipients)
	}
	m.Module = "esmtp"
	id, err = s.Submit(m, strings.NewReader("\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, c, _ = files(t, s, id); len(c.Recipients) != 3 {
		t.Errorf("esmtp module did not expand its alias: %+v", c.Recipients)
	}
}

func TestSubmitRefusals(t *testing.T) {
	s, _ := newTestSubmitter(t, map[string]string{"SIZELIMIT": "300", "BOFHHEADERLIMIT": "1100"})
	before := countQueued(t, s)
	big := "Subject: x\n\n" + strings.Repeat("0123456789\n", 40)
	manyReceived := strings.Repeat("Received:\n", 101) + "\n"
	cases := []struct {
		name string
		m    *Message
		data string
		code int
		text string
	}{
		{"reserved", localMessage(`".hidden"@example.test`), "\n", 550, "reserved"},
		{"leading dot", localMessage(".hidden@remote.example"), "\n", 513, "starts with '.'"},
		{"syntax", localMessage("bad address@@x"), "\n", 513, "Syntax error"},
		{"esmtp without domain", &Message{Module: "esmtp", Envelope: queue.Envelope{Recipients: []queue.Recipient{{Address: "joe"}}, Source: "smtp"}}, "\n", 513, "has no domain"},
		{"bad sender", &Message{Module: "local", Envelope: queue.Envelope{Sender: "a b@@", Recipients: []queue.Recipient{{Address: "joe"}}}}, "\n", 517, "Syntax error"},
		{"size", localMessage("z@remote.example"), big, 523, "Message length ("},
		{"header too big", localMessage("z@remote.example"), "Subject: " + strings.Repeat("x", 1200) + "\n\n", 534, "header size"},
		{"loop", localMessage("z@remote.example"), manyReceived, 546, "Routing loop"},
		{"no recipients", &Message{Module: "local", FromHeaders: true}, "Subject: x\n\n", 511, "Headers specify no receipients."},
		{"bad To", &Message{Module: "local", FromHeaders: true}, "To: a@@b\n\n", 513, "To: header"},
	}
	for _, c := range cases {
		r := strings.NewReader(c.data)
		_, err := s.Submit(c.m, r)
		var se *Error
		if !errors.As(err, &se) || se.Code != c.code || !strings.Contains(se.Text, c.text) {
			t.Errorf("%s: error %v, want %d ...%s...", c.name, err, c.code, c.text)
		}
		if r.Len() != 0 {
			t.Errorf("%s: %d bytes of the message left unread", c.name, r.Len())
		}
	}
	if n := countQueued(t, s); n != before {
		t.Errorf("refused messages were queued: %d messages, before %d", n, before)
	}
	// Addresses starting with '.' are refused only where they are local.
	if _, err := s.Submit(localMessage(`".x"@remote.example`), strings.NewReader("\n")); err != nil {
		t.Errorf("remote dot address refused: %v", err)
	}
}

func countQueued(t *testing.T, s *Submitter) int {
	t.Helper()
	ents, err := s.Queue().Scan()
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestCheck(t *testing.T) {
	s, _ := newTestSubmitter(t, nil)
	r, err := s.Check("local", "List")
	if err != nil || r.Address != "List@example.test" || !r.Local || r.Alias {
		t.Errorf("List: %+v %v (aliases are case-sensitive, as makealiases stores them)", r, err)
	}
	r, err = s.Check("local", "list@example.test")
	if err != nil || !r.Alias || len(r.Members) != 3 {
		t.Errorf("list: %+v %v", r, err)
	}
	r, err = s.Check("esmtp", "<x@Remote.Example>")
	if err != nil || r.Address != "x@remote.example" || r.Local || r.Alias {
		t.Errorf("remote: %+v %v", r, err)
	}
	if _, err := s.Check("local", `".x"@vm.test`); err == nil {
		t.Error("reserved address accepted")
	}
}

func TestReadHeader(t *testing.T) {
	in := "A: 1\r\n b\nno colon line\n\tcont\nC:3\r\n\r\nbody"
	br := bufio.NewReader(strings.NewReader(in))
	h, err := ReadHeader(br, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	h.WriteTo(&b)
	if b.String() != "A: 1\n b\nno colon line\n\tcont\nC:3\n" || !h.Separated || len(h.Fields) != 4 {
		t.Errorf("fields %q separated %v n %d", b.String(), h.Separated, len(h.Fields))
	}
	if v, _ := h.Get("a"); v != "1 b" {
		t.Errorf("A = %q", v)
	}
	if rest, _ := br.ReadString(0); rest != "body" {
		t.Errorf("body %q", rest)
	}
	if _, err := ReadHeader(bufio.NewReader(strings.NewReader(strings.Repeat("X: y\n", 600))), DefaultLimits); err == nil {
		t.Error("600 fields accepted")
	}
}
