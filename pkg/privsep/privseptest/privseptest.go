// Package privseptest creates throwaway system accounts for tests that
// check real privilege changes (they run as root in CI): useradd/groupadd
// when the test starts, userdel/groupdel when it ends.
package privseptest

import (
	"os/exec"
	"testing"

	"github.com/gocourier/courier/pkg/privsep"
	"github.com/gocourier/courier/test/testenv"
)

// Account is a test account: a system user without a home directory, with
// its own primary group and membership in one supplementary group.
type Account struct {
	privsep.User
	Group   string // the supplementary group
	SuppGID uint32 // its gid
}

// Credential is the account's login credential: its uid, primary gid, and
// groups [gid, SuppGID].
func (a Account) Credential() privsep.Credential {
	return privsep.Credential{UID: a.UID, GID: a.GID, Groups: []uint32{a.GID, a.SuppGID}}
}

// NewAccount creates the account name (and the group name+"-g"), which
// must be unique to the calling package's tests ("cgtest-<package>"). It
// skips the test unless running as root. A leftover from an interrupted
// run is removed first.
func NewAccount(t testing.TB, name string) Account {
	t.Helper()
	testenv.NeedRoot(t)
	group := name + "-g"
	run := func(ignoreErr bool, args ...string) {
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil && !ignoreErr {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	run(true, "userdel", name)
	run(true, "groupdel", group)
	run(false, "groupadd", "--system", group)
	t.Cleanup(func() { run(true, "groupdel", group) })
	run(false, "useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
		"--shell", "/usr/sbin/nologin", "--user-group", "--groups", group, name)
	t.Cleanup(func() { run(true, "userdel", name) })
	u, err := privsep.LookupUser(name)
	if err != nil {
		t.Fatal(err)
	}
	g, err := privsep.LookupGroup(group)
	if err != nil {
		t.Fatal(err)
	}
	return Account{User: u, Group: group, SuppGID: g}
}
