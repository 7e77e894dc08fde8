package maildir

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Quota bookkeeping by the maildirquota rules (maildirquota(7), Courier's
// maildirquota.c; spec/maildir.md §3):
//
//   - The quota lives in the main maildir's maildirsize file. A folder (a
//     directory with a maildirfolder file) uses its parent's.
//   - Its first line is the quota spec, every further line a byte and
//     message delta; the usage is their sum. Writers append one line with a
//     single write() on an O_APPEND descriptor, so lines never interleave.
//   - The file is recounted from the message file names (",S=" sizes, else
//     stat) of cur/ and new/ of the maildir and each folder except Trash,
//     leaving out messages flagged T, and replaced through a file in tmp/
//     and rename(), when: it is 5120 bytes or longer, a total is negative,
//     the quota spec changes, or an addition would exceed the quota. An
//     over-quota answer from a file recounted less than 15 minutes ago
//     (one data line) is given without recounting.
//
// Courier takes no locks and calls the result an estimate: a recount that
// races with a delivery can lose or double one line. This package keeps the
// file exact among its own writers with an advisory flock(2) on the main
// maildir directory: writers that link a message and append its line hold
// it shared, a recount holds it exclusive. Courier's programs ignore the
// lock, which leaves them exactly as exact as they always were. Where flock
// is not supported (some NFS setups) this package proceeds without it.

// sizeFileName is the quota file of a main maildir.
const sizeFileName = "maildirsize"

// Limits taken from maildirquota.c.
const (
	sizeFileMax     = 5120             // a longer maildirsize is recounted
	overQuotaRecent = 15 * time.Minute // a fresh recount's "over quota" is trusted this long
	recountTries    = 5                // recounts disturbed by concurrent changes before giving up
	trashFolder     = ".Trash"         // not counted (Debian's Courier is built without TRASHQUOTA)
)

// ErrOverQuota is matched (errors.Is) by every *QuotaError.
var ErrOverQuota = errors.New("maildir over quota")

// QuotaError refuses a message because the maildir would exceed its quota.
// It is a temporary condition: the delivery layer defers the message
// (Courier: EX_TEMPFAIL, "Maildir over quota.").
type QuotaError struct {
	Root  string    // main maildir holding the maildirsize file
	Quota QuotaSpec // the limits
	Usage Usage     // usage before the addition
	Add   Usage     // what was to be added
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("maildir %s is over quota: %d bytes in %d messages in use, quota %s, cannot add %d bytes in %d messages",
		e.Root, e.Usage.Bytes, e.Usage.Messages, e.Quota, e.Add.Bytes, e.Add.Messages)
}

// Is makes errors.Is(err, ErrOverQuota) true.
func (e *QuotaError) Is(target error) bool { return target == ErrOverQuota }

// Temporary reports that the condition may go away (the owner deletes mail).
func (e *QuotaError) Temporary() bool { return true }

// QuotaRoot returns the main maildir whose maildirsize governs dir: dir
// itself, or, for a folder (a directory holding a maildirfolder file), its
// parent. A folder reached through a symbolic link belongs to the maildir
// the link points into, as Courier's "folder/.." resolves.
func QuotaRoot(dir string) string {
	if st, err := os.Lstat(dir); err == nil && st.Mode()&os.ModeSymlink != 0 {
		if real, err := filepath.EvalSymlinks(dir); err == nil {
			dir = real
		}
	}
	for i := 0; i < 8; i++ { // a folder never nests; the bound only stops a loop of bad files
		if _, err := os.Stat(filepath.Join(dir, folderMarker)); err != nil {
			break
		}
		dir = filepath.Join(dir, "..")
	}
	return dir
}

// countedFolder reports whether messages in dir count towards the quota:
// everything except the Trash folder.
func countedFolder(dir string) bool {
	return filepath.Base(filepath.Clean(dir)) != trashFolder
}

// quota is an open view of one maildirsize file.
type quota struct {
	root   string
	spec   QuotaSpec
	usage  Usage
	lines  int
	mtime  time.Time
	recalc bool
}

// loadQuota reads root's maildirsize. It returns nil when the maildir has
// no quota. override is the quota the account database gives (zero: none);
// when it differs from the file's, the file is rewritten with it, and when
// the file is missing it is created (maildirquota.c
// maildir_quota_add_start).
func loadQuota(root string, override QuotaSpec) (*quota, error) {
	path := filepath.Join(root, sizeFileName)
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if errors.Is(err, os.ErrNotExist) {
		if override.IsZero() {
			return nil, nil
		}
		if err := SetQuota(root, override); err != nil {
			return nil, err
		}
		f, err = os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("quota file: %w", err)
	}
	defer f.Close()
	buf := make([]byte, sizeFileMax)
	n, err := io.ReadFull(f, buf)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, fmt.Errorf("quota file %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("quota file %s: %w", path, err)
	}
	q := &quota{root: root, mtime: st.ModTime()}
	data := buf[:n]
	if n == sizeFileMax {
		// Too long to bother adding up: keep the quota line, recount.
		q.recalc = true
		i := strings.IndexByte(string(data), '\n')
		if i < 0 {
			return nil, &ParseError{path, 1, "first line longer than 5120 bytes"}
		}
		data = data[:i+1]
	}
	sf, err := ParseSizeFile(path, data)
	var perr *ParseError
	switch {
	case err == nil:
		q.spec, q.usage, q.lines = sf.Quota, sf.Usage, sf.Lines
	case errors.As(err, &perr) && perr.Line > 1:
		// A damaged data line: the quota line is good, and a recount
		// replaces the rest, as Courier does for a negative total.
		sf, err2 := ParseSizeFile(path, data[:strings.IndexByte(string(data), '\n')+1])
		if err2 != nil {
			return nil, err2
		}
		q.spec, q.recalc = sf.Quota, true
	case !override.IsZero():
		// The quota line itself is unreadable, but the account database
		// says what it must be: the recount writes that.
		q.spec, q.recalc = override, true
	default:
		return nil, fmt.Errorf("%w (fix the first line, e.g. 1000000S,500C, or delete the file to remove the quota)", err)
	}
	if !override.IsZero() && override != q.spec {
		q.spec, q.recalc = override, true
	}
	if q.usage.Bytes < 0 || q.usage.Messages < 0 {
		q.recalc = true
	}
	return q, nil
}

// exceeds reports whether u is over the spec, and how full it is in
// percent (the larger of the two limits), computed as Courier does
// (maildirquota.c checkOneQuota).
func (s QuotaSpec) exceeds(u Usage) (over bool, percent int) {
	ob, pb := exceedsOne(u.Bytes, s.Bytes)
	om, pm := exceedsOne(u.Messages, s.Messages)
	if ob || om {
		return true, 100
	}
	return false, max(pb, pm)
}

func exceedsOne(used, limit int64) (bool, int) {
	if limit == 0 {
		return false, 0
	}
	if used > limit {
		return true, 100
	}
	div := int64(1)
	if limit > 20000000 {
		div = 1024 // Courier divides first to stay within 32 bits
	}
	if limit/div == 0 {
		return false, 0
	}
	return false, int((used / div) * 100 / (limit / div))
}

// check decides whether add fits under the quota, recounting the maildir
// when the rules call for it. It returns the percentage of the quota in
// use (after the addition).
func (q *quota) check(add Usage) (int, error) {
	sum := Usage{q.usage.Bytes + add.Bytes, q.usage.Messages + add.Messages}
	if !q.recalc {
		if over, pct := q.spec.exceeds(sum); !over {
			return pct, nil
		}
		if q.lines == 1 && time.Now().Before(q.mtime.Add(overQuotaRecent)) {
			return 100, &QuotaError{Root: q.root, Quota: q.spec, Usage: q.usage, Add: add}
		}
	}
	for try := 0; try < recountTries; try++ {
		raced, err := q.recount()
		if err != nil {
			return 0, err
		}
		if raced {
			continue
		}
		sum = Usage{q.usage.Bytes + add.Bytes, q.usage.Messages + add.Messages}
		if over, pct := q.spec.exceeds(sum); over {
			return 100, &QuotaError{Root: q.root, Quota: q.spec, Usage: q.usage, Add: add}
		} else {
			return pct, nil
		}
	}
	// The maildir kept changing under the recount; Courier then lets the
	// message in rather than defer mail forever.
	return 0, nil
}

// recount rewrites maildirsize from the messages on disk. raced reports
// that cur/ or new/ changed while counting (a program that ignores the lock
// was at work), so the count may be off and should be redone.
func (q *quota) recount() (raced bool, err error) {
	unlock := lockMaildir(q.root, unix.LOCK_EX)
	defer unlock()
	usage, before, err := countMaildir(q.root)
	if err != nil {
		return false, err
	}
	if err := writeSizeFile(q.root, q.spec, usage); err != nil {
		return false, err
	}
	q.usage, q.lines, q.recalc, q.mtime = usage, 1, false, time.Now()
	if after := maildirMtime(q.root); after != before {
		q.recalc, q.lines = true, 0
		return true, nil
	}
	return false, nil
}

// writeSizeFile replaces root's maildirsize with the spec and one total
// line, through a file in tmp/ named as Courier names it
// ("<time>.<pid>_NeWmAiLdIrSiZe.<host>", mode 0644).
func writeSizeFile(root string, spec QuotaSpec, usage Usage) error {
	content := append([]byte(spec.String()+"\n"), usageLine(usage)...)
	var f *os.File
	var tmp string
	var err error
	for i := 0; ; i++ {
		tmp = filepath.Join(root, "tmp", fmt.Sprintf("%d.%d_NeWmAiLdIrSiZe.%s", time.Now().Unix(), os.Getpid(), hostname()))
		if i > 0 {
			tmp = filepath.Join(root, "tmp", fmt.Sprintf("%d.%d_%d_NeWmAiLdIrSiZe.%s", time.Now().Unix(), os.Getpid(), collisions.Add(1), hostname()))
		}
		f, err = os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY|unix.O_NOFOLLOW, 0o644)
		if err == nil || !errors.Is(err, os.ErrExist) || i >= 100 {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("cannot recount the quota of %s: %w", root, err)
	}
	if _, err := f.Write(content); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("cannot recount the quota of %s: %w", root, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("cannot recount the quota of %s: %w", root, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("cannot recount the quota of %s: %w", root, err)
	}
	if err := os.Rename(tmp, filepath.Join(root, sizeFileName)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("cannot recount the quota of %s: %w", root, err)
	}
	return nil
}

// countMaildir adds up the messages of root and of its counted folders, and
// returns the latest modification time of the cur/ and new/ directories it
// read (maildirquota.c countcurnew/countsubdir).
func countMaildir(root string) (Usage, int64, error) {
	var u Usage
	var newest int64
	countCurNew(root, &u, &newest)
	err := forEachFolderDir(root, func(dir string) { countCurNew(dir, &u, &newest) })
	return u, newest, err
}

// maildirMtime is the latest modification time of the directories
// countMaildir reads.
func maildirMtime(root string) int64 {
	var newest int64
	stamp := func(dir string) {
		for _, sub := range []string{"new", "cur"} {
			if st, err := os.Stat(filepath.Join(dir, sub)); err == nil {
				newest = max(newest, st.ModTime().UnixNano())
			}
		}
	}
	stamp(root)
	forEachFolderDir(root, stamp)
	return newest
}

// forEachFolderDir calls fn for every counted folder directory of root:
// entries starting with '.', except ".", "..", symbolic links and Trash.
func forEachFolderDir(root string, fn func(dir string)) error {
	d, err := os.Open(root)
	if err != nil {
		return fmt.Errorf("cannot count the messages of %s: %w", root, err)
	}
	ents, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("cannot count the messages of %s: %w", root, err)
	}
	for _, e := range ents {
		name := e.Name()
		if name[0] != '.' || name == "." || name == ".." || name == trashFolder || e.Type()&os.ModeSymlink != 0 {
			continue
		}
		fn(filepath.Join(root, name))
	}
	return nil
}

func countCurNew(dir string, u *Usage, newest *int64) {
	for _, sub := range []string{"new", "cur"} {
		p := filepath.Join(dir, sub)
		st, err := os.Stat(p)
		if err != nil {
			continue // not a maildir: nothing to count, as in Courier
		}
		*newest = max(*newest, st.ModTime().UnixNano())
		d, err := os.Open(p)
		if err != nil {
			continue
		}
		names, _ := d.Readdirnames(-1)
		d.Close()
		for _, name := range names {
			if name[0] == '.' {
				continue
			}
			size := int64(-1)
			if n, err := ParseName(name); err == nil {
				if !n.Counted() {
					continue
				}
				size = n.Size
			}
			if size < 0 {
				st, err := os.Stat(filepath.Join(p, name))
				if err != nil {
					continue // gone meanwhile
				}
				size = st.Size()
			}
			u.Bytes += size
			u.Messages++
		}
	}
}

// appendUsage appends one line to root's maildirsize, if there is one. The
// caller holds the shared lock, and opens the file afresh so that the line
// lands in the current file even if a recount just replaced it.
func appendUsage(root string, delta Usage) error {
	path := filepath.Join(root, sizeFileName)
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_APPEND|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err == unix.ENOENT {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot update quota file %s: %w", path, err)
	}
	defer unix.Close(fd)
	line := usageLine(delta)
	for {
		n, err := unix.Write(fd, line)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("cannot update quota file %s: %w", path, err)
		}
		if n != len(line) {
			return fmt.Errorf("cannot update quota file %s: short write (%d of %d bytes)", path, n, len(line))
		}
		return nil
	}
}

