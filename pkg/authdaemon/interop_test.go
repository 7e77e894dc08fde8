package authdaemon_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gocourier/courier/pkg/authlib"
	"github.com/gocourier/courier/pkg/proc"
	"github.com/gocourier/courier/test/testenv"
)

// The real courier-authlib's programs and the path its client library and
// daemon have compiled in.
const (
	realDaemonBin = "/usr/lib/courier/courier-authlib/authdaemond"
	realSockDir   = "/run/courier/authdaemon"
	realEtc       = "/etc/courier"
)

// needReal skips unless the real authdaemond, its tools and a way to give
// them a private /run/courier/authdaemon and /etc/courier are here. The
// real programs only know their compiled-in paths, so each runs in its own
// mount namespace with temporary directories bound over those paths: the
// machine's own Courier is never touched.
func needReal(t *testing.T) {
	t.Helper()
	testenv.NeedPackage(t, "courier-authdaemon", realDaemonBin, "/usr/sbin/authtest", "/usr/sbin/authenumerate")
	testenv.NeedPackage(t, "courier-authlib-userdb", "/usr/sbin/makeuserdb", "/usr/sbin/userdb", "/usr/sbin/userdbpw")
	testenv.NeedPackage(t, "util-linux", "unshare")
	testenv.NeedRoot(t)
	for _, d := range []string{realSockDir, realEtc} {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			testenv.Skip(t, d+" is missing: reinstall courier-authdaemon")
		}
	}
}

// inNamespace runs argv with dirs[i] bound over targets[i] in a private
// mount namespace.
func inNamespace(binds [][2]string, argv ...string) *exec.Cmd {
	script := ""
	for _, b := range binds {
		script += "mount --bind '" + b[0] + "' '" + b[1] + "' && "
	}
	script += `exec "$@"`
	return exec.Command("unshare", append([]string{"-m", "--propagation", "private", "sh", "-c", script, "sh"}, argv...)...)
}

// realDaemon is the real authdaemond serving its own copy of /etc/courier.
type realDaemon struct {
	etc, run string
	socket   string
	cmd      *exec.Cmd
	log      *testenv.SyncBuffer
}

