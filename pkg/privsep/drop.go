package privsep

import (
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Drop makes c the identity of the whole process: supplementary groups,
// then the real/effective/saved gid, then the real/effective/saved uid
// (which also clears the capabilities of a non-root uid). The syscall
// package applies each change to every thread of the process; Drop then
// reads /proc/self/task/*/status and returns an error naming any thread that
// did not follow. A process that gets an error must not continue serving.
//
// A process that is not root cannot change its uid: Drop to the uid it
// already has (real, effective and saved) is a no-op that leaves its groups
// alone, and anything else is an error. Callers that want the sandbox
// behaviour (skip the change when not root) use DropIfRoot.
func Drop(c Credential) error {
	if !IsRoot() {
		r, e, s := unix.Getresuid()
		if uint32(r) == c.UID && uint32(e) == c.UID && uint32(s) == c.UID {
			return nil
		}
		return fmt.Errorf("cannot switch to %s: this process runs as uid %d, not root; start it as root, or as uid %d itself", c, e, c.UID)
	}
	groups := make([]int, len(c.Groups))
	for i, g := range c.Groups {
		groups[i] = int(g)
	}
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("setting supplementary groups %v: %w", c.Groups, err)
	}
	if err := syscall.Setresgid(int(c.GID), int(c.GID), int(c.GID)); err != nil {
		return fmt.Errorf("switching to gid %d: %w", c.GID, err)
	}
	if err := syscall.Setresuid(int(c.UID), int(c.UID), int(c.UID)); err != nil {
		return fmt.Errorf("switching to uid %d: %w", c.UID, err)
	}
	if err := VerifyProcess(0, c); err != nil {
		return fmt.Errorf("privilege drop to %s incomplete: %w", c, err)
	}
	return nil
}

// DropIfRoot is Drop for a root process; in a process that is not root (the
// sandbox) it changes nothing, logs once per process that uid changes are
// skipped, and returns false.
func DropIfRoot(c Credential) (bool, error) {
	if !IsRoot() {
		noteSandbox(c, "this process")
		return false, nil
	}
	return true, Drop(c)
}

var sandboxOnce sync.Once

// noteSandbox logs, once per process, that a credential change requested
// for what is being skipped because the process is not root.
func noteSandbox(c Credential, what string) {
	uid, gid := uint32(os.Geteuid()), uint32(os.Getegid())
	if c.UID == uid && c.GID == gid {
		return
	}
	sandboxOnce.Do(func() {
		slog.Warn(fmt.Sprintf("not running as root: skipping uid changes, every process keeps uid %d (sandbox mode; logged once)", uid),
			"first_for", what, "wanted_uid", c.UID, "wanted_gid", c.GID)
	})
}
