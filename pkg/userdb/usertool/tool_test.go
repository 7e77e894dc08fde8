package usertool

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gocourier/courier/pkg/dbfile"
	"github.com/gocourier/courier/pkg/passwd"
	"github.com/gocourier/courier/pkg/userdb"
	"github.com/gocourier/courier/test/testenv"
)

// result is what one run of a program did.
type result struct {
	stdout, stderr string
	code           int
}

func run(t *testing.T, stdin string, prog string, args ...string) result {
	t.Helper()
	cmd := exec.Command(prog, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var r result
	r.stdout, r.stderr, r.code = testenv.Run(t, cmd)
	return r
}

const realDir = "/usr/sbin/"

func needReal(t *testing.T) {
	testenv.NeedPackage(t, "courier-authlib-userdb", realDir+"userdb", realDir+"userdbpw", realDir+"makeuserdb", realDir+"pw2userdb")
}

// sameOutcome compares runs of ours and the original: same output, and
// exit status 0 for both or non-zero for both (the original's non-zero
// codes are leftover errno values).
func sameOutcome(t *testing.T, what string, ours, real result) {
	t.Helper()
	if ours.stdout != real.stdout || ours.stderr != real.stderr || (ours.code == 0) != (real.code == 0) {
		t.Errorf("%s:\nours %q %q exit %d\nreal %q %q exit %d", what, ours.stdout, ours.stderr, ours.code, real.stdout, real.stderr, real.code)
	}
	if ours.code != 0 && ours.code != 1 {
		t.Errorf("%s: exit code %d, want 1", what, ours.code)
	}
}

func TestUserdbpw(t *testing.T) {
	s := testenv.NewSandbox(t, "userdbpw")
	prog := s.Path("userdbpw")
	for opt, prefix := range map[string]string{"": "$6$", "-md5": "$1$", "-sha256": "$5$", "-sha512": "$6$", "-bcrypt": "$2b$10$", "-des": ""} {
		var args []string
		if opt != "" {
			args = []string{opt}
		}
		r := run(t, "s3cret\nignored\n", prog, args...)
		h := strings.TrimSuffix(r.stdout, "\n")
		if r.code != 0 || r.stderr != "" || !strings.HasPrefix(h, prefix) || !passwd.Check(h, "s3cret") {
			t.Errorf("userdbpw %s: %+v", opt, r)
		}
	}
	if r := run(t, "", prog, "--help"); r.code != 0 || !strings.HasPrefix(r.stdout, "Usage: userdbpw") {
		t.Errorf("--help: %+v", r)
	}
}

func TestUserdbpwAgainstReal(t *testing.T) {
	needReal(t)
	s := testenv.NewSandbox(t, "userdbpw")
	prog := s.Path("userdbpw")
	for _, c := range []struct {
		stdin string
		args  []string
	}{
		{"secret\n", []string{"-hmac-md5"}},
		{"secret", []string{"-hmac-sha1"}},
		{"a much longer password that exceeds the sixty-four byte hmac block size\n", []string{"-hmac-sha256"}},
		{"\n", []string{"-hmac-md5"}},
		{"", []string{}},
		{"", []string{"-md5"}},
		{"x\n", []string{"-x"}},
		{"x\n", []string{"-md5", "-hmac-md5"}},
		{"x\n", []string{"-hmac-sha1", "-bogus"}},
		{"x\n", []string{"-md5", "extra"}},
	} {
		ours, real := run(t, c.stdin, prog, c.args...), run(t, c.stdin, realDir+"userdbpw", c.args...)
		ours.stderr = strings.ReplaceAll(ours.stderr, prog, "PROG")
		real.stderr = strings.ReplaceAll(real.stderr, realDir+"userdbpw", "PROG")
		sameOutcome(t, fmt.Sprintf("userdbpw %v < %q", c.args, c.stdin), ours, real)
	}
}

// pty opens a pseudo-terminal pair.
func pty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	sl, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); sl.Close() })
	return m, sl
}

