package auth

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gocourier/courier/pkg/authlib"
	"github.com/gocourier/courier/pkg/passwd"
	"github.com/gocourier/courier/pkg/userdb"
)

func TestParseCredentials(t *testing.T) {
	good := []struct {
		typ, data string
		want      Credentials
	}{
		{"login", "alice\nsecret\n", Credentials{Type: "login", User: "alice", Password: "secret"}},
		{"login", "alice\nsecret", Credentials{Type: "login", User: "alice", Password: "secret"}},
		{"login", "alice\nsecret\nextra", Credentials{Type: "login", User: "alice", Password: "secret"}},
		{"login", "alice\n", Credentials{Type: "login", User: "alice"}},
		{"cram-md5", "PDFAeD4=\nYWxpY2UgQUJDZGVm\n", Credentials{Type: "cram-md5", Hash: "md5", Challenge: "<1@x>", User: "alice", Digest: "abcdef"}},
		{"cram-sha256", "PDFAeD4=\nYSBiIGNk", Credentials{Type: "cram-sha256", Hash: "sha256", Challenge: "<1@x>", User: "a b", Digest: "cd"}},
	}
	for _, tt := range good {
		c, err := ParseCredentials(tt.typ, tt.data)
		if err != nil || !reflect.DeepEqual(*c, tt.want) {
			t.Errorf("ParseCredentials(%q, %q) = %+v, %v", tt.typ, tt.data, c, err)
		}
	}
	for _, bad := range [][2]string{{"login", "alice"}, {"login", "\nsecret\n"}, {"plain", "\x00a\x00b"}, {"LOGIN", "a\nb\n"},
		{"cram-md5", "PDFAeD4="}, {"cram-md5", "!!\nYWxpY2UgYWJj\n"}, {"cram-md5", "PDFAeD4=\nYWxpY2U=\n"}, {"cram-md5", "\nYWxpY2UgYWJj\n"},
		{"cram-md5", "PDFAeD4=\nYWxpY2Ug\n"}, {"cram-sha512", "PDFAeD4=\nYWxpY2UgYWJj\n"}} {
		if c, err := ParseCredentials(bad[0], bad[1]); !errors.Is(err, ErrReject) {
			t.Errorf("ParseCredentials(%q, %q) = %+v, %v; want ErrReject", bad[0], bad[1], c, err)
		}
	}
}

func TestParsePasswd(t *testing.T) {
	data := "root:x:0:0:root:/root:/bin/bash\n+nis\nbroken:x:1\nbad:x:a:1::/:/bin/sh\n# comment\n\nalice:x:1000:1000:Alice,Room 1,,:/home/alice:/bin/sh\n"
	list, bad := ParsePasswd("passwd", []byte(data))
	if len(list) != 2 || list[1] != (PasswdEntry{Name: "alice", Passwd: "x", UID: 1000, GID: 1000, Gecos: "Alice,Room 1,,", Home: "/home/alice", Shell: "/bin/sh"}) {
		t.Errorf("entries %+v", list)
	}
	var msgs []string
	for _, e := range bad {
		msgs = append(msgs, e.Error())
	}
	want := []string{"passwd:2: not a passwd entry (want 7 colon-separated fields)", "passwd:3: not a passwd entry (want 7 colon-separated fields)", `passwd:4: bad uid "a" or gid "1"`}
	if !reflect.DeepEqual(msgs, want) {
		t.Errorf("errors %q", msgs)
	}
	sh, bad := ParseShadow("shadow", []byte("root:*:1::::::\nalice:$6$x$y:2\nalice:dup\nnocolon\n"))
	if sh["root"] != "*" || sh["alice"] != "$6$x$y" || len(bad) != 1 || bad[0].Error() != "shadow:4: not a shadow entry" {
		t.Errorf("shadow %v %v", sh, bad)
	}
}

func FuzzParsePasswd(f *testing.F) {
	f.Add([]byte("root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n"))
	f.Add([]byte("a:b:c\n::::::\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		list, bad := ParsePasswd("f", data)
		for _, e := range list {
			if e.Name == "" || strings.ContainsAny(e.Name+e.Passwd+e.Gecos+e.Home+e.Shell, ":\n") {
				t.Fatalf("bad entry %+v", e)
			}
		}
		for _, e := range bad {
			if !strings.HasPrefix(e.Error(), "f:") {
				t.Fatalf("error without a position: %v", e)
			}
		}
		ParseShadow("s", data)
	})
}

