package local_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/gocourier/courier/pkg/module"
	"github.com/gocourier/courier/pkg/module/moduletest"
	"github.com/gocourier/courier/pkg/privsep/privseptest"
	"github.com/gocourier/courier/pkg/queue"
	"github.com/gocourier/courier/test/testenv"
)

// user is a test recipient: a system account (useradd) when the tests run as
// root, else the current user, with a home directory in the sandbox.
type user struct {
	name     string // userdb name
	uid, gid uint32
	home     string
}

// env is a sandbox with authdaemond (userdb accounts), a queue and a running
// courierlocal that the test feeds delivery lines, playing the scheduler.
type env struct {
	t     testing.TB
	s     *testenv.Sandbox
	q     *queue.Queue
	users map[string]user
	auth  *exec.Cmd
}

// moduleEnv is the environment the scheduler gives courierlocal: the
// courierd configuration (Debian's) and the module variables.
var moduleEnv = []string{
	"PATH=/usr/bin:/bin:/usr/bin:/usr/local/bin", "SHELL=/bin/sh", "DSNTOAUTHADDR=0",
	"DYNAMICDELIVERIES=1", "DEFAULTDELIVERY=./Maildir", "MAILDROPDEFAULT=./Maildir",
	"MAXDELS=4", "MAXHOST=4", "MAXRCPT=1", "COURIER_MODULE=local",
}

func newEnv(t testing.TB, names ...string) *env {
	t.Helper()
	testenv.NeedPackage(t, "courier-authdaemon", "/usr/sbin/authdaemond")
	s := testenv.NewSandbox(t, "authdaemond", "makeuserdb", "courierlocal")
	e := &env{t: t, s: s, users: map[string]user{}}
	homes := s.WritableDir(t, "home")
	os.Chmod(homes, 0o755)
	var db strings.Builder
	for i, n := range names {
		n, quota, _ := strings.Cut(n, ":")
		u := user{name: n, uid: uint32(os.Getuid()), gid: uint32(os.Getgid()), home: filepath.Join(homes, n)}
		if os.Geteuid() == 0 {
			a := privseptest.NewAccount(t, fmt.Sprintf("cgtest-local%d", i))
			u.uid, u.gid = a.UID, a.GID
		}
		if err := os.Mkdir(u.home, 0o700); err != nil {
			t.Fatal(err)
		}
		e.users[n] = u
		fmt.Fprintf(&db, "%s\tuid=%d|gid=%d|home=%s", n, u.uid, u.gid, u.home)
		if quota != "" {
			fmt.Fprintf(&db, "|quota=%s", quota)
		}
		db.WriteString("\n")
		e.makeMaildir(n, "Maildir")
	}
	fmt.Fprintf(&db, "rootish\tuid=0|gid=0|home=%s\n", homes)
	s.WriteConfig(t, "authdaemonrc", "authmodulelist=\"authuserdb\"\ndaemons=3\n", 0o640)
	s.WriteConfig(t, "userdb", db.String(), 0o600)
	if out, err := exec.Command(s.Path("makeuserdb")).CombinedOutput(); err != nil {
		t.Fatalf("makeuserdb: %v\n%s", err, out)
	}
	s.WriteConfig(t, "me", "example.test\n", 0o644)
	e.startAuth()
	q, err := queue.Open(s.Layout.LocalstateDir, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.q = q
	return e
}

func (e *env) startAuth() {
	t := e.t
	sock := filepath.Join(e.s.Layout.AuthdaemonVar, "socket")
	cmd := exec.Command(e.s.Path("authdaemond"))
	log := &testenv.SyncBuffer{}
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	e.auth = cmd
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	testenv.WaitFor(t, "authdaemond's socket", func() bool {
		_, err := os.Stat(sock)
		return err == nil
	})
}

// start runs courierlocal with the module environment plus extra.
func (e *env) start(extra ...string) *moduletest.Proc {
	m := moduletest.Start(e.t, e.s.Path("courierlocal"), append(append([]string(nil), moduleEnv...), extra...))
	e.t.Cleanup(func() { m.Stop(e.t) })
	return m
}

// submit queues a message for the recipients.
func (e *env) submit(sender, data string, rcpts ...string) queue.QueueID {
	e.t.Helper()
	env := &queue.Envelope{Sender: sender, ReceivedFrom: "dns; localhost (localhost [127.0.0.1])", Source: "local"}
	for _, r := range rcpts {
		env.Recipients = append(env.Recipients, queue.Recipient{Address: r})
	}
	id, err := e.q.Submit(env, strings.NewReader(data))
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

// deliver sends one delivery line for recipient idx of message id and waits
// for the module's answer; it returns the recipient's state.
func (e *env) deliver(m *moduletest.Proc, id queue.QueueID, idx int) queue.RecipientState {
	e.t.Helper()
	ctl, err := e.q.Load(id.Inode)
	if err != nil {
		e.t.Fatal(err)
	}
	if r := m.Deliver(e.t, module.Delivery{Inode: id.Inode, QueueID: id.String(), Sender: ctl.Sender, Host: "host",
		Recipients: []module.Recipient{{Index: idx, Address: ctl.Recipients[idx].Address}}}); r.Text != "" {
		e.t.Fatalf("answer with text %q, want the delivery id alone", r.Text)
	}
	ctl, err = e.q.Load(id.Inode)
	if err != nil {
		e.t.Fatal(err)
	}
	return ctl.Recipients[idx]
}

// replies is the recipient's I R lines.
func replies(r queue.RecipientState) []string {
	var out []string
	for _, in := range r.Info {
		if in.Code == queue.InfoReply {
			out = append(out, in.Text)
		}
	}
	return out
}

// writeFile writes a file in a user's home owned by the user.
func (e *env) writeFile(u, name, content string, mode os.FileMode) string {
	e.t.Helper()
	us := e.users[u]
	p := filepath.Join(us.home, name)
	testenv.WriteFile(e.t, p, content, mode)
	if os.Geteuid() == 0 {
		os.Lchown(p, int(us.uid), int(us.gid))
	}
	return p
}

// makeMaildir creates a maildir owned by the user.
func (e *env) makeMaildir(u, name string) string {
	e.t.Helper()
	us := e.users[u]
	p := filepath.Join(us.home, name)
	for _, d := range []string{"", "tmp", "new", "cur"} {
		if err := os.MkdirAll(filepath.Join(p, d), 0o700); err != nil {
			e.t.Fatal(err)
		}
		if os.Geteuid() == 0 {
			os.Chown(filepath.Join(p, d), int(us.uid), int(us.gid))
		}
	}
	if os.Geteuid() == 0 {
		os.Chown(us.home, int(us.uid), int(us.gid))
	}
	return p
}

// newMessages lists the files of a maildir's new/.
func newMessages(t testing.TB, maildir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(maildir, "new", "*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}
