package userdb

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/hex"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gocourier/courier/pkg/passwd"
	"github.com/gocourier/courier/test/testenv"
)

// courierLen is the length of "/etc/courier/userdb": the original
// makeuserdb computes the "_" location by cutting that many characters
// off each file name, so its output matches ours only for a source path
// of exactly that length.
const courierLen = len("/etc/courier/userdb")

// sameLengthDir makes a directory /tmp/udXXXXX so that /tmp/udXXXXX/userdb
// is as long as /etc/courier/userdb.
func sameLengthDir(t *testing.T) string {
	t.Helper()
	const letters = "abcdefghijklmnopqrstuvwxyz"
	for range 100 {
		b := make([]byte, courierLen-len("/tmp/ud/userdb"))
		for i := range b {
			b[i] = letters[rand.IntN(len(letters))]
		}
		dir := "/tmp/ud" + string(b)
		if err := os.Mkdir(dir, 0o700); err == nil {
			t.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	t.Fatal("cannot make a directory in /tmp")
	return ""
}

// gdbmDump reads a GDBM file written by the original makedat.
func gdbmDump(t *testing.T, path string) map[string]string {
	t.Helper()
	out, err := exec.Command("perl", "-MGDBM_File", "-e",
		`tie my %h, 'GDBM_File', $ARGV[0], &GDBM_READER, 0 or die "$ARGV[0]: $!\n"; while (my ($k,$v) = each %h) { print unpack("H*",$k), " ", unpack("H*",$v), "\n"; }`,
		path).CombinedOutput()
	if err != nil {
		t.Fatalf("dumping %s: %v\n%s", path, err, out)
	}
	m := map[string]string{}
	for l := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		if l == "" {
			continue
		}
		k, v, _ := strings.Cut(l, " ")
		kb, _ := hex.DecodeString(k)
		vb, _ := hex.DecodeString(v)
		m[string(kb)] = string(vb)
	}
	return m
}

func needRealUserdb(t *testing.T) {
	testenv.NeedPackage(t, "courier-authlib-userdb", "/usr/sbin/makeuserdb", "/usr/sbin/userdb", "/usr/sbin/userdbpw")
	if err := exec.Command("perl", "-MGDBM_File", "-e", "1").Run(); err != nil {
		testenv.Skip(t, "perl's GDBM_File module is missing: install the Debian package perl")
	}
}

// TestRealMakeuserdbAgrees: for a source written by our userdb functions,
// the real makeuserdb's GDBM files hold exactly the keys and values of
// ours, for a single file and for a directory.
func TestRealMakeuserdbAgrees(t *testing.T) {
	needRealUserdb(t)
	for _, layoutName := range []string{"file", "directory"} {
		t.Run(layoutName, func(t *testing.T) {
			src := FileSource(filepath.Join(sameLengthDir(t), "userdb"))
			file := src.Path
			if layoutName == "directory" {
				os.Mkdir(src.Path, 0o700)
				file = filepath.Join(src.Path, "users")
				if err := Set(filepath.Join(src.Path, "admins"), "root@example.com", []Field{{Name: "uid", Value: "0"}, {Name: "gid", Value: "0"}, {Name: "home", Value: "/root"}}); err != nil {
					t.Fatal(err)
				}
			}
			md5crypt, _ := passwd.Hash("md5", "secret")
			key, _ := passwd.Hash("hmac-md5", "secret")
			for _, r := range []struct {
				name   string
				fields []Field
			}{
				{"alice@example.com", []Field{{Name: "uid", Value: "999"}, {Name: "gid", Value: "995"}, {Name: "home", Value: "/home/vmail/alice"},
					{Name: "mail", Value: "/home/vmail/alice/Maildir"}, {Name: "gecos", Value: "Alice Liddell,Room 1"}, {Name: "options", Value: "disableimap=0,disablewebmail=1"},
					{Name: "systempw", Value: md5crypt}, {Name: "hmac-md5pw", Value: key}, {Name: "quota", Value: "1000000S"}}},
				{"999=", []Field{{Name: "alice@example.com", Bare: true}}},
				{"bob", []Field{{Name: "uid", Value: "1000"}, {Name: "gid", Value: "1000"}, {Name: "home", Value: "/home/bob"}}},
				{"nopass", []Field{{Name: "flag", Bare: true}}},
			} {
				if err := Set(file, r.name, r.fields); err != nil {
					t.Fatal(err)
				}
			}
			out, err := exec.Command("/usr/sbin/makeuserdb", "-f", src.Path).CombinedOutput()
			if err != nil {
				t.Fatalf("real makeuserdb refused our source: %v\n%s", err, out)
			}
			realDat, realShadow := gdbmDump(t, src.Dat), gdbmDump(t, src.Shadow)
			os.Remove(src.Dat)
			os.Remove(src.Shadow)
			if _, err := src.Compile(); err != nil {
				t.Fatal(err)
			}
			if ours := dump(t, src.Dat); !maps.Equal(ours, realDat) {
				t.Errorf("userdb.dat:\nreal %q\nours %q", realDat, ours)
			}
			if ours := dump(t, src.Shadow); !maps.Equal(ours, realShadow) {
				t.Errorf("userdbshadow.dat:\nreal %q\nours %q", realShadow, ours)
			}
		})
	}
}

// realTool runs one of the real userdb tools with input on stdin.
func realTool(t *testing.T, input string, prog string, args ...string) string {
	t.Helper()
	cmd := exec.Command(prog, args...)
	cmd.Stdin = strings.NewReader(input)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v", prog, args, err)
	}
	return string(out)
}