// systemFiles writes a passwd and a shadow file with one usable, one
// locked and one passwordless account, and a system account.
func systemFiles(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	h, err := passwd.Hash("sha512", "Sys-pw1")
	if err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(dir, "passwd")
	sh := filepath.Join(dir, "shadow")
	os.WriteFile(pw, []byte("daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nbob:x:1001:1001:Bob Builder,,,:/home/bob:/bin/sh\n"+
		"locked:x:1002:1002::/home/locked:/bin/sh\nempty:x:1003:1003::/home/empty:/bin/sh\nlegacy:"+h+":1004:1004::/l:/bin/sh\n"), 0o644)
	os.WriteFile(sh, []byte("bob:"+h+":19000::::::\nlocked:!"+h+":1::::::\nempty::1::::::\n"), 0o600)
	return pw, sh
}

func TestUnixModules(t *testing.T) {
	pw, sh := systemFiles(t)
	ctx := context.Background()
	shadow := newUnixModule("authshadow", pw, sh, nil, nil)
	pwd := newUnixModule("authpwd", pw, "", nil, nil)
	login := func(m Module, user, pass string) (*authlib.Account, error) {
		return m.Authenticate(ctx, "imap", &Credentials{Type: "login", User: user, Password: pass})
	}
	a, err := login(shadow, "bob", "Sys-pw1")
	if err != nil {
		t.Fatal(err)
	}
	got := string(authlib.AppendAccount(nil, a))
	if !strings.HasPrefix(got, "USERNAME=bob\nGID=1001\nHOME=/home/bob\nADDRESS=bob\nNAME=Bob Builder\nPASSWD=$6$") || !strings.HasSuffix(got, "PASSWD2=Sys-pw1\n.\n") {
		t.Errorf("authshadow reply %q", got)
	}
	for _, c := range []struct {
		m          Module
		user, pass string
	}{{shadow, "bob", "wrong"}, {shadow, "locked", "Sys-pw1"}, {shadow, "empty", ""}, {shadow, "nobody", "x"}, {shadow, "bo:b", "x"},
		{pwd, "bob", "Sys-pw1"} /* "x" in passwd */, {pwd, "empty", ""}} {
		if _, err := login(c.m, c.user, c.pass); !errors.Is(err, ErrReject) {
			t.Errorf("%s login %s/%s: %v", c.m.Name(), c.user, c.pass, err)
		}
	}
	if _, err := login(pwd, "legacy", "Sys-pw1"); err != nil {
		t.Errorf("authpwd with the hash in passwd: %v", err)
	}
	if _, err := shadow.Authenticate(ctx, "imap", &Credentials{Type: "cram-md5", Hash: "md5", User: "bob"}); !errors.Is(err, ErrReject) {
		t.Errorf("CRAM on authshadow: %v", err)
	}
	a, err = pwd.Lookup(ctx, "imap", "bob")
	if err != nil || a.Passwd != "x" || a.Username != "bob" {
		t.Errorf("authpwd lookup %+v %v", a, err)
	}
	var names []string
	shadow.Enumerate(ctx, func(e authlib.EnumEntry) error { names = append(names, e.Name); return nil })
	if !reflect.DeepEqual(names, []string{"bob", "locked", "empty", "legacy"}) {
		t.Errorf("enumerate %v (accounts below uid 100 are left out)", names)
	}
	if err := shadow.ChangePassword(ctx, "imap", "bob", "Sys-pw1", "x"); !errors.Is(err, ErrReject) {
		t.Errorf("authshadow password change: %v", err)
	}
	// A changed file is read again.
	os.WriteFile(sh, []byte("bob:*:1::::::\n"), 0o600)
	os.Chtimes(sh, fixedTime, fixedTime)
	if a, err := shadow.Lookup(ctx, "imap", "bob"); err != nil || a.Passwd != "*" {
		t.Errorf("after the shadow file changed: %+v %v", a, err)
	}
	missing := newUnixModule("authpwd", filepath.Join(t.TempDir(), "none"), "", nil, nil)
	if _, err := missing.Lookup(ctx, "imap", "bob"); err == nil || errors.Is(err, ErrReject) {
		t.Errorf("missing passwd file: %v, want a temporary failure", err)
	}
}

