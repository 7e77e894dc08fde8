package imapd

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/gocourier/courier/pkg/maildir"
)

// testEnv is the configuration of the sessions under test: the shipped
// capabilities.
var testEnv = map[string]string{
	"AUTHENTICATED":        "u@example.test",
	"IMAP_CAPABILITY":      "IMAP4rev1 IMAP4rev2 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT THREAD=REFERENCES SORT QUOTA IDLE MOVE SPECIAL-USE LITERAL+ ESEARCH UNSELECT CONDSTORE QRESYNC STATUS=SIZE SASL-IR LIST-EXTENDED LIST-STATUS",
	"IMAP_ACL":             "1",
	"IMAP_KEYWORDS":        "1",
	"IMAP_TRASHFOLDERNAME": "Trash",
}

// newMaildir makes a maildir with the given messages in new/.
func newMaildir(t *testing.T, msgs ...string) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "Maildir")
	if err := maildir.Make(root, 0o700, 0o700, false); err != nil {
		t.Fatal(err)
	}
	deliver(t, root, msgs...)
	return root
}

func deliver(t *testing.T, root string, msgs ...string) {
	t.Helper()
	d, err := maildir.OpenDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if _, err := d.Deliver(strings.NewReader(m), maildir.DeliverOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// serve starts sessions on the maildir for every connection to the
// returned address.
func serve(t testing.TB, root string, env map[string]string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				Serve(c, root, func(k string) string { return env[k] }, slog.New(slog.NewTextHandler(io.Discard, nil)))
			}()
		}
	}()
	return l.Addr().String()
}

func dial(t testing.TB, addr string, h *imapclient.UnilateralDataHandler) *imapclient.Client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := imapclient.New(conn, &imapclient.Options{UnilateralDataHandler: h})
	t.Cleanup(func() { c.Close() })
	if err := c.WaitGreeting(); err != nil {
		t.Fatal(err)
	}
	return c
}

// must returns v, or panics (failing the test with the caller's line in
// the trace) on an error.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func msg(subject, extra, body string) string {
	return fmt.Sprintf("From: Alice <alice@example.test>\nTo: bob@example.test\nSubject: %s\nDate: Mon, 2 Nov 2026 10:00:00 +0000\nMessage-ID: <%s@example.test>\n%s\n%s\n", subject, strings.ReplaceAll(subject, " ", "."), extra, body)
}

