package main

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/gocourier/courier/test/testenv"
)

const realMaildirmake = "/usr/bin/maildirmake.courier"

type result struct {
	stdout, stderr string
	code           int
}

func run(t *testing.T, dir, prog string, args ...string) result {
	t.Helper()
	cmd := exec.Command(prog, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8"}
	var r result
	r.stdout, r.stderr, r.code = testenv.Run(t, cmd)
	return r
}

// tree describes a directory: every entry with its mode, and the content
// of the small text files maildirmake writes.
func tree(t *testing.T, root string) string {
	t.Helper()
	var lines []string
	filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, p)
		st, _ := os.Lstat(p)
		line := fmt.Sprintf("%v %s", st.Mode(), rel)
		switch e.Name() {
		case "maildirsize", "shared-maildirs":
			data, _ := os.ReadFile(p)
			line += fmt.Sprintf(" %q", data)
		}
		lines = append(lines, line)
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// Ours and the original run the same command lines in twin directories;
// output, exit codes and the trees they leave must agree.
func TestSameAsOriginal(t *testing.T) {
	testenv.NeedPackage(t, "courier-base", realMaildirmake)
	s := testenv.NewSandbox(t, "maildirmake")
	ours := s.Path("maildirmake")
	realDir, ourDir := t.TempDir(), t.TempDir()
	sharable := t.TempDir() // an absolute path both can --add
	steps := [][]string{
		{"M"},
		{"M"}, // exists
		{"-q", "1000S,5C", "Q"},
		{"-q", "2000S", "M"},
		{"-q100S,3C", "M"},
		{"-f", "Work.Projects", "M"},
		{"-fSent", "M"},
		{"-f", "Café", "M"},
		{"-f", "Sent", "M"}, // exists
		{"-f", ".bad", "M"},
		{"-F", "x.y:z~", "M"},
		{"-F", `b\c`, "M"},
		{"-S", "S"},
		{"-s", "write", "-f", "Pub", "S"},
		{"-s", "read", "-f", "Ro", "S"},
		{"-s", "write,group", "-f", "Grp", "S"},
		{"-s", "read", "S"}, // -s without -f
		{"--add", "notices=" + sharable, "M"},
		{"--add", "notices=" + sharable, "M"}, // exists: exit 2
		{"--add", "two=/tmp", "M"},
		{"--add", "bad.name=" + sharable, "M"},
		{"--add", "rel=S", "M"},
		{"--add", "nope", "M"},
		{"--del", "notices", "M"},
		{"--del", "notices", "M"}, // not found
		{},
		{"-x", "M"},
		{"-q", "1000S"},
	}
	for _, args := range steps {
		want := run(t, realDir, realMaildirmake, args...)
		got := run(t, ourDir, ours, args...)
		if got.code != want.code || got.stdout != want.stdout {
			t.Errorf("maildirmake %q: ours exit %d stdout %q, original exit %d stdout %q",
				args, got.code, got.stdout, want.code, want.stdout)
		}
		if (got.stderr == "") != (want.stderr == "") {
			t.Errorf("maildirmake %q: ours stderr %q, original %q", args, got.stderr, want.stderr)
		}
	}
	if a, b := tree(t, realDir), tree(t, ourDir); a != b {
		t.Errorf("trees differ\noriginal:\n%s\nours:\n%s", a, b)
	}
}

func TestMessages(t *testing.T) {
	s := testenv.NewSandbox(t, "maildirmake")
	ours := s.Path("maildirmake")
	dir := t.TempDir()
	for _, tc := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"M"}, 0, "", ""},
		{[]string{"M"}, 1, "", "maildirmake: M: File exists\n"},
		{[]string{"-f", ".bad", "M"}, 1, "Invalid folder name: .bad\n", ""},
		{[]string{"-f", "a/b", "M"}, 1, "Invalid folder name: a/b (folder name \"a/b\": '/' is not allowed)\n", ""},
		{[]string{"-q", "abc", "M"}, 1, "", "maildirmake: quota item \"abc\": \"ab\" is not a decimal number\n"},
		{[]string{"--del", "x", "M"}, 1, "", "maildirmake: M/shared-maildirs: No such file or directory\n"},
		{[]string{"--add", "x=/nonexistent", "M"}, 1, "", "maildirmake: /nonexistent: No such file or directory\n"},
		{[]string{}, 1, "Usage: maildirmake [ options ] maildir\n", ""},
	} {
		r := run(t, dir, ours, tc.args...)
		if r.code != tc.code || r.stdout != tc.stdout || r.stderr != tc.stderr {
			t.Errorf("maildirmake %q = %d %q %q, want %d %q %q", tc.args, r.code, r.stdout, r.stderr, tc.code, tc.stdout, tc.stderr)
		}
	}
	// The system list of sharable maildirs, in our configuration directory.
	s.WriteConfig(t, "maildirshared", "system\t/var/shared\n", 0o644)
	if r := run(t, dir, ours, "--add", "system=/tmp", "M"); r.code != 2 || !strings.Contains(r.stderr, "already defined as a sharable maildir in "+s.Layout.Config("maildirshared")) {
		t.Errorf("--add of a system name: %+v", r)
	}
	// -F in a Latin-1 locale.
	cmd := exec.Command(ours, "-F", "R\xe9sum\xe9", "M")
	cmd.Dir = dir
	cmd.Env = []string{"LC_ALL=de_DE.ISO-8859-1"}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("-F latin1: %v %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "M", ".Résumé", "maildirfolder")); err != nil {
		t.Error(err)
	}
	if r := run(t, dir, ours, "--help"); r.code != 0 || !strings.HasPrefix(r.stdout, "Usage: maildirmake") {
		t.Errorf("--help: %+v", r)
	}
}