// lockMaildir takes an advisory flock on the main maildir directory and
// returns the function that releases it. Failure to lock (a file system
// without flock) is not an error: the bookkeeping then works as Courier's,
// without locks.
func lockMaildir(root string, how int) func() {
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return func() {}
	}
	for {
		err = unix.Flock(fd, how)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return func() {}
	}
	return func() {
		unix.Flock(fd, unix.LOCK_UN)
		unix.Close(fd)
	}
}

// SetQuota installs or changes the quota of the maildir dir (a folder
// means its main maildir): it counts the messages and writes a new
// maildirsize with the spec and the total (maildirmake -q).
func SetQuota(dir string, spec QuotaSpec) error {
	if spec.IsZero() {
		return fmt.Errorf("quota %q sets no limit; to remove the quota of %s delete its %s file", spec, dir, sizeFileName)
	}
	root := QuotaRoot(dir)
	q := &quota{root: root, spec: spec}
	_, err := q.recount()
	return err
}

// QuotaStatus is what GetQuota reports: the limits, the usage, and the
// percentage of the fuller limit (what deliverquota -w compares against and
// IMAP GETQUOTAROOT shows).
type QuotaStatus struct {
	Root    string
	Quota   QuotaSpec
	Usage   Usage
	Percent int
}

// GetQuota reads the quota of the maildir dir (a folder means its main
// maildir), recounting first when the file calls for it. ok is false when
// the maildir has no quota. override is the account's quota from authlib
// (MAILDIRQUOTA), zero for none.
func GetQuota(dir string, override QuotaSpec) (st QuotaStatus, ok bool, err error) {
	root := QuotaRoot(dir)
	q, err := loadQuota(root, override)
	if err != nil || q == nil {
		return QuotaStatus{}, false, err
	}
	pct, err := q.check(Usage{})
	if err != nil && !errors.Is(err, ErrOverQuota) {
		return QuotaStatus{}, false, err
	}
	return QuotaStatus{Root: root, Quota: q.spec, Usage: q.usage, Percent: pct}, true, nil
}

// CheckQuota reports whether add (bytes and messages) still fits under the
// quota of the maildir dir: nil, or a *QuotaError. Trash and messages
// flagged T are outside the quota and always fit.
func CheckQuota(dir string, override QuotaSpec, add Usage) error {
	if !countedFolder(dir) {
		return nil
	}
	q, err := loadQuota(QuotaRoot(dir), override)
	if err != nil || q == nil {
		return err
	}
	_, err = q.check(add)
	return err
}

// Recalculate recounts the maildir dir (a folder means its main maildir)
// and rewrites its maildirsize, if it has one.
func Recalculate(dir string) error {
	q, err := loadQuota(QuotaRoot(dir), QuotaSpec{})
	if err != nil || q == nil {
		return err
	}
	_, err = q.recount()
	return err
}

// tidyQuota recounts root's maildirsize if the rules say it is due. Courier
// does this after deletions, so that a mailbox that only shrinks does not
// grow its maildirsize forever.
func tidyQuota(root string) error {
	q, err := loadQuota(root, QuotaSpec{})
	if err != nil || q == nil || !q.recalc {
		return err
	}
	_, err = q.recount()
	return err
}
