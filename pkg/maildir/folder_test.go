package maildir

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMakeModes(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "M")
	if err := Make(root, 0o700, 0o700, false); err != nil {
		t.Fatal(err)
	}
	if err := Make(root, 0o700, 0o700, false); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second Make: %v, want exists", err)
	}
	// A public writable folder of a sharable maildir: maildirmake -s write
	// gives 01755 and 01777 subdirectories (observed).
	pub := filepath.Join(root, ".Pub")
	if err := Make(pub, 0o755|os.ModeSticky, 0o777|os.ModeSticky, true); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{
		root:                                0o700 | os.ModeDir,
		filepath.Join(root, "cur"):          0o700 | os.ModeDir,
		pub:                                 0o755 | os.ModeDir | os.ModeSticky,
		filepath.Join(pub, "tmp"):           0o777 | os.ModeDir | os.ModeSticky,
		filepath.Join(pub, "maildirfolder"): 0o600,
	} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode() != want {
			t.Errorf("%s: mode %v, want %v", p, st.Mode(), want)
		}
	}
	// Failure leaves nothing: a path whose parent is missing.
	if err := Make(filepath.Join(dir, "no", "such"), 0o700, 0o700, false); err == nil {
		t.Error("Make without a parent succeeded")
	}

	deep := filepath.Join(dir, "a", "b", "Maildir")
	if err := MkdirAll(deep); err != nil {
		t.Fatal(err)
	}
	if err := MkdirAll(deep); err != nil {
		t.Fatalf("MkdirAll on an existing maildir: %v", err)
	}
	if _, err := OpenDir(deep); err != nil {
		t.Error(err)
	}
}

func TestValidFolderName(t *testing.T) {
	for _, ok := range []string{"Sent", "Work.Projects", "Café", `x\056y`, "a b", "a:b", "x~y", `b\c`} {
		if err := ValidFolderName(ok); err != nil {
			t.Errorf("ValidFolderName(%q): %v", ok, err)
		}
	}
	for bad, want := range map[string]string{
		"":                       "empty",
		".x":                     "empty hierarchy level",
		"x.":                     "empty hierarchy level",
		"a..b":                   "empty hierarchy level",
		"a/b":                    "'/'",
		"a\tb":                   "control character",
		"a\x7fb":                 "control character",
		"\xff":                   "UTF-8",
		strings.Repeat("x", 255): "longer than 254",
	} {
		if err := ValidFolderName(bad); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidFolderName(%q) = %v, want an error about %q", bad, err, want)
		}
	}
}

