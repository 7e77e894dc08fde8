package maildir

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// FuzzParseACL checks the courierimapacl parser: an error naming the file
// and line, or entries that are written back to the same bytes.
func FuzzParseACL(f *testing.F) {
	f.Add([]byte("owner aceilrstwx\nadministrators aceilrstwx\n"))
	f.Add([]byte("-anyone w\nuser=bob  lr\n"))
	f.Add([]byte("owner ACL\n"))
	f.Add([]byte("owner"))
	f.Fuzz(func(t *testing.T, data []byte) {
		acl, err := ParseACL(ACLFile, data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), ACLFile+":") {
				t.Fatalf("error without file:line: %v", err)
			}
			return
		}
		out := FormatACL(acl)
		again, err := ParseACL(ACLFile, out)
		if err != nil || !bytes.Equal(FormatACL(again), out) {
			t.Fatalf("written ACL does not parse back: %v\n%q", err, out)
		}
	})
}

func TestACLFile(t *testing.T) {
	root := filepath.Join(t.TempDir(), "Maildir")
	if err := Make(root, 0o700, 0o700, false); err != nil {
		t.Fatal(err)
	}
	d, _ := OpenDir(root)
	if _, ok, err := d.ReadACL(); ok || err != nil {
		t.Fatalf("no file: %v %v", ok, err)
	}
	acl := []ACLEntry{{"owner", ACLAll}, {"user=bob", "lr"}}
	if err := d.WriteACL(acl); err != nil {
		t.Fatal(err)
	}
	got, ok, err := d.ReadACL()
	if err != nil || !ok || len(got) != 2 || got[1] != acl[1] {
		t.Fatalf("read back %+v %v", got, err)
	}
	if err := d.WriteACL([]ACLEntry{{"a b", "r"}}); err == nil {
		t.Fatal("identifier with a space stored")
	}
}

// quotaMaildir makes a maildir with quota q and the folders A and Trash.
func quotaMaildir(t *testing.T, q QuotaSpec) (root string, inbox, a, trash *Dir) {
	t.Helper()
	root = filepath.Join(t.TempDir(), "Maildir")
	if err := Make(root, 0o700, 0o700, false); err != nil {
		t.Fatal(err)
	}
	if err := SetQuota(root, q); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"A", "Trash"} {
		if err := CreateFolder(root, f); err != nil {
			t.Fatal(err)
		}
	}
	inbox, _ = OpenDir(root)
	a, _ = OpenFolder(root, "A")
	trash, _ = OpenFolder(root, "Trash")
	return root, inbox, a, trash
}

