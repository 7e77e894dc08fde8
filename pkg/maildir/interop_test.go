package maildir

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gocourier/courier/test/testenv"
)

// The original programs from Debian's courier-base and courier-imap.
const (
	realMaildirmake  = "/usr/bin/maildirmake.courier"
	realDeliverquota = "/usr/bin/deliverquota.courier"
	realImapd        = "/usr/bin/imapd"
)

// runReal runs an original program in a scratch directory with the given
// standard input (a string is piped; an *os.File is passed as is, so that
// deliverquota sees a regular file) and extra environment, and returns its
// output and exit code.
func runReal(t *testing.T, env []string, stdin any, prog string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8"}, env...)
	cmd.Dir = t.TempDir()
	switch in := stdin.(type) {
	case string:
		cmd.Stdin = strings.NewReader(in)
	case *os.File:
		cmd.Stdin = in
	}
	return testenv.Run(t, cmd)
}

func messageFile(t *testing.T, content string) *os.File {
	t.Helper()
	p := filepath.Join(t.TempDir(), "msg")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// A maildir made by the original maildirmake is read by this package, the
// maildirsize both write adds up, and the original's own recount of it
// writes exactly the file this package's recount writes.
func TestInteropRealMaildirmake(t *testing.T) {
	testenv.NeedPackage(t, "courier-base", realMaildirmake, realDeliverquota)
	root := filepath.Join(t.TempDir(), "Maildir")
	for _, args := range [][]string{{"-q", "1000S,10C", root}, {"-f", "Work.Projects", root}, {"-f", "Café", root}, {"-f", "Trash", root}} {
		if _, e, code := runReal(t, nil, nil, realMaildirmake, args...); code != 0 {
			t.Fatalf("maildirmake %v: exit %d %s", args, code, e)
		}
	}
	ours := withQuota(t, "1000S,10C")
	if a, b := fileText(t, filepath.Join(root, "maildirsize")), fileText(t, filepath.Join(ours.Path, "maildirsize")); a != b {
		t.Errorf("maildirsize of the original %q, ours %q", a, b)
	}
	d, err := OpenDir(root)
	if err != nil {
		t.Fatal(err)
	}
	folders, err := Folders(root)
	if err != nil || strings.Join(folders, "|") != "Café|Trash|Work.Projects" {
		t.Fatalf("Folders = %q, %v", folders, err)
	}
	st, ok, err := GetQuota(root, QuotaSpec{})
	if err != nil || !ok || st.Quota != (QuotaSpec{1000, 10}) || st.Usage != (Usage{}) {
		t.Fatalf("GetQuota = %+v %v %v", st, ok, err)
	}

	work, err := OpenFolder(root, "Work.Projects")
	if err != nil {
		t.Fatal(err)
	}
	trash, _ := OpenFolder(root, "Trash")
	deliver(t, d, "Subject: ours\n\nbody\n")
	deliver(t, work, "Subject: ours in a folder\n\nbody\n")
	deliver(t, trash, "Subject: in the trash\n\nbody\n")
	flagged := deliver(t, d, "Subject: to be deleted\n\nbody\n")
	if _, err := d.SetFlags(filepath.Base(flagged), "T"); err != nil {
		t.Fatal(err)
	}
	// The original delivers into the same maildir and folder, from a pipe
	// and from a file.
	if _, e, code := runReal(t, nil, "Subject: theirs\n\nbody\n", realDeliverquota, root); code != 0 {
		t.Fatalf("deliverquota: exit %d %s", code, e)
	}
	if _, e, code := runReal(t, nil, messageFile(t, "Subject: theirs, file\n\nbody\n"), realDeliverquota, filepath.Join(root, ".Work.Projects")); code != 0 {
		t.Fatalf("deliverquota into a folder: exit %d %s", code, e)
	}
	msgs, err := d.Messages()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if m.Name.Size < 0 {
			t.Errorf("no size parsed from %s", m.File)
		}
	}
	want := recount(t, root)
	if want.Messages != 4 {
		t.Errorf("recount %+v: want 4 messages (Trash and T left out)", want)
	}
	if sf := readSizeFile(t, root); sf.Usage != want {
		t.Errorf("maildirsize sums to %+v, the messages to %+v", sf.Usage, want)
	}
	// The original's recount (maildirmake -q on an existing maildir)
	// leaves out Trash and T exactly as ours does.
	if _, e, code := runReal(t, nil, nil, realMaildirmake, "-q", "1000S,10C", root); code != 0 {
		t.Fatalf("maildirmake -q: exit %d %s", code, e)
	}
	if got, wantFile := fileText(t, filepath.Join(root, "maildirsize")), "1000S,10C\n"+string(usageLine(want)); got != wantFile {
		t.Errorf("the original recounted %q, ours counts %q", got, wantFile)
	}
}

