package userdb

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gocourier/courier/pkg/passwd"
)

func readText(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestEditCommands(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "users")
	if err := Set(file, "alice", []Field{{Name: "uid", Value: "1"}, {Name: "home", Value: "/a"}}); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(file)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("new file mode %o, want 600", fi.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(dir, ".lock.users")); err != nil {
		t.Errorf("no .lock.users: %v", err)
	}
	os.WriteFile(file, []byte(readText(t, file)+"# keep me\nbob\tuid=2|flag\nlast-no-newline\tuid=3"), 0o640)
	os.Chmod(file, 0o640)
	if err := Set(file, "bob", []Field{{Name: "flag", Value: "on"}, {Name: "gid", Value: "5"}, {Name: "uid", Value: "22"}}); err != nil {
		t.Fatal(err)
	}
	if err := Set(file, "carol", []Field{{Name: "uid", Value: "3"}}); err != nil {
		t.Fatal(err)
	}
	want := "alice\tuid=1|home=/a\n# keep me\nbob\tuid=22|flag=on|gid=5\nlast-no-newline\tuid=3\ncarol\tuid=3\n"
	if got := readText(t, file); got != want {
		t.Errorf("after set:\n%q\nwant\n%q", got, want)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode not preserved: %o", fi.Mode().Perm())
	}
	if found, err := Unset(file, "bob", []string{"flag", "nosuch"}); !found || err != nil {
		t.Errorf("Unset: %v %v", found, err)
	}
	if found, err := Delete(file, "alice"); !found || err != nil {
		t.Errorf("Delete: %v %v", found, err)
	}
	if found, err := Delete(file, "nobody"); found || err != nil {
		t.Errorf("Delete nobody: %v %v", found, err)
	}
	if found, err := Unset(filepath.Join(dir, "missing"), "x", []string{"y"}); found || err != nil {
		t.Errorf("Unset on a missing file: %v %v", found, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "missing")); err == nil {
		t.Error("Unset created a file")
	}
	want = "# keep me\nbob\tuid=22|gid=5\nlast-no-newline\tuid=3\ncarol\tuid=3\n"
	if got := readText(t, file); got != want {
		t.Errorf("after unset/del:\n%q\nwant\n%q", got, want)
	}
	names, err := Names(file)
	if err != nil || !slices.Equal(names, []string{"bob", "last-no-newline", "carol"}) {
		t.Errorf("Names = %v %v", names, err)
	}
	rec, found, err := Show(file, "bob")
	if err != nil || !found || rec.FieldsString() != "uid=22|gid=5" {
		t.Errorf("Show = %+v %v %v", rec, found, err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp.") {
			t.Errorf("%s left behind", e.Name())
		}
	}
}

func TestEditRefusals(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "u")
	for _, c := range []struct {
		name  string
		field Field
	}{
		{"", Field{Name: "a", Value: "1"}},
		{"#x", Field{Name: "a", Value: "1"}},
		{"a|b", Field{Name: "a", Value: "1"}},
		{"a\tb", Field{Name: "a", Value: "1"}},
		{"ok", Field{Name: "a", Value: "1|2"}},
		{"ok", Field{Name: "a=b", Value: "1"}},
		{"ok", Field{Name: "", Value: "1"}},
		{"ok", Field{Name: "a", Value: "1\n"}},
		{"ok", Field{Name: "uid", Value: "root"}},
	} {
		if err := Set(file, c.name, []Field{c.field}); err == nil {
			t.Errorf("Set(%q, %+v) accepted", c.name, c.field)
		}
	}
	if _, err := os.Stat(file); err == nil {
		t.Error("a refused Set created the file")
	}
	os.WriteFile(file, []byte("ok\tuid=1\nbad\tx=1||y\n"), 0o600)
	err := Set(file, "bad", []Field{{Name: "a", Value: "1"}})
	if err == nil || !strings.HasPrefix(err.Error(), file+":2: empty field") {
		t.Errorf("editing a bad record: %v", err)
	}
	if err := Set(dir, "x", []Field{{Name: "a", Value: "1"}}); err == nil || err.Error() != dir+": not a file." {
		t.Errorf("editing a directory: %v", err)
	}
}

// TestEditFollowsSymlink: the userdb command edits the file a link points
// to, leaving the link in place, with the lock and temporary file next to
// the real file.
func TestEditFollowsSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real", "users")
	os.MkdirAll(filepath.Dir(real), 0o700)
	os.WriteFile(real, []byte("a\tuid=1\n"), 0o600)
	link := filepath.Join(dir, "link")
	os.Symlink(real, link)
	if err := Set(link, "a", []Field{{Name: "gid", Value: "2"}}); err != nil {
		t.Fatal(err)
	}
	if got := readText(t, real); got != "a\tuid=1|gid=2\n" {
		t.Errorf("real file %q", got)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Error("link replaced by a file")
	}
	if _, err := os.Stat(filepath.Join(dir, "real", ".lock.users")); err != nil {
		t.Errorf("lock not next to the real file: %v", err)
	}
}

