package maildir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// TmpMaxAge is how long a file may stay in tmp/ before readers delete it:
// a delivery that died left it (maildir(5), maildirpurgetmp.c).
const TmpMaxAge = 36 * time.Hour

// PurgeTmp deletes the files in tmp/ whose inode change time is older than
// maxAge (use TmpMaxAge), as Courier's imapd and pop3d do when they open a
// maildir. It returns how many files it removed.
func (d *Dir) PurgeTmp(maxAge time.Duration) (int, error) {
	n, _, _, err := purgeDir(filepath.Join(d.Path, "tmp"), maxAge)
	return n, err
}

// PurgeOlder deletes the messages of cur/ and new/ whose inode change time
// is older than maxAge, and takes them out of the quota. IMAP_EMPTYTRASH
// uses it on Trash at login and logout (maildirpurgetmp.c maildir_purge).
func (d *Dir) PurgeOlder(maxAge time.Duration) (int, error) {
	var delta Usage
	var errs []error
	unlock := func() {}
	if d.counted() {
		unlock = lockMaildir(d.Root, unix.LOCK_SH)
	}
	total := 0
	for _, sub := range []string{"cur", "new"} {
		n, bytes, msgs, err := purgeDir(filepath.Join(d.Path, sub), maxAge)
		total += n
		delta.Bytes -= bytes
		delta.Messages -= msgs
		if err != nil {
			errs = append(errs, err)
		}
	}
	if delta != (Usage{}) && d.counted() {
		if err := appendUsage(d.Root, delta); err != nil {
			errs = append(errs, err)
		}
	}
	unlock()
	if delta != (Usage{}) && d.counted() {
		if err := tidyQuota(d.Root); err != nil {
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}

// purgeDir removes the files of dir older than maxAge (by ctime, as
// Courier) and returns how many it removed, and the size and number of
// those that count towards the quota.
func purgeDir(dir string, maxAge time.Duration) (removed int, bytes, msgs int64, err error) {
	names, err := readNames(dir)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("cannot clean up %s: %w", dir, err)
	}
	cutoff := time.Now().Add(-maxAge)
	for _, n := range names {
		if n[0] == '.' {
			continue
		}
		p := filepath.Join(dir, n)
		st, err := os.Lstat(p)
		if err != nil || st.IsDir() {
			continue
		}
		sys, ok := st.Sys().(*syscall.Stat_t)
		if !ok || !time.Unix(sys.Ctim.Sec, sys.Ctim.Nsec).Before(cutoff) {
			continue
		}
		if err := os.Remove(p); err != nil {
			continue // another reader removed it first, or it cannot be removed: skip it
		}
		removed++
		if m := messageOf("", n); m.Name.Counted() {
			size := m.Name.Size
			if size < 0 {
				size = st.Size()
			}
			bytes += size
			msgs++
		}
	}
	return removed, bytes, msgs, nil
}
