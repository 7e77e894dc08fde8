package maildir

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gocourier/courier/test/testenv"
)

func TestParseUIDDB(t *testing.T) {
	// Observed after SELECT of INBOX with 2 messages (spec/maildir.md §4).
	data := "1 795317723 3\n1 1795317716.M211586P3676V000000000000FE00I00000000009840C2.vm,S=41\n2 1795317716.M213180P3678V000000000000FE00I00000000009840D2.vm,S=19\n"
	db, err := ParseUIDDB("courierimapuiddb", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if db.UIDValidity != 795317723 || db.NextUID != 3 || len(db.Entries) != 2 || db.Entries[1] != (UIDEntry{2, "1795317716.M213180P3678V000000000000FE00I00000000009840D2.vm,S=19"}) {
		t.Errorf("got %+v", db)
	}
	if string(db.Format()) != data {
		t.Errorf("Format = %q", db.Format())
	}
	if db, err := ParseUIDDB("u", []byte("1 795317723 1\n")); err != nil || len(db.Entries) != 0 {
		t.Errorf("empty folder: %+v %v", db, err)
	}
	for in, want := range map[string]string{
		"":                  "u:1: empty file",
		"1 5 3":             "u:1: last line is not terminated",
		"2 5 3\n":           "u:1: version \"2\"",
		"1 5\n":             "u:1: want \"1 <uidvalidity> <nextuid>\"",
		"1 x 3\n":           "u:1: uidvalidity",
		"1 5 0\n":           "u:1: next uid",
		"1 5 99999999999\n": "u:1: next uid",
		"1 5 3\n1a\n":       "u:2: want \"<uid> <filename>\"",
		"1 5 3\n3 a\n":      "u:2: uid 3 is not below",
		"1 5 3\n2 a\n1 b\n": "u:3: uid 1 does not follow uid 2",
		"1 5 3\n1 a:2,S\n":  "u:2: \"a:2,S\" is not a message file name",
		"1 5 9\n1 a\n2 a\n": "u:3: a is listed twice",
		"1 5 9\n0 a\n":      "u:2: uid \"0\"",
		"1 5 9\n-1 a\n":     "u:2: uid \"-1\"",
	} {
		if _, err := ParseUIDDB("u", []byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseUIDDB(%q) = %v, want an error about %q", in, err, want)
		}
	}
}

func TestUIDDBSyncAndWrite(t *testing.T) {
	d := newMaildir(t)
	db := &UIDDB{UIDValidity: NewUIDValidity(time.Unix(1795317723, 0)), NextUID: 1}
	if db.UIDValidity != 795317723 {
		t.Errorf("uidvalidity %d", db.UIDValidity)
	}
	added, err := db.Sync([]string{"b:2,S", "a"})
	if err != nil || len(added) != 2 || added[0] != (UIDEntry{1, "a"}) || added[1] != (UIDEntry{2, "b"}) || db.NextUID != 3 {
		t.Fatalf("first sync: %+v %+v", added, db)
	}
	added, err = db.Sync([]string{"c", "b:2,"})
	if err != nil || len(added) != 1 || added[0] != (UIDEntry{3, "c"}) || len(db.Entries) != 2 || db.Entries[0].Unique != "b" {
		t.Fatalf("second sync: %+v %+v", added, db)
	}
	full := &UIDDB{NextUID: 1<<32 - 1, Entries: []UIDEntry{{1, "x"}}}
	if _, err := full.Sync([]string{"x", "y"}); err != ErrUIDsExhausted || len(full.Entries) != 1 {
		t.Errorf("exhausted uids: %v %+v", err, full)
	}
	if got, err := d.ReadUIDDB(); got != nil || err != nil {
		t.Fatalf("no file yet: %v %v", got, err)
	}
	if err := d.SyncUIDDB(); err == nil {
		t.Fatal("SyncUIDDB of no map: no error")
	}
	if err := d.WriteUIDDBUnsynced(db); err != nil {
		t.Fatal(err)
	}
	if err := d.SyncUIDDB(); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteUIDDB(db); err != nil {
		t.Fatal(err)
	}
	got, err := d.ReadUIDDB()
	if err != nil || string(got.Format()) != "1 795317723 4\n2 b\n3 c\n" {
		t.Fatalf("read back %+v %v", got, err)
	}
	if files := ls(t, filepath.Join(d.Path, "tmp")); len(files) != 0 {
		t.Errorf("tmp/ = %v", files)
	}
}

// TestReadUIDDBAgain checks that the map held is returned only for a
// file that is exactly its Format, and that every other file is parsed.
func TestReadUIDDBAgain(t *testing.T) {
	d := newMaildir(t)
	have := &UIDDB{UIDValidity: 795317723, NextUID: 12, Entries: []UIDEntry{{2, "b"}, {10, "c,S=3"}, {11, "d"}}}
	if got, err := d.ReadUIDDBAgain(have); got != nil || err != nil {
		t.Fatalf("no file: %v %v", got, err)
	}
	p := filepath.Join(d.Path, UIDDBFile)
	same := string(have.Format())
	for _, data := range []string{
		same,
		"1 795317723 13\n2 b\n10 c,S=3\n11 d\n",
		"1 795317723 12\n2 b\n10 c,S=3\n",
		"1 795317723 12\n2 b\n10 c,S=3\n11 d\n12 e\n",
		"1 795317723 12\n2 b\n10 c,S=4\n11 d\n",
		"1 795317723 12\n2 b\n1 c,S=3\n11 d\n",
		"1 795317723 12\n2 b\n10 c,S=3x\n11 d\n",
		"1 795317723 12\n2 b\n10 c,S=3\n11 d",
		"1 795317724 12\n2 b\n10 c,S=3\n11 d\n",
		"1 795317723 12\n",
		"",
	} {
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := d.ReadUIDDBAgain(have)
		want, werr := d.ReadUIDDB()
		if (got == have) != (data == same) {
			t.Errorf("%q: returned the map held: %v", data, got == have)
		}
		if (err == nil) != (werr == nil) || err == nil && string(got.Format()) != string(want.Format()) {
			t.Errorf("%q: ReadUIDDBAgain = %+v, %v; ReadUIDDB = %+v, %v", data, got, err, want, werr)
		}
	}
}

// TestSortedByUnique compares SortedByUnique with slices.Sort on names alike
// in their first 16 bytes or shorter, and with bytes above 0x7f; with
// info, with slices.SortStableFunc on their unique parts.
func TestSortedByUnique(t *testing.T) {
	names := []string{"", "a", "a\x00", "a\x00\x00", "\xff", "\x80a", "b", "1795317716.M211586P3676V0", "1795317716.M211586P3676V1",
		"1795317716.M211586", "1795317716.M21158", "1795317716.M2115860", "1700000000.M000000P1.bench,S=10", "1700000000.M000001P1.bench,S=10"}
	for i := 0; i < 500; i++ {
		names = append(names, strconv.Itoa(1700000000+i*7919%1000)+".M"+strconv.Itoa(i*31%97)+"P1.h,S="+strconv.Itoa(i%13))
	}
	for i := range names {
		j := (i * 7) % len(names)
		names[i], names[j] = names[j], names[i]
	}
	for _, n := range []int{len(names), 20} {
		in := slices.Clone(names[:n])
		want := slices.Clone(in)
		slices.Sort(want)
		got := SortedByUnique(in, itself)
		if !slices.Equal(got, want) || !slices.Equal(in, names[:n]) {
			t.Errorf("SortedByUnique = %q, want %q", got, want)
		}
	}

	// The unique part ends at the colon: "1:2,S" comes before "1.2",
	// "1,S=1" before "1,S=10"; names of one message keep their order.
	var info []string
	for i, n := range names {
		if i%3 == 0 {
			info = append(info, n+":2,"+strconv.Itoa(i%4))
		}
		info = append(info, n+":2,S", n, n+"0:2,")
	}
	for _, n := range []int{len(info), 30} {
		want := slices.Clone(info[:n])
		slices.SortStableFunc(want, func(a, b string) int {
			a, _, _ = strings.Cut(a, ":")
			b, _, _ = strings.Cut(b, ":")
			return strings.Compare(a, b)
		})
		if got := SortedByUnique(info[:n], itself); !slices.Equal(got, want) {
			t.Errorf("SortedByUnique = %q, want %q", got, want)
		}
	}
}

func TestKeywordList(t *testing.T) {
	// Written by Debian's imapd after STORE +FLAGS ($Label1 Custom) and
	// (Custom), then a new session.
	data := "Custom\n$Label1\n\n1795323149.M537678P30021V000000000000FE00I00000000009840F6.vm,S=18:1 0\n1795323149.M543097P30028V000000000000FE00I00000000009840F7.vm,S=18:0\n"
	kw, err := ParseKeywordList(":list", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(kw["1795323149.M537678P30021V000000000000FE00I00000000009840F6.vm,S=18"], " ") != "$Label1 Custom" ||
		strings.Join(kw["1795323149.M543097P30028V000000000000FE00I00000000009840F7.vm,S=18"], " ") != "Custom" {
		t.Errorf("got %q", kw)
	}
	again, err := ParseKeywordList(":list", FormatKeywordList(kw))
	if err != nil || len(again) != 2 {
		t.Errorf("round trip %q %v", again, err)
	}
	if FormatKeywordList(Keywords{"a": nil}) != nil {
		t.Error("a list without keywords must be nil (no file)")
	}
	for in, want := range map[string]string{
		"A\n":             ":list:1: no empty line",
		"A\n\nm:1\n":      ":list:3: keyword index \"1\"",
		"A\n\nm:-1\n":     "keyword index \"-1\"",
		"A\n\nm:+0\n":     "keyword index \"+0\"",
		"A\n\nm:\n":       "keyword index \"\"",
		"A\n\nm 0\n":      ":list:3: want \"<message>:<index>",
		"A\n\nm:0\nm:0\n": ":list:4: message m is listed twice",
		"A\tB\n\n":        ":list:1: keyword \"A\\tB\": control character",
		"A\n\nm:0":        "not terminated",
	} {
		if _, err := ParseKeywordList(":list", []byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseKeywordList(%q) = %v, want an error about %q", in, err, want)
		}
	}
}

func TestKeywordUpdates(t *testing.T) {
	d := newMaildir(t)
	a := filepath.Base(deliver(t, d, "A\n"))
	b := filepath.Base(deliver(t, d, "B\n"))
	kwDir := filepath.Join(d.Path, KeywordsDir)

	if kw, err := d.ReadKeywords(); err != nil || len(kw) != 0 {
		t.Fatalf("fresh maildir: %v %v", kw, err)
	}
	if err := d.SetKeywords(a, []string{"Custom", "$Label1", "Custom"}); err != nil {
		t.Fatal(err)
	}
	if got := fileText(t, filepath.Join(kwDir, a)); got != "$Label1\nCustom\n" {
		t.Errorf("update file %q", got)
	}
	kw, err := d.ReadKeywords()
	if err != nil || strings.Join(kw[a], ",") != "$Label1,Custom" {
		t.Fatalf("ReadKeywords = %q, %v", kw, err)
	}
	// Folded into :list; the update renamed to .<period+1>.<name>.
	tn := time.Now().Unix() / kwPeriod
	if _, err := os.Stat(filepath.Join(kwDir, "."+strconv.FormatInt(tn+1, 10)+"."+a)); err != nil {
		t.Errorf("update not renamed: %v (have %v)", err, ls(t, kwDir))
	}
	if got := fileText(t, filepath.Join(kwDir, ":list")); got != "$Label1\nCustom\n\n"+a+":0 1\n" {
		t.Errorf(":list = %q", got)
	}
	// A later period: the lone old update is merged and removed.
	later, _, err := d.readKeywords(time.Now().Add(20 * time.Minute))
	if err != nil || strings.Join(later[a], ",") != "$Label1,Custom" {
		t.Fatalf("later read %q %v", later, err)
	}
	if got := ls(t, kwDir); strings.Join(got, " ") != ":list" {
		t.Errorf("keyword dir after the period: %v", got)
	}
	// Clearing the keywords of a, flagging b; a message that is gone.
	d.SetKeywords(a+":2,S", nil)
	d.SetKeywords(b, []string{"Work"})
	os.WriteFile(filepath.Join(kwDir, "gone.msg"), []byte("X\n"), 0o644)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(filepath.Join(kwDir, "gone.msg"), old, old)
	os.WriteFile(filepath.Join(kwDir, ".tmp.1000.x"), nil, 0o644)
	kw, err = d.ReadKeywords()
	if err != nil || len(kw) != 1 || strings.Join(kw[b], ",") != "Work" {
		t.Fatalf("after updates %q %v", kw, err)
	}
	if got := fileText(t, filepath.Join(kwDir, ":list")); got != "Work\n\n"+b+":0\n" {
		t.Errorf(":list = %q", got)
	}
	for _, f := range []string{"gone.msg", ".tmp.1000.x"} {
		if _, err := os.Stat(filepath.Join(kwDir, f)); !os.IsNotExist(err) {
			t.Errorf("%s was not cleaned up", f)
		}
	}
	// A removed message drops out of :list.
	d.Remove(b)
	if kw, err := d.ReadKeywords(); err != nil || len(kw) != 0 {
		t.Errorf("after removal %q %v", kw, err)
	}
	if _, err := os.Stat(filepath.Join(kwDir, ":list")); !os.IsNotExist(err) {
		t.Error(":list should be gone with no keywords left")
	}
	if err := d.SetKeywords(a, []string{"bad\nkeyword"}); err == nil {
		t.Error("a keyword with a newline was stored")
	}
}

var uidvalidityReply = regexp.MustCompile(`\[UIDVALIDITY (\d+)\]`)

// The original imapd and this package share courierimapuiddb and
// courierimapkeywords: each reads what the other wrote.
func TestInteropImapdUIDsAndKeywords(t *testing.T) {
	testenv.NeedPackage(t, "courier-imap", realImapd)
	d := newMaildir(t)
	a := filepath.Base(deliver(t, d, "Subject: a\n\nbody\n"))
	b := filepath.Base(deliver(t, d, "Subject: b\n\nbody\n"))
	if _, err := d.ScanNew(); err != nil {
		t.Fatal(err)
	}
	// Our UID map and keywords first.
	if err := d.WriteUIDDB(&UIDDB{UIDValidity: 123456, NextUID: 10, Entries: []UIDEntry{{5, a}, {9, b}}}); err != nil {
		t.Fatal(err)
	}
	if err := d.SetKeywords(a, []string{"$Label1", "Custom"}); err != nil {
		t.Fatal(err)
	}
	c := filepath.Base(deliver(t, d, "Subject: c\n\nbody\n"))
	out := imapRunEnv(t, d.Path, []string{"IMAP_KEYWORDS=1"},
		`a SELECT INBOX`,
		`b UID FETCH 1:* (FLAGS)`,
		`c STORE 2 +FLAGS (Other)`,
		`d LOGOUT`)
	for _, want := range []string{
		"* OK [UIDVALIDITY 123456] Ok",
		`* 1 FETCH (UID 5 FLAGS ($Label1 Custom))`,
		`* 2 FETCH (UID 9 FLAGS ())`,
		`* 3 FETCH (UID 10 FLAGS (\Recent))`,
	} {
		if !strings.Contains(out, want+"\r\n") {
			t.Errorf("imapd did not answer %q; it said:\n%s", want, out)
		}
	}
	// What imapd wrote, read here.
	db, err := d.ReadUIDDB()
	if err != nil {
		t.Fatal(err)
	}
	if string(db.Format()) != "1 123456 11\n5 "+a+"\n9 "+b+"\n10 "+c+"\n" {
		t.Errorf("uid map after imapd: %q", db.Format())
	}
	kw, err := d.ReadKeywords()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(kw[a], ",") != "$Label1,Custom" || strings.Join(kw[b], ",") != "Other" {
		t.Errorf("keywords after imapd: %q", kw)
	}
	// Our compacted :list alone (the update files merged and removed in a
	// later period) is what imapd reads next.
	if _, _, err := d.readKeywords(time.Now().Add(20 * time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := ls(t, filepath.Join(d.Path, KeywordsDir)); strings.Join(got, " ") != ":list" {
		t.Fatalf("keyword dir %v", got)
	}
	out = imapRunEnv(t, d.Path, []string{"IMAP_KEYWORDS=1"}, `a SELECT INBOX`, `b FETCH 1:* (FLAGS)`, `c LOGOUT`)
	for _, want := range []string{`* 1 FETCH (FLAGS ($Label1 Custom))`, `* 2 FETCH (FLAGS (Other))`, `* 3 FETCH (FLAGS ())`} {
		if !strings.Contains(out, want+"\r\n") {
			t.Errorf("imapd did not answer %q from our :list; it said:\n%s", want, out)
		}
	}
	if m := uidvalidityReply.FindStringSubmatch(out); m == nil || m[1] != "123456" {
		t.Errorf("UIDVALIDITY changed: %v", m)
	}
}

// imapRunEnv is imapRun with extra environment for imapd.
func imapRunEnv(t *testing.T, root string, env []string, cmds ...string) string {
	t.Helper()
	out, errOut, code := runReal(t, append([]string{"AUTHENTICATED=test"}, env...), strings.Join(cmds, "\r\n")+"\r\n", realImapd, root)
	if code != 0 {
		t.Fatalf("imapd exit %d: %s", code, errOut)
	}
	return out
}

// TestSyncNew checks that SyncNew gives what Sync gives a new map.
func TestSyncNew(t *testing.T) {
	names := SortedByUnique([]string{"3.b:2,S", "1.a", "2.c:2,"}, itself)
	want := &UIDDB{UIDValidity: 7, NextUID: 4}
	if _, err := want.Sync(names); err != nil {
		t.Fatal(err)
	}
	db := &UIDDB{UIDValidity: 7, NextUID: 4}
	first, err := SyncNew(db, names, uniquePart)
	if err != nil || first != 4 || !sameUIDDB(db, want) {
		t.Fatalf("SyncNew = %d, %v: %+v, want %+v", first, err, db, want)
	}
	if _, err := SyncNew(db, names, uniquePart); err == nil {
		t.Error("SyncNew on a map with entries")
	}
	full := &UIDDB{UIDValidity: 7, NextUID: 1<<32 - 2}
	if _, err := SyncNew(full, names, uniquePart); err != ErrUIDsExhausted || len(full.Entries) != 0 {
		t.Errorf("exhausted: %v, %+v", err, full)
	}
}

func sameUIDDB(a, b *UIDDB) bool {
	return a.UIDValidity == b.UIDValidity && a.NextUID == b.NextUID && slices.Equal(a.Entries, b.Entries)
}