// makeUserdb writes a userdb source and compiles it with pkg/userdb.
func makeUserdb(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "userdb")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := userdb.FileSource(path).Compile(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestStackOrderAndResults(t *testing.T) {
	h, _ := passwd.Hash("md5", "Virt-pw1")
	key, _ := passwd.HMACKey("md5", "Virt-pw1")
	src := makeUserdb(t, "bob\tuid=500|gid=500|home=/v/bob|systempw="+h+"|hmac-md5pw="+key+"|options=disablepop3=1\n"+
		"carol\tuid=501|gid=501|home=/v/carol|mail=/v/carol/M\nbroken\tuid=1|home=/x\n")
	pw, sh := systemFiles(t)
	var logBuf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := NewStack(Config{File: "authdaemonrc", ModuleList: []string{"authuserdb", "authldap", "authshadow", "authpam"},
		DefaultOptions: "disableshared=1,disablepop3=0", Debug: 1, UserdbSource: src, PasswdFile: pw, ShadowFile: sh,
		PAMHelper: filepath.Join(t.TempDir(), "authpam"), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(s.Modules) != 2 || !strings.Contains(logBuf.String(), "module authldap (LDAP)") || !strings.Contains(logBuf.String(), "module authpam is not available") {
		t.Fatalf("modules %d, log:\n%s", len(s.Modules), logBuf.String())
	}
	ctx := context.Background()
	// userdb's bob is found first; the system bob is never asked.
	a, err := s.Auth(ctx, "imap", "login", "bob\nVirt-pw1\n")
	if err != nil || !a.HasUID || a.UID != 500 || a.Options.String() != "disablepop3=1,disableshared=1" {
		t.Errorf("userdb bob: %+v %v", a, err)
	}
	// Wrong for userdb's bob, right for the system's bob: the next module answers.
	a, err = s.Auth(ctx, "imap", "login", "bob\nSys-pw1\n")
	if err != nil || a.Username != "bob" || a.Options.String() != "disableshared=1,disablepop3=0" {
		t.Errorf("system bob: %+v %v", a, err)
	}
	if _, err := s.Pre(ctx, "authshadow", "imap", "carol"); !errors.Is(err, ErrReject) {
		t.Errorf("PRE restricted to authshadow for a userdb account: %v", err)
	}
	if _, err := s.Pre(ctx, "", "imap", "broken"); !errors.Is(err, ErrReject) || !strings.Contains(logBuf.String(), "userdb account broken is unusable") {
		t.Errorf("unusable userdb record: %v", err)
	}
	if a, err := s.Pre(ctx, "", "imap", "carol"); err != nil || a.Passwd != "" || a.Maildir != "/v/carol/M" {
		t.Errorf("carol: %+v %v", a, err)
	}
	var list []string
	err = s.Enumerate(ctx, func(m string) error { list = append(list, "# "+m); return nil }, func(e authlib.EnumEntry) error {
		list = append(list, e.Name+" "+e.Options.String())
		return nil
	})
	want := []string{"# authuserdb", "bob disablepop3=1,disableshared=1", "carol disableshared=1,disablepop3=0",
		"# authshadow", "bob disableshared=1,disablepop3=0", "locked disableshared=1,disablepop3=0", "empty disableshared=1,disablepop3=0", "legacy disableshared=1,disablepop3=0"}
	if err != nil || !reflect.DeepEqual(list, want) {
		t.Errorf("enumerate %q, %v", list, err)
	}
	if err := s.Passwd(ctx, "imap", "bob", "Virt-pw1", "Virt-pw2"); err != nil {
		t.Fatalf("userdb password change: %v", err)
	}
	if _, err := s.Auth(ctx, "imap", "login", "bob\nVirt-pw2\n"); err != nil {
		t.Errorf("login after the change: %v", err)
	}
	// A CRAM key alone also proves the old password [observed].
	if err := s.Passwd(ctx, "imap", "bob", "Virt-pw2", "Virt-pw3"); err != nil {
		t.Fatalf("second change: %v", err)
	}
	if err := s.Passwd(ctx, "imap", "bob", "nope", "x"); !errors.Is(err, ErrReject) {
		t.Errorf("change with a wrong password: %v", err)
	}

	// A broken database is a temporary failure: the search stops there.
	os.WriteFile(src+".dat", []byte("garbage"), 0o644)
	s2, _ := NewStack(Config{ModuleList: []string{"authuserdb", "authshadow"}, UserdbSource: src, PasswdFile: pw, ShadowFile: sh, Log: log})
	defer s2.Close()
	if _, err := s2.Auth(ctx, "imap", "login", "bob\nSys-pw1\n"); err == nil || errors.Is(err, ErrReject) {
		t.Errorf("broken userdb.dat: %v, want a temporary failure", err)
	}
	// No database at all: the next module answers.
	os.Remove(src + ".dat")
	s3, _ := NewStack(Config{ModuleList: []string{"authuserdb", "authshadow"}, UserdbSource: src, PasswdFile: pw, ShadowFile: sh, Log: log})
	defer s3.Close()
	if a, err := s3.Auth(ctx, "imap", "login", "bob\nSys-pw1\n"); err != nil || a.Username != "bob" {
		t.Errorf("missing userdb.dat: %+v %v", a, err)
	}
	list = nil
	err = s3.Enumerate(ctx, func(m string) error { list = append(list, "# "+m); return nil }, func(e authlib.EnumEntry) error {
		list = append(list, e.Name)
		return nil
	})
	want = []string{"# authuserdb", "# authshadow", "bob", "locked", "empty", "legacy"}
	if err != nil || !reflect.DeepEqual(list, want) {
		t.Errorf("enumerate without userdb.dat: %q, %v; want %q", list, err, want)
	}
	if _, err := NewStack(Config{ModuleList: []string{"authldap"}, Log: log}); err == nil {
		t.Error("a stack without a usable module")
	}
}

var fixedTime = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)

func TestVerifyCache(t *testing.T) {
	h, _ := passwd.Hash("md5", "Cache-pw1")
	c := newVerifyCache(time.Hour)
	if !c.check(h, "Cache-pw1") || len(c.m) != 1 {
		t.Fatalf("first check: %d entries", len(c.m))
	}
	if !c.check(h, "Cache-pw1") || c.check(h, "wrong") || len(c.m) != 1 {
		t.Errorf("cached check, wrong password: %d entries", len(c.m))
	}
	// The same password against a new hash is checked again.
	h2, _ := passwd.Hash("md5", "Other-pw")
	if c.check(h2, "Cache-pw1") {
		t.Error("an old entry matched a new hash")
	}
	for k := range c.m {
		c.m[k] = time.Now().Add(-time.Second)
	}
	if !c.check(h, "Cache-pw1") || c.m[func() [32]byte {
		for k := range c.m {
			return k
		}
		return [32]byte{}
	}()].Before(time.Now()) {
		t.Error("expired entry not renewed")
	}
	off := newVerifyCache(0)
	if !off.check(h, "Cache-pw1") || len(off.m) != 0 {
		t.Error("TTL 0 cached")
	}
	var nilCache *verifyCache
	if !nilCache.check(h, "Cache-pw1") || nilCache.check(h, "x") {
		t.Error("nil cache")
	}
}

// A rebuilt database is seen by the very next lookup: the account cache
// follows the files through inotify.
func TestUserdbCacheFollowsRebuilds(t *testing.T) {
	src := makeUserdb(t, "dave\tuid=600|gid=600|home=/v/dave|quota=1S\n")
	m := newUserdbModule(src, newVerifyCache(time.Hour), slog.New(slog.DiscardHandler))
	defer m.Close()
	if m.watch == nil {
		t.Skip("inotify is not available")
	}
	ctx := context.Background()
	for i := 2; i < 20; i++ {
		if a, err := m.Lookup(ctx, "imap", "dave"); err != nil || a.Quota != strconv.Itoa(i-1)+"S" {
			t.Fatalf("round %d: %+v %v", i, a, err)
		}
		if _, err := m.Lookup(ctx, "imap", "erin"); !errors.Is(err, ErrReject) {
			t.Fatalf("erin before she exists: %v", err)
		}
		os.WriteFile(src, []byte("dave\tuid=600|gid=600|home=/v/dave|quota="+strconv.Itoa(i)+"S\n"), 0o600)
		if _, err := userdb.FileSource(src).Compile(); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(src, []byte("erin\tuid=601|gid=601|home=/v/erin\n"), 0o600)
	userdb.FileSource(src).Compile()
	if _, err := m.Lookup(ctx, "imap", "erin"); err != nil {
		t.Errorf("erin after the rebuild: %v", err)
	}
	if _, err := m.Lookup(ctx, "imap", "dave"); !errors.Is(err, ErrReject) {
		t.Errorf("dave after his removal: %v", err)
	}
	// A database overwritten in place (not renamed) is noticed as well.
	os.WriteFile(src+".dat", []byte("garbage"), 0o644)
	if _, err := m.Lookup(ctx, "imap", "erin"); err == nil || errors.Is(err, ErrReject) {
		t.Errorf("garbage database: %v, want a temporary failure", err)
	}
}

func TestDirWatchDead(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	os.Mkdir(dir, 0o755)
	w, err := newDirWatch(filepath.Join(dir, "x.dat"))
	if err != nil {
		t.Skip(err)
	}
	defer w.close()
	if w.changed() {
		t.Error("changed before any change")
	}
	os.WriteFile(filepath.Join(dir, "other"), nil, 0o644)
	if w.changed() {
		t.Error("an unrelated file counted")
	}
	os.WriteFile(filepath.Join(dir, "x.dat"), nil, 0o644)
	if !w.changed() || w.changed() {
		t.Error("one change, reported once")
	}
	os.RemoveAll(dir)
	first := w.changed()
	if second := w.changed(); !first || !second {
		t.Error("a removed directory must count as changed for good")
	}
}
