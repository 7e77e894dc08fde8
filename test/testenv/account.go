package testenv

import (
	"fmt"
	"os/exec"
	"testing"
)

// NewSystemAccount creates the system user name (no home directory, shell
// nologin, its own primary group) and the group name+"-g", of which the
// user is also a member, for tests that check real privilege changes, and
// removes both when the test ends. name must be unique to the calling
// package's tests ("cgtest-<package>"). It skips the test unless running
// as root, removes a leftover of an interrupted run first, and returns the
// supplementary group's name.
//
// pkg/privsep/privseptest wraps it with the account's ids; pkg/privsep's
// own tests, which that package cannot serve (it imports pkg/privsep),
// call it directly.
func NewSystemAccount(t testing.TB, name string) (group string) {
	t.Helper()
	NeedRoot(t)
	group = name + "-g"
	run := func(args ...string) error {
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %v\n%s", args, err, out)
		}
		return nil
	}
	// Leftovers of an interrupted run.
	run("userdel", name)
	run("groupdel", group)
	if err := run("groupadd", "--system", group); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := run("groupdel", group); err != nil {
			t.Error(err)
		}
	})
	if err := run("useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
		"--shell", "/usr/sbin/nologin", "--user-group", "--groups", group, name); err != nil {
		t.Fatal(err)
	}
	// userdel fails while a process of the account is left: the test
	// must have ended its processes by then.
	t.Cleanup(func() {
		if err := run("userdel", name); err != nil {
			t.Error(err)
		}
	})
	return group
}
