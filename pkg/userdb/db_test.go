package userdb

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gocourier/courier/pkg/dbfile"
	"github.com/gocourier/courier/pkg/passwd"
)

// aliceLine is the record of spec/userdb.md §2's observed dump, with hashes
// of "secret" (systempw), "pop3only" (pop3pw) and the CRAM key of "secret".
const aliceLine = "alice@example.com\toptions=disableimap=0,disablewebmail=1|gid=995|home=/home/vmail/alice|uid=999|mail=/home/vmail/alice/Maildir|gecos=Alice Liddell,Room 1|quota=1000000S|pop3pw=$1$CfoJz0uG$Gx3Nn8o0bW0f0XrGH7V1o/|systempw=$1$abcdefgh$cHJi5PXp/ki/ktXzqlk6I1|hmac-md5pw=cd3ba7deaad6e5ca23448ba42e379747a9e0f7f1fbc00c8a81bbaac395731b56\n"

// writeSource writes files (relative name → content) under dir/userdb
// (a directory when there is more than one file or a name contains "/").
func writeSource(t *testing.T, files map[string]string) Source {
	t.Helper()
	dir := t.TempDir()
	src := FileSource(filepath.Join(dir, "userdb"))
	if content, ok := files[""]; ok && len(files) == 1 {
		if err := os.WriteFile(src.Path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return src
	}
	for name, content := range files {
		p := filepath.Join(src.Path, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(src.Path, 0o700); err != nil {
		t.Fatal(err)
	}
	return src
}

func dump(t *testing.T, path string) map[string]string {
	t.Helper()
	db, err := dbfile.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m := map[string]string{}
	if err := db.ForEach(func(k, v string) error { m[k] = v; return nil }); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCompileAndLookup(t *testing.T) {
	src := writeSource(t, map[string]string{"": "# accounts\n\n" + aliceLine + "999=\talice@example.com\nnohome\tuid=5|gid=5\nbob\tuid=1001|gid=100|home=/home/bob|imappw={SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=|bare\n"})
	st, err := src.Compile()
	if err != nil {
		t.Fatal(err)
	}
	if st != (Stats{Files: 1, Records: 4, Accounts: 2, Reverse: 1, Shadow: 2}) {
		t.Errorf("stats %+v", st)
	}
	for path, mode := range map[string]os.FileMode{src.Dat: 0o644, src.Shadow: 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s mode %o, want %o", path, fi.Mode().Perm(), mode)
		}
	}
	dat, shadow := dump(t, src.Dat), dump(t, src.Shadow)
	wantDat := map[string]string{
		"alice@example.com": "options=disableimap=0,disablewebmail=1|gid=995|home=/home/vmail/alice|uid=999|mail=/home/vmail/alice/Maildir|gecos=Alice Liddell,Room 1|quota=1000000S|_=",
		"999=":              "alice@example.com|_=",
		"nohome":            "uid=5|gid=5|_=",
		"bob":               "uid=1001|gid=100|home=/home/bob|bare|_=",
	}
	if !maps.Equal(dat, wantDat) {
		t.Errorf("userdb.dat = %q\nwant %q", dat, wantDat)
	}
	wantShadow := map[string]string{
		"alice@example.com": "pop3pw=$1$CfoJz0uG$Gx3Nn8o0bW0f0XrGH7V1o/|systempw=$1$abcdefgh$cHJi5PXp/ki/ktXzqlk6I1|hmac-md5pw=cd3ba7deaad6e5ca23448ba42e379747a9e0f7f1fbc00c8a81bbaac395731b56",
		"bob":               "imappw={SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=",
	}
	if !maps.Equal(shadow, wantShadow) {
		t.Errorf("userdbshadow.dat = %q\nwant %q", shadow, wantShadow)
	}

	db, err := src.OpenDB()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a, ok, err := db.Lookup("alice@example.com")
	if err != nil || !ok {
		t.Fatalf("Lookup alice: %v %v", ok, err)
	}
	if a.UID != 999 || a.GID != 995 || a.Home != "/home/vmail/alice" || a.Mail != "/home/vmail/alice/Maildir" ||
		a.Quota != "1000000S" || a.Options != "disableimap=0,disablewebmail=1" || a.FullName() != "Alice Liddell" || a.Location != "" {
		t.Errorf("alice = %+v", a)
	}
	if p, _ := a.Password("imap"); !passwd.Check(p, "secret") {
		t.Errorf("imap password %q does not check as secret", p)
	}
	if p, _ := a.Password("pop3"); p != "$1$CfoJz0uG$Gx3Nn8o0bW0f0XrGH7V1o/" {
		t.Errorf("pop3 password %q, want pop3pw", p)
	}
	if k, ok := a.HMACKey("imap", "md5"); !ok || k != "cd3ba7deaad6e5ca23448ba42e379747a9e0f7f1fbc00c8a81bbaac395731b56" {
		t.Errorf("HMACKey = %q %v", k, ok)
	}
	if _, ok := a.HMACKey("imap", "sha1"); ok {
		t.Error("HMACKey sha1 found")
	}
	b, ok, err := db.Lookup("bob")
	if err != nil || !ok {
		t.Fatal(err)
	}
	if _, ok := b.Password("pop3"); ok {
		t.Error("bob has no pop3 or system password")
	}
	if p, ok := b.Password("imap"); !ok || !passwd.Check(p, "secret") {
		t.Errorf("bob imap password %q", p)
	}
	if name, ok, err := db.LookupUID(999); err != nil || !ok || name != "alice@example.com" {
		t.Errorf("LookupUID(999) = %q %v %v", name, ok, err)
	}
	if _, ok, err := db.LookupUID(1001); ok || err != nil {
		t.Errorf("LookupUID(1001) = %v %v", ok, err)
	}
	if _, ok, err := db.Lookup("999="); ok || err != nil {
		t.Errorf("reverse record looked up as an account: %v %v", ok, err)
	}
	if _, ok, err := db.Lookup("nobody"); ok || err != nil {
		t.Errorf("missing account: %v %v", ok, err)
	}
	_, ok, err = db.Lookup("nohome")
	var re *RecordError
	if ok || !errors.As(err, &re) || !strings.Contains(err.Error(), "nohome") || !strings.Contains(err.Error(), "no home field") {
		t.Errorf("incomplete record: %v %v", ok, err)
	}
	var names []string
	if err := db.Enumerate(func(a Account) error {
		names = append(names, a.Name)
		if a.Passwords != nil {
			t.Errorf("Enumerate gave passwords for %s", a.Name)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names, []string{"alice@example.com", "bob"}) {
		t.Errorf("Enumerate = %v", names)
	}
}

// TestShadowUnreadable: without the shadow file, accounts have no
// passwords; once it appears, the next lookup uses it.
func TestShadowUnreadable(t *testing.T) {
	src := writeSource(t, map[string]string{"": aliceLine})
	if _, err := src.Compile(); err != nil {
		t.Fatal(err)
	}
	saved := src.Shadow + ".saved"
	if err := os.Rename(src.Shadow, saved); err != nil {
		t.Fatal(err)
	}
	db, err := src.OpenDB()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a, ok, err := db.Lookup("alice@example.com")
	if err != nil || !ok || len(a.Passwords) != 0 {
		t.Fatalf("without shadow: %+v %v %v", a, ok, err)
	}
	if err := os.Rename(saved, src.Shadow); err != nil {
		t.Fatal(err)
	}
	a, _, _ = db.Lookup("alice@example.com")
	if _, ok := a.Password("imap"); !ok {
		t.Error("shadow file not picked up once present")
	}
	if _, err := OpenDB(filepath.Join(t.TempDir(), "none.dat"), ""); err == nil {
		t.Error("OpenDB of a missing userdb.dat succeeded")
	}
}

// TestRebuildSeenByOpenDB: an open DB sees makeuserdb's next build.
func TestRebuildSeenByOpenDB(t *testing.T) {
	src := writeSource(t, map[string]string{"": aliceLine})
	if _, err := src.Compile(); err != nil {
		t.Fatal(err)
	}
	db, err := src.OpenDB()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := os.WriteFile(src.Path, []byte(aliceLine+"carol\tuid=7|gid=7|home=/c|systempw={SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Compile(); err != nil {
		t.Fatal(err)
	}
	a, ok, err := db.Lookup("carol")
	if err != nil || !ok {
		t.Fatalf("carol after rebuild: %v %v", ok, err)
	}
	if p, _ := a.Password("imap"); !passwd.Check(p, "secret") {
		t.Error("carol's password not read from the rebuilt shadow file")
	}
}

func BenchmarkLookup(b *testing.B) {
	var text strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&text, "user%05d@example.com\tuid=%d|gid=100|home=/home/vmail/user%05d|mail=/home/vmail/user%05d/Maildir|systempw=$1$abcdefgh$cHJi5PXp/ki/ktXzqlk6I1\n%d=\tuser%05d@example.com\n", i, 10000+i, i, i, 10000+i, i)
	}
	dir := b.TempDir()
	src := FileSource(filepath.Join(dir, "userdb"))
	if err := os.WriteFile(src.Path, []byte(text.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	if _, err := src.Compile(); err != nil {
		b.Fatal(err)
	}
	db, err := src.OpenDB()
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		name := fmt.Sprintf("user%05d@example.com", i%10000)
		if _, ok, err := db.Lookup(name); !ok || err != nil {
			b.Fatalf("Lookup %s: %v %v", name, ok, err)
		}
		i += 7919
	}
}