func TestFolders(t *testing.T) {
	d := newMaildir(t)
	for _, f := range []string{"Sent", "Work.Projects", "Café", "Work.Projects.Old"} {
		if err := CreateFolder(d.Path, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := CreateFolder(d.Path, "Sent"); !errors.Is(err, fs.ErrExist) {
		t.Errorf("creating an existing folder: %v", err)
	}
	if err := CreateFolder(d.Path, "a/b"); err == nil {
		t.Error("created a folder with '/'")
	}
	// Not folders: a dot file, a directory without cur/.
	os.WriteFile(filepath.Join(d.Path, ".dotfile"), nil, 0o600)
	os.Mkdir(filepath.Join(d.Path, ".NoCur"), 0o700)
	got, err := Folders(d.Path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, "|") != "Café|Sent|Work.Projects|Work.Projects.Old" {
		t.Errorf("Folders = %q", got)
	}
	// UTF-8 on disk, as Courier >= 1.0 stores it.
	if _, err := os.Stat(filepath.Join(d.Path, ".Café", "maildirfolder")); err != nil {
		t.Error(err)
	}
	f, err := OpenFolder(d.Path, "Work.Projects")
	if err != nil || f.Root != d.Path || f.Path != filepath.Join(d.Path, ".Work.Projects") {
		t.Fatalf("OpenFolder = %+v, %v", f, err)
	}
	if _, err := OpenFolder(d.Path, "Nope"); err == nil {
		t.Error("opened a missing folder")
	}
	inbox, err := OpenFolder(d.Path, "")
	if err != nil || inbox.Path != d.Path {
		t.Errorf("OpenFolder(\"\") = %+v, %v", inbox, err)
	}
}

func TestDeleteFolder(t *testing.T) {
	d := withQuota(t, "1000S")
	for _, f := range []string{"Work", "Work.Sub"} {
		if err := CreateFolder(d.Path, f); err != nil {
			t.Fatal(err)
		}
	}
	work, _ := OpenFolder(d.Path, "Work")
	deliver(t, work, "hello\n")
	deliver(t, d, "x\n")
	if err := DeleteFolder(d.Path, "Work"); err != nil {
		t.Fatal(err)
	}
	got, _ := Folders(d.Path)
	if strings.Join(got, "|") != "Work.Sub" {
		t.Errorf("after DeleteFolder: %q (subfolders stay)", got)
	}
	// The quota was recounted without the folder's message.
	if sf := readSizeFile(t, d.Path); sf.Usage != (Usage{2, 1}) || sf.Lines != 1 {
		t.Errorf("maildirsize %+v", sf)
	}
	if err := DeleteFolder(d.Path, "Work"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("deleting a missing folder: %v", err)
	}
	// A symlinked folder loses only its link.
	target := filepath.Join(t.TempDir(), "Elsewhere")
	if err := Make(target, 0o700, 0o700, false); err != nil {
		t.Fatal(err)
	}
	os.Symlink(target, filepath.Join(d.Path, ".Link"))
	if err := DeleteFolder(d.Path, "Link"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(target, "cur")); err != nil {
		t.Error("deleting a symlinked folder removed its target")
	}
}

func TestRenameFolder(t *testing.T) {
	d := withQuota(t, "1000S")
	for _, f := range []string{"Work", "Work.A", "Work.A.B", "Workshop", "Other"} {
		if err := CreateFolder(d.Path, f); err != nil {
			t.Fatal(err)
		}
	}
	os.Mkdir(filepath.Join(d.Path, hierAclDir), 0o700)
	os.WriteFile(filepath.Join(d.Path, hierAclDir, "Work.A"), []byte("owner aceilrstwx\n"), 0o600)
	wa, _ := OpenFolder(d.Path, "Work.A")
	p := deliver(t, wa, "msg\n")

	if err := RenameFolder(d.Path, "Work", "Job"); err != nil {
		t.Fatal(err)
	}
	got, _ := Folders(d.Path)
	if strings.Join(got, "|") != "Job|Job.A|Job.A.B|Other|Workshop" {
		t.Errorf("after rename: %q", got)
	}
	if _, err := os.Stat(filepath.Join(d.Path, ".Job.A", "new", filepath.Base(p))); err != nil {
		t.Error("the message did not move with its folder")
	}
	if _, err := os.Stat(filepath.Join(d.Path, hierAclDir, "Job.A")); err != nil {
		t.Error("the hierarchy ACL did not move")
	}
	for _, bad := range [][2]string{{"Job", "Job.X"}, {"Job", "Job"}, {"Job", "Other"}, {"Nope", "Zzz"}, {"Job", "a..b"}} {
		if err := RenameFolder(d.Path, bad[0], bad[1]); err == nil {
			t.Errorf("RenameFolder(%q, %q) succeeded", bad[0], bad[1])
		}
	}
	// A hierarchy level without a directory renames its children.
	if err := DeleteFolder(d.Path, "Job"); err != nil {
		t.Fatal(err)
	}
	if err := RenameFolder(d.Path, "Job", "Task"); err != nil {
		t.Fatal(err)
	}
	got, _ = Folders(d.Path)
	if strings.Join(got, "|") != "Other|Task.A|Task.A.B|Workshop" {
		t.Errorf("after renaming a bare level: %q", got)
	}
	// Into Trash: out of the quota after the recount.
	if err := RenameFolder(d.Path, "Task.A.B", "Trash"); err != nil {
		t.Fatal(err)
	}
	if err := RenameFolder(d.Path, "Task.A", "Trash.A"); err != nil {
		t.Fatal(err)
	}
	if sf := readSizeFile(t, d.Path); sf.Usage != (Usage{4, 1}) {
		t.Errorf("usage %+v (Trash.A still counts; only Trash itself is exempt)", sf.Usage)
	}
}

func TestEscapeFolderName(t *testing.T) {
	// What Debian's maildirmake -F made of these names (observed).
	for in, want := range map[string]string{
		"x.y":    `x\056y`,
		"x/y":    `x\057y`,
		":x~":    `\072x\176`,
		`b\c`:    `b\134c`,
		"tab\tx": `tab\011x`,
		"Café":   "Café",
		"a&b":    "a&b",
		"z\x7fz": "z\x7fz",
	} {
		if got := EscapeFolderName(in); got != want {
			t.Errorf("EscapeFolderName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLocale(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for want, m := range map[string]map[string]string{
		"UTF-8":      {"LANG": "C.UTF-8"},
		"ISO-8859-1": {"LANG": "C.UTF-8", "LC_CTYPE": "de_DE.ISO-8859-1@euro"},
		"US-ASCII":   {"LC_ALL": "C", "LANG": "C.UTF-8"},
		"KOI8-R":     {"LANG": "ru_RU.KOI8-R"},
	} {
		if got := LocaleCharset(env(m)); got != want {
			t.Errorf("LocaleCharset(%v) = %q, want %q", m, got, want)
		}
	}
	if s, err := ToUTF8("Caf\xe9", "ISO-8859-1"); err != nil || s != "Café" {
		t.Errorf("latin1: %q %v", s, err)
	}
	if _, err := ToUTF8("Café", "US-ASCII"); err == nil {
		t.Error("non-ASCII accepted in the C locale (Courier refuses it)")
	}
	if _, err := ToUTF8("Caf\xe9", "UTF-8"); err == nil {
		t.Error("invalid UTF-8 accepted")
	}
	if _, err := ToUTF8("x", "KOI8-R"); err == nil {
		t.Error("unsupported charset accepted")
	}
}

func TestPurgeOlder(t *testing.T) {
	d := withQuota(t, "1000S")
	deliver(t, d, "old\n")
	p := deliver(t, d, "older\n")
	time.Sleep(20 * time.Millisecond)
	if n, err := d.PurgeOlder(time.Hour); err != nil || n != 0 {
		t.Fatalf("PurgeOlder(1h) = %d, %v", n, err)
	}
	fresh := deliver(t, d, "new\n")
	// Only files changed more than 10ms ago go; fresh stays.
	if n, err := d.PurgeOlder(10 * time.Millisecond); err != nil || n != 2 {
		t.Fatalf("PurgeOlder = %d, %v", n, err)
	}
	if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Error("an old message survived")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Error("a fresh message was purged")
	}
	if sf := readSizeFile(t, d.Path); sf.Usage != (Usage{4, 1}) || sf.Usage != recount(t, d.Path) {
		t.Errorf("maildirsize %+v after the purge", sf.Usage)
	}
}

func TestSharedMaildirs(t *testing.T) {
	d := newMaildir(t)
	shared := filepath.Join(t.TempDir(), "notices")
	if err := Make(shared, 0o755, 0o700, false); err != nil {
		t.Fatal(err)
	}
	global := filepath.Join(t.TempDir(), "maildirshared")
	os.WriteFile(global, []byte("system\t/var/shared/system\n"), 0o644)

	if err := AddShared(d.Path, "notices", shared, global); err != nil {
		t.Fatal(err)
	}
	if err := AddShared(d.Path, "two", "/tmp", global); err != nil {
		t.Fatal(err)
	}
	if got := fileText(t, filepath.Join(d.Path, SharedMaildirsFile)); got != "notices\t"+shared+"\ntwo\t/tmp\n" {
		t.Errorf("shared-maildirs = %q", got)
	}
	if err := AddShared(d.Path, "notices", shared, global); !errors.Is(err, ErrSharedExists) {
		t.Errorf("duplicate: %v", err)
	}
	if err := AddShared(d.Path, "system", shared, global); !errors.Is(err, ErrSharedExists) || !strings.Contains(err.Error(), global) {
		t.Errorf("name taken in the system list: %v", err)
	}
	if err := AddShared(d.Path, "bad.name", shared, global); !errors.Is(err, ErrSharedName) {
		t.Errorf("bad name: %v", err)
	}
	if err := AddShared(d.Path, "gone", "/nonexistent", global); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing path: %v", err)
	}
	if err := DelShared(d.Path, "notices"); err != nil {
		t.Fatal(err)
	}
	if got := fileText(t, filepath.Join(d.Path, SharedMaildirsFile)); got != "two\t/tmp\n" {
		t.Errorf("after --del: %q", got)
	}
	if err := DelShared(d.Path, "notices"); !errors.Is(err, ErrSharedNotFound) {
		t.Errorf("deleting twice: %v", err)
	}
	if got := ls(t, filepath.Join(d.Path, "tmp")); len(got) != 0 {
		t.Errorf("tmp/ = %v", got)
	}
}
