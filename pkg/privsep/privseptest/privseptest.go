// Package privseptest creates throwaway system accounts for tests that
// check real privilege changes (they run as root in CI): useradd/groupadd
// when the test starts, userdel/groupdel when it ends.
package privseptest

import (
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

// NewAccount creates the account name (and the group name+"-g") with
// testenv.NewSystemAccount, which must be unique to the calling package's
// tests ("cgtest-<package>"). It skips the test unless running as root. A
// leftover from an interrupted run is removed first.
func NewAccount(t testing.TB, name string) Account {
	t.Helper()
	group := testenv.NewSystemAccount(t, name)
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
