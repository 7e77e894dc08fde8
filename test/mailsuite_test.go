package test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gocourier/courier/pkg/passwd"
	"github.com/gocourier/courier/pkg/privsep"
	"github.com/gocourier/courier/test/testenv"
)

// mailSuite is a sandbox tree running the mail path of the suite: the
// supervisor with authdaemond and the scheduler, which runs courierlocal and
// courierdsn; sendmail submits into its queue. Accounts are userdb accounts
// at example.test whose maildirs live in the tree.
type mailSuite struct {
	*testenv.Sandbox
	Log   *testenv.SyncBuffer
	cmd   *exec.Cmd
	owner privsep.User // uid and gid the accounts' mail belongs to
}

var suitePrograms = []string{"courierd", "authdaemond", "courierlocal", "courierdsn", "sendmail",
	"makeuserdb", "makealiases", "makehosteddomains", "courier", "cancelmsg"}

// newMailSuite prepares a tree with the configuration files of etc/*.dist,
// example.test as the local domain, and the given accounts ("name", or
// "name:password" for an account that can log in). extra config files
// (name → content) are written after the defaults.
func newMailSuite(t *testing.T, accounts []string, extra map[string]string, programs ...string) *mailSuite {
	t.Helper()
	s := &mailSuite{Sandbox: testenv.NewSandbox(t, append(append([]string(nil), suitePrograms...), programs...)...), Log: &testenv.SyncBuffer{}}
	repo, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dists, _ := filepath.Glob(filepath.Join(repo, "etc", "*.dist"))
	for _, d := range dists {
		b, err := os.ReadFile(d)
		if err != nil {
			t.Fatal(err)
		}
		s.WriteConfig(t, strings.TrimSuffix(filepath.Base(d), ".dist"), string(b), 0o644)
	}
	dsnTexts, _ := filepath.Glob(filepath.Join(repo, "etc", "dsn", "*"))
	for _, d := range dsnTexts {
		b, err := os.ReadFile(d)
		if err != nil {
			t.Fatal(err)
		}
		s.WriteConfig(t, filepath.Base(d), string(b), 0o644)
	}
	s.WriteConfig(t, "authdaemonrc", "authmodulelist=\"authuserdb\"\ndaemons=4\n", 0o644)
	s.WriteConfig(t, "me", "mx.example.test\n", 0o644)
	s.WriteConfig(t, "defaultdomain", "example.test\n", 0o644)
	// The accounts are virtual (userdb "name@example.test"): example.test
	// is a hosted domain, whose addresses keep their domain in the
	// account name.
	s.WriteConfig(t, "locals", "mx.example.test\n", 0o644)
	s.WriteConfig(t, "hosteddomains", "example.test\n", 0o644)
	// Programs built with -race sleep a second when they exit (the race
	// detector's atexit_sleep_ms), which would make every delivery child
	// and sendmail run a second long. The courierd file's variables are
	// the scheduler's, its modules' and the delivery children's
	// environment.
	if b, err := os.ReadFile(s.Layout.Config("courierd")); err == nil {
		s.WriteConfig(t, "courierd", string(b)+"GORACE=atexit_sleep_ms=0\n", 0o644)
	}
	t.Setenv("GORACE", "atexit_sleep_ms=0")
	for name, content := range extra {
		s.WriteConfig(t, name, content, 0o644)
	}
	home := s.WritableDir(t, "home")
	if os.Geteuid() == 0 && len(accounts) > 0 {
		// Mail belongs to an account of its own, which is neither root nor
		// the courier user.
		testenv.NewSystemAccount(t, "cgtest-mail")
		if s.owner, err = privsep.LookupUser("cgtest-mail"); err != nil {
			t.Fatal(err)
		}
	} else {
		s.owner = privsep.User{UID: uint32(os.Getuid()), GID: uint32(os.Getgid())}
	}
	var userdb strings.Builder
	for _, a := range accounts {
		a, pw, _ := strings.Cut(a, ":")
		h := filepath.Join(home, a)
		for _, d := range []string{"Maildir/cur", "Maildir/new", "Maildir/tmp"} {
			if err := os.MkdirAll(filepath.Join(h, d), 0o700); err != nil {
				t.Fatal(err)
			}
		}
		filepath.Walk(h, func(p string, _ os.FileInfo, _ error) error {
			return os.Chown(p, int(s.owner.UID), int(s.owner.GID))
		})
		os.Chmod(h, 0o700)
		fmt.Fprintf(&userdb, "%s@example.test\tuid=%d|gid=%d|home=%s|mail=%s/Maildir", a, s.owner.UID, s.owner.GID, h, h)
		if pw != "" {
			hash, err := passwd.Hash("md5", pw)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&userdb, "|systempw=%s", hash)
		}
		userdb.WriteString("\n")
	}
	s.WriteConfig(t, "userdb", userdb.String(), 0o600)
	s.run(t, "makeuserdb")
	s.run(t, "makehosteddomains")
	if os.Geteuid() == 0 {
		// The scheduler runs as the courier user and owns the queue.
		mail, err := privsep.LookupUser(s.Layout.MailUser)
		if err != nil {
			t.Fatal(err)
		}
		gid, err := privsep.LookupGroup(s.Layout.MailGroup)
		if err != nil {
			t.Fatal(err)
		}
		spool := s.Layout.LocalstateDir
		if err := os.MkdirAll(spool, 0o755); err != nil {
			t.Fatal(err)
		}
		filepath.Walk(spool, func(p string, _ os.FileInfo, _ error) error { return os.Chown(p, int(mail.UID), int(gid)) })
	}
	return s
}