// TestRealUserdbTextCompiles: a text source written by the real userdb and
// userdbpw compiles with our makeuserdb, and our lookup and password checks
// accept the real hashes and CRAM keys.
func TestRealUserdbTextCompiles(t *testing.T) {
	needRealUserdb(t)
	dir := t.TempDir()
	src := FileSource(filepath.Join(dir, "userdb"))
	f := src.Path
	realTool(t, "", "/usr/sbin/userdb", "-f", f, "alice@example.com", "set", "uid=999", "gid=995", "home=/home/vmail/alice", "mail=/home/vmail/alice/Maildir", "gecos=Alice Liddell,Room 1", "options=disableimap=0,disablewebmail=1")
	realTool(t, realTool(t, "secret\n", "/usr/sbin/userdbpw", "-md5"), "/usr/sbin/userdb", "-f", f, "alice@example.com", "set", "systempw")
	realTool(t, realTool(t, "pop3only\n", "/usr/sbin/userdbpw"), "/usr/sbin/userdb", "-f", f, "alice@example.com", "set", "pop3pw")
	realTool(t, realTool(t, "secret\n", "/usr/sbin/userdbpw", "-hmac-md5"), "/usr/sbin/userdb", "-f", f, "alice@example.com", "set", "hmac-md5pw")
	realTool(t, "", "/usr/sbin/userdb", "-f", f, "alice@example.com", "set", "junk=1")
	realTool(t, "", "/usr/sbin/userdb", "-f", f, "alice@example.com", "unset", "junk")
	realTool(t, "", "/usr/sbin/userdb", "-f", f, "gone", "set", "uid=1")
	realTool(t, "", "/usr/sbin/userdb", "-f", f, "gone", "del")
	realTool(t, "", "/usr/sbin/userdb", "-f", f, "999=", "set", "alice@example.com=")
	if fi, _ := os.Stat(f); fi.Mode().Perm() != 0o600 {
		t.Errorf("real userdb made the file %o", fi.Mode().Perm())
	}
	st, err := src.Compile()
	if err != nil {
		t.Fatalf("compiling the real userdb's text: %v\n%s", err, readText(t, f))
	}
	if st.Accounts != 1 || st.Reverse != 1 {
		t.Errorf("stats %+v", st)
	}
	db, err := src.OpenDB()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a, ok, err := db.Lookup("alice@example.com")
	if err != nil || !ok {
		t.Fatalf("Lookup: %v %v", ok, err)
	}
	if a.UID != 999 || a.GID != 995 || a.Mail != "/home/vmail/alice/Maildir" || a.FullName() != "Alice Liddell" || a.Options != "disableimap=0,disablewebmail=1" {
		t.Errorf("account %+v", a)
	}
	if _, ok := a.Passwords["junk"]; ok {
		t.Error("unset field still there")
	}
	if p, _ := a.Password("imap"); !strings.HasPrefix(p, "$1$") || !passwd.Check(p, "secret") {
		t.Errorf("imap password %q refused", p)
	}
	if p, _ := a.Password("pop3"); !passwd.Check(p, "pop3only") || passwd.Check(p, "secret") {
		t.Errorf("pop3 password (real DES) %q", p)
	}
	key, _ := a.HMACKey("imap", "md5")
	challenge := "<1896.697170952@postoffice.example.net>"
	m := hmac.New(md5.New, []byte("secret"))
	m.Write([]byte(challenge))
	if !passwd.CheckCRAM("md5", key, challenge, hex.EncodeToString(m.Sum(nil))) {
		t.Errorf("CRAM-MD5 with the real key %q refused", key)
	}
	// The real "userdb -show" reads our edits too.
	if err := Set(f, "alice@example.com", []Field{{Name: "quota", Value: "5S"}}); err != nil {
		t.Fatal(err)
	}
	show := realTool(t, "", "/usr/sbin/userdb", "-show", "-f", f, "alice@example.com")
	if !strings.Contains(show, "\nquota=5S\n") || !strings.Contains(show, "uid=999\n") {
		t.Errorf("real userdb -show of our edit:\n%s", show)
	}
}