// The original deliverquota works on a maildir made by this package and
// refuses at the same point; it and this package keep one maildirsize that
// adds up.
func TestInteropRealDeliverquotaOnOurMaildir(t *testing.T) {
	testenv.NeedPackage(t, "courier-base", realMaildirmake, realDeliverquota)
	d := withQuota(t, "100S,3C")
	if err := CreateFolder(d.Path, "Lists"); err != nil {
		t.Fatal(err)
	}
	msg := "Subject: a\n\nhello\n" // 18 bytes
	if _, e, code := runReal(t, nil, msg, realDeliverquota, d.Path); code != 0 {
		t.Fatalf("deliverquota: exit %d %s", code, e)
	}
	if _, e, code := runReal(t, nil, messageFile(t, msg), realDeliverquota, filepath.Join(d.Path, ".Lists")); code != 0 {
		t.Fatalf("deliverquota into our folder: exit %d %s", code, e)
	}
	deliver(t, d, msg)
	// Full at 3 messages: both refuse.
	if out, _, code := runReal(t, nil, messageFile(t, msg), realDeliverquota, d.Path); code != 77 || out != "Mail quota exceeded.\n" {
		t.Errorf("original, file input: exit %d %q, want 77", code, out)
	}
	if out, _, code := runReal(t, nil, msg, realDeliverquota, d.Path); code != 75 || out != "Mail quota exceeded.\n" {
		t.Errorf("original, pipe: exit %d %q, want 75", code, out)
	}
	if _, err := d.Deliver(strings.NewReader(msg), DeliverOptions{}); !errors.Is(err, ErrOverQuota) {
		t.Errorf("ours: %v", err)
	}
	if sf := readSizeFile(t, d.Path); sf.Usage != (Usage{54, 3}) || sf.Usage != recount(t, d.Path) {
		t.Errorf("maildirsize %+v, recount %+v", sf.Usage, recount(t, d.Path))
	}
	// Freed space lets the original in again.
	msgs, _ := d.Messages()
	if err := d.Remove(msgs[0].File); err != nil {
		t.Fatal(err)
	}
	if _, e, code := runReal(t, nil, msg, realDeliverquota, d.Path); code != 0 {
		t.Fatalf("deliverquota after a removal: exit %d %s", code, e)
	}
	if sf := readSizeFile(t, d.Path); sf.Usage != recount(t, d.Path) {
		t.Errorf("maildirsize %+v, recount %+v", sf.Usage, recount(t, d.Path))
	}
}

// imapRun feeds commands to the original imapd, pre-authenticated on root.
func imapRun(t *testing.T, root string, cmds ...string) string {
	t.Helper()
	return imapRunEnv(t, root, nil, cmds...)
}

