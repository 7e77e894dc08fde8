package maildir

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gocourier/courier/pkg/safeio"
)

// DeliverOptions tune Create and Deliver. The zero value delivers like
// Courier's deliverquota.
type DeliverOptions struct {
	// Uniq is added to the file name as "_<Uniq>" before the host name.
	// courierlocal passes its delivery counter ("1", "2", ...), the quota
	// warning passes "warn". Empty leaves the part out, unless two
	// goroutines of this process take the same microsecond, in which case
	// a number keeps the names apart.
	Uniq string
	// Size is the message size when known in advance (a spooled file):
	// the quota is checked before anything is written, and the tmp/ name
	// carries it, as Courier does. 0 means unknown; the quota is then
	// checked once the message is written.
	Size int64
	// Mode is the permission of the new file before the umask; 0 means
	// 0600 (courierlocal's umask 077). deliverquota uses 0666.
	Mode os.FileMode
	// VSize adds ",W=<size with CRLF line ends>" to the name. Courier never
	// writes it, so it is off by default.
	VSize bool
	// NoQuota neither checks nor updates the quota.
	NoQuota bool
	// ModTime, when set, becomes the file's modification time (IMAP
	// APPEND's internal date).
	ModTime time.Time
}

// Pending is a message written into tmp/ and fsynced, waiting to be moved
// into new/ (Commit) or cur/ (CommitCur), or thrown away (Abort). IMAP
// APPEND needs the two steps to assign the UID while it moves the file.
type Pending struct {
	d         *Dir
	tmp       string
	parts     nameParts
	dev, ino  uint64
	size      int64
	vsize     int64
	quotaFree bool
	done      bool
}

// Create writes the message from r into a new file in tmp/, fsyncs it, and
// checks the quota. A *QuotaError (errors.Is ErrOverQuota) means the
// maildir is full: a temporary failure. Nothing is left behind on failure.
func (d *Dir) Create(r io.Reader, opt DeliverOptions) (*Pending, error) {
	checkQuota := !opt.NoQuota && d.counted()
	if checkQuota && opt.Size > 0 {
		if err := CheckQuota(d.Path, d.Quota, Usage{opt.Size, 1}); err != nil {
			return nil, err
		}
	}
	mode := opt.Mode
	if mode == 0 {
		mode = 0o600
	}
	p := &Pending{d: d, quotaFree: opt.NoQuota, vsize: -1}
	f, err := p.createTmp(opt.Uniq, opt.Size, mode)
	if err != nil {
		return nil, err
	}
	var st syscall.Stat_t
	err = syscall.Fstat(int(f.Fd()), &st)
	if err == nil {
		p.dev, p.ino = uint64(st.Dev), uint64(st.Ino)
		p.size, p.vsize, err = copyMessage(f, r, opt.VSize)
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil && !opt.ModTime.IsZero() {
		err = os.Chtimes(p.tmp, opt.ModTime, opt.ModTime)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(p.tmp)
		return nil, fmt.Errorf("cannot write message file %s: %w", p.tmp, err)
	}
	if checkQuota && (opt.Size <= 0 || p.size != opt.Size) {
		if err := CheckQuota(d.Path, d.Quota, Usage{p.size, 1}); err != nil {
			os.Remove(p.tmp)
			return nil, err
		}
	}
	return p, nil
}

// createTmp opens a new file in tmp/ under a name nobody else has
// (O_EXCL), the way maildir(5) asks.
func (p *Pending) createTmp(uniq string, expected int64, mode os.FileMode) (*os.File, error) {
	p.parts = newNameParts(time.Now(), uniq)
	for attempt := 0; ; attempt++ {
		p.tmp = filepath.Join(p.d.Path, "tmp", p.parts.tmpName(expected))
		f, err := safeio.Open(p.tmp, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW, uint32(mode.Perm()))
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, os.ErrExist) || attempt >= 100 {
			return nil, fmt.Errorf("cannot create a message file in %s: %w", filepath.Join(p.d.Path, "tmp"), err)
		}
		n := strconv.FormatUint(collisions.Add(1), 10)
		if uniq != "" {
			n = uniq + "_" + n
		}
		p.parts = newNameParts(time.Now(), n)
	}
}

