package userdb

import (
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestDirectorySource(t *testing.T) {
	src := writeSource(t, map[string]string{
		"top":                 "bob\tuid=1|gid=1|home=/b\n",
		"users/sub/file1":     "alice\tuid=2|gid=2|home=/a|systempw=x\n",
		"users/alpha":         "carol\tuid=3|gid=3|home=/c\n",
		".hidden/f":           "dave\tuid=4|gid=4|home=/d\n",
		"users/.lock.alpha":   "",
		"users/.tmp.alpha":    "erin\tuid=5|gid=5|home=/e\n",
		"users/sub/.f":        "frank\n",
		"users/sub/zz/deeper": "gina\tuid=6|gid=6|home=/g\n",
	})
	files, err := src.Files()
	if err != nil {
		t.Fatal(err)
	}
	var rel []string
	for _, f := range files {
		r, _ := filepath.Rel(src.Path, f)
		rel = append(rel, r)
	}
	if want := []string{"top", "users/alpha", "users/sub/file1", "users/sub/zz/deeper"}; !slices.Equal(rel, want) {
		t.Errorf("files %v, want %v (breadth first, hidden skipped)", rel, want)
	}
	if _, err := src.Compile(); err != nil {
		t.Fatal(err)
	}
	dat := dump(t, src.Dat)
	want := map[string]string{
		"bob":   "uid=1|gid=1|home=/b|_=top/",
		"alice": "uid=2|gid=2|home=/a|_=users/sub/file1/",
		"carol": "uid=3|gid=3|home=/c|_=users/alpha/",
		"gina":  "uid=6|gid=6|home=/g|_=users/sub/zz/deeper/",
	}
	if !maps.Equal(dat, want) {
		t.Errorf("userdb.dat = %q\nwant %q", dat, want)
	}
}

func TestDuplicateAcrossFiles(t *testing.T) {
	src := writeSource(t, map[string]string{
		"a": "alice\tuid=1|gid=1|home=/a\n",
		"b": "# x\nalice\tuid=2|gid=2|home=/b\n",
	})
	_, err := src.Compile()
	want := filepath.Join(src.Path, "b") + ":2: duplicate account alice (first at " + filepath.Join(src.Path, "a") + ":1)"
	if err == nil || err.Error() != want {
		t.Errorf("error %v\nwant %s", err, want)
	}
}

// TestBadRecordWritesNothing: a bad line anywhere leaves the old .dat
// files untouched and no temporary file behind.
func TestBadRecordWritesNothing(t *testing.T) {
	src := writeSource(t, map[string]string{"": aliceLine})
	if _, err := src.Compile(); err != nil {
		t.Fatal(err)
	}
	before := dump(t, src.Dat)
	if err := os.WriteFile(src.Path, []byte("new\tuid=1|gid=1|home=/n\n"+aliceLine+"broken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := src.Compile()
	if err == nil || !strings.HasPrefix(err.Error(), src.Path+":3: no TAB") {
		t.Fatalf("error %v", err)
	}
	if after := dump(t, src.Dat); !maps.Equal(before, after) {
		t.Errorf("userdb.dat changed despite the error: %q", after)
	}
	entries, _ := os.ReadDir(filepath.Dir(src.Path))
	for _, e := range entries {
		if strings.Contains(e.Name(), "tmp") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func TestCheckSafe(t *testing.T) {
	dir := t.TempDir()
	src := FileSource(filepath.Join(dir, "userdb") + "/")
	if src.Path != filepath.Join(dir, "userdb") || src.Dat != src.Path+".dat" || src.Shadow != src.Path+"shadow.dat" || src.Lock != src.Path+".lock" {
		t.Errorf("FileSource paths %+v", src)
	}
	_, err := src.Compile()
	if err == nil || err.Error() != src.Path+": not found." || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing source: %v", err)
	}
	os.WriteFile(src.Path, []byte(aliceLine), 0o640)
	os.Chmod(src.Path, 0o640)
	if _, err := src.Compile(); err == nil || err.Error() != src.Path+": MAY NOT HAVE GROUP OR WORLD PERMISSIONS!!" {
		t.Errorf("group-readable source: %v", err)
	}
	os.Chmod(src.Path, 0o600)
	for _, p := range []string{src.Dat, src.Shadow} {
		os.Symlink("/dev/null", p)
		_, err := src.Compile()
		want := "ERROR: Wrong makeuserdb command.\n       (" + p + " is a symbolic link)"
		if err == nil || err.Error() != want {
			t.Errorf("symlinked %s: %v", p, err)
		}
		os.Remove(p)
	}
	link := FileSource(filepath.Join(dir, "link"))
	os.Symlink(src.Path, link.Path)
	if _, err := link.Compile(); err == nil || !strings.Contains(err.Error(), "("+link.Path+" is a symbolic link)") {
		t.Errorf("symlinked source: %v", err)
	}
	if _, err := src.Compile(); err != nil {
		t.Errorf("clean source: %v", err)
	}
	fi, err := os.Stat(src.Lock)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("lock file: %v %v", fi, err)
	}
}

func TestDirectoryLoop(t *testing.T) {
	src := writeSource(t, map[string]string{"users/a": "alice\tuid=1|gid=1|home=/a\n"})
	if err := os.Symlink("..", filepath.Join(src.Path, "users", "up")); err != nil {
		t.Fatal(err)
	}
	_, err := src.Compile()
	if err == nil || !strings.Contains(err.Error(), "symbolic link loop") {
		t.Errorf("loop: %v", err)
	}
	os.Remove(filepath.Join(src.Path, "users", "up"))
	fifo := filepath.Join(src.Path, "fifo")
	if err := mkfifo(fifo); err != nil {
		t.Skip(err)
	}
	if _, err := src.Compile(); err == nil || !strings.Contains(err.Error(), "fifo: not a regular file") {
		t.Errorf("fifo: %v", err)
	}
}

func mkfifo(path string) error { return unix.Mkfifo(path, 0o600) }
