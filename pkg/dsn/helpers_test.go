package dsn

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/pkg/privsep"
	"github.com/gocourier/courier/pkg/queue"
	"github.com/gocourier/courier/test/testenv"
)

// realDSN is Debian's courierdsn, which prints the report of a queued message
// when run with its inode as argument (its test mode).
const realDSN = "/usr/lib/courier/courier/modules/dsn/courierdsn"

// debianConfig is where Debian keeps the wording files.
const debianConfig = "/etc/courier"

// fixedNow is the clock of every test report.
var fixedNow = time.Date(2026, 11, 22, 3, 56, 53, 0, time.UTC)

// parseControl parses a control file written in a test, lines joined.
func parseControl(t testing.TB, lines ...string) *queue.Control {
	t.Helper()
	c, err := queue.ParseControl("C-test", []byte(strings.Join(lines, "\n")+"\n"))
	if err != nil {
		t.Fatalf("test control file does not parse: %v", err)
	}
	return c
}

// configDir makes a configuration directory with the dsn*.txt files of src
// (our etc/dsn or Debian's /etc/courier), a "me" file and the extra files
// given as name, content pairs. It is readable by the courier user, which the
// original module becomes before it reads dsnfrom and me.
func configDir(t testing.TB, src, me string, extra ...string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range TextFiles {
		data, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatalf("wording file: %v", err)
		}
		testenv.WriteFile(t, filepath.Join(dir, name), string(data), 0o644)
	}
	testenv.WriteFile(t, filepath.Join(dir, "me"), me+"\n", 0o644)
	for i := 0; i+1 < len(extra); i += 2 {
		testenv.WriteFile(t, filepath.Join(dir, extra[i]), extra[i+1], 0o644)
	}
	return dir
}

// settingsFrom loads the settings of a configuration directory with a fixed
// clock.
func settingsFrom(t testing.TB, dir string, environ ...string) Settings {
	t.Helper()
	s, err := LoadSettings(layout.Layout{SysconfDir: dir}, environ)
	if err != nil {
		t.Fatalf("LoadSettings(%s): %v", dir, err)
	}
	s.Now = func() time.Time { return fixedNow }
	return s
}

// ourSettings are the settings of our own etc/dsn files.
func ourSettings(t testing.TB, extra ...string) Settings {
	t.Helper()
	return settingsFrom(t, configDir(t, "../../etc/dsn", "mx.example.test", extra...))
}

// build runs Build on a control file and message held in memory.
func build(t testing.TB, c *queue.Control, data string, mtime time.Time, k Kind, s Settings) *Report {
	t.Helper()
	r, err := Build(c, strings.NewReader(data), int64(len(data)), mtime, k, s)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return r
}

// runReal queues the control file and data in a private copy of
// /var/lib/courier and runs Debian's courierdsn in its test mode on it, with
// cfg mounted over /etc/courier, in a mount namespace of its own so that
// neither directory of the installed Courier is touched. It returns the
// report the original prints.
func runReal(t *testing.T, cfg, ctl, data string, mtime time.Time, k Kind, environ ...string) []byte {
	t.Helper()
	testenv.NeedRoot(t)
	testenv.NeedPackage(t, "courier-mta", realDSN)
	testenv.NeedPackage(t, "util-linux", "unshare", "mount")
	courier, err := privsep.LookupUser("courier")
	if err != nil {
		testenv.Skip(t, "no courier user: install the Debian package courier-mta")
	}
	q := t.TempDir()
	for _, d := range []string{"msgs", "msgq/1", "tmp"} {
		if err := os.MkdirAll(filepath.Join(q, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tmp := filepath.Join(q, "tmp", "c")
	testenv.WriteFile(t, tmp, ctl, 0o644)
	st, err := os.Stat(tmp)
	if err != nil {
		t.Fatal(err)
	}
	ino := st.Sys().(*syscall.Stat_t).Ino
	n := strconv.FormatUint(ino%100, 10)
	inoS := strconv.FormatUint(ino, 10)
	cpath := filepath.Join(q, "msgs", n, "C"+inoS)
	dpath := filepath.Join(q, "msgs", n, "D"+inoS)
	if err := os.MkdirAll(filepath.Dir(cpath), 0o755); err != nil {
		t.Fatal(err)
	}
	// The original opens a control file only with its msgq/ link in place.
	if err := os.Rename(tmp, cpath); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(cpath, filepath.Join(q, "msgq", "1", "C"+inoS+".1")); err != nil {
		t.Fatal(err)
	}
	testenv.WriteFile(t, dpath, data, 0o644)
	if err := os.Chtimes(dpath, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	err = filepath.Walk(q, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(courier.UID), int(courier.GID))
	})
	if err != nil {
		t.Fatal(err)
	}
	args := inoS
	if k == Delay {
		args += " 1"
	}
	script := "mount --bind " + q + " /var/lib/courier && mount --bind " + cfg + " /etc/courier && cd /var/lib/courier && exec " + realDSN + " " + args
	cmd := exec.Command("unshare", "-m", "sh", "-c", script)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin:/usr/sbin:/sbin", "COURIER_HOME=/var/lib/courier"}, environ...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("real courierdsn: %v: %s", err, stderr.String())
	}
	if stdout.Len() == 0 {
		t.Fatalf("real courierdsn printed nothing (stderr %q)", stderr.String())
	}
	return stdout.Bytes()
}

// comparable removes from a report what legitimately differs between ours
// and the original's test mode: the MIME preamble (our own wording), the
// Message-ID: and Date: that we add (the original's submit adds them), and the
// To: value (the test mode addresses "sender").
func comparable(msg []byte) string {
	s := string(msg)
	head, body, _ := strings.Cut(s, "\n\n")
	var keep []string
	for _, l := range strings.Split(head, "\n") {
		switch {
		case strings.HasPrefix(l, "Message-ID: "), strings.HasPrefix(l, "Date: "):
		case strings.HasPrefix(l, "To: "):
			keep = append(keep, "To: sender")
		default:
			keep = append(keep, l)
		}
	}
	if i := strings.Index(body, "\n--=_courier_"); i >= 0 {
		body = "[preamble]" + body[i:]
	}
	return strings.Join(keep, "\n") + "\n\n" + body
}

// firstDifference describes the first line where got and want differ.
func firstDifference(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if i >= len(g) || i >= len(w) || gl != wl {
			return fmt.Sprintf("line %d: ours %q, original %q", i+1, gl, wl)
		}
	}
	return "no difference"
}

// parseCtl parses a control file without failing the test (for fuzzing).
func parseCtl(s string) (*queue.Control, error) {
	return queue.ParseControl("C-fuzz", []byte(s))
}
