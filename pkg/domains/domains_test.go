package domains

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gocourier/courier/pkg/dbfile"
	"github.com/gocourier/courier/test/testenv"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

var sample = map[string]string{
	"f1":          "a.com\nalias.com\ta.com\n#c\n\n  sp.com\nUP.COM\nx\ty\tz\n\tnokey\n",
	".hidden":     "b.com\n",
	"f2~":         "c.com\n",
	"f3.dpkg-old": "d.com\n",
}

func TestReadSource(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "src")
	writeFiles(t, dir, sample)
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	recs, err := ReadSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, r.Key+"="+r.Value)
	}
	want := []string{"b.com=1", "a.com=1", "alias.com=a.com", "  sp.com=1", "UP.COM=1", "x=y\tz"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("records %q, want %q", got, want)
	}
	if recs[2].File != filepath.Join(dir, "f1") || recs[2].Line != 2 {
		t.Errorf("alias.com from %s:%d", recs[2].File, recs[2].Line)
	}

	for _, tc := range []struct{ name, data, want string }{
		{"duplicate", "a.com\nb.com\na.com\tx\n", `f:3: "a.com" is already listed at f:1; list each domain once`},
		{"dot", "a.com\n.\nb.com\n", `f:2: a line holding only "." is not a domain; remove it`},
	} {
		if _, err := Parse("f", []byte(tc.data)); err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.want)
		}
	}
	if recs, err := Parse("f", []byte("a.com\nlast.com")); err != nil || len(recs) != 2 || recs[1].Key != "last.com" {
		t.Errorf("last line without a newline: %+v %v", recs, err)
	}
	dup := filepath.Join(t.TempDir(), "dup")
	writeFiles(t, dup, map[string]string{"1": "a.com\n", "2": "a.com\n"})
	if _, err := ReadSource(dup); err == nil || !strings.Contains(err.Error(), `2:1: "a.com" is already listed at `+filepath.Join(dup, "1")+":1") {
		t.Errorf("duplicate across files: %v", err)
	}
}

func TestBuild(t *testing.T) {
	dir := t.TempDir()
	src, dat, lock := filepath.Join(dir, "hosteddomains"), filepath.Join(dir, "hosteddomains.dat"), filepath.Join(dir, "hosteddomains.tmp")
	writeFiles(t, src, map[string]string{"a": "example.com\nalias.example\texample.com\n"})
	if err := Build(src, dat, lock); err != nil {
		t.Fatal(err)
	}
	db, err := dbfile.Open(dat)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	if err := db.ForEach(func(k, v string) error { got[k] = v; return nil }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if want := map[string]string{"example.com": "1", "alias.example": "example.com"}; !reflect.DeepEqual(got, want) {
		t.Errorf("records %q, want %q", got, want)
	}
	if _, err := os.Stat(lock); !os.IsNotExist(err) {
		t.Errorf("lock file left: %v", err)
	}
	before, _ := os.ReadFile(dat)
	writeFiles(t, src, map[string]string{"b": "example.com\n"})
	if err := Build(src, dat, lock); err == nil || !strings.Contains(err.Error(), "already listed") {
		t.Errorf("Build with a duplicate: %v", err)
	}
	if after, _ := os.ReadFile(dat); !bytes.Equal(before, after) {
		t.Error("database changed by a failed build")
	}
	if err := Build(filepath.Join(dir, "missing"), dat, lock); err == nil {
		t.Error("Build without a source succeeded")
	}
}

// TestAgainstRealMakedat builds the same directory with the original's
// makedat (into a temporary GDBM file) and checks that every record of
// ours is stored there, key followed by value as GDBM keeps them, and
// that what we skip is not.
func TestAgainstRealMakedat(t *testing.T) {
	testenv.NeedPackage(t, "courier-mta", "/usr/bin/makedat", "/usr/lib/courier/courier/makedatprog")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	writeFiles(t, src, sample)
	_, errOut, code := testenv.Run(t, exec.Command("/usr/bin/makedat", "-src="+src, "-file="+filepath.Join(dir, "real.dat"), "-tmp="+filepath.Join(dir, "real.tmp")))
	if code != 0 {
		t.Fatalf("makedat: %d %s", code, errOut)
	}
	gdbm, err := os.ReadFile(filepath.Join(dir, "real.dat"))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := ReadSource(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if !bytes.Contains(gdbm, []byte(r.Key+r.Value)) {
			t.Errorf("record %q=%q not in the original's database", r.Key, r.Value)
		}
	}
	for _, skipped := range []string{"c.com", "d.com", "nokey", "#c"} {
		if bytes.Contains(gdbm, []byte(skipped)) {
			t.Errorf("the original stored %q", skipped)
		}
	}

	writeFiles(t, filepath.Join(dir, "dup"), map[string]string{"1": "a.com\n", "2": "a.com\n"})
	_, errOut, code = testenv.Run(t, exec.Command("/usr/bin/makedat", "-src="+filepath.Join(dir, "dup"), "-file="+filepath.Join(dir, "d.dat"), "-tmp="+filepath.Join(dir, "d.tmp")))
	if code != 1 || !strings.Contains(errOut, "Cannot store record for a.com") {
		t.Errorf("original with a duplicate: %d %q", code, errOut)
	}
}

func FuzzParseDomains(f *testing.F) {
	for _, s := range []string{"a.com\nalias\ta.com\n# c\n\n", "x\ty\tz\n\tk\n.\n", "a\na\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := Parse("f", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f:") {
				t.Fatalf("error without a place: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, r := range recs {
			if r.Key == "" || r.Value == "" || seen[r.Key] || strings.Contains(r.Key, "\t") || strings.Contains(r.Key+r.Value, "\n") {
				t.Fatalf("bad record %+v", r)
			}
			seen[r.Key] = true
		}
	})
}

// TestTools runs each program's Main on its own source name in a
// configuration directory.
func TestTools(t *testing.T) {
	for _, tool := range []Tool{Hosted, AcceptMailFor, PercentRelay} {
		dir := t.TempDir()
		writeFiles(t, filepath.Join(dir, tool.Src), map[string]string{"site": "relay.example\n"})
		var out, errOut bytes.Buffer
		if code := tool.Main(nil, dir, &out, &errOut); code != 0 {
			t.Fatalf("%s: exit %d: %s", tool.Name, code, errOut.String())
		}
		db, err := dbfile.Open(filepath.Join(dir, tool.Dat))
		if err != nil {
			t.Fatalf("%s: %v", tool.Name, err)
		}
		v, ok, err := db.Get("relay.example")
		db.Close()
		if err != nil || !ok || v != "1" {
			t.Errorf("%s: relay.example is %q %v %v in %s", tool.Name, v, ok, err, tool.Dat)
		}
	}
}
