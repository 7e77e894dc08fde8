package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/gocourier/courier/pkg/aliases"
	"github.com/gocourier/courier/test/testenv"
)

func TestUsage(t *testing.T) {
	s := testenv.NewSandbox(t, "makealiases")
	out, _, code := testenv.Run(t, exec.Command(s.Path("makealiases"), "--help"))
	if code != 0 || !strings.HasPrefix(out, "Usage: makealiases") {
		t.Errorf("--help: %d %q", code, out)
	}
	_, errOut, code := testenv.Run(t, exec.Command(s.Path("makealiases"), "-bogus"))
	if code != 1 || errOut != "Usage: makealiases [ options ] module\n" {
		t.Errorf("-bogus: %d %q", code, errOut)
	}
	out, _, code = testenv.Run(t, exec.Command(s.Path("makealiases"), "-protocol=smtp"))
	if code != 1 || out != "smtp is not a valid protocol.\n" {
		t.Errorf("-protocol=smtp: %d %q", code, out)
	}
	_, errOut, code = testenv.Run(t, exec.Command(s.Path("makealiases"), "nomodule"))
	if code != 1 || errOut != "makealiases: nomodule - not a valid module.\n" {
		t.Errorf("nomodule: %d %q", code, errOut)
	}
}

func TestBuild(t *testing.T) {
	s := testenv.NewSandbox(t, "makealiases")
	s.WriteConfig(t, "defaultdomain", "example.test\n", 0o644)
	s.WriteConfig(t, "locals", "localhost\nexample.test\n", 0o644)
	etc := s.Layout.SysconfDir
	if err := os.MkdirAll(filepath.Join(etc, "aliases"), 0o755); err != nil {
		t.Fatal(err)
	}
	s.WriteConfig(t, "aliases/system", "root: postmaster\npostmaster:\ninfo: /var/mail/info\n", 0o644)
	s.WriteConfig(t, "aliases-esmtp", "root: admin\n", 0o644)

	_, errOut, code := testenv.Run(t, exec.Command(s.Path("makealiases")))
	if code != 0 {
		t.Fatalf("makealiases: %d %s", code, errOut)
	}
	db, err := aliases.OpenDB(filepath.Join(etc, "aliases.dat"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if m, ok, err := db.Lookup("root@example.test"); err != nil || !ok || !reflect.DeepEqual(m, []string{"postmaster@example.test"}) {
		t.Errorf("root = %q %v %v", m, ok, err)
	}
	if m, ok, err := db.Lookup("info@example.test"); err != nil || !ok || !reflect.DeepEqual(m, []string{`".xalias/info@example+2etest"@example.test`}) {
		t.Errorf("info = %q %v %v", m, ok, err)
	}
	b, err := os.ReadFile(filepath.Join(etc, "aliasdir", ".courier-:xalias", "info@example+2etest"))
	if err != nil || string(b) != "/var/mail/info\n" {
		t.Errorf("instruction file: %q %v", b, err)
	}

	_, errOut, code = testenv.Run(t, exec.Command(s.Path("makealiases"), "-protocol=esmtp"))
	if code != 0 {
		t.Fatalf("makealiases -protocol=esmtp: %d %s", code, errOut)
	}
	edb, err := aliases.OpenDB(filepath.Join(etc, "aliases-esmtp.dat"))
	if err != nil {
		t.Fatal(err)
	}
	defer edb.Close()
	if m, ok, _ := edb.Lookup("root@example.test"); !ok || !reflect.DeepEqual(m, []string{"admin@example.test"}) {
		t.Errorf("esmtp root = %q", m)
	}

	before, _ := os.ReadFile(filepath.Join(etc, "aliases.dat"))
	s.WriteConfig(t, "aliases/site", "ok: x\nbroken\n", 0o644)
	_, errOut, code = testenv.Run(t, exec.Command(s.Path("makealiases")))
	want := "makealiases: " + filepath.Join(etc, "aliases", "site") + `:2: syntax error: "broken" is not "alias: address, ..."` + "\n"
	if code != 1 || errOut != want {
		t.Errorf("error run: %d %q, want %q", code, errOut, want)
	}
	if after, _ := os.ReadFile(filepath.Join(etc, "aliases.dat")); string(after) != string(before) {
		t.Error("aliases.dat changed by a failed run")
	}
}

// TestDumpAgainstReal compares makealiases -dump with the original's
// compiler on the same source and the same defaultdomain and locals (the
// installed /etc/courier ones, copied into the sandbox). The original's
// makealiases script itself is not run: it always rewrites
// /etc/courier/aliasdir.
func TestDumpAgainstReal(t *testing.T) {
	const bin = "/usr/lib/courier/courier/"
	testenv.NeedPackage(t, "courier-mta", bin+"aliasexp", bin+"aliascombine", bin+"aliascreate")
	s := testenv.NewSandbox(t, "makealiases")
	for _, f := range []string{"me", "defaultdomain", "locals", "locallowercase"} {
		if b, err := os.ReadFile("/etc/courier/" + f); err == nil {
			s.WriteConfig(t, f, string(b), 0o644)
		}
	}
	src := filepath.Join(t.TempDir(), "aliases")
	text := "root: postmaster\nmailer-daemon: postmaster\nMAILER-DAEMON: postmaster\npostmaster:\n" +
		"staff: alice, Bob@Example.ORG,\n  carol, PostMaster\n@virt.example: john\nlog: | /usr/bin/logger\n"
	if err := os.WriteFile(src, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	ours, errOut, code := testenv.Run(t, exec.Command(s.Path("makealiases"), "-dump", "-src="+src, "-tmp="+filepath.Join(t.TempDir(), "lock")))
	if code != 0 {
		t.Fatalf("makealiases -dump: %d %s", code, errOut)
	}
	xdir := filepath.Join(t.TempDir(), "x")
	exp := exec.Command(bin+"aliasexp", "-xaliaspfix=.xalias/", "-xaliastmpdir="+xdir, "-src="+src, "local")
	expOut, errOut, code := testenv.Run(t, exp)
	if code != 0 {
		t.Fatalf("aliasexp: %s", errOut)
	}
	comb := exec.Command(bin + "aliascombine")
	comb.Stdin = strings.NewReader(expOut)
	combOut, _, _ := testenv.Run(t, comb)
	create := exec.Command(bin+"aliascreate", "-tmp="+filepath.Join(t.TempDir(), "t.tmp"), "-dump")
	create.Stdin = strings.NewReader(combOut)
	real, errOut, code := testenv.Run(t, create)
	if code != 0 {
		t.Fatalf("aliascreate: %s", errOut)
	}
	para := func(s string) []string {
		p := strings.Split(strings.TrimSuffix(s, "\n\n"), "\n\n")
		sort.Strings(p)
		return p
	}
	if !reflect.DeepEqual(para(ours), para(real)) {
		t.Errorf("-dump:\n%s\noriginal:\n%s", ours, real)
	}
}
