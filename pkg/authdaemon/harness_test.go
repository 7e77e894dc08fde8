package authdaemon_test

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gocourier/courier/pkg/authlib"
	"github.com/gocourier/courier/test/testenv"
)

// The account of spec/authdaemon.md §3's transcripts, as userdb text:
// systempw = md5-crypt("secret"), pop3pw = md5-crypt("pop3only"),
// hmac-md5pw = the CRAM-MD5 key of "secret", plus its reverse uid record.
const aliceUserdb = "alice@example.com\tuid=999|gid=995|home=/home/vmail/alice|mail=/home/vmail/alice/Maildir|quota=1000000S|gecos=Alice Liddell,Room 1|options=disableimap=0,disablewebmail=1|systempw=$1$80vWTwQB$CHkHIE4.P4Xth2lSTvWCj.|pop3pw=$1$CfoJabcd$.fBu3ZXaIfnLcchipI0sp/|hmac-md5pw=cd3ba7deaad6e5ca23448ba42e379747a9e0f7f1fbc00c8a81bbaac395731b56\n" +
	"999=\talice@example.com\n"

// The DEFAULTOPTIONS of the transcripts.
const transcriptRC = "authmodulelist=\"authuserdb\"\ndaemons=5\nDEFAULTOPTIONS=\"disablewebmail=0,disableshared=1\"\n"

// daemon is our authdaemond running in a sandbox.
type daemon struct {
	s      *testenv.Sandbox
	cmd    *exec.Cmd
	socket string
	log    *testenv.SyncBuffer
	done   chan error
}

// newSandbox makes a sandbox with authdaemond and makeuserdb, the given
// authdaemonrc, and userdb compiled from text with our makeuserdb.
func newSandbox(t *testing.T, rc, userdbText string, progs ...string) *testenv.Sandbox {
	t.Helper()
	s := testenv.NewSandbox(t, append([]string{"authdaemond", "makeuserdb"}, progs...)...)
	s.WriteConfig(t, "authdaemonrc", rc, 0o640)
	if userdbText != "" {
		s.WriteConfig(t, "userdb", userdbText, 0o600)
		makeuserdb(t, s)
	}
	return s
}

func makeuserdb(t *testing.T, s *testenv.Sandbox) {
	t.Helper()
	if out, err := exec.Command(s.Path("makeuserdb")).CombinedOutput(); err != nil {
		t.Fatalf("makeuserdb: %v\n%s", err, out)
	}
}

// start runs the sandbox's authdaemond in the foreground and waits for its
// socket.
func start(t *testing.T, s *testenv.Sandbox, env ...string) *daemon {
	t.Helper()
	d := &daemon{s: s, socket: filepath.Join(s.Layout.AuthdaemonVar, "socket"), log: &testenv.SyncBuffer{}, done: make(chan error, 1)}
	before := inode(d.socket)
	d.cmd = exec.Command(s.Path("authdaemond"))
	d.cmd.Env = append(os.Environ(), env...)
	d.cmd.Stderr = d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(func() { d.stop(t) })
	deadline := time.Now().Add(20 * time.Second)
	for {
		if ino := inode(d.socket); ino != 0 && ino != before {
			return d
		}
		select {
		case err := <-d.done:
			d.done <- err
			t.Fatalf("authdaemond exited at startup: %v\n%s", err, d.log)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("authdaemond did not create %s\n%s", d.socket, d.log)
		}
	}
}

func inode(path string) uint64 {
	var st syscall.Stat_t
	if syscall.Stat(path, &st) != nil {
		return 0
	}
	return st.Ino
}

// stop sends SIGTERM and waits; it reports a non-zero exit.
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	if d.cmd.ProcessState != nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		d.done <- err
		if err != nil {
			t.Errorf("authdaemond exited with %v\n%s", err, d.log)
		}
	case <-time.After(30 * time.Second):
		d.cmd.Process.Kill()
		t.Errorf("authdaemond did not stop on SIGTERM\n%s", d.log)
	}
}

// alive fails the test if the daemon has exited.
func (d *daemon) alive(t *testing.T) {
	t.Helper()
	select {
	case err := <-d.done:
		d.done <- err
		t.Fatalf("authdaemond died: %v\n%s", err, d.log)
	default:
	}
}

// raw sends req on a new connection, half-closes, and returns everything
// the daemon wrote before closing.
func raw(t *testing.T, socket string, req []byte) []byte {
	t.Helper()
	c, err := net.Dial("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write(req); err != nil {
		t.Fatalf("writing %q: %v", req, err)
	}
	c.(*net.UnixConn).CloseWrite()
	out, err := io.ReadAll(c)
	if err != nil && !isReset(err) {
		t.Fatalf("reading the reply to %q: %v", req, err)
	}
	return out
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe"))
}

// client returns an authlib client for the daemon's socket.
func (d *daemon) client() *authlib.Client {
	c := authlib.NewClient()
	c.Socket = d.socket
	c.RemoteIP = ""
	c.DefDomain = ""
	return c
}

// authReq builds an AUTH request.
func authReq(service, authtype, data string) []byte {
	b, err := (&authlib.Request{Command: authlib.CmdAuth, Service: service, AuthType: authtype, AuthData: data}).Encode()
	if err != nil {
		panic(err)
	}
	return b
}

// hexHMAC is the CRAM response digest: hex(HMAC-hash(key, challenge)).
func hexHMAC(name, key, challenge string) string {
	h := map[string]func() hash.Hash{"md5": md5.New, "sha1": sha1.New, "sha256": sha256.New}[name]
	m := hmac.New(h, []byte(key))
	m.Write([]byte(challenge))
	return hex.EncodeToString(m.Sum(nil))
}