// --checkutf8 and --convutf8 on twin pre-Unicode maildirs.
func TestConvertUTF8SameAsOriginal(t *testing.T) {
	testenv.NeedPackage(t, "courier-base", realMaildirmake)
	s := testenv.NewSandbox(t, "maildirmake")
	ours := s.Path("maildirmake")
	realDir, ourDir := t.TempDir(), t.TempDir()
	for _, dir := range []string{realDir, ourDir} {
		if r := run(t, dir, realMaildirmake, "M"); r.code != 0 {
			t.Fatal(r)
		}
		for _, f := range []string{"R&AOk-sum&AOk-", "Plain", "Caf&AOk-.Sub", "a&-b", "Bad&Zm9v"} {
			if r := run(t, dir, realMaildirmake, "-f", f, "M"); r.code != 0 {
				t.Fatal(r)
			}
		}
		os.WriteFile(filepath.Join(dir, "M", "courierimapsubscribed"), []byte("INBOX.R&AOk-sum&AOk-\nINBOX.Plain\nINBOX\n"), 0o640)
	}
	compare := func(args ...string) {
		t.Helper()
		want := run(t, realDir, realMaildirmake, args...)
		got := run(t, ourDir, ours, args...)
		// The order of the report lines follows the directory order in
		// the original; compare them as sets.
		sortLines := func(s string) string {
			l := strings.Split(s, "\n")
			sort.Strings(l)
			return strings.Join(l, "\n")
		}
		if got.code != want.code || sortLines(got.stdout) != sortLines(want.stdout) || (got.stderr == "") != (want.stderr == "") {
			t.Errorf("maildirmake %q: ours %+v, original %+v", args, got, want)
		}
	}
	compare("--checkutf8", "M") // the bad name: exit 1, nothing done
	compare("--convutf8", "M")
	for _, dir := range []string{realDir, ourDir} {
		if err := os.RemoveAll(filepath.Join(dir, "M", ".Bad&Zm9v")); err != nil {
			t.Fatal(err)
		}
	}
	compare("--checkutf8", "M")
	compare("--convutf8", "M")
	if a, b := tree(t, realDir), tree(t, ourDir); a != b {
		t.Errorf("trees differ\noriginal:\n%s\nours:\n%s", a, b)
	}
	for _, dir := range []string{realDir, ourDir} {
		if got := string(must(os.ReadFile(filepath.Join(dir, "M", "courierimapsubscribed")))); got != "INBOX.Résumé\nINBOX.Plain\nINBOX\n" {
			t.Errorf("%s: courierimapsubscribed = %q", dir, got)
		}
	}
	// Run twice, both stop at "a&b", which is not modified UTF-7.
	compare("--convutf8", "M")
	// A SqWebMail filter file is not converted: refused before any change.
	filter := filepath.Join(ourDir, "mailfilter")
	os.WriteFile(filter, []byte("#MFMAILDROP=2\n"), 0o600)
	if r := run(t, ourDir, ours, "--convutf8", "M", filter); r.code != 1 || !strings.Contains(r.stderr, "not supported") {
		t.Errorf("with a mail filter: %+v", r)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