func TestCommands(t *testing.T) {
	root := newMaildir(t,
		msg("apple pie", "", "first body"),
		msg("banana", "In-Reply-To: <apple.pie@example.test>\n", "second body, about cherries"),
		msg("Re: apple pie", "References: <apple.pie@example.test>\n", "third"),
	)
	addr := serve(t, root, testEnv)
	c := dial(t, addr, nil)
	caps := must(c.Capability().Wait())
	for _, want := range []imap.Cap{"IMAP4rev1", "IMAP4rev2", "MOVE", "CONDSTORE", "QRESYNC", "ACL", "ENABLE", "UTF8=ACCEPT", "ID", "SORT", "THREAD=REFERENCES"} {
		if !caps.Has(want) {
			t.Errorf("capability %s missing: %v", want, caps)
		}
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if id := must(c.ID(&imap.IDData{Name: "test"}).Wait()); id.Name != "Courier-IMAP" {
		t.Errorf("ID: %+v", id)
	}
	ns := must(c.Namespace().Wait())
	if len(ns.Personal) != 1 || ns.Personal[0].Prefix != "INBOX." || ns.Personal[0].Delim != '.' {
		t.Errorf("NAMESPACE: %+v", ns)
	}

	// Folders.
	for _, f := range []string{"INBOX.Sent", "INBOX.Work", "INBOX.Work.Caf\u00e9", "INBOX.Trash"} {
		if err := c.Create(f, nil).Wait(); err != nil {
			t.Fatalf("CREATE %s: %v", f, err)
		}
	}
	if err := c.Create("INBOX.Sent", nil).Wait(); err == nil || !strings.Contains(err.Error(), "ALREADYEXISTS") {
		t.Errorf("CREATE of an existing folder: %v", err)
	}
	for _, badName := range []string{"INBOX.a..b", "INBOX.a/b", "INBOX.a\x01b"} {
		if err := c.Create(badName, nil).Wait(); err == nil {
			t.Errorf("CREATE %q succeeded", badName)
		}
	}
	if err := c.Subscribe("INBOX.Sent").Wait(); err != nil {
		t.Fatal(err)
	}
	list := must(c.List("", "*", &imap.ListOptions{ReturnStatus: &imap.StatusOptions{NumMessages: true}}).Collect())
	names := map[string]*imap.ListData{}
	for _, l := range list {
		names[l.Mailbox] = l
	}
	if len(names) != 5 || names["INBOX.Work.Caf\u00e9"] == nil || names["INBOX.Work"] == nil || !slices.Contains(names["INBOX.Work"].Attrs, imap.MailboxAttrHasChildren) {
		t.Fatalf("LIST: %+v", list)
	}
	if names["INBOX"].Status == nil || *names["INBOX"].Status.NumMessages != 3 {
		t.Errorf("LIST-STATUS of INBOX: %+v", names["INBOX"].Status)
	}
	if !slices.Contains(names["INBOX.Sent"].Attrs, imap.MailboxAttrSent) || !slices.Contains(names["INBOX.Trash"].Attrs, imap.MailboxAttrTrash) {
		t.Errorf("SPECIAL-USE: %+v %+v", names["INBOX.Sent"].Attrs, names["INBOX.Trash"].Attrs)
	}
	subs := must(c.List("", "*", &imap.ListOptions{SelectSubscribed: true}).Collect())
	if len(subs) != 1 || subs[0].Mailbox != "INBOX.Sent" {
		t.Errorf("LIST (SUBSCRIBED): %+v", subs)
	}
	if err := c.Unsubscribe("INBOX.Sent").Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename("INBOX.Work.Caf\u00e9", "INBOX.Work.Tea", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("INBOX.Work.Tea").Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("INBOX.Nope").Wait(); err == nil || !strings.Contains(err.Error(), "NONEXISTENT") {
		t.Errorf("DELETE of a missing folder: %v", err)
	}

	// APPEND with UIDPLUS, then STATUS.
	text := msg("appended", "", "appended body")
	app := c.Append("INBOX.Sent", int64(len(text)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen, "$Important"}})
	app.Write([]byte(text))
	app.Close()
	ad := must(app.Wait())
	if ad.UID != 1 || ad.UIDValidity == 0 {
		t.Errorf("APPENDUID: %+v", ad)
	}
	st := must(c.Status("INBOX.Sent", &imap.StatusOptions{NumMessages: true, UIDNext: true, Size: true, HighestModSeq: true, NumUnseen: true}).Wait())
	if *st.NumMessages != 1 || st.UIDNext != 2 || *st.Size != int64(len(text)+strings.Count(text, "\n")) || *st.NumUnseen != 0 || st.HighestModSeq == 0 {
		t.Errorf("STATUS: %+v", st)
	}

	// SELECT, FETCH, STORE.
	sel := must(c.Select("INBOX", &imap.SelectOptions{CondStore: true}).Wait())
	if sel.NumMessages != 3 || sel.UIDNext != 4 || sel.HighestModSeq == 0 {
		t.Fatalf("SELECT: %+v", sel)
	}
	msgs := must(c.Fetch(imap.SeqSetNum(1, 2, 3), &imap.FetchOptions{UID: true, Flags: true, RFC822Size: true, Envelope: true, BodyStructure: &imap.FetchItemBodyStructure{Extended: true}}).Collect())
	if len(msgs) != 3 || msgs[0].Envelope.Subject != "apple pie" || msgs[0].Envelope.From[0].Host != "example.test" || msgs[1].UID != 2 || msgs[2].RFC822Size == 0 {
		t.Fatalf("FETCH: %+v", msgs)
	}
	body := must(c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}}).Collect())
	if got := string(body[0].FindBodySection(&imap.FetchItemBodySection{})); !strings.Contains(got, "first body\r\n") {
		t.Errorf("BODY[]: %q", got)
	}
	flags := must(c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Flags: true}).Collect())
	if !slices.Contains(flags[0].Flags, imap.FlagSeen) {
		t.Errorf("BODY[] did not set \\Seen: %v", flags[0].Flags)
	}
	stored := must(c.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged, "$Label1"}}, nil).Collect())
	if len(stored) != 1 || !slices.Contains(stored[0].Flags, "$Label1") || stored[0].ModSeq == 0 {
		t.Errorf("STORE: %+v", stored)
	}
	// A conditional STORE with an old modseq fails.
	stored = must(c.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsDel, Flags: []imap.Flag{imap.FlagFlagged}}, &imap.StoreOptions{UnchangedSince: 1}).Collect())
	if len(stored) != 0 {
		t.Errorf("STORE UNCHANGEDSINCE 1 changed %+v", stored)
	}

	// SEARCH, ESEARCH, SORT, THREAD.
	sd := must(c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "APPLE"}}}, nil).Wait())
	if got := sd.AllUIDs(); !slices.Equal(got, []imap.UID{1, 3}) {
		t.Errorf("UID SEARCH SUBJECT apple: %v", got)
	}
	sd = must(c.Search(&imap.SearchCriteria{Body: []string{"cherries"}}, &imap.SearchOptions{ReturnCount: true, ReturnMin: true}).Wait())
	if sd.Count != 1 || sd.Min != 2 {
		t.Errorf("ESEARCH BODY cherries: %+v", sd)
	}
	sd = must(c.Search(&imap.SearchCriteria{Flag: []imap.Flag{"$Label1"}}, nil).Wait())
	if got := sd.AllSeqNums(); !slices.Equal(got, []uint32{2}) {
		t.Errorf("SEARCH KEYWORD: %v", got)
	}
	sorted := must(c.Sort(&imapclient.SortOptions{SearchCriteria: &imap.SearchCriteria{}, SortCriteria: []imapclient.SortCriterion{{Key: imapclient.SortKeySubject}}}).Wait())
	if !slices.Equal(sorted, []uint32{3, 1, 2}) { // equal base subjects: descending, as Courier
		t.Errorf("SORT (SUBJECT): %v", sorted)
	}
	threads := must(c.Thread(&imapclient.ThreadOptions{Algorithm: imap.ThreadReferences, SearchCriteria: &imap.SearchCriteria{}}).Wait())
	if len(threads) != 1 || threads[0].Chain[0] != 1 {
		t.Errorf("THREAD REFERENCES: %+v", threads)
	}

	// COPY, MOVE, EXPUNGE.
	cd := must(c.Copy(imap.SeqSetNum(1), "INBOX.Work").Wait())
	if cd.UIDValidity == 0 || cd.DestUIDs.String() != "1" {
		t.Errorf("COPYUID: %+v", cd)
	}
	md := must(c.Move(imap.SeqSetNum(3), "INBOX.Work").Wait())
	if md.DestUIDs.String() != "2" {
		t.Errorf("MOVE COPYUID: %+v", md)
	}
	if _, err := c.Copy(imap.SeqSetNum(1), "INBOX.Nope").Wait(); err == nil || !strings.Contains(err.Error(), "TRYCREATE") {
		t.Errorf("COPY to a missing folder: %v", err)
	}
	must(c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect())
	exp := must(c.Expunge().Collect())
	if !slices.Equal(exp, []uint32{1}) {
		t.Errorf("EXPUNGE: %v", exp)
	}
	if n := c.Mailbox().NumMessages; n != 1 {
		t.Errorf("%d messages left, want 1", n)
	}

	// QUOTA and ACL.
	qr := must(c.GetQuotaRoot("INBOX").Wait())
	if len(qr) != 1 || qr[0].Root != "ROOT" {
		t.Errorf("GETQUOTAROOT: %+v", qr)
	}
	mr := must(c.MyRights("INBOX").Wait())
	if !strings.Contains(string(mr.Rights), "l") || !strings.Contains(string(mr.Rights), "r") {
		t.Errorf("MYRIGHTS: %+v", mr)
	}
	if err := c.SetACL("INBOX.Work", "friend", imap.RightModificationReplace, imap.RightSet("lr")).Wait(); err != nil {
		t.Fatal(err)
	}
	acl := must(c.GetACL("INBOX.Work").Wait())
	if string(acl.Rights["friend"]) != "lr" {
		t.Errorf("GETACL after SETACL: %+v", acl)
	}
	if err := c.Unselect().Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Logout().Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestIdleSeesDelivery(t *testing.T) {
	root := newMaildir(t, msg("one", "", "x"))
	addr := serve(t, root, testEnv)
	exists := make(chan uint32, 10)
	c := dial(t, addr, &imapclient.UnilateralDataHandler{Mailbox: func(d *imapclient.UnilateralDataMailbox) {
		if d.NumMessages != nil {
			exists <- *d.NumMessages
		}
	}})
	must(c.Select("INBOX", nil).Wait())
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	deliver(t, root, msg("two", "", "y"))
	select {
	case n := <-exists:
		if n != 2 {
			t.Errorf("EXISTS %d, want 2", n)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("the delivery reached the idling client after %v, want within a second", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no EXISTS during IDLE after a delivery")
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
}

// raw is a line-level client for what imapclient cannot send.
type raw struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *raw {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := &raw{t: t, c: c, r: bufio.NewReader(c)}
	if l := r.line(); !strings.HasPrefix(l, "* PREAUTH") {
		t.Fatalf("greeting %q", l)
	}
	return r
}

func (r *raw) line() string {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	l, err := r.r.ReadString('\n')
	if err != nil {
		r.t.Fatalf("read: %v", err)
	}
	return strings.TrimRight(l, "\r\n")
}

// until reads lines until the one starting with prefix and returns all.
func (r *raw) until(prefix string) []string {
	r.t.Helper()
	var out []string
	for {
		l := r.line()
		out = append(out, l)
		if strings.HasPrefix(l, prefix) {
			return out
		}
	}
}

func TestPipeliningAndLiterals(t *testing.T) {
	root := newMaildir(t, msg("one", "", "x"), msg("two", "", "y"))
	addr := serve(t, root, testEnv)
	r := dialRaw(t, addr)
	// Pipelined commands, a synchronising and a non-synchronising literal.
	fmt.Fprintf(r.c, "a SELECT INBOX\r\nb FETCH 1 (FLAGS)\r\nc STATUS {5+}\r\nINBOX (MESSAGES)\r\nd CREATE {8}\r\n")
	got := r.until("c ")
	if !slices.Contains(got, "* STATUS \"INBOX\" (MESSAGES 2)") || !strings.HasPrefix(got[len(got)-1], "c OK") {
		t.Fatalf("pipelined: %q", got)
	}
	if l := r.line(); l != "+ OK" {
		t.Fatalf("continuation: %q", l)
	}
	fmt.Fprintf(r.c, "INBOX.Li\r\n")
	if l := r.line(); !strings.HasPrefix(l, "d OK") {
		t.Fatalf("CREATE with a literal: %q", l)
	}
	// APPEND with LITERAL+.
	text := "Subject: literal\r\n\r\nbody\r\n"
	fmt.Fprintf(r.c, "e APPEND INBOX {%d+}\r\n%s\r\n", len(text), text)
	if got := r.until("e "); !strings.Contains(got[len(got)-1], "[APPENDUID ") {
		t.Fatalf("APPEND: %q", got)
	}
}

func TestBadInput(t *testing.T) {
	root := newMaildir(t, msg("one", "", "x"))
	addr := serve(t, root, testEnv)
	r := dialRaw(t, addr)
	// A declared 4 GB literal is refused at once.
	fmt.Fprintf(r.c, "a APPEND INBOX {4294967296}\r\n")
	if l := r.line(); !strings.HasPrefix(l, "a BAD") {
		t.Fatalf("4 GB literal: %q", l)
	}
	// 10,000 nested parentheses.
	fmt.Fprintf(r.c, "b FETCH 1 %s\r\n", strings.Repeat("(", 10000)+strings.Repeat(")", 10000))
	if l := r.line(); !strings.HasPrefix(l, "b BAD") {
		t.Fatalf("nesting: %q", l)
	}
	// A 10 MB line.
	go func() { fmt.Fprintf(r.c, "c NOOP %s\r\n", strings.Repeat("x", 10<<20)) }()
	if l := r.line(); !strings.Contains(l, "BAD") && !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("10 MB line: %q", l)
	}
	r2 := dialRaw(t, addr)
	for _, cmd := range []string{"x UNKNOWN", "y FETCH 1 (FLAGS)", "z UID FOO", "w LOGIN a b"} {
		fmt.Fprintf(r2.c, "%s\r\n", cmd)
		if l := r2.line(); !strings.Contains(l, " BAD ") {
			t.Errorf("%s: %q", cmd, l)
		}
	}
	for _, name := range []string{"INBOX.a..b", "INBOX./etc", "\"INBOX.a\x7fb\""} {
		fmt.Fprintf(r2.c, "n CREATE %s\r\n", name)
		if l := r2.line(); !strings.HasPrefix(l, "n NO") && !strings.HasPrefix(l, "n BAD") {
			t.Errorf("CREATE %s: %q", name, l)
		}
	}
	if _, err := os.Stat(filepath.Join(root, ".a..b")); err == nil {
		t.Error("a folder .a..b was made")
	}
}

func TestAutologout(t *testing.T) {
	defer func(d time.Duration) { Idle = d }(Idle)
	Idle = 300 * time.Millisecond
	addr := serve(t, newMaildir(t), testEnv)
	r := dialRaw(t, addr)
	if l := r.line(); l != "* BYE Autologout; idle for too long" {
		t.Fatalf("a silent client got %q", l)
	}
}

func TestOutbox(t *testing.T) {
	dir := t.TempDir()
	sent := filepath.Join(dir, "sent")
	sendmail := filepath.Join(dir, "sendmail")
	if err := os.WriteFile(sendmail, []byte("#!/bin/sh\necho \"$@\" > "+sent+".args\ncat > "+sent+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"OUTBOX": ".Outbox", "SENDMAIL": sendmail, "HEADERFROM": "X-IMAP-Sender", "AUTHADDR": "u@example.test"}
	for k, v := range testEnv {
		env[k] = v
	}
	root := newMaildir(t)
	addr := serve(t, root, env)
	c := dial(t, addr, nil)
	if !c.Caps().Has("XCOURIEROUTBOX=INBOX.OUTBOX") { // imapclient upper-cases names
		t.Fatalf("capabilities: %v", c.Caps())
	}
	if err := c.Create("INBOX.Outbox", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	text := "To: friend@example.test\r\nSubject: out\r\n\r\nhello\r\n"
	app := c.Append("INBOX.Outbox", int64(len(text)), nil)
	app.Write([]byte(text))
	app.Close()
	if _, err := app.Wait(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(sent)
	args, _ := os.ReadFile(sent + ".args")
	if string(b) != "X-IMAP-Sender: u@example.test\nTo: friend@example.test\nSubject: out\n\nhello\n" || strings.TrimSpace(string(args)) != "-oi -t -f u@example.test" {
		t.Fatalf("sendmail got %q with %q", b, args)
	}
	st := must(c.Status("INBOX.Outbox", &imap.StatusOptions{NumMessages: true}).Wait())
	if *st.NumMessages != 1 {
		t.Errorf("the sent message is not kept in the Outbox: %d", *st.NumMessages)
	}
}

func TestCondstoreQresync(t *testing.T) {
	root := newMaildir(t, msg("one", "", "x"), msg("two", "", "y"), msg("three", "", "z"))
	addr := serve(t, root, testEnv)
	r := dialRaw(t, addr)
	fmt.Fprintf(r.c, "a ENABLE QRESYNC\r\n")
	if got := r.until("a "); got[0] != "* ENABLED QRESYNC" {
		t.Fatalf("ENABLE: %q", got)
	}
	fmt.Fprintf(r.c, "b SELECT INBOX\r\n")
	var uidv, modseq string
	for _, l := range r.until("b ") {
		fmt.Sscanf(l, "* OK [UIDVALIDITY %s", &uidv)
		fmt.Sscanf(l, "* OK [HIGHESTMODSEQ %s", &modseq)
	}
	uidv, modseq = strings.TrimSuffix(uidv, "]"), strings.TrimSuffix(modseq, "]")
	if uidv == "" || modseq == "" {
		t.Fatal("no UIDVALIDITY or HIGHESTMODSEQ")
	}
	fmt.Fprintf(r.c, "c STORE 2 +FLAGS.SILENT (\\Flagged)\r\nd UID STORE 3 +FLAGS.SILENT (\\Deleted)\r\ne EXPUNGE\r\n")
	if got := r.until("e "); !slices.Contains(got, "* VANISHED 3") {
		t.Fatalf("EXPUNGE under QRESYNC: %q", got)
	}
	fmt.Fprintf(r.c, "f UNSELECT\r\ng SELECT INBOX (QRESYNC (%s %s 1:3))\r\n", uidv, modseq)
	got := strings.Join(r.until("g "), "\n")
	if !strings.Contains(got, "* VANISHED (EARLIER) 3") || !strings.Contains(got, "* 2 FETCH (UID 2 FLAGS (\\Flagged") {
		t.Fatalf("SELECT with QRESYNC:\n%s", got)
	}
	fmt.Fprintf(r.c, "h UID FETCH 1:* (FLAGS) (CHANGEDSINCE %s VANISHED)\r\n", modseq)
	got = strings.Join(r.until("h "), "\n")
	if !strings.Contains(got, "* VANISHED (EARLIER) 3") || !strings.Contains(got, "UID 2") || strings.Contains(got, "UID 1 ") {
		t.Fatalf("UID FETCH CHANGEDSINCE VANISHED:\n%s", got)
	}
}
