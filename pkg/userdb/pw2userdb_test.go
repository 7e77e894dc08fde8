package userdb

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gocourier/courier/test/testenv"
)

const testPasswd = `root:x:0:0:root:/root:/bin/bash
# a comment
list:x:38:38:Mailing List Manager:/var/list:/usr/sbin/nologin
nopw:x:1001:100::/home/nopw:
old:$1$abcdefgh$cHJi5PXp/ki/ktXzqlk6I1:1002:100:Pipe|In,Gecos:/home/old:/bin/sh

`

const testShadow = `root:*:19000:0:99999:7:::
list:!:19000:0:99999:7:::
ghost:$6$x$y:19000::::::
`

func writePasswd(t *testing.T) (passwdPath, shadowPath string) {
	t.Helper()
	dir := t.TempDir()
	passwdPath, shadowPath = filepath.Join(dir, "passwd"), filepath.Join(dir, "shadow")
	os.WriteFile(passwdPath, []byte(testPasswd), 0o644)
	os.WriteFile(shadowPath, []byte(testShadow), 0o600)
	return passwdPath, shadowPath
}

func TestPw2Userdb(t *testing.T) {
	p, s := writePasswd(t)
	var out bytes.Buffer
	if err := Pw2Userdb(PasswdOptions{Passwd: p, Shadow: s}, &out); err != nil {
		t.Fatal(err)
	}
	want := "root\tuid=0|gid=0|home=/root|shell=/bin/bash|systempw=*|gecos=root\n0=\troot\n" +
		"list\tuid=38|gid=38|home=/var/list|shell=/usr/sbin/nologin|systempw=!|gecos=Mailing List Manager\n38=\tlist\n" +
		"nopw\tuid=1001|gid=100|home=/home/nopw\n1001=\tnopw\n" +
		"old\tuid=1002|gid=100|home=/home/old|shell=/bin/sh|systempw=$1$abcdefgh$cHJi5PXp/ki/ktXzqlk6I1|gecos=Pipe.In,Gecos\n1002=\told\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
	if _, err := ParseText("pw2userdb", out.Bytes()); err != nil {
		t.Errorf("output does not parse: %v", err)
	}
	out.Reset()
	if err := Pw2Userdb(PasswdOptions{Passwd: p, Shadow: s, NoShadow: true, NoUID: true, Domain: "example.com"}, &out); err != nil {
		t.Fatal(err)
	}
	want = "root@example.com\tuid=0|gid=0|home=/root|shell=/bin/bash|gecos=root\n" +
		"list@example.com\tuid=38|gid=38|home=/var/list|shell=/usr/sbin/nologin|gecos=Mailing List Manager\n" +
		"nopw@example.com\tuid=1001|gid=100|home=/home/nopw\n" +
		"old@example.com\tuid=1002|gid=100|home=/home/old|shell=/bin/sh|systempw=$1$abcdefgh$cHJi5PXp/ki/ktXzqlk6I1|gecos=Pipe.In,Gecos\n"
	if out.String() != want {
		t.Errorf("--noshadow --nouid --domain output:\n%s\nwant:\n%s", out.String(), want)
	}
	os.WriteFile(p, []byte("ok:x:1:1::/h:\nbad:x:2:2::/ho|me:\n"), 0o644)
	if err := Pw2Userdb(PasswdOptions{Passwd: p, Shadow: s}, &out); err == nil || !strings.HasPrefix(err.Error(), p+":2:") {
		t.Errorf("| in home: %v", err)
	}
	if err := Pw2Userdb(PasswdOptions{Passwd: filepath.Join(t.TempDir(), "none")}, &out); err == nil {
		t.Error("missing passwd file accepted")
	}
}

// TestPw2UserdbAgainstReal: the same lines as the real pw2userdb (which
// prints them in Perl hash order).
func TestPw2UserdbAgainstReal(t *testing.T) {
	testenv.NeedPackage(t, "courier-authlib-userdb", "/usr/sbin/pw2userdb")
	p, s := writePasswd(t)
	// The original turns an empty passwd line into a nameless record; we
	// skip it (TestPw2Userdb), so compare on a file without one.
	os.WriteFile(p, []byte(strings.TrimSuffix(testPasswd, "\n")), 0o644)
	for _, args := range [][]string{{}, {"--noshadow"}, {"--nouid", "--domain=example.org"}} {
		realOut, err := exec.Command("/usr/sbin/pw2userdb", append([]string{"--passwd=" + p, "--shadow=" + s}, args...)...).Output()
		if err != nil {
			t.Fatal(err)
		}
		o := PasswdOptions{Passwd: p, Shadow: s}
		for _, a := range args {
			switch {
			case a == "--noshadow":
				o.NoShadow = true
			case a == "--nouid":
				o.NoUID = true
			case strings.HasPrefix(a, "--domain="):
				o.Domain = strings.TrimPrefix(a, "--domain=")
			}
		}
		var ours bytes.Buffer
		if err := Pw2Userdb(o, &ours); err != nil {
			t.Fatal(err)
		}
		r, g := strings.Split(string(realOut), "\n"), strings.Split(ours.String(), "\n")
		slices.Sort(r)
		slices.Sort(g)
		if !slices.Equal(r, g) {
			t.Errorf("pw2userdb %v:\nreal %q\nours %q", args, r, g)
		}
	}
}
