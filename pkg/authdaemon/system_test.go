package authdaemon_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/gocourier/courier/pkg/authlib"
	"github.com/gocourier/courier/pkg/privsep"
	"github.com/gocourier/courier/test/testenv"
)

// systemUser creates a throwaway system account (testenv.NewSystemAccount)
// with a full name and a password; it is removed when the test ends.
func systemUser(t *testing.T, password string) string {
	t.Helper()
	testenv.NeedPackage(t, "passwd", "useradd", "userdel", "usermod", "chpasswd")
	name := fmt.Sprintf("gcauth%d", os.Getpid()%100000)
	testenv.NewSystemAccount(t, name)
	if out, err := exec.Command("usermod", "-c", "Test Account,Lab 3", name).CombinedOutput(); err != nil {
		t.Fatalf("usermod: %v\n%s", err, out)
	}
	cmd := exec.Command("chpasswd")
	cmd.Stdin = strings.NewReader(name + ":" + password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chpasswd: %v\n%s", err, out)
	}
	return name
}

// runsAsRoot reports whether every thread of pid has all four uids 0.
func runsAsRoot(t *testing.T, pid int) bool {
	t.Helper()
	tasks, err := privsep.ReadTasks(pid)
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		if task.UID != [4]uint32{} {
			return false
		}
	}
	return len(tasks) > 0
}

// authshadow and authpwd against a real system account; the daemon and its
// socket directory belong to root.
func TestShadowAndPwd(t *testing.T) {
	user := systemUser(t, "Sys-pw-1")
	s := newSandbox(t, "authmodulelist=\"authshadow\"\ndaemons=2\n", "")
	d := start(t, s)
	if !runsAsRoot(t, d.cmd.Process.Pid) {
		t.Errorf("authdaemond does not run as root (it reads /etc/shadow)")
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Dir(d.socket), &st); err != nil || st.Uid != 0 || st.Mode&0o777 != 0o750 {
		t.Errorf("socket directory owner %d mode %o: %v", st.Uid, st.Mode&0o777, err)
	}
	c := d.client()
	ctx := context.Background()
	a, err := c.Login(ctx, "imap", user, "Sys-pw-1")
	if err != nil || a.Username != user || a.HasUID || a.Name != "Test Account" || a.Address != user || a.Home != "/nonexistent" || !strings.HasPrefix(a.Passwd, "$") {
		t.Fatalf("authshadow login: %+v %v", a, err)
	}
	if _, err := c.Login(ctx, "imap", user, "wrong"); !errors.Is(err, authlib.ErrFail) {
		t.Errorf("authshadow wrong password: %v", err)
	}
	d.stop(t)

	s.WriteConfig(t, "authdaemonrc", "authmodulelist=\"authpwd\"\n", 0o640)
	d = start(t, s)
	c = d.client()
	if _, err := c.Login(ctx, "imap", user, "Sys-pw-1"); !errors.Is(err, authlib.ErrFail) {
		t.Errorf("authpwd with the password in /etc/shadow: %v", err)
	}
	if a, err := c.Pre(ctx, "imap", user); err != nil || a.Passwd != "x" {
		t.Errorf("authpwd lookup: %+v %v", a, err)
	}
}

// authpam through the cgo helper: login, wrong password, concurrent
// logins, password change; the replies match the real authdaemond's.
func TestPAM(t *testing.T) {
	testenv.NeedPackage(t, "courier-imap", "/etc/pam.d/imap")
	user := systemUser(t, "Pam-pw-1")
	rc := "authmodulelist=\"authpam\"\ndaemons=4\n"
	s := newSandbox(t, rc, "", "authpam")
	d := start(t, s)
	c := d.client()
	c.RemoteIP = "192.0.2.9"
	ctx := context.Background()
	a, err := c.Login(ctx, "imap", user, "Pam-pw-1")
	if err != nil || a.Username != user || a.Passwd2 != "Pam-pw-1" {
		t.Fatalf("PAM login: %+v %v\n%s", a, err, d.log)
	}
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			pw := "Pam-pw-1"
			if i%2 == 1 {
				pw = "wrong" + strconv.Itoa(i)
			}
			_, errs[i] = c.Login(ctx, "imap", user, pw)
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if (i%2 == 0) != (err == nil) || (err != nil && !errors.Is(err, authlib.ErrFail)) {
			t.Errorf("concurrent PAM login %d: %v", i, err)
		}
	}
	// The helpers run as root, children of the daemon.
	out, _ := exec.Command("pgrep", "-P", strconv.Itoa(d.cmd.Process.Pid)).Output()
	pids := strings.Fields(string(out))
	if len(pids) == 0 {
		t.Error("no PAM helper running under authdaemond")
	}
	for _, p := range pids {
		pid, _ := strconv.Atoi(p)
		if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); !strings.HasSuffix(exe, "/authpam") {
			t.Errorf("child %d of authdaemond is %s", pid, exe)
		}
	}

	if err := c.Passwd(ctx, "imap", user, "wrong", "Pam-pw-2"); !errors.Is(err, authlib.ErrFail) {
		t.Errorf("PAM password change with a wrong password: %v", err)
	}
	if err := c.Passwd(ctx, "imap", user, "Pam-pw-1", "Pam-pw-2"); err != nil {
		t.Fatalf("PAM password change: %v\n%s", err, d.log)
	}
	if _, err := c.Login(ctx, "imap", user, "Pam-pw-2"); err != nil {
		t.Errorf("login with the changed password: %v", err)
	}

	// The real authdaemond's authpam answers the same bytes.
	needReal(t)
	real := startReal(t, rc, aliceUserdb)
	for _, req := range []string{"PRE . imap " + user + "\n", string(authReq("imap", "login", user+"\nPam-pw-2\n")),
		string(authReq("imap", "login", user+"\nwrong\n")), string(authReq("imap", "cram-md5", cramData(user, "x", "<1@x>")))} {
		got, want := raw(t, d.socket, []byte(req)), raw(t, real.socket, []byte(req))
		if string(got) != string(want) {
			t.Errorf("%q:\n ours %q\nreal  %q", req, got, want)
		}
	}
}