func TestLinkAndMoveMessage(t *testing.T) {
	root, inbox, a, trash := quotaMaildir(t, QuotaSpec{Bytes: 100, Messages: 3})
	p, err := inbox.Deliver(strings.NewReader("0123456789\n"), DeliverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	name, err := linkMessage(a, p, "S")
	if err != nil || !strings.HasSuffix(name, ":2,S") {
		t.Fatalf("link %q %v", name, err)
	}
	st1, _ := os.Stat(p)
	st2, _ := os.Stat(filepath.Join(a.Path, "cur", name))
	if !os.SameFile(st1, st2) {
		t.Fatal("not a hard link")
	}
	usage := func() Usage {
		st, _, err := GetQuota(root, QuotaSpec{})
		if err != nil {
			t.Fatal(err)
		}
		return st.Usage
	}
	if u := usage(); u != (Usage{22, 2}) {
		t.Fatalf("usage after link %+v", u)
	}
	moved, err := moveMessage(a, name, trash, "")
	if err != nil {
		t.Fatal(err)
	}
	if u := usage(); u != (Usage{11, 1}) {
		t.Fatalf("usage after move to Trash %+v", u)
	}
	if _, err := a.Find(name); !errors.Is(err, ErrNoMessage) {
		t.Fatalf("source still there: %v", err)
	}
	if _, err := moveMessage(trash, moved, a, "S"); err != nil {
		t.Fatal(err)
	}
	if u := usage(); u != (Usage{22, 2}) {
		t.Fatalf("usage after move back %+v", u)
	}
	// Over quota: 3 messages allowed.
	if _, err := linkMessage(a, p, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := linkMessage(a, p, ""); !errors.Is(err, ErrOverQuota) {
		t.Fatalf("fourth copy: %v", err)
	}
	// T messages are outside the quota.
	if _, err := linkMessage(a, p, "T"); err != nil {
		t.Fatalf("copy flagged T: %v", err)
	}
}

// linkMessage links the message file src (a path) into d's cur/ under a
// new name with the given flags: one message of CopyMessages' work, with
// flags of the test's choice.
func linkMessage(d *Dir, src string, flags Flags) (string, error) {
	s := linkSource{dir: dirAt{filepath.Dir(src), -1}, name: filepath.Base(src)}
	if err := s.stat(); err != nil {
		return "", err
	}
	s.flags = flags
	names, err := d.linkAll([]linkSource{s})
	if err != nil {
		return "", err
	}
	return names[0], nil
}

// moveMessage is MoveMessages for one message.
func moveMessage(d *Dir, file string, dst *Dir, flags Flags) (string, error) {
	names, err := d.MoveMessages([]string{file}, dst, []Flags{flags})
	if err != nil {
		return "", err
	}
	return names[0], nil
}

// TestLinkAndMoveMessages checks the batch forms: the same names and
// quota as one message at a time, a message gone from the batch skipped
// with an error, and a batch that would go over quota stopped there.
func TestLinkAndMoveMessages(t *testing.T) {
	root, inbox, a, trash := quotaMaildir(t, QuotaSpec{Bytes: 1000, Messages: 5})
	p1, p2 := deliver(t, inbox, "one\n"), deliver(t, inbox, "two\n")
	usage := func() Usage {
		st, _, err := GetQuota(root, QuotaSpec{})
		if err != nil {
			t.Fatal(err)
		}
		return st.Usage
	}
	f1, err := inbox.SetFlags(filepath.Base(p1), "S")
	if err != nil {
		t.Fatal(err)
	}
	f2, err := inbox.SetFlags(filepath.Base(p2), "")
	if err != nil {
		t.Fatal(err)
	}
	names, err := a.CopyMessages(inbox, []string{f1, f2}, nil, nil)
	if err != nil || len(names) != 2 || !strings.HasSuffix(names[0], ":2,S") || !strings.HasSuffix(names[1], ":2,") {
		t.Fatalf("copy %q %v", names, err)
	}
	if u := usage(); u != (Usage{16, 4}) {
		t.Fatalf("usage after links %+v", u)
	}
	moved, err := a.MoveMessages([]string{names[0], "gone:2,", names[1]}, trash, []Flags{"S", "", "F"})
	if !errors.Is(err, ErrNoMessage) || moved[0] == "" || moved[1] != "" || !strings.HasSuffix(moved[2], ":2,F") {
		t.Fatalf("move %q %v", moved, err)
	}
	if u := usage(); u != (Usage{8, 2}) {
		t.Fatalf("usage after move to Trash %+v", u)
	}
	if ls(t, filepath.Join(a.Path, "cur")) != nil {
		t.Fatalf("sources left: %v", ls(t, filepath.Join(a.Path, "cur")))
	}
	back, err := trash.MoveMessages([]string{moved[0], moved[2]}, a, []Flags{"", ""})
	if err != nil || back[0] == "" || back[1] == "" || usage() != (Usage{16, 4}) {
		t.Fatalf("move back %q %v, usage %+v", back, err, usage())
	}
	// Over quota: 5 messages allowed, so the second copy stops the batch.
	names, err = a.CopyMessages(inbox, []string{f1, f2}, nil, nil)
	if !errors.Is(err, ErrOverQuota) || len(names) != 2 || names[0] == "" || names[1] != "" {
		t.Fatalf("over quota: %q %v", names, err)
	}
	// Moving back from Trash what does not fit leaves it there, and checks
	// the quota without the lock that a recount takes.
	moved, err = a.MoveMessages([]string{names[0], back[0]}, trash, []Flags{"", ""})
	if err != nil || moved[0] == "" || moved[1] == "" {
		t.Fatalf("move to Trash %q %v", moved, err)
	}
	deliver(t, inbox, "ten\n")
	back, err = trash.MoveMessages(moved, a, []Flags{"", ""})
	if !errors.Is(err, ErrOverQuota) || back[0] == "" || back[1] != "" || usage() != (Usage{20, 5}) {
		t.Fatalf("move back over quota %q %v, usage %+v", back, err, usage())
	}
}

// TestCopyMessagesRenamedOrGone checks that CopyMessages finds a message
// renamed since it was last seen, with its flags now, and skips one gone.
func TestCopyMessagesRenamedOrGone(t *testing.T) {
	_, inbox, a, _ := quotaMaildir(t, QuotaSpec{Bytes: 1000, Messages: 10})
	p1, p2 := deliver(t, inbox, "one\n"), deliver(t, inbox, "two\n")
	f1, err := inbox.SetFlags(filepath.Base(p1), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inbox.SetFlags(f1, "F"); err != nil {
		t.Fatal(err)
	}
	names, err := a.CopyMessages(inbox, []string{f1, "gone:2,", filepath.Base(p2)}, nil, nil)
	if err != nil || !strings.HasSuffix(names[0], ":2,F") || names[1] != "" || !strings.HasSuffix(names[2], ":2,") {
		t.Fatalf("copy %q %v", names, err)
	}
	if got := ls(t, filepath.Join(a.Path, "cur")); len(got) != 2 {
		t.Fatalf("copies %q", got)
	}
}

// TestCopyMessagesBeingRenamed: a message the caller is renaming (its new
// name in files, its old one in was) is copied by whichever name it has,
// before or after the rename, with the new name's flags.
func TestCopyMessagesBeingRenamed(t *testing.T) {
	_, inbox, a, _ := quotaMaildir(t, QuotaSpec{Bytes: 1000, Messages: 10})
	old1, err := inbox.SetFlags(filepath.Base(deliver(t, inbox, "one\n")), "S")
	if err != nil {
		t.Fatal(err)
	}
	old2, err := inbox.SetFlags(filepath.Base(deliver(t, inbox, "two\n")), "S")
	if err != nil {
		t.Fatal(err)
	}
	new1 := Name{Unique: strings.TrimSuffix(old1, ":2,S")}.WithFlags("FS")
	new2, err := inbox.SetFlags(old2, "FS") // renamed already
	if err != nil {
		t.Fatal(err)
	}
	names, err := a.CopyMessages(inbox, []string{new1, new2}, []string{old1, old2}, []Flags{"FS", "FS"})
	if err != nil || !strings.HasSuffix(names[0], ":2,FS") || !strings.HasSuffix(names[1], ":2,FS") {
		t.Fatalf("copy %q %v", names, err)
	}
	// The names the other way round: the old name tried first.
	names, err = a.CopyMessages(inbox, []string{old1, old2}, []string{new1, new2}, []Flags{"FS", "FS"})
	if err != nil || !strings.HasSuffix(names[0], ":2,FS") || !strings.HasSuffix(names[1], ":2,FS") {
		t.Fatalf("copy %q %v", names, err)
	}
	if got := ls(t, filepath.Join(inbox.Path, "cur")); !slices.Contains(got, old1) || !slices.Contains(got, new2) {
		t.Fatalf("sources %q", got)
	}
}

// TestSetFlagsBatchAndRemoveMessages checks the batch forms' quota: T
// takes messages out, clearing it puts them back while they fit (checked
// without the lock that a recount takes), and RemoveMessages reports each
// message.
func TestSetFlagsBatchAndRemoveMessages(t *testing.T) {
	root, inbox, _, _ := quotaMaildir(t, QuotaSpec{Bytes: 1000, Messages: 3})
	usage := func() Usage {
		st, _, err := GetQuota(root, QuotaSpec{})
		if err != nil {
			t.Fatal(err)
		}
		return st.Usage
	}
	var files []string
	for _, m := range []string{"one\n", "two\n", "six\n"} {
		files = append(files, filepath.Base(deliver(t, inbox, m)))
	}
	deleted, err := inbox.SetFlagsBatch(append(files, "gone:2,"), []Flags{"T", "T", "ST", "T"}, nil)
	if !errors.Is(err, ErrNoMessage) || deleted[3] != "" || !strings.HasSuffix(deleted[2], ":2,ST") || usage() != (Usage{}) {
		t.Fatalf("set T %q %v, usage %+v", deleted, err, usage())
	}
	deliver(t, inbox, "ten\n")
	deliver(t, inbox, "new\n")
	undeleted, err := inbox.SetFlagsBatch(deleted[:3], []Flags{"", "", ""}, nil)
	if !errors.Is(err, ErrOverQuota) || undeleted[0] == "" || undeleted[1] != "" || undeleted[2] != "" || usage() != (Usage{12, 3}) {
		t.Fatalf("clear T %q %v, usage %+v", undeleted, err, usage())
	}
	removed, err := inbox.RemoveMessages([]string{undeleted[0], "gone:2,", deleted[1]})
	if err != nil || !removed[0] || !removed[1] || !removed[2] || usage() != (Usage{8, 2}) {
		t.Fatalf("remove %v %v, usage %+v", removed, err, usage())
	}
	if got := ls(t, filepath.Join(inbox.Path, "cur")); len(got) != 1 || got[0] != deleted[2] {
		t.Fatalf("left in cur/: %q", got)
	}
}