// run runs one of the tree's programs to its end and fails the test if it
// fails.
func (s *mailSuite) run(t *testing.T, prog string, args ...string) string {
	t.Helper()
	out, errOut, code := testenv.Run(t, exec.Command(s.Path(prog), args...))
	if code != 0 {
		t.Fatalf("%s %s: exit %d\n%s%s", prog, strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// start runs the supervisor and waits until the scheduler has started its
// local module.
func (s *mailSuite) start(t *testing.T) {
	t.Helper()
	s.cmd = exec.Command(s.Path("courierd"))
	s.cmd.Stdout, s.cmd.Stderr = s.Log, s.Log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			for _, p := range processTree(s.cmd.Process.Pid, s.Root) {
				syscall.Kill(p, syscall.SIGKILL)
			}
		}
	})
	testenv.WaitFor(t, "the scheduler to start courierlocal", func() bool {
		return strings.Contains(s.Log.String(), "courierlocal, pid=")
	})
}

// sendmail submits one message with the tree's sendmail.
func (s *mailSuite) sendmail(t *testing.T, message string, args ...string) {
	t.Helper()
	cmd := exec.Command(s.Path("sendmail"), args...)
	cmd.Stdin = strings.NewReader(message)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sendmail %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// maildir returns the messages in an account's Maildir/new and cur.
func (s *mailSuite) maildir(t *testing.T, account string) []string {
	t.Helper()
	var files []string
	for _, d := range []string{"new", "cur"} {
		m, _ := filepath.Glob(filepath.Join(s.Root, "home", account, "Maildir", d, "*"))
		files = append(files, m...)
	}
	return files
}

// headerCount counts the lines of a file's header that start with prefix.
func headerCount(t *testing.T, path, prefix string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() && sc.Text() != "" {
		if strings.HasPrefix(sc.Text(), prefix) {
			n++
		}
	}
	return n
}

// queued counts the control files in the queue.
func (s *mailSuite) queued() int {
	m, _ := filepath.Glob(filepath.Join(s.Layout.LocalstateDir, "msgs", "*", "C*"))
	return len(m)
}

// waitFor waits for cond, and shows the suite's log if it never holds.
func (s *mailSuite) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			var sched []string
			filepath.WalkDir(filepath.Join(s.Layout.LocalstateDir, "msgq"), func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					sched = append(sched, strings.TrimPrefix(p, s.Layout.LocalstateDir+"/"))
				}
				return nil
			})
			t.Fatalf("timed out waiting for %s; schedule: %v; log:\n%s", what, sched, s.Log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// appendConfig adds lines to one of the tree's configuration files.
func (s *mailSuite) appendConfig(t *testing.T, name, vars string) {
	t.Helper()
	b, err := os.ReadFile(s.Layout.Config(name))
	if err != nil {
		t.Fatal(err)
	}
	s.WriteConfig(t, name, string(b)+vars, 0o644)
}

// certificate makes a service's certificate with its mk*cert tool and
// gives the file to the mail group, as Debian's packages install it
// (root:courier 0640): the servers and login stages read it as the mail
// user.
func (s *mailSuite) certificate(t *testing.T, tool, pem string) {
	t.Helper()
	s.run(t, tool)
	if os.Geteuid() != 0 {
		return
	}
	gid, err := privsep.LookupGroup(s.Layout.MailGroup)
	if err != nil {
		t.Fatal(err)
	}
	path := s.Layout.Config(pem)
	os.Chown(path, 0, int(gid))
	os.Chmod(path, 0o640)
}

// waitListening waits until every address accepts connections.
func (s *mailSuite) waitListening(t *testing.T, addrs ...string) {
	t.Helper()
	for _, a := range addrs {
		s.waitFor(t, "a listener on "+a, func() bool {
			c, err := net.DialTimeout("tcp", a, time.Second)
			if err == nil {
				c.Close()
			}
			return err == nil
		})
	}
}

// listenOn puts a service on a free loopback port: prefix "" sets ADDRESS
// and PORT, "SSL" sets SSLADDRESS and SSLPORT, in the configuration file
// file, with more settings after them. It returns the address.
func (s *mailSuite) listenOn(t *testing.T, file, prefix, more string) string {
	t.Helper()
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	s.appendConfig(t, file, prefix+"ADDRESS=127.0.0.1\n"+prefix+"PORT="+port+"\n"+more)
	return addr
}

// ids are the settings that make a service run as the tree's mail user.
func (s *mailSuite) ids() string {
	return fmt.Sprintf("MAILUSER=%s\nMAILGROUP=%s\n", s.Layout.MailUser, s.Layout.MailGroup)
}

// linkProgram installs another name of an installed program, as
// programs.tab lists them (mkpop3dcert for mkesmtpdcert, ...).
func (s *mailSuite) linkProgram(t *testing.T, link, prog string) {
	t.Helper()
	if err := os.Link(s.Path(prog), s.Path(link)); err != nil {
		t.Fatal(err)
	}
}