// copyMessage copies r to f and returns the byte count and, if wanted, the
// size the message has with CRLF line ends (-1 otherwise).
func copyMessage(f *os.File, r io.Reader, wantVSize bool) (size, vsize int64, err error) {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := *bp
	var bare int64 // LFs not preceded by CR
	prevCR := false
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			if wantVSize {
				for _, c := range buf[:n] {
					if c == '\n' && !prevCR {
						bare++
					}
					prevCR = c == '\r'
				}
			}
			if _, werr := f.Write(buf[:n]); werr != nil {
				return 0, 0, werr
			}
			size += int64(n)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return 0, 0, fmt.Errorf("reading the message: %w", rerr)
		}
	}
	if !wantVSize {
		return size, -1, nil
	}
	return size, size + bare, nil
}

// copyBuffers are copyMessage's buffers: a delivery worker writes message
// after message, and a fresh 64 KiB buffer each time cost more than the
// copy of a typical message.
var copyBuffers = sync.Pool{New: func() any {
	b := make([]byte, 64*1024)
	return &b
}}

// Size is the size of the written message in bytes.
func (p *Pending) Size() int64 { return p.size }

// TmpPath is the file in tmp/.
func (p *Pending) TmpPath() string { return p.tmp }

// Unique is the name the message will have in new/ (and, before the ":2,"
// info, in cur/).
func (p *Pending) Unique() string { return p.parts.finalName(p.dev, p.ino, p.size, p.vsize) }

// Commit moves the message into new/ and returns its path. Once Commit
// returns without error the message survives a crash: the file was
// fsynced by Create, and new/ is fsynced after the link.
func (p *Pending) Commit() (string, error) {
	return p.commit("new", p.Unique(), true)
}

// CommitCur moves the message straight into cur/ with the given flags (IMAP
// APPEND) and returns its path.
func (p *Pending) CommitCur(flags Flags) (string, error) {
	flags = flagLetters(flags)
	return p.commit("cur", p.Unique()+":2,"+string(flags), !flags.Has(FlagTrashed))
}

// Abort removes the file from tmp/ unless it was committed.
func (p *Pending) Abort() error {
	if p.done {
		return nil
	}
	p.done = true
	if err := os.Remove(p.tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cannot remove %s: %w", p.tmp, err)
	}
	return nil
}

func (p *Pending) commit(sub, name string, countedFile bool) (string, error) {
	if p.done {
		return "", fmt.Errorf("message %s was already committed or aborted", p.tmp)
	}
	dir := filepath.Join(p.d.Path, sub)
	dst := filepath.Join(dir, name)
	// Without a maildirsize there is nothing to account: skip the lock
	// and the append, as Courier does (maildir_quota_add_start).
	account := !p.quotaFree && countedFile && p.d.counted() && hasSizeFile(p.d.Root)
	if account {
		unlock := lockMaildir(p.d.Root, unix.LOCK_SH)
		defer unlock()
	}
	// link() rather than rename(): it fails instead of replacing a file
	// that has the name already. Across devices (AFS) only rename works.
	renamed := false
	err := os.Link(p.tmp, dst)
	if errors.Is(err, unix.EXDEV) {
		err = os.Rename(p.tmp, dst)
		renamed = err == nil
	}
	if err != nil {
		return "", fmt.Errorf("cannot move message %s into %s: %w", p.tmp, dir, err)
	}
	if err := syncDir(dir); err != nil {
		if renamed {
			os.Rename(dst, p.tmp)
		} else {
			os.Remove(dst)
		}
		return "", fmt.Errorf("cannot make the delivery to %s durable (fsync of %s): %w", dst, dir, err)
	}
	p.done = true
	if !renamed {
		// The message is safely in place; a stale tmp/ link would only
		// be purged after 36 hours.
		os.Remove(p.tmp)
	}
	if account {
		if err := appendUsage(p.d.Root, Usage{p.size, 1}); err != nil {
			p.d.log().Warn("message delivered but its size was not added to the quota file; the next recount corrects it",
				"message", dst, "err", err)
		}
	}
	return dst, nil
}

// hasSizeFile reports whether root has a maildirsize (anything but a
// certain absence counts as yes, so that accounting is never skipped by
// mistake).
func hasSizeFile(root string) bool {
	var st unix.Stat_t
	return unix.Lstat(filepath.Join(root, sizeFileName), &st) != unix.ENOENT
}

// Deliver writes the message from r into the maildir (tmp/, fsync, link
// into new/, fsync of new/) and returns the path of the file in new/. A
// *QuotaError means the maildir is full.
func (d *Dir) Deliver(r io.Reader, opt DeliverOptions) (string, error) {
	p, err := d.Create(r, opt)
	if err != nil {
		return "", err
	}
	path, err := p.Commit()
	if err != nil {
		p.Abort()
		return "", err
	}
	return path, nil
}
