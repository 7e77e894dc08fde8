package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/gocourier/courier/pkg/maildir"
	"github.com/gocourier/courier/test/testenv"
)

const (
	realDeliverquota = "/usr/bin/deliverquota.courier"
	realMaildirmake  = "/usr/bin/maildirmake.courier"
)

type result struct {
	stdout, stderr string
	code           int
}

// run runs a deliverquota with the message from a file (a regular file on
// standard input, as a spooled message) or from a pipe.
func run(t *testing.T, dir, prog, msg string, fromFile bool, args ...string) result {
	t.Helper()
	cmd := exec.Command(prog, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8"}
	if fromFile {
		p := filepath.Join(t.TempDir(), "msg")
		os.WriteFile(p, []byte(msg), 0o644)
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cmd.Stdin = f
	} else {
		cmd.Stdin = strings.NewReader(msg)
	}
	var r result
	r.stdout, r.stderr, r.code = testenv.Run(t, cmd)
	return r
}

// state describes a maildir tree without the parts that differ between
// any two deliveries (time, pid, inode): per directory the sorted ",S="
// sizes and other files' contents.
func state(t *testing.T, root string) string {
	t.Helper()
	var lines []string
	filepath.WalkDir(root, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, p)
		st, _ := os.Lstat(p)
		switch dir := filepath.Base(filepath.Dir(p)); {
		case e.IsDir():
			lines = append(lines, st.Mode().String()+" "+rel)
		case dir == "new" || dir == "cur" || dir == "tmp":
			n, err := maildir.ParseName(e.Name())
			if err != nil {
				t.Errorf("%s: %v", p, err)
			}
			kind := "msg"
			if strings.Contains(n.Unique, "_warn.") {
				kind = "warning"
			}
			lines = append(lines, filepath.Dir(rel)+" "+kind+" S="+strconv.FormatInt(n.Size, 10)+" "+st.Mode().String())
		case e.Name() == "maildirsize":
			data, _ := os.ReadFile(p)
			lines = append(lines, rel+" "+string(data))
		default:
			lines = append(lines, st.Mode().String()+" "+rel)
		}
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func TestSameAsOriginal(t *testing.T) {
	testenv.NeedPackage(t, "courier-base", realDeliverquota, realMaildirmake)
	s := testenv.NewSandbox(t, "deliverquota")
	ours := s.Path("deliverquota")
	realDir, ourDir := t.TempDir(), t.TempDir()
	warn := filepath.Join(t.TempDir(), "warn")
	os.WriteFile(warn, []byte("Subject: quota\n\nYour mailbox is almost full.\n"), 0o644)
	for _, dir := range []string{realDir, ourDir} {
		for _, args := range [][]string{{"-q", "100S,3C", "M"}, {"-f", "Lists", "M"}, {"-f", "Trash", "M"}, {"-q", "200S", "W"}} {
			if r := run(t, dir, realMaildirmake, "", false, args...); r.code != 0 {
				t.Fatalf("maildirmake %v: %+v", args, r)
			}
		}
	}
	msg := "Subject: a\n\nhello\n" // 18 bytes
	steps := []struct {
		fromFile bool
		args     []string
	}{
		{true, []string{"M"}},
		{false, []string{"M/.Lists"}},
		{false, []string{"M/.Trash"}}, // outside the quota
		{true, []string{"M"}},
		{true, []string{"M"}},              // 4th message over 3C: 77
		{false, []string{"M"}},             // pipe: 75
		{false, []string{"M/.Trash"}},      // Trash still takes mail
		{false, []string{"M", "500S,10C"}}, // a new quota, rewritten
		{false, []string{"-c", "N/a/b"}},
		{false, []string{"X"}}, // no maildir: 75
		{false, []string{}},    // usage: 73
		{false, []string{"-w", "101", "M"}},
		{false, []string{"-w", "10", "-W", warn, "W"}},    // 9% after: no warning
		{false, []string{"-w", "10", "-W", warn, "W"}},    // 18%: warning
		{false, []string{"-w", "10", "-W", warn, "W"}},    // warned already today
		{true, []string{"-w", "10", "-W", warn, "W/cur"}}, // not a maildir
	}
	for _, st := range steps {
		want := run(t, realDir, realDeliverquota, msg, st.fromFile, st.args...)
		got := run(t, ourDir, ours, msg, st.fromFile, st.args...)
		if got.code != want.code || got.stdout != want.stdout || (got.stderr == "") != (want.stderr == "") {
			t.Errorf("deliverquota %q (file %v): ours %+v, original %+v", st.args, st.fromFile, got, want)
		}
	}
	if a, b := state(t, realDir), state(t, ourDir); a != b {
		t.Errorf("maildirs differ\noriginal:\n%s\nours:\n%s", a, b)
	}
}

var warnHeader = regexp.MustCompile(`^Date: .+\nMessage-Id: <\d+\.overquota@.+>\nSubject: quota\n`)

func TestWarningAndHelp(t *testing.T) {
	s := testenv.NewSandbox(t, "deliverquota")
	ours := s.Path("deliverquota")
	dir := t.TempDir()
	root := filepath.Join(dir, "M")
	if err := maildir.Make(root, 0o700, 0o700, false); err != nil {
		t.Fatal(err)
	}
	if err := maildir.SetQuota(root, maildir.QuotaSpec{Bytes: 100}); err != nil {
		t.Fatal(err)
	}
	// Without -W the message comes from our configuration directory.
	s.WriteConfig(t, "quotawarnmsg", "Subject: quota\n\nfull\n", 0o644)
	if r := run(t, dir, ours, strings.Repeat("x", 60), false, "-w", "50", "M"); r.code != 0 {
		t.Fatalf("%+v", r)
	}
	var warning string
	ents, _ := os.ReadDir(filepath.Join(root, "new"))
	for _, e := range ents {
		if strings.Contains(e.Name(), "_warn.") {
			data, _ := os.ReadFile(filepath.Join(root, "new", e.Name()))
			warning = string(data)
		}
	}
	if !warnHeader.MatchString(warning) {
		t.Errorf("warning message %q", warning)
	}
	// A missing warning file is reported, the delivery still succeeds.
	os.Remove(filepath.Join(root, "quotawarn"))
	os.Remove(s.Layout.Config("quotawarnmsg"))
	if r := run(t, dir, ours, "x", false, "-w", "50", "M"); r.code != 0 || !strings.Contains(r.stderr, "no quota warning can be sent") {
		t.Errorf("missing warning file: %+v", r)
	}
	if r := run(t, dir, ours, "", false, "--help"); r.code != 0 || !strings.Contains(r.stdout, "-w percent") {
		t.Errorf("--help: %+v", r)
	}
	if r := run(t, dir, ours, "", false, "M", "12Q"); r.code != 73 || !strings.Contains(r.stderr, "12Q") {
		t.Errorf("bad quota argument: %+v", r)
	}
}