// The original imapd, run pre-authenticated on a maildir built by this
// package, lists its folders, sees its messages with their flags, and
// keeps its maildirsize consistent; what imapd changes reads back here.
func TestInteropRealImapd(t *testing.T) {
	testenv.NeedPackage(t, "courier-imap", realImapd)
	// The original numbers new messages in the order of their names,
	// which is not always the order of delivery (M999 sorts after
	// M1000): deliver again into a fresh maildir until the two agree, as
	// the commands below address a, b and c by sequence number.
	var d *Dir
	var a, b, c string
	for {
		d = withQuota(t, "100000S,50C")
		a = filepath.Base(deliver(t, d, "Subject: a\n\nbody\n"))
		b = filepath.Base(deliver(t, d, "Subject: b\n\nbody\n"))
		c = filepath.Base(deliver(t, d, "Subject: c\n\nbody\n"))
		if a < b && b < c {
			break
		}
	}
	for _, f := range []string{"Sent", "Work.Projects", "Café"} {
		if err := CreateFolder(d.Path, f); err != nil {
			t.Fatal(err)
		}
	}
	sent, _ := OpenFolder(d.Path, "Sent")
	deliver(t, sent, "Subject: s\n\nsent\n")
	// a and b were read by "us" before; c stays new.
	if _, err := d.ScanNew(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(d.Path, "cur", c+":2,"), filepath.Join(d.Path, "new", c)); err != nil {
		t.Fatal(err)
	}
	if _, err := d.SetFlags(a, "S"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.SetFlags(b, "FR"); err != nil {
		t.Fatal(err)
	}

	out := imapRun(t, d.Path,
		`a LIST "" "*"`,
		`b SELECT INBOX`,
		`c FETCH 1:* (FLAGS RFC822.SIZE)`,
		`d STORE 2 +FLAGS (\Draft)`,
		`e STORE 3 +FLAGS (\Deleted)`,
		`f EXPUNGE`,
		`g GETQUOTAROOT INBOX`,
		`h STATUS "INBOX.Sent" (MESSAGES)`,
		`i CREATE "INBOX.R&AOk-sum&AOk-"`,
		`j LOGOUT`)
	for _, want := range []string{
		`* LIST (\HasNoChildren) "." "INBOX.Caf&AOk-"`,
		`* LIST (\HasNoChildren) "." "INBOX.Sent"`,
		`* LIST (\HasNoChildren) "." "INBOX.Work.Projects"`,
		`* LIST (\Noselect \HasChildren) "." "INBOX.Work"`,
		"* 3 EXISTS",
		// Recent: new to imapd's uid database, which did not exist yet.
		"* 3 RECENT",
		// 17 bytes in 3 lines: 20 with CRLF.
		`* 1 FETCH (FLAGS (\Seen \Recent) RFC822.SIZE 20)`,
		`* 2 FETCH (FLAGS (\Flagged \Answered \Recent) RFC822.SIZE 20)`,
		`* 3 FETCH (FLAGS (\Recent) RFC822.SIZE 20)`,
		"f OK EXPUNGE completed",
		`* QUOTA "ROOT" (STORAGE 1 98 MESSAGE 3 50)`,
		`* STATUS "INBOX.Sent" (MESSAGES 1)`,
		`i OK "INBOX.R&AOk-sum&AOk-" created.`,
	} {
		if !strings.Contains(out, want+"\r\n") {
			t.Errorf("imapd did not answer %q; it said:\n%s", want, out)
		}
	}
	// What imapd did, read back: c expunged (its quota line written by
	// imapd), b got \Draft, everything left is in cur/, the new folder is
	// in UTF-8 on disk.
	if _, err := d.Find(c); !errors.Is(err, ErrNoMessage) {
		t.Errorf("expunged message: %v", err)
	}
	if m, err := d.Find(b); err != nil || m.Flags() != "DFR" || m.Sub != "cur" {
		t.Errorf("message b: %+v %v", m, err)
	}
	if m, err := d.Find(a); err != nil || m.Flags() != "S" {
		t.Errorf("message a: %+v %v", m, err)
	}
	if sf := readSizeFile(t, d.Path); sf.Usage != recount(t, d.Path) || sf.Usage.Messages != 3 {
		t.Errorf("maildirsize %+v after imapd, recount %+v", sf.Usage, recount(t, d.Path))
	}
	folders, _ := Folders(d.Path)
	if strings.Join(folders, "|") != "Café|Résumé|Sent|Work.Projects" {
		t.Errorf("Folders after imapd CREATE = %q", folders)
	}
	if _, err := os.Stat(filepath.Join(d.Path, "courierimapuiddb")); err != nil {
		t.Errorf("imapd did not keep its uid database: %v", err)
	}
}

// maildirsizeLine is what both implementations append.
var maildirsizeLine = regexp.MustCompile(`^ {0,11}-?\d+ {1,12}-?\d+$`)

// Lines appended by the original and by this package look alike.
func TestInteropMaildirsizeLines(t *testing.T) {
	testenv.NeedPackage(t, "courier-base", realDeliverquota)
	d := withQuota(t, "100000S")
	deliver(t, d, "x\n")
	if _, e, code := runReal(t, nil, strings.Repeat("y", 12345), realDeliverquota, d.Path); code != 0 {
		t.Fatalf("deliverquota: exit %d %s", code, e)
	}
	data := fileText(t, filepath.Join(d.Path, "maildirsize"))
	lines := strings.Split(strings.TrimSuffix(data, "\n"), "\n")
	if len(lines) != 4 || lines[2] != strings.TrimSuffix(string(usageLine(Usage{2, 1})), "\n") || lines[3] != "       12345            1" {
		t.Fatalf("maildirsize = %q", data)
	}
	for _, l := range lines[1:] {
		if !maildirsizeLine.MatchString(l) || len(l) != 25 {
			t.Errorf("line %q", l)
		}
	}
}