// startReal runs the real authdaemond with rc and userdb text compiled by
// the real makeuserdb.
func startReal(t *testing.T, rc, userdbText string) *realDaemon {
	t.Helper()
	dir := t.TempDir()
	r := &realDaemon{etc: filepath.Join(dir, "etc"), run: filepath.Join(dir, "run"), log: &testenv.SyncBuffer{}}
	r.socket = filepath.Join(r.run, "socket")
	os.MkdirAll(r.etc, 0o755)
	os.MkdirAll(r.run, 0o750)
	os.WriteFile(filepath.Join(r.etc, "authdaemonrc"), []byte(rc), 0o640)
	if err := os.WriteFile(filepath.Join(r.etc, "userdb"), []byte(userdbText), 0o600); err != nil {
		t.Fatal(err)
	}
	// Compiled at its compiled-in path: "makeuserdb -f" would record a
	// location that the real daemon's password change cannot use.
	if out, err := inNamespace([][2]string{{r.etc, realEtc}}, "/usr/sbin/makeuserdb").CombinedOutput(); err != nil {
		t.Fatalf("real makeuserdb: %v\n%s", err, out)
	}
	// The original's wrapper: every rc variable exported, then the daemon.
	r.cmd = inNamespace([][2]string{{r.etc, realEtc}, {r.run, realSockDir}},
		"sh", "-c", "set -a; . "+realEtc+"/authdaemonrc; exec "+realDaemonBin)
	r.cmd.Stderr = r.log
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { r.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			r.cmd.Process.Kill()
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for inode(r.socket) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the real authdaemond did not start\n%s", r.log)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return r
}

// realTool runs a real courier-authlib program against the daemon whose
// socket is in sockDir.
func realTool(t *testing.T, sockDir string, argv ...string) (stdout, stderr string, code int) {
	t.Helper()
	return testenv.Run(t, inNamespace([][2]string{{sockDir, realSockDir}}, argv...))
}

const interopRC = "authmodulelist=\"authuserdb authpam\"\ndaemons=5\nDEFAULTOPTIONS=\"disablewebmail=0,disableshared=1\"\n"

// startBoth runs our authdaemond and the real one on the same accounts.
func startBoth(t *testing.T) (*daemon, *realDaemon) {
	t.Helper()
	s := newSandbox(t, interopRC, aliceUserdb, "authpam")
	return start(t, s), startReal(t, interopRC, aliceUserdb)
}

// The same bytes to both daemons get the same bytes back.
func TestInteropRawReplies(t *testing.T) {
	t.Parallel()
	needReal(t)
	ours, real := startBoth(t)
	cram := cramData("alice@example.com", "secret", "<1234.5678@example.com>")
	reqs := []string{
		"PRE . imap alice@example.com\n", "PRE . imap nobody@example.com\n", "PRE authpam imap alice@example.com\n",
		"PRE . imap root\n", "PRE . login nobody\n", "PRE authuserdb imap root\n", "PRE bogusmod imap alice@example.com\n",
		"TCPREMOTEIP=192.0.2.7\nAUTH 36\nimap\nlogin\nalice@example.com\nsecret\n",
		string(authReq("imap", "login", "alice@example.com\nwrong\n")),
		string(authReq("pop3", "login", "alice@example.com\npop3only\n")),
		string(authReq("pop3", "login", "alice@example.com\nsecret\n")),
		string(authReq("imap", "cram-md5", cram)), string(authReq("imap", "cram-sha1", cram)),
		string(authReq("imap", "cram-md5", cramData("alice@example.com", "bad", "<1@x>"))),
		string(authReq("imap", "plain", "x")), "AUTH 6\nimap\n\n", "AUTH 11\nimap\nlogin\n",
		"ENUMERATE\n", "PASSWD imap\talice@example.com\twrong\tx\n", "PASSWD imap\talice@example.com\tsecret\tx\x01\n",
		"BOGUS\n", "PRE . imap\n", "AUTH 0\n", "AUTH abc\n", "PASSWD imap\talice\n", "\x00\x01\xff\n",
		"PRE . imap " + strings.Repeat("a", 9000) + "\n", "AUTH 8192\n" + strings.Repeat("x", 8192),
		"PRE . imap alice@example.com\r\n", "A=B C\nPRE . imap alice@example.com\n",
	}
	for _, req := range reqs {
		got, want := raw(t, ours.socket, []byte(req)), raw(t, real.socket, []byte(req))
		if !bytes.Equal(got, want) {
			t.Errorf("%q:\n ours %q\nreal  %q", clip(req), got, want)
		}
	}
	// A successful change answers OK on both; the hashes differ (salts).
	for _, sock := range []string{ours.socket, real.socket} {
		if got := string(raw(t, sock, []byte("PASSWD imap\talice@example.com\tsecret\tnewsecret\n"))); got != "OK\n" {
			t.Errorf("PASSWD on %s: %q", sock, got)
		}
		if got := string(raw(t, sock, authReq("imap", "cram-md5", cramData("alice@example.com", "newsecret", "<2@x>")))); got != wantCram {
			t.Errorf("CRAM after PASSWD on %s: %q", sock, got)
		}
	}
}

func clip(s string) string {
	if len(s) > 70 {
		return s[:70] + "..."
	}
	return s
}

// The real authtest and authenumerate print the same against our daemon as
// against the real one, and our authtest and authenumerate print what the
// real ones print.
func TestInteropTools(t *testing.T) {
	t.Parallel()
	needReal(t)
	ours, real := startBoth(t)
	ours.s.Install(t, "authtest")
	ours.s.Install(t, "authenumerate")
	runs := [][]string{
		{"authtest", "-s", "imap", "alice@example.com"},
		{"authtest", "-s", "imap", "alice@example.com", "secret"},
		{"authtest", "-simap", "alice@example.com", "wrong"},
		{"authtest", "-s", "pop3", "alice@example.com", "pop3only"},
		{"authtest", "alice@example.com"},
		{"authtest", "-", "alice@example.com"},
		{"authtest", "-s", "imap", "-s", "pop3", "alice@example.com"},
		{"authtest", "root"},
		{"authtest", "nosuchuser"},
		{"authtest"},
		{"authtest", "-x", "alice@example.com"},
		{"authtest", "-s"},
		{"authtest", "--", "alice@example.com"},
		{"authtest", "-s", "imap", "alice@example.com", "wrong", "x"},
		{"authenumerate"},
		{"authenumerate", "-o"},
		{"authenumerate", "-s"},
		{"authenumerate", "-s", "-o"},
		{"authenumerate", "-x"},
		{"authtest", "-s", "imap", "alice@example.com", "secret", "newsecret"},
		{"authtest", "-s", "imap", "alice@example.com", "newsecret"},
	}
	for _, argv := range runs {
		wo, we, wc := realTool(t, real.run, argv...)
		if strings.HasSuffix(wo, "\n") && strings.Contains(wo, "Authentication succeeded") {
			// Both changed the password: the new hashes differ by salt.
			wo = maskHash(wo)
		}
		o, e, c := realTool(t, filepath.Dir(ours.socket), argv...)
		if maskHash(o) != wo || e != we || c != wc {
			t.Errorf("real %q against ours:\n%q %q %d\nagainst the real daemon:\n%q %q %d", argv, o, e, c, wo, we, wc)
		}
		// Our tool against our daemon.
		cmd := exec.Command(ours.s.Path(argv[0]), argv[1:]...)
		cmd.Env = append(os.Environ(), "TCPREMOTEIP=")
		oo, oe, oc := testenv.Run(t, cmd)
		if argv[0] == "authtest" && argv[len(argv)-1] == "newsecret" && len(argv) == 6 {
			// The password is already changed: ours repeats with the new one.
			continue
		}
		if maskHash(oo) != maskHash(o) || oe != e || oc != c {
			t.Errorf("our %q:\n%q %q %d\nthe real one:\n%q %q %d", argv, oo, oe, oc, o, e, c)
		}
	}
}

// maskHash hides the encrypted password line, which differs after a
// password change because each side picked its own salt.
func maskHash(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "Encrypted Password: $1$") && !strings.Contains(l, "80vWTwQB") && !strings.Contains(l, "CfoJabcd") {
			l = "Encrypted Password: <new $1$ hash>"
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// Our client gets the same results from the real daemon as from ours.
func TestInteropClient(t *testing.T) {
	t.Parallel()
	needReal(t)
	ours, real := startBoth(t)
	ctx := context.Background()
	oc := ours.client()
	rc := ours.client()
	rc.Socket = real.socket
	for _, c := range []*authlib.Client{oc, rc} {
		c.RemoteIP = "192.0.2.7"
	}
	calls := []struct {
		name string
		do   func(c *authlib.Client) (any, error)
	}{
		{"pre", func(c *authlib.Client) (any, error) { return c.Pre(ctx, "imap", "alice@example.com") }},
		{"pre root", func(c *authlib.Client) (any, error) { return c.Pre(ctx, "imap", "root") }},
		{"pre unknown", func(c *authlib.Client) (any, error) { return c.Pre(ctx, "imap", "nobody@example.com") }},
		{"pre module", func(c *authlib.Client) (any, error) { return c.PreModule(ctx, "authpam", "imap", "alice@example.com") }},
		{"login", func(c *authlib.Client) (any, error) { return c.Login(ctx, "imap", "alice@example.com", "secret") }},
		{"login wrong", func(c *authlib.Client) (any, error) { return c.Login(ctx, "imap", "alice@example.com", "wrong") }},
		{"login pop3", func(c *authlib.Client) (any, error) { return c.Login(ctx, "pop3", "alice@example.com", "pop3only") }},
		{"cram", func(c *authlib.Client) (any, error) {
			return c.CRAM(ctx, "imap", "md5", "<7@x>", strings.TrimSpace(mustDecode(cramData("alice@example.com", "secret", "<7@x>"))))
		}},
		{"external", func(c *authlib.Client) (any, error) { return c.Auth(ctx, "imap", "EXTERNAL", "alice@example.com") }},
		{"enumerate", func(c *authlib.Client) (any, error) {
			var l []authlib.EnumEntry
			err := c.Enumerate(ctx, func(e authlib.EnumEntry) error { l = append(l, e); return nil })
			return l, err
		}},
		{"passwd wrong", func(c *authlib.Client) (any, error) {
			return nil, c.Passwd(ctx, "imap", "alice@example.com", "bad", "x")
		}},
		{"passwd", func(c *authlib.Client) (any, error) {
			return nil, c.Passwd(ctx, "imap", "alice@example.com", "secret", "Changed-1")
		}},
		{"login changed", func(c *authlib.Client) (any, error) {
			a, err := c.Login(ctx, "imap", "alice@example.com", "Changed-1")
			if a != nil {
				a.Passwd = strings.SplitN(a.Passwd, "$", 4)[1] // the scheme; the salt differs
			}
			return a, err
		}},
	}
	for _, call := range calls {
		got, gerr := call.do(oc)
		want, werr := call.do(rc)
		if !reflect.DeepEqual(got, want) || !sameErr(gerr, werr) {
			t.Errorf("%s:\n ours %+v %v\nreal  %+v %v", call.name, got, gerr, want, werr)
		}
	}
}

func sameErr(a, b error) bool {
	return (a == nil) == (b == nil) && errors.Is(a, authlib.ErrFail) == errors.Is(b, authlib.ErrFail) &&
		errors.Is(a, authlib.ErrTemporary) == errors.Is(b, authlib.ErrTemporary)
}

// userdb text written by the real userdb and userdbpw tools compiles with
// our makeuserdb and authenticates through our daemon.
func TestInteropRealUserdbTools(t *testing.T) {
	t.Parallel()
	needReal(t)
	s := newSandbox(t, transcriptRC, "")
	src := s.Layout.Config("userdb")
	run := func(stdin string, argv ...string) string {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", argv, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run("", "/usr/sbin/userdb", "-f", src, "bob@example.com", "set", "uid=1234", "gid=1234", "home=/home/vmail/bob",
		"mail=/home/vmail/bob/Maildir", "quota=5000S", "gecos=Bob,Desk 2", "options=disablepop3=1")
	md5pw := run("Bob-pw1\n", "/usr/sbin/userdbpw", "-md5")
	run(md5pw+"\n", "/usr/sbin/userdb", "-f", src, "bob@example.com", "set", "systempw")
	for _, h := range []string{"md5", "sha1", "sha256"} {
		key := run("Bob-pw1\n", "/usr/sbin/userdbpw", "-hmac-"+h)
		run(key+"\n", "/usr/sbin/userdb", "-f", src, "bob@example.com", "set", "hmac-"+h+"pw")
	}
	imappw := run("Bob-imap\n", "/usr/sbin/userdbpw")
	run(imappw+"\n", "/usr/sbin/userdb", "-f", src, "bob@example.com", "set", "imappw")
	makeuserdb(t, s)
	d := start(t, s)
	c := d.client()
	ctx := context.Background()
	a, err := c.Login(ctx, "pop3", "bob@example.com", "Bob-pw1")
	if err != nil || a.UID != 1234 || a.Quota != "5000S" || a.Name != "Bob" || a.Passwd != md5pw || !a.Options.Enabled("disablepop3") {
		t.Errorf("login with the userdbpw -md5 password: %+v %v", a, err)
	}
	if _, err := c.Login(ctx, "imap", "bob@example.com", "Bob-imap"); err != nil {
		t.Errorf("login with the userdbpw (crypt) imappw: %v", err)
	}
	if _, err := c.Login(ctx, "imap", "bob@example.com", "Bob-pw1"); !errors.Is(err, authlib.ErrFail) {
		t.Errorf("imappw must override systempw: %v", err)
	}
	for _, h := range []string{"md5", "sha1", "sha256"} {
		resp := "bob@example.com " + hexHMAC(h, "Bob-pw1", "<42@x>")
		if a, err := c.CRAM(ctx, "webmail", h, "<42@x>", resp); err != nil || a.UID != 1234 {
			t.Errorf("CRAM-%s with the userdbpw -hmac-%s key: %+v %v", strings.ToUpper(h), h, a, err)
		}
	}
}

// Our start/stop speak liblock's protocol: the original courierlogger
// (what the original wrapper script runs) restarts and stops our daemon.
func TestInteropCourierloggerStopsOurs(t *testing.T) {
	t.Parallel()
	testenv.NeedPackage(t, "courier-authlib", "/usr/sbin/courierlogger")
	s := newSandbox(t, transcriptRC, aliceUserdb)
	bin := s.Path("authdaemond")
	if out, err := exec.Command(bin, "start").CombinedOutput(); err != nil {
		t.Fatalf("start: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command(bin, "stop").Run() })
	pidFile := filepath.Join(s.Layout.AuthdaemonVar, "pid")
	pid := readPid(t, pidFile)
	if out, err := exec.Command("/usr/sbin/courierlogger", "-pid="+pidFile, "-restart").CombinedOutput(); err != nil {
		t.Fatalf("courierlogger -restart: %v\n%s", err, out)
	}
	if out, err := exec.Command("/usr/sbin/courierlogger", "-pid="+pidFile, "-stop").CombinedOutput(); err != nil {
		t.Fatalf("courierlogger -stop: %v\n%s", err, out)
	}
	if proc.Alive(pid) {
		t.Errorf("our authdaemond (pid %d) survived courierlogger -stop", pid)
	}
}
