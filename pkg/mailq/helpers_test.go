package mailq

import (
	"bytes"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gocourier/courier/pkg/queue"
	"github.com/gocourier/courier/test/testenv"
)

// realQueueDir is where the real Courier's programs look for the queue.
const realQueueDir = "/var/lib/courier"

// needReal skips unless the real Courier's queue tools can be run on a test
// queue: root (for the private mount namespace), courier-mta and unshare.
func needReal(t *testing.T, progs ...string) {
	t.Helper()
	testenv.NeedPackage(t, "courier-mta", progs...)
	testenv.NeedPackage(t, "util-linux", "/usr/bin/unshare", "/usr/bin/setpriv")
	testenv.NeedRoot(t)
	if st, err := os.Stat(realQueueDir); err != nil || !st.IsDir() {
		testenv.Skip(t, realQueueDir+" is missing: reinstall courier-mta")
	}
}

// real runs one of the real Courier's programs with root bound over
// /var/lib/courier in a private mount namespace, so the machine's own queue
// is never touched. asUID >= 0 runs it as that user (setpriv).
func real(t *testing.T, root string, asUID int, argv ...string) (string, string, int) {
	t.Helper()
	script := "mount --bind \"$0\" " + realQueueDir + " && exec \"$@\""
	args := []string{"-m", "--propagation", "private", "sh", "-c", script, root}
	if asUID >= 0 {
		args = append(args, "setpriv", "--reuid="+strconv.Itoa(asUID), "--regid=65534", "--clear-groups")
	}
	cmd := exec.Command("unshare", append(args, argv...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%v: %v", argv, err)
	}
	return out.String(), errb.String(), code
}

// courierIDs are the uid and gid of the courier user, which owns the real
// queue and must own a test queue for the real setgid programs to read it.
func courierIDs(t *testing.T) (int, int) {
	t.Helper()
	u, err := user.Lookup("courier")
	if err != nil {
		testenv.Skip(t, "no courier user: reinstall courier-mta")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return uid, gid
}

// chownTree hands every file of root to uid:gid except the message files
// (which keep their submitting owner, as in the real queue).
func chownTree(t *testing.T, root string, uid, gid int) {
	t.Helper()
	out, err := exec.Command("find", root, "-not", "-name", "[CD][0-9]*", "-exec", "chown", strconv.Itoa(uid)+":"+strconv.Itoa(gid), "{}", "+").CombinedOutput()
	if err != nil {
		t.Fatalf("chown: %v %s", err, out)
	}
}

type testMsg struct {
	sender string
	rcpts  []string
	size   int
	owner  *queue.Owner
	mtime  time.Time
}

// submit queues m with our queue package and returns its id.
func submit(t *testing.T, root string, m testMsg) queue.QueueID {
	t.Helper()
	q, err := queue.Open(root, queue.Options{Owner: m.owner})
	if err != nil {
		t.Fatal(err)
	}
	env := &queue.Envelope{Sender: m.sender, ReceivedFrom: "dns; localhost (localhost [127.0.0.1])", Source: "local"}
	for _, r := range m.rcpts {
		env.Recipients = append(env.Recipients, queue.Recipient{Address: r})
	}
	body := "Subject: test\n\n" + strings.Repeat("x", m.size-15-1) + "\n"
	id, err := q.Submit(env, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if !m.mtime.IsZero() {
		if err := os.Chtimes(q.DataPath(id.Inode), m.mtime, m.mtime); err != nil {
			t.Fatal(err)
		}
	}
	return id
}
