package privsep

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gocourier/courier/test/testenv"
)

func TestParseID(t *testing.T) {
	good := map[string]uint32{"0": 0, "105": 105, "4294967294": 4294967294, "007": 7}
	for s, want := range good {
		if got, ok := ParseID(s); !ok || got != want {
			t.Errorf("ParseID(%q) = %d, %v; want %d", s, got, ok, want)
		}
	}
	for _, s := range []string{"", "-1", "+1", " 1", "1 ", "4294967295", "4294967296", "99999999999", "0x10", "1a"} {
		if got, ok := ParseID(s); ok {
			t.Errorf("ParseID(%q) = %d, accepted", s, got)
		}
	}
}

func TestParseLines(t *testing.T) {
	u, err := ParsePasswdLine("courier:x:105:107:Courier mailer:/var/lib/courier:/usr/sbin/nologin")
	if err != nil {
		t.Fatal(err)
	}
	if u != (User{Name: "courier", UID: 105, GID: 107, Home: "/var/lib/courier", Shell: "/usr/sbin/nologin"}) {
		t.Errorf("got %+v", u)
	}
	for line, want := range map[string]string{
		"courier:x:105:107::/var/lib/courier":          "has 6 colon-separated fields, want 7",
		":x:1:1:::":                                    "empty user name",
		"a:x:one:1:::":                                 `user "a": uid "one" is not a decimal number`,
		"a:x:1:-1:::":                                  `user "a": gid "-1" is not a decimal number`,
		"a:x:1:1:::/bin/sh:extra":                      "has 8 colon-separated fields",
		"a:x:4294967295:1:::":                          `uid "4294967295"`,
		"courier:x:105:107::/var/lib/courier:/bin/sh:": "has 8",
	} {
		if _, err := ParsePasswdLine(line); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParsePasswdLine(%q) error %v, want %q", line, err, want)
		}
	}
	g, err := ParseGroupLine("mail:x:8:courier, daemon,,")
	if err != nil {
		t.Fatal(err)
	}
	if g.Name != "mail" || g.GID != 8 || !slices.Equal(g.Members, []string{"courier", "daemon"}) {
		t.Errorf("got %+v", g)
	}
	for line, want := range map[string]string{
		"mail:x:8":       "has 3 colon-separated fields, want 4",
		":x:8:":          "empty group name",
		"mail:x:eight:a": `group "mail": gid "eight"`,
	} {
		if _, err := ParseGroupLine(line); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseGroupLine(%q) error %v, want %q", line, err, want)
		}
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "accounts")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLookupInFiles(t *testing.T) {
	passwd := writeFile(t, "# comment\n\nroot:x:0:0:root:/root:/bin/bash\n"+
		"broken line\n"+
		"+nisuser::::::\n"+
		"courier:x:105:107:Courier:/var/lib/courier:/usr/sbin/nologin\r\n"+
		"bad:x:1x:2:::\n"+
		"bad2:x:77:zz:::\n")
	u, err := lookupUser(passwd, "courier")
	if err != nil || u.UID != 105 || u.GID != 107 || u.Shell != "/usr/sbin/nologin" {
		t.Fatalf("courier: %+v %v", u, err)
	}
	if u, err := lookupUser(passwd, "105"); err != nil || u.Name != "courier" {
		t.Fatalf("105: %+v %v", u, err)
	}
	if _, err := lookupUser(passwd, "nobody"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `user "nobody" has no entry in `+passwd) {
		t.Errorf("nobody: %v", err)
	}
	if _, err := lookupUser(passwd, "4242"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "uid 4242 has no entry") {
		t.Errorf("4242: %v", err)
	}
	// The asked-for entry is broken: file:line and the reason.
	if _, err := lookupUser(passwd, "bad"); err == nil || !strings.Contains(err.Error(), passwd+`:7: user "bad": uid "1x"`) {
		t.Errorf("bad: %v", err)
	}
	if _, err := lookupUser(passwd, "77"); err == nil || !strings.Contains(err.Error(), passwd+`:8: user "bad2": gid "zz"`) {
		t.Errorf("uid 77 with a broken gid: %v", err)
	}
	if _, err := lookupUser(passwd, ""); err == nil {
		t.Error("empty name accepted")
	}

	group := writeFile(t, "root:x:0:\ncourier:x:107:\nmail:x:8:courier,daemon\nbroken\nshadow:x:42:daemon\ncrontab:x:101:courier\nmail2:x:8:courier\nevil:x:zz:courier\n")
	if g, err := lookupGroup(group, "mail"); err != nil || g != 8 {
		t.Errorf("mail: %d %v", g, err)
	}
	if g, err := lookupGroup(group, "31337"); err != nil || g != 31337 {
		t.Errorf("numeric: %d %v", g, err)
	}
	if _, err := lookupGroup(group, "nogroup"); !errors.Is(err, ErrNotFound) {
		t.Errorf("nogroup: %v", err)
	}
	if _, err := lookupGroup(group, "evil"); err == nil || !strings.Contains(err.Error(), group+":8:") {
		t.Errorf("evil: %v", err)
	}
	// A broken line listing the user makes the list unreliable: error.
	if _, err := userGroups(group, "courier", 107); err == nil || !strings.Contains(err.Error(), group+`:8: group "evil"`) {
		t.Errorf("courier groups with a broken line: %v", err)
	}
	group = writeFile(t, "courier:x:107:\nmail:x:8:courier,daemon\nbroken\nshadow:x:42:daemon\ncrontab:x:101:courier\nmail2:x:8:courier\n")
	groups, err := userGroups(group, "courier", 107)
	if err != nil || !slices.Equal(groups, []uint32{107, 8, 101}) {
		t.Errorf("courier groups: %v %v", groups, err)
	}
	groups, err = userGroups(group, "daemon", 1)
	if err != nil || !slices.Equal(groups, []uint32{1, 8, 42}) {
		t.Errorf("daemon groups: %v %v", groups, err)
	}
	if _, err := userGroups(filepath.Join(t.TempDir(), "missing"), "x", 1); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestLookupSystem(t *testing.T) {
	u, err := LookupUser("root")
	if err != nil || u.UID != 0 || u.GID != 0 || u.Home == "" || u.Shell == "" {
		t.Fatalf("root: %+v %v", u, err)
	}
	if u2, err := LookupUser("0"); err != nil || u2 != u {
		t.Errorf("uid 0: %+v %v", u2, err)
	}
	if g, err := LookupGroup("root"); err != nil || g != 0 {
		t.Errorf("group root: %d %v", g, err)
	}
	if _, err := LookupUser("no-such-user-cgtest"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown user: %v", err)
	}
	c, err := CredentialFor(u)
	if err != nil || c.UID != 0 || c.GID != 0 || len(c.Groups) == 0 || c.Groups[0] != 0 {
		t.Errorf("CredentialFor(root) = %+v, %v", c, err)
	}
}

func TestRequireMailboxOwner(t *testing.T) {
	if err := RequireMailboxOwner(0, 100); err == nil || !strings.Contains(err.Error(), "uid 0 (root)") {
		t.Errorf("uid 0: %v", err)
	}
	if err := RequireMailboxOwner(0, 0); err == nil {
		t.Error("uid 0 with minimum 0 accepted")
	}
	if err := RequireMailboxOwner(99, 100); err == nil || !strings.Contains(err.Error(), "uid 99: it is below the minimum mailbox uid 100") {
		t.Errorf("uid 99: %v", err)
	}
	for _, uid := range []uint32{100, 1000, 65534} {
		if err := RequireMailboxOwner(uid, 100); err != nil {
			t.Errorf("uid %d: %v", uid, err)
		}
	}
}

func TestParseStatus(t *testing.T) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseStatus(data)
	if err != nil {
		t.Fatal(err)
	}
	if s.TID != os.Getpid() || s.UID[0] != uint32(os.Getuid()) || s.GID[1] != uint32(os.Getegid()) {
		t.Errorf("status of self: %+v", s)
	}
	base := "Name:\tx\nPid:\t7\nUid:\t1\t2\t3\t4\nGid:\t5\t6\t7\t8\nGroups:\t9 10 \nNoNewPrivs:\t1\nCapPrm:\t00000000000000ff\nCapEff:\t0000000000000001\n"
	s, err = ParseStatus([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	want := TaskStatus{TID: 7, UID: [4]uint32{1, 2, 3, 4}, GID: [4]uint32{5, 6, 7, 8}, Groups: []uint32{9, 10}, NoNewPrivs: true, CapPrm: 0xff, CapEff: 1}
	if s.TID != want.TID || s.UID != want.UID || s.GID != want.GID || !slices.Equal(s.Groups, want.Groups) || !s.NoNewPrivs || s.CapPrm != 0xff || s.CapEff != 1 {
		t.Errorf("got %+v", s)
	}
	for _, c := range []struct{ old, new, want string }{
		{"Uid:\t1\t2\t3\t4\n", "Uid:\t1\t2\t3\n", "Uid"},
		{"Uid:\t1\t2\t3\t4\n", "", "no Uid line"},
		{"Groups:\t9 10 \n", "Groups:\tx\n", "Groups"},
		{"NoNewPrivs:\t1\n", "NoNewPrivs:\t2\n", "want 0 or 1"},
		{"CapEff:\t0000000000000001\n", "CapEff:\tzz\n", "CapEff"},
		{"Name:\tx\n", "garbage\n", "line 1: no colon"},
		{"Pid:\t7\n", "Pid:\t7\nPid:\t8\n", "Pid appears twice"},
		{"Pid:\t7\n", "Pid:\t-7\n", "Pid"},
	} {
		in := strings.Replace(base, c.old, c.new, 1)
		if _, err := ParseStatus([]byte(in)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", in, err, c.want)
		}
	}
}

func TestCheck(t *testing.T) {
	s := TaskStatus{TID: 9, UID: [4]uint32{5, 5, 5, 5}, GID: [4]uint32{6, 6, 6, 6}, Groups: []uint32{8, 7}}
	if err := s.Check(Credential{UID: 5, GID: 6, Groups: []uint32{7, 8}}); err != nil {
		t.Error(err)
	}
	s.UID[2] = 0
	s.CapEff = 1
	err := s.Check(Credential{UID: 5, GID: 6, Groups: []uint32{7}})
	if err == nil || !strings.Contains(err.Error(), "thread 9 has Uid 5 5 0 5 (want 5") ||
		!strings.Contains(err.Error(), "Groups [8 7] (want [7])") || !strings.Contains(err.Error(), "capabilities left") {
		t.Errorf("got %v", err)
	}
}

func TestChildExtraFilesArgsEnv(t *testing.T) {
	bin := helperBinary(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	c := helperChild(t, bin, "fd3")
	c.ExtraFiles = []*os.File{r}
	c.Stdout = &out
	cmd, err := c.Start()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	w.WriteString("through the pipe")
	w.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if got := out.String(); got != "fd3=\"through the pipe\"\n" {
		t.Errorf("child read %q", got)
	}

	out.Reset()
	dir := t.TempDir()
	c = helperChild(t, bin, "args", "PRIVSEP_X=yes")
	c.Argv0, c.Args, c.Dir, c.Stdout, c.Setpgid = "custom-name", []string{"a", "b c"}, dir, &out, true
	cmd, err = c.Start()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	want := "argv0=custom-name args=a,b c env=yes wd=" + dir + " pgid=" + strconv.Itoa(cmd.Process.Pid) + "\n"
	if out.String() != want {
		t.Errorf("got  %q\nwant %q", out.String(), want)
	}

	if _, err := (&Child{Path: "no-such-program-cgtest"}).Start(); err == nil || !strings.Contains(err.Error(), "no-such-program-cgtest") {
		t.Errorf("missing program: %v", err)
	}
}

func TestChildNoNewPrivs(t *testing.T) {
	bin := helperBinary(t)
	for i := 0; i < 5; i++ {
		c := helperChild(t, bin, "threads")
		c.NoNewPrivs = true
		cmd, stop := startThreadsHelper(t, c)
		tasks, err := ReadTasks(cmd.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		if len(tasks) < 5 {
			t.Errorf("helper has only %d threads", len(tasks))
		}
		for _, task := range tasks {
			if !task.NoNewPrivs {
				t.Errorf("thread %d of the child has NoNewPrivs 0", task.TID)
			}
		}
		stop.Close()
	}
	// Without the flag the child does not have it: this test process
	// never had it, and the thread that set it must be gone.
	cmd, stop := startThreadsHelper(t, helperChild(t, bin, "threads"))
	tasks, err := ReadTasks(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		if task.NoNewPrivs {
			t.Errorf("thread %d of a child started without NoNewPrivs has it", task.TID)
		}
	}
	stop.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		tasks, err := ReadTasks(0)
		if err != nil {
			t.Fatal(err)
		}
		var tainted []int
		for _, task := range tasks {
			if task.NoNewPrivs {
				tainted = append(tainted, task.TID)
			}
		}
		if len(tainted) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("threads %v of the test process keep no_new_privs after Start returned", tainted)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestChildCredential(t *testing.T) {
	testenv.NeedRoot(t)
	acct := newAccount(t)
	bin := helperBinary(t)
	for _, groups := range [][]uint32{nil, {acct.SuppGID}} {
		cred := Credential{UID: acct.UID, GID: acct.GID, Groups: groups}
		// Through a root parent that has supplementary groups.
		_, line, stop := startHelper(t, helperChild(t, bin, "spawn", dropEnv+"="+formatCred(cred)))
		pid, err := strconv.Atoi(strings.TrimPrefix(line, "pid "))
		if err != nil {
			t.Fatalf("spawn helper said %q", line)
		}
		tasks, err := ReadTasks(pid)
		if err != nil {
			t.Fatal(err)
		}
		if len(tasks) < 5 {
			t.Errorf("helper has only %d threads", len(tasks))
		}
		for _, task := range tasks {
			if task.UID != [4]uint32{acct.UID, acct.UID, acct.UID, acct.UID} {
				t.Errorf("thread %d: Uid %v, want %d x4", task.TID, task.UID, acct.UID)
			}
			if task.GID != [4]uint32{acct.GID, acct.GID, acct.GID, acct.GID} {
				t.Errorf("thread %d: Gid %v, want %d x4", task.TID, task.GID, acct.GID)
			}
			if !slices.Equal(task.Groups, groups) && !(len(groups) == 0 && len(task.Groups) == 0) {
				t.Errorf("thread %d: Groups %v, want %v", task.TID, task.Groups, groups)
			}
			if !task.NoNewPrivs || task.CapEff != 0 || task.CapPrm != 0 {
				t.Errorf("thread %d: NoNewPrivs %v CapPrm %x CapEff %x", task.TID, task.NoNewPrivs, task.CapPrm, task.CapEff)
			}
		}
		if err := VerifyProcess(pid, cred); err != nil {
			t.Error(err)
		}
		if pgid, err := syscall.Getpgid(pid); err != nil || pgid != pid {
			t.Errorf("child's process group %d, want its own %d (%v)", pgid, pid, err)
		}
		// The verifier notices a wrong expectation.
		if err := VerifyProcess(pid, Credential{UID: acct.UID, GID: acct.GID, Groups: []uint32{0}}); err == nil {
			t.Error("VerifyProcess accepted wrong groups")
		}
		stop.Close()
	}
}

func TestDropInHelper(t *testing.T) {
	testenv.NeedRoot(t)
	acct := newAccount(t)
	bin := helperBinary(t)
	for _, groups := range [][]uint32{{}, {acct.GID, acct.SuppGID}} {
		cred := Credential{UID: acct.UID, GID: acct.GID, Groups: groups}
		cmd := exec.Command(bin)
		cmd.Env = append(helperEnviron(), helperEnv+"=drop", dropEnv+"="+formatCred(cred))
		cmd.Dir = "/"
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("helper: %v: %s", err, out)
		}
		var tasks []TaskStatus
		if err := json.Unmarshal(out, &tasks); err != nil {
			t.Fatalf("helper output %q: %v", out, err)
		}
		if len(tasks) < 7 {
			t.Errorf("helper reported %d threads, want at least 7", len(tasks))
		}
		for _, task := range tasks {
			if err := task.Check(cred); err != nil {
				t.Error(err)
			}
			if task.UID[3] != acct.UID || task.GID[3] != acct.GID {
				t.Errorf("thread %d: filesystem ids %d/%d", task.TID, task.UID[3], task.GID[3])
			}
		}
	}
}

func TestSandbox(t *testing.T) {
	bin := helperBinary(t)
	env := []string{helperEnv + "=sandbox"}
	if IsRoot() {
		acct := newAccount(t)
		env = append(env, dropEnv+"="+formatCred(Credential{UID: acct.UID, GID: acct.GID, Groups: []uint32{}}))
	}
	cmd := exec.Command(bin)
	cmd.Env = append(helperEnviron(), env...)
	cmd.Dir = "/"
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper: %v\nstdout: %s\nstderr: %s", err, out, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 4 {
		t.Fatalf("helper output %q", out)
	}
	if !strings.Contains(lines[0], "droperr=cannot switch to uid") || !strings.Contains(lines[0], "not root") {
		t.Errorf("Drop error: %q", lines[0])
	}
	self := strings.TrimPrefix(lines[3], "self=")
	for _, l := range lines[1:3] {
		if l != "child="+self {
			t.Errorf("child ran as %q, want the helper's own %q", l, self)
		}
	}
	if n := strings.Count(stderr.String(), "sandbox mode"); n != 1 {
		t.Errorf("sandbox note logged %d times, want once:\n%s", n, stderr.String())
	}
}

// BenchmarkChildStart measures starting (and reaping) a short program,
// plain and with NoNewPrivs (which costs a thread per start).
func BenchmarkChildStart(b *testing.B) {
	for _, nnp := range []bool{false, true} {
		name := "plain"
		if nnp {
			name = "nonewprivs"
		}
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				cmd, err := (&Child{Path: "/bin/true", NoNewPrivs: nnp}).Start()
				if err != nil {
					b.Fatal(err)
				}
				cmd.Wait()
			}
		})
	}
}
