package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gocourier/courier/test/testenv"
)

func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return testenv.Run(t, exec.Command(testenv.Build(t, "sysconftool"), args...))
}

func TestHelp(t *testing.T) {
	out, _, code := run(t, "--help")
	if code != 0 || !strings.HasPrefix(out, "Usage: sysconftool [-n] file.dist ...") {
		t.Errorf("--help: exit %d, stdout %q", code, out)
	}
	_, errOut, code := run(t)
	if code != 2 || !strings.Contains(errOut, "no .dist file given") {
		t.Errorf("no arguments: exit %d, stderr %q", code, errOut)
	}
}

func TestUpgradeFiles(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "esmtpd")
	old := "##VERSION: 1\n##NAME: PORT:1\n# port\nPORT=2525\n##NAME: OLD:0\nOLD=x\n"
	dist := "##VERSION: 2\n##NAME: PORT:1\n# the port\nPORT=smtp\n##NAME: NEW:0\nNEW=1\n"
	if err := os.WriteFile(target, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(target+".dist", []byte(dist), 0o644); err != nil {
		t.Fatal(err)
	}
	report := "esmtpd: PORT: kept your setting (PORT=2525)\n" +
		"esmtpd: NEW: new setting, default added (NEW=1)\n" +
		"esmtpd: OLD: obsolete, removed (was OLD=x)\n"

	out, errOut, code := run(t, "-n", target+".dist")
	if code != 0 || out != report+"esmtpd: would be upgraded from esmtpd.dist (dry run: nothing written)\n" {
		t.Errorf("-n: exit %d, stdout:\n%s\nstderr: %s", code, out, errOut)
	}
	if b, _ := os.ReadFile(target); string(b) != old {
		t.Error("-n changed the file")
	}
	if _, err := os.Stat(target + ".bak"); err == nil {
		t.Error("-n wrote a .bak")
	}

	out, errOut, code = run(t, target+".dist", filepath.Join(dir, "missing.dist"))
	if code != 1 || out != report+"esmtpd: upgraded from esmtpd.dist; your previous file is esmtpd.bak\n" ||
		!strings.Contains(errOut, "sysconftool: open "+filepath.Join(dir, "missing.dist")+": no such file or directory") {
		t.Errorf("upgrade: exit %d, stdout:\n%s\nstderr: %s", code, out, errOut)
	}
	want := "##VERSION: 2\n##NAME: PORT:1\n# the port\nPORT=2525\n##NAME: NEW:0\nNEW=1\n"
	if b, _ := os.ReadFile(target); string(b) != want {
		t.Errorf("upgraded file:\n%s\nwant:\n%s", b, want)
	}
	if b, _ := os.ReadFile(target + ".bak"); string(b) != old {
		t.Errorf("esmtpd.bak:\n%s", b)
	}
}
