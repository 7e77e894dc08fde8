package local_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

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

// moduleProc is one running courierlocal.
type moduleProc struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	log    *testenv.SyncBuffer
	nextID int
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
func (e *env) start(extra ...string) *moduleProc {
	t := e.t
	m := &moduleProc{log: &testenv.SyncBuffer{}}
	m.cmd = exec.Command(e.s.Path("courierlocal"))
	m.cmd.Env = append(append([]string(nil), moduleEnv...), extra...)
	m.cmd.Stderr = m.log
	in, err := m.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	m.in, m.out = in, bufio.NewReader(out)
	t.Cleanup(func() { m.stop(t) })
	return m
}

// stop closes the module's input, as a departing scheduler does, and
// expects it to exit cleanly.
func (m *moduleProc) stop(t testing.TB) {
	if m.cmd.ProcessState != nil {
		return
	}
	m.in.Close()
	done := make(chan error, 1)
	go func() { done <- m.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("courierlocal exited with %v\n%s", err, m.log)
		}
	case <-time.After(60 * time.Second):
		m.cmd.Process.Kill()
		t.Errorf("courierlocal did not exit at the end of its input\n%s", m.log)
	}
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
func (e *env) deliver(m *moduleProc, id queue.QueueID, idx int) queue.RecipientState {
	e.t.Helper()
	ctl, err := e.q.Load(id.Inode)
	if err != nil {
		e.t.Fatal(err)
	}
	m.nextID++
	delid := strconv.Itoa(m.nextID)
	line := fmt.Sprintf("%d\t%s\t%s\t%s\t%s\t%d\t%s\n", id.Inode, id, ctl.Sender, delid, "host", idx, ctl.Recipients[idx].Address)
	if _, err := io.WriteString(m.in, line); err != nil {
		e.t.Fatalf("writing to courierlocal: %v\n%s", err, m.log)
	}
	reply, err := m.out.ReadString('\n')
	if err != nil {
		e.t.Fatalf("reading courierlocal's answer: %v\n%s", err, m.log)
	}
	if strings.TrimSuffix(reply, "\n") != delid {
		e.t.Fatalf("answer %q, want %q", reply, delid)
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