// waitFor waits until the output holds n copies of s.
func waitFor(t *testing.T, b *testenv.SyncBuffer, s string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(b.String(), s) < n {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %q in %q", s, b.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// interactive runs prog with a terminal as stdin, answering each prompt
// (seen on the prompt stream) with the next line.
func interactive(t *testing.T, prog string, args []string, promptOnStdout bool, prompts []string, lines []string) (stdout, stderr string) {
	t.Helper()
	master, slave := pty(t)
	go func() {
		buf := make([]byte, 1024)
		for {
			if _, err := master.Read(buf); err != nil {
				return
			}
		}
	}()
	cmd := exec.Command(prog, args...)
	var out, errb testenv.SyncBuffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	promptBuf := &errb
	if promptOnStdout {
		promptBuf = &out
	}
	seen := map[string]int{}
	for i, line := range lines {
		seen[prompts[i]]++
		waitFor(t, promptBuf, prompts[i], seen[prompts[i]])
		master.Write([]byte(line + "\n"))
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("%s did not finish; stderr %q", prog, errb.String())
	}
	return out.String(), errb.String()
}

// TestUserdbpwTerminal: on a terminal, the prompts, the mismatch message
// and the retry are the original's, byte for byte.
func TestUserdbpwTerminal(t *testing.T) {
	s := testenv.NewSandbox(t, "userdbpw")
	prompts := []string{"Password: ", "Reenter password: ", "Password: ", "Reenter password: "}
	lines := []string{"abc", "abd", "t3rm", "t3rm"}
	out, errOut := interactive(t, s.Path("userdbpw"), []string{"-md5"}, false, prompts, lines)
	want := "Password: \nReenter password: \nPasswords don't match.\n\nPassword: \nReenter password: \n"
	if errOut != want || !passwd.Check(strings.TrimSpace(out), "t3rm") {
		t.Errorf("stderr %q (want %q), stdout %q", errOut, want, out)
	}
	if _, err := os.Stat(realDir + "userdbpw"); err == nil {
		_, realErr := interactive(t, realDir+"userdbpw", []string{"-md5"}, false, prompts, lines)
		if realErr != errOut {
			t.Errorf("terminal dialogue differs:\nours %q\nreal %q", errOut, realErr)
		}
	}
}

// fieldSet reads a userdb text file as name → sorted fields, since the
// original writes fields in Perl hash order.
func fieldSet(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		return map[string]string{"<missing>": err.Error()}
	}
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		name, rest, _ := strings.Cut(l, "\t")
		f := strings.Split(rest, "|")
		slices.Sort(f)
		m[name] = strings.Join(f, "|")
	}
	return m
}

// TestUserdbAgainstReal runs the same userdb commands with ours and the
// original on two copies of a file and compares output, status and the
// resulting files.
func TestUserdbAgainstReal(t *testing.T) {
	needReal(t)
	s := testenv.NewSandbox(t, "userdb")
	dir := t.TempDir()
	oursFile, realFile := filepath.Join(dir, "ours"), filepath.Join(dir, "real")
	steps := []struct {
		stdin string
		args  []string
	}{
		{"", []string{"alice", "set", "uid=1", "gid=2", "home=/h", "options=a=1,b=2"}},
		{"pw\n", []string{"alice", "set", "systempw", "mail=/m"}},
		{"", []string{"bob", "set", "uid=3", "gid=3", "home=/b"}},
		{"", []string{"alice", "set", "home=/new"}},
		{"", []string{"alice", "unset", "gid", "nosuch"}},
		{"", []string{"alice", "unset"}},
		{"", []string{"bob", "del"}},
		{"", []string{"bob", "del"}},
		{"", []string{"carol", "unset", "x"}},
		{"", []string{"alice", "set", "x=a|b"}},
		{"", []string{"alice", "set", "x=a\nb"}},
		{"a|b\n", []string{"alice", "set", "y"}},
		{"", []string{"alice", "set", "z"}},
		{"", []string{"alice", "del", "extra"}},
		{"", []string{"alice", "frob"}},
		{"", []string{"alice"}},
	}
	for _, st := range steps {
		ours := run(t, st.stdin, s.Path("userdb"), append([]string{"-f", oursFile}, st.args...)...)
		real := run(t, st.stdin, realDir+"userdb", append([]string{"-f", realFile}, st.args...)...)
		ours.stdout = strings.ReplaceAll(ours.stdout, s.Path("userdb"), "PROG")
		real.stdout = strings.ReplaceAll(real.stdout, realDir+"userdb", "PROG")
		sameOutcome(t, fmt.Sprintf("userdb %v", st.args), ours, real)
		if o, r := fieldSet(t, oursFile), fieldSet(t, realFile); !maps.Equal(o, r) {
			t.Fatalf("after userdb %v:\nours %q\nreal %q", st.args, o, r)
		}
	}
	for _, args := range [][]string{{"-show", "-f"}, {"-show", "-f", "", "alice"}, {"-show", "-f", "FILE"}, {"-show", "-f", "FILE", "nobody"}} {
		oa, ra := slices.Clone(args), slices.Clone(args)
		for i := range oa {
			if oa[i] == "FILE" {
				oa[i], ra[i] = oursFile, realFile
			}
		}
		ours, real := run(t, "", s.Path("userdb"), oa...), run(t, "", realDir+"userdb", ra...)
		ours.stdout = strings.ReplaceAll(ours.stdout, s.Path("userdb"), "PROG")
		real.stdout = strings.ReplaceAll(real.stdout, realDir+"userdb", "PROG")
		sameOutcome(t, fmt.Sprintf("userdb %v", args), ours, real)
	}
	// -show of one record: the same fields, in the file's order.
	ours := run(t, "", s.Path("userdb"), "-show", "-f", oursFile, "alice")
	real := run(t, "", realDir+"userdb", "-show", "-f", realFile, "alice")
	o, r := strings.Fields(ours.stdout), strings.Fields(real.stdout)
	slices.Sort(o)
	slices.Sort(r)
	if !slices.Equal(o, r) || ours.code != 0 {
		t.Errorf("-show alice: ours %q real %q", ours.stdout, real.stdout)
	}
	for _, f := range []string{oursFile, realFile} {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", f, fi, err)
		}
	}
}