// TestConcurrentSets: edits serialised by the .lock file lose nothing.
func TestConcurrentSets(t *testing.T) {
	file := filepath.Join(t.TempDir(), "u")
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := Set(file, "alice", []Field{{Name: "f" + string(rune('a'+i)), Value: "1"}}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	entries, err := ParseText(file, []byte(readText(t, file)))
	if err != nil || len(entries) != 1 || len(entries[0].Fields) != 20 {
		t.Errorf("after 20 concurrent sets: %v %+v", err, entries)
	}
}

func TestChangePassword(t *testing.T) {
	src := writeSource(t, map[string]string{
		"users": aliceLine + "bob\tuid=2|gid=2|home=/b|systempw=abNANd1rDfiNc|imappw={SSHA}x|imap-hmac-sha1pw=00|hmac-sha256pw=00\n",
		"other": "carol\tuid=3|gid=3|home=/c\n",
	})
	if _, err := src.Compile(); err != nil {
		t.Fatal(err)
	}
	db, err := src.OpenDB()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	// alice via imap: no imappw, so systempw ($1$ stays $1$) and hmac-md5pw.
	if err := ChangePassword(src, "alice@example.com", "imap", "n3w"); err != nil {
		t.Fatal(err)
	}
	a, _, err := db.Lookup("alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	sp := a.Passwords["systempw"]
	if !strings.HasPrefix(sp, "$1$") || !passwd.Check(sp, "n3w") {
		t.Errorf("systempw %q", sp)
	}
	if p := a.Passwords["pop3pw"]; p != "$1$CfoJz0uG$Gx3Nn8o0bW0f0XrGH7V1o/" {
		t.Errorf("pop3pw changed to %q", p)
	}
	if k, _ := passwd.HMACKey("md5", "n3w"); a.Passwords["hmac-md5pw"] != k {
		t.Errorf("hmac-md5pw not refreshed: %q", a.Passwords["hmac-md5pw"])
	}
	if _, ok := a.Passwords["hmac-sha1pw"]; ok {
		t.Error("hmac-sha1pw added")
	}
	// alice via pop3: pop3pw changes, systempw stays.
	if err := ChangePassword(src, "alice@example.com", "pop3", "p0p"); err != nil {
		t.Fatal(err)
	}
	a, _, _ = db.Lookup("alice@example.com")
	if p, _ := a.Password("pop3"); !strings.HasPrefix(p, "$1$") || !passwd.Check(p, "p0p") {
		t.Errorf("pop3pw %q", p)
	}
	if a.Passwords["systempw"] != sp {
		t.Error("systempw changed by a pop3 password change")
	}
	// bob via imap: imappw keeps {SSHA}, imap-hmac-sha1pw and hmac-sha256pw refreshed, DES systempw kept.
	if err := ChangePassword(src, "bob", "imap", "b0b"); err != nil {
		t.Fatal(err)
	}
	b, _, _ := db.Lookup("bob")
	if p := b.Passwords["imappw"]; !strings.HasPrefix(p, "{SSHA}") || !passwd.Check(p, "b0b") {
		t.Errorf("imappw %q", p)
	}
	if b.Passwords["systempw"] != "abNANd1rDfiNc" {
		t.Errorf("systempw %q", b.Passwords["systempw"])
	}
	k1, _ := passwd.HMACKey("sha1", "b0b")
	k256, _ := passwd.HMACKey("sha256", "b0b")
	if b.Passwords["imap-hmac-sha1pw"] != k1 || b.Passwords["hmac-sha256pw"] != k256 {
		t.Errorf("CRAM keys not refreshed: %v", b.Passwords)
	}
	// carol has no password at all: systempw in the default scheme, in her file.
	if err := ChangePassword(src, "carol", "", "c4r"); err != nil {
		t.Fatal(err)
	}
	c, _, _ := db.Lookup("carol")
	if p := c.Passwords["systempw"]; !strings.HasPrefix(p, "$6$") || !passwd.Check(p, "c4r") {
		t.Errorf("carol systempw %q", p)
	}
	if !strings.Contains(readText(t, filepath.Join(src.Path, "other")), "carol\tuid=3|gid=3|home=/c|systempw=$6$") {
		t.Error("carol's own file not edited")
	}
	if err := ChangePassword(src, "nobody", "imap", "x"); err == nil || !strings.Contains(err.Error(), "nobody") {
		t.Errorf("unknown account: %v", err)
	}
}
