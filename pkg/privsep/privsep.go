// Package privsep owns every change of process credentials in the suite:
// looking up the system accounts daemons run as, dropping a whole process to
// another uid (Drop), starting children under their own uid with
// no_new_privs and passed file descriptors (Child), verifying the result in
// /proc, and refusing root or system uids as mailbox owners
// (RequireMailboxOwner).
//
// It implements the privilege rules of DESIGN.md §1: drops use
// syscall.Setgroups/Setresgid/Setresuid, which Go applies to every thread of
// the process (never the per-thread golang.org/x/sys/unix variants); workers
// are started with SysProcAttr.Credential rather than dropped in place; and a
// suite started by an ordinary user (the `make run` sandbox) keeps its
// process tree but skips uid changes, saying so once per process.
//
// Callers: the supervisor (courierd), couriertcpd, courierlogger, the local
// delivery agent, authdaemond, and the imapd/pop3d login path.
package privsep

import (
	"fmt"
	"os"
)

// Credential is a complete process identity: after Drop, or in a child
// started with it, the real, effective, saved and filesystem uids are UID,
// the four gids are GID, and the supplementary groups are exactly Groups (an
// empty list means none at all).
type Credential struct {
	UID, GID uint32
	Groups   []uint32
}

// String formats the credential for log lines and errors.
func (c Credential) String() string {
	return fmt.Sprintf("uid %d gid %d groups %v", c.UID, c.GID, c.Groups)
}

// IsRoot reports whether the process has root privileges (effective uid 0).
// When it does not, the suite runs in sandbox mode: uid changes of children
// are skipped (see Child) and Drop only accepts the current uid.
func IsRoot() bool { return os.Geteuid() == 0 }

// RequireMailboxOwner refuses to let uid own a mailbox session or a delivery
// (DESIGN.md §1: uid 0 never does, and a configurable minimum uid keeps
// system accounts out). The error is meant for the admin's log.
func RequireMailboxOwner(uid, minUID uint32) error {
	if uid == 0 {
		return fmt.Errorf("refusing to access a mailbox as uid 0 (root): the account must have its own non-root uid (at least %d); fix the account's uid in the user database", minUID)
	}
	if uid < minUID {
		return fmt.Errorf("refusing to access a mailbox as uid %d: it is below the minimum mailbox uid %d, which keeps system accounts out; give the account a uid of at least %d, or lower the configured minimum", uid, minUID, minUID)
	}
	return nil
}