// TestUserdbDefaultSource: without -f, "path/name" edits a file of the
// sandbox's etc/userdb directory; the help text names that directory.
func TestUserdbDefaultSource(t *testing.T) {
	s := testenv.NewSandbox(t, "userdb", "makeuserdb")
	src := s.Layout.Config("userdb")
	if err := os.Mkdir(src, 0o700); err != nil {
		t.Fatal(err)
	}
	if r := run(t, "", s.Path("userdb"), "users/alice@example.com", "set", "uid=1000", "gid=1000", "home=/home/alice"); r.code != 0 {
		t.Fatalf("%+v", r)
	}
	if r := run(t, "s3cret\n", s.Path("userdb"), "users/alice@example.com", "set", "systempw"); r.code != 0 {
		t.Fatalf("%+v", r)
	}
	data, err := os.ReadFile(filepath.Join(src, "users"))
	if err != nil || string(data) != "alice@example.com\tuid=1000|gid=1000|home=/home/alice|systempw=s3cret\n" {
		t.Errorf("users file %q %v", data, err)
	}
	if r := run(t, "", s.Path("userdb"), "-show", "users/"); r.stdout != "alice@example.com\n" {
		t.Errorf("-show users/: %+v", r)
	}
	if r := run(t, "", s.Path("userdb"), "-show", "users/alice@example.com"); r.stdout != "uid=1000\ngid=1000\nhome=/home/alice\nsystempw=s3cret\n" {
		t.Errorf("-show users/alice: %+v", r)
	}
	if r := run(t, "", s.Path("userdb"), "--help"); r.code != 0 || !strings.Contains(r.stdout, src) {
		t.Errorf("--help: %+v", r)
	}
	if r := run(t, "", s.Path("makeuserdb"), "-v"); r.code != 0 || r.stdout != "makeuserdb: 1 accounts, 0 uid records, 1 with passwords, from 1 file(s)\n" {
		t.Errorf("makeuserdb: %+v", r)
	}
	db, err := userdb.OpenDB(s.Layout.Config("userdb.dat"), s.Layout.Config("userdbshadow.dat"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a, ok, err := db.Lookup("alice@example.com")
	if err != nil || !ok || a.Location != "users/" {
		t.Errorf("Lookup after makeuserdb: %+v %v %v", a, ok, err)
	}
}

// TestUserdbTerminal: set reads a field without "=value" from the terminal
// after the prompt "name.field: " on stdout.
func TestUserdbTerminal(t *testing.T) {
	s := testenv.NewSandbox(t, "userdb")
	file := filepath.Join(t.TempDir(), "u")
	out, _ := interactive(t, s.Path("userdb"), []string{"-f", file, "bob", "set", "uid=5", "shell"}, true, []string{"bob.shell: "}, []string{"/bin/sh"})
	if out != "bob.shell: " {
		t.Errorf("prompt %q", out)
	}
	if got, _ := os.ReadFile(file); string(got) != "bob\tuid=5|shell=/bin/sh\n" {
		t.Errorf("file %q", got)
	}
}

func TestMakeuserdb(t *testing.T) {
	s := testenv.NewSandbox(t, "makeuserdb")
	prog := s.Path("makeuserdb")
	src := s.Layout.Config("userdb")
	if r := run(t, "", prog); r.code != 1 || r.stderr != src+": not found.\n" {
		t.Errorf("missing source: %+v", r)
	}
	var text strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&text, "user%d@example.com\tuid=%d|gid=100|home=/home/u%d|systempw={SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n%d=\tuser%d@example.com\n", i, 20000+i, i, 20000+i, i)
	}
	testenv.WriteFile(t, src, text.String(), 0o600)
	r := run(t, "", prog, "-v")
	if r.code != 0 || r.stdout != "makeuserdb: 10000 accounts, 10000 uid records, 10000 with passwords, from 1 file(s)\n" {
		t.Errorf("10000 accounts: %+v", r)
	}
	for name, mode := range map[string]os.FileMode{"userdb.dat": 0o644, "userdbshadow.dat": 0o600, "userdb.lock": 0o644} {
		fi, err := os.Stat(s.Layout.Config(name))
		if err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v %v", name, fi, err)
		}
	}
	if r := run(t, "", prog); r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Errorf("quiet run: %+v", r)
	}
	// A bad record: reported as file:line, nothing rewritten.
	before, _ := os.ReadFile(s.Layout.Config("userdb.dat"))
	testenv.WriteFile(t, src, text.String()+"user5@example.com\tuid=1|gid=1|home=/x\nno tab here\n", 0o600)
	r = run(t, "", prog)
	want := fmt.Sprintf("%s:20001: duplicate account user5@example.com (first at line 11)\n%s:20002: no TAB after the account name \"no tab here\" (a record is name<TAB>field=value|...)\n", src, src)
	if r.code != 1 || r.stderr != want {
		t.Errorf("bad records: %+v\nwant stderr %q", r, want)
	}
	if after, _ := os.ReadFile(s.Layout.Config("userdb.dat")); !bytes.Equal(before, after) {
		t.Error("userdb.dat rewritten despite bad records")
	}
	if r := run(t, "", prog, "--help"); r.code != 0 || !strings.Contains(r.stdout, src) {
		t.Errorf("--help: %+v", r)
	}
	if r := run(t, "", prog, "-x"); r.code != 1 || !strings.Contains(r.stderr, "Usage: makeuserdb") {
		t.Errorf("-x: %+v", r)
	}
	db, err := dbfile.Open(s.Layout.Config("userdb.dat"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, ok, _ := db.Get("20005="); !ok || v != "user5@example.com|_=" {
		t.Errorf("reverse record %q", v)
	}
}

// TestMakeuserdbAgainstReal: the refusals print the original's messages.
func TestMakeuserdbAgainstReal(t *testing.T) {
	needReal(t)
	s := testenv.NewSandbox(t, "makeuserdb")
	dir := t.TempDir()
	f := filepath.Join(dir, "userdb")
	compare := func(what string) {
		t.Helper()
		sameOutcome(t, what, run(t, "", s.Path("makeuserdb"), "-f", f), run(t, "", realDir+"makeuserdb", "-f", f))
	}
	compare("missing source")
	testenv.WriteFile(t, f, "alice\tuid=1|gid=1|home=/a\n", 0o604)
	compare("world-readable source")
	os.Chmod(f, 0o600)
	for _, link := range []string{f + ".dat", f + "shadow.dat"} {
		os.Symlink("/nonexistent", link)
		compare("symlinked " + link)
		os.Remove(link)
	}
	compare("good source")
	os.Remove(f + ".dat")
	os.Remove(f + "shadow.dat")
	os.Rename(f, f+".real")
	os.Symlink(f+".real", f)
	compare("symlinked source")
}

func TestPw2userdb(t *testing.T) {
	s := testenv.NewSandbox(t, "pw2userdb")
	prog := s.Path("pw2userdb")
	dir := t.TempDir()
	p, sh := filepath.Join(dir, "passwd"), filepath.Join(dir, "shadow")
	testenv.WriteFile(t, p, "alice:x:1000:1000:Alice,,,:/home/alice:/bin/bash\n", 0o644)
	testenv.WriteFile(t, sh, "alice:$6$salt$hash:19000:0:99999:7:::\n", 0o600)
	for _, args := range [][]string{{"--passwd=" + p, "--shadow=" + sh}, {"-passwd", p, "-shad=" + sh}, {"--pass", p, "--shadow", sh, "ignored"}} {
		r := run(t, "", prog, args...)
		if r.code != 0 || r.stdout != "alice\tuid=1000|gid=1000|home=/home/alice|shell=/bin/bash|systempw=$6$salt$hash|gecos=Alice,,,\n1000=\talice\n" {
			t.Errorf("pw2userdb %v: %+v", args, r)
		}
	}
	r := run(t, "", prog, "--passwd="+p, "--shadow="+sh, "--nouid", "--noshadow", "--domain=example.com")
	if r.code != 0 || r.stdout != "alice@example.com\tuid=1000|gid=1000|home=/home/alice|shell=/bin/bash|gecos=Alice,,,\n" {
		t.Errorf("all options: %+v", r)
	}
	if r := run(t, "", prog, "--help"); r.code != 0 || !strings.HasPrefix(r.stdout, "Usage: pw2userdb") {
		t.Errorf("--help: %+v", r)
	}
	if _, err := os.Stat(realDir + "pw2userdb"); err == nil {
		for _, args := range [][]string{{"--bogus"}, {"--passwd"}, {"--nouid=1"}} {
			sameOutcome(t, fmt.Sprintf("pw2userdb %v", args), run(t, "", prog, args...), run(t, "", realDir+"pw2userdb", args...))
		}
	}
}
