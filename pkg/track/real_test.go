package track

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gocourier/courier/test/testenv"
)

// The real `courier show all` and `courier clear` on track files of ours (a
// private mount namespace binds the test tree over /var/lib/courier): the
// same list, and the A line it appends has our format.
func TestSameAsReal(t *testing.T) {
	testenv.NeedPackage(t, "courier-mta", "/usr/sbin/courier")
	testenv.NeedPackage(t, "util-linux", "/usr/bin/unshare")
	testenv.NeedRoot(t)
	u, err := user.Lookup("courier")
	if err != nil {
		testenv.Skip(t, "no courier user: reinstall courier-mta")
	}
	root := t.TempDir()
	for _, d := range []string{filepath.Dir(root), root} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(root, "track"), 0o750); err != nil {
		t.Fatal(err)
	}
	tr := Open(root)
	// The failures, a minute old, and the clear must fall in the same
	// hour's track file: with the failures in the previous hour's file,
	// the real courier still listed the cleared address (a run at
	// 09:00), so the test waits out the first minute of an hour.
	if into := time.Since(time.Now().Truncate(time.Hour)); into < 70*time.Second {
		time.Sleep(70*time.Second - into)
	}
	now := time.Now()
	for _, a := range []string{"zed@x.example", "Bob@X.example", "al@y.example", "ok@y.example"} {
		if err := tr.Record(a, Failed, now.Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Record("ok@y.example", Accepted, now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("chown", "-R", u.Uid+":"+u.Gid, filepath.Join(root, "track")).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v %s", err, out)
	}
	real := func(args ...string) string {
		cmd := exec.Command("unshare", append([]string{"-m", "--propagation", "private", "sh", "-c",
			"mount --bind \"$0\" /var/lib/courier && exec /usr/sbin/courier \"$@\"", root}, args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil || errb.Len() > 0 {
			t.Fatalf("courier %q: %v %s", args, err, errb.String())
		}
		return out.String()
	}
	ours, err := tr.List(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := real("show", "all"), strings.Join(ours, "\n")+"\n"; got != want {
		t.Errorf("real show all:\n%s\nours:\n%s", got, want)
	}
	before := time.Now().Unix()
	if got := real("clear", "al@Y.example"); got != "al@Y.example cleared.\n" {
		t.Errorf("real clear: %q", got)
	}
	after := time.Now().Unix()
	data, err := os.ReadFile(filepath.Join(tr.Dir(), strconv.FormatInt(after/3600, 10)))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	last, err := ParseLine(lines[len(lines)-1])
	if err != nil || last.Kind != Accepted || last.Address != "al@y.example" || last.Time.Unix() < before || last.Time.Unix() > after {
		t.Errorf("the real clear wrote %q: %+v %v", lines[len(lines)-1], last, err)
	}
	if _, ok := tr.Lookup("al@y.example", time.Now()); ok {
		t.Error("address cleared by the real courier still listed")
	}
	if got := real("show", "all"); got != fmt.Sprintf("%s\n%s\n", "Bob@x.example", "zed@x.example") {
		t.Errorf("real show all after clear: %q", got)
	}
}
