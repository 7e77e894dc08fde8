package maildir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// CopyMessages copies messages of src into d's cur/ under new unique
// names, keeping their flags, as IMAP COPY does, with one fsync of cur/
// for them all. Each copy is a hard link when the file system allows one
// (the content of a message file never changes, and the link keeps the
// modification time, which is the IMAP internal date), else a copy of the
// file. files[i] is a message's file name in src's cur/ as last seen; a
// message renamed since (its flags changed) is looked up by its unique
// part. names[i] is the name of the copy of files[i], "" for a message
// gone from src. The quota of d's main maildir is charged as for a
// delivery: checked for all the messages at once, and only when they do
// not fit one by one, the copies stopping at the first that does not fit
// (*QuotaError). It stops at the first failure and returns the names made
// until then, which the caller removes when it gives up.
//
// was, when not nil, gives for files[i] the other name the file may have
// by now ("" none): one of the two is the name before a rename that the
// caller's process is making (imapd's STORE renames after its answer).
// Such a message is linked by whichever name it has when linked, files[i]
// tried first, and the copy takes the flags flags[i] (the caller names
// first what the file most likely has: a look at a name that does not
// exist waits for the directory's lock, which the renames take in turn).
func (d *Dir) CopyMessages(src *Dir, files, was []string, flags []Flags) ([]string, error) {
	cur := openDirAt(filepath.Join(src.Path, "cur"), len(files))
	defer cur.close()
	srcs := make([]linkSource, len(files))
	for i, file := range files {
		s := &srcs[i]
		s.dir, s.name = cur, file
		if was != nil {
			s.was = was[i]
		}
		// A rename between two looks can hide the file from both: the
		// new name is looked at again, which it has by then, rather than
		// listing the whole directory.
		err := s.stat()
		for try := 0; try < 2 && errors.Is(err, os.ErrNotExist) && s.was != ""; try++ {
			s.name, s.was = s.was, s.name
			err = s.stat()
		}
		if errors.Is(err, os.ErrNotExist) {
			m, ferr := src.Find(file)
			if errors.Is(ferr, ErrNoMessage) {
				s.gone = true // expunged by another session meanwhile
				continue
			}
			if ferr != nil {
				return make([]string, len(files)), ferr
			}
			s.dir, s.name = dirAt{filepath.Join(src.Path, m.Sub), -1}, m.File
			err = s.stat()
		}
		if err != nil {
			return make([]string, len(files)), err
		}
		s.flags = s.n.Flags()
		if was != nil && was[i] != "" {
			s.flags = flags[i]
		}
	}
	return d.linkAll(srcs)
}

// linkSource is a message file to link into a folder.
type linkSource struct {
	dir   dirAt
	name  string
	n     Name // name parsed
	st    unix.Stat_t
	flags Flags  // of the copy
	gone  bool   // not there any more: skipped
	was   string // the other name the file may have by now in dir, or ""
}

// stat reads the file's inode and size, and parses its name.
func (s *linkSource) stat() error {
	fd, name := s.dir.at(s.name)
	if err := unix.Fstatat(fd, name, &s.st, 0); err != nil {
		return fmt.Errorf("cannot copy message: %w", &os.PathError{Op: "stat", Path: s.path(), Err: err})
	}
	s.n = messageOf("", s.name).Name
	return nil
}

func (s *linkSource) path() string { return filepath.Join(s.dir.path, s.name) }

// size is the size counted for the quota: ",S=" or the file's.
func (s *linkSource) size() int64 {
	if s.n.Size >= 0 {
		return s.n.Size
	}
	return s.st.Size
}

// linkAll links the messages srcs (but those gone) into d's cur/ with one
// fsync of cur/; names[i] is the name of the copy of srcs[i]. The quota is
// checked before the first link (and the lock taken after: a recount
// takes it exclusively); the maildirsize line for all the copies is
// written under the lock, which is held from the first link to the last.
func (d *Dir) linkAll(srcs []linkSource) ([]string, error) {
	names := make([]string, len(srcs))
	counted := d.counted()
	sizes := make([]int64, len(srcs)) // what each copy adds to the quota
	for i := range srcs {
		s := &srcs[i]
		s.flags = flagLetters(s.flags)
		sizes[i] = -1
		if !s.gone && counted && !s.flags.Has(FlagTrashed) {
			sizes[i] = s.size()
		}
	}
	n := len(srcs) // the messages that fit the quota
	var quotaErr error
	if fits, errs := fitQuota(d, sizes, true); errs != nil {
		n, quotaErr = slices.Index(fits, false), errs[0]
	}
	cur := openDirAt(filepath.Join(d.Path, "cur"), n)
	defer cur.close()
	q := quotaBatch{d: d, folder: d.Path, what: "messages copied"}
	defer q.flush()
	parts := newNameParts(time.Now(), "") // the pid and host, read once
	made := false
	for i := range srcs[:n] {
		if srcs[i].gone {
			continue
		}
		name, err := d.link(cur, &srcs[i], parts, &q, counted)
		if err != nil {
			return names, err
		}
		names[i], made = name, true
	}
	if quotaErr != nil {
		return names, quotaErr
	}
	if made {
		if err := syncDir(cur.path); err != nil {
			return names, fmt.Errorf("cannot make the copies in %s durable: %w", d.Path, err)
		}
	}
	return names, nil
}

// link links one message into cur (d's cur/) for linkAll, naming it
// with parts at the time of the link.
func (d *Dir) link(cur dirAt, s *linkSource, parts nameParts, q *quotaBatch, counted bool) (string, error) {
	account := counted && !s.flags.Has(FlagTrashed)
	size := s.size()
	for attempt := 0; attempt < 100; attempt++ {
		now := time.Now()
		parts.sec, parts.usec = now.Unix(), int64(now.Nanosecond()/1000)
		name := parts.finalName(uint64(s.st.Dev), uint64(s.st.Ino), size, s.n.VSize) + ":2," + string(s.flags)
		if account {
			q.lock()
		}
		oldFD, oldName := s.dir.at(s.name)
		newFD, newName := cur.at(name)
		err := unix.Linkat(oldFD, oldName, newFD, newName, 0)
		switch {
		case err == nil:
			if account {
				q.add(Usage{size, 1})
			}
			return name, nil
		case errors.Is(err, os.ErrExist):
			// The same file linked twice in one microsecond.
			parts.uniq = strconv.FormatUint(collisions.Add(1), 10)
		case errors.Is(err, os.ErrNotExist) && s.was != "":
			// Renamed since it was found (see CopyMessages).
			s.name, s.was = s.was, ""
		case err == unix.EXDEV, err == unix.EPERM, err == unix.EMLINK:
			// The delivery checks and charges the quota itself, taking
			// the lock.
			q.flush()
			return d.copyMessageFile(s.path(), s.st.Size, time.Unix(s.st.Mtim.Unix()), s.flags)
		default:
			err = &os.LinkError{Op: "link", Old: s.path(), New: filepath.Join(cur.path, name), Err: err}
			return "", fmt.Errorf("cannot copy message %s into %s: %w", s.path(), cur.path, err)
		}
	}
	return "", fmt.Errorf("cannot copy message %s into %s: no free file name", s.path(), cur.path)
}

// copyMessageFile is the copy for file systems without hard links: a
// delivery of the same content straight into cur/.
func (d *Dir) copyMessageFile(src string, size int64, modTime time.Time, flags Flags) (string, error) {
	f, err := os.Open(src)
	if err != nil {
		return "", fmt.Errorf("cannot copy message: %w", err)
	}
	defer f.Close()
	p, err := d.Create(f, DeliverOptions{Size: size, ModTime: modTime, NoQuota: flags.Has(FlagTrashed)})
	if err != nil {
		return "", err
	}
	path, err := p.CommitCur(flags)
	if err != nil {
		p.Abort()
		return "", err
	}
	return filepath.Base(path), nil
}

// fitQuota checks what messages add to dst's quota (sizes[i] bytes and one
// message each; -1 for one that adds nothing): all at once, and only when
// they do not fit, one by one in order, leaving out each that does not fit
// (and, with stop, all after it). fits is nil when all fit, else tells
// which do; errs are the *QuotaErrors of those left out for not fitting.
func fitQuota(dst *Dir, sizes []int64, stop bool) (fits []bool, errs []error) {
	var total Usage
	for _, n := range sizes {
		if n >= 0 {
			total = Usage{total.Bytes + n, total.Messages + 1}
		}
	}
	if total.Messages == 0 || CheckQuota(dst.Path, dst.Quota, total) == nil {
		return nil, nil
	}
	fits = make([]bool, len(sizes))
	var sum Usage
	for i, n := range sizes {
		if n < 0 {
			fits[i] = true
			continue
		}
		next := Usage{sum.Bytes + n, sum.Messages + 1}
		if err := CheckQuota(dst.Path, dst.Quota, next); err != nil {
			errs = append(errs, err)
			if stop {
				return fits, errs
			}
			continue
		}
		sum, fits[i] = next, true
	}
	return fits, errs
}

// quotaBatch carries the quota changes of a batch of messages to
// maildirsize as the changes made one at a time would, with fewer system
// calls: the maildir's shared lock is taken before the first change and
// held until flush, which adds the changes up in one line.
type quotaBatch struct {
	d      *Dir
	folder string // for the warning when maildirsize cannot be updated
	what   string
	unlock func() // nil: not locked
	delta  Usage
}

// check fails with a *QuotaError when add does not fit the quota of dst.
// The changes so far are written out first, so that the check sees them,
// and the lock released: a recount takes it exclusively.
func (q *quotaBatch) check(dst *Dir, add Usage) error {
	q.flush()
	return CheckQuota(dst.Path, dst.Quota, add)
}

// lock takes the lock before a change.
func (q *quotaBatch) lock() {
	if q.unlock == nil {
		q.unlock = lockMaildir(q.d.Root, unix.LOCK_SH)
	}
}

// add records a change made under the lock.
func (q *quotaBatch) add(u Usage) {
	q.delta.Bytes += u.Bytes
	q.delta.Messages += u.Messages
}

// flush writes the changes out and releases the lock.
func (q *quotaBatch) flush() {
	if q.delta != (Usage{}) {
		if err := appendUsage(q.d.Root, q.delta); err != nil {
			q.d.log().Warn(q.what+" but the quota file was not updated; the next recount corrects it",
				"folder", q.folder, "err", err)
		}
		q.delta = Usage{}
	}
	if q.unlock != nil {
		q.unlock()
		q.unlock = nil
	}
}

// MoveMessages moves messages of d (files[i], by file name or unique part,
// with flags[i]) into dst's cur/, keeping their unique names, as IMAP MOVE
// and Courier's expunge into Trash do, with one fsync of dst's cur/ for
// them all, before any source is removed. An existing file of a name in
// dst is never replaced. names[i] is the new name of files[i] in dst's
// cur/, "" when that message could not be moved; err joins the failures.
// The quota follows the messages: leaving a counted folder for Trash (or
// becoming flagged T) takes one out, the reverse puts it back. Those put
// back are checked all at once, and only when they do not fit one by one,
// leaving out those that do not fit (*QuotaError); this happens before
// the first link (and the lock taken after: a recount takes it
// exclusively).
func (d *Dir) MoveMessages(files []string, dst *Dir, flags []Flags) (names []string, err error) {
	type move struct {
		i     int
		m     Message
		name  string // in dst's cur/
		delta Usage
	}
	names = make([]string, len(files))
	var errs []error
	var moves []move
	for i, file := range files {
		fl := flagLetters(flags[i])
		m, err := d.locate(file)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		wasCounted := d.counted() && m.Name.Counted()
		willCount := dst.counted() && !fl.Has(FlagTrashed)
		var delta Usage
		if wasCounted != willCount {
			size, err := d.messageSize(m)
			if err != nil {
				errs = append(errs, fmt.Errorf("cannot move %s: %w", d.MessagePath(m), err))
				continue
			}
			delta = Usage{-size, -1}
			if willCount {
				delta = Usage{size, 1}
			}
		}
		moves = append(moves, move{i, m, withFlags(m.Name, fl), delta})
	}
	sizes := make([]int64, len(moves)) // what each move puts back into dst's quota
	for k, mv := range moves {
		sizes[k] = -1
		if mv.delta.Messages > 0 {
			sizes[k] = mv.delta.Bytes
		}
	}
	if fits, qerrs := fitQuota(dst, sizes, false); fits != nil {
		errs = append(errs, qerrs...)
		fit := moves[:0]
		for k, mv := range moves {
			if fits[k] {
				fit = append(fit, mv)
			}
		}
		moves = fit
	}
	q := quotaBatch{d: d, folder: dst.Path, what: "messages moved"}
	defer q.flush()
	srcCur := openDirAt(filepath.Join(d.Path, "cur"), len(moves))
	defer srcCur.close()
	dstCur := openDirAt(filepath.Join(dst.Path, "cur"), len(moves))
	defer dstCur.close()
	// at is the descriptor and name of a message of d.
	at := func(m Message) (int, string) {
		if m.Sub == "cur" {
			return srcCur.at(m.File)
		}
		return unix.AT_FDCWD, d.MessagePath(m)
	}
	done := moves[:0]
	for _, mv := range moves {
		if mv.delta != (Usage{}) {
			q.lock()
		}
		// link and unlink rather than rename: rename would silently
		// replace a file of the same name.
		oldFD, oldName := at(mv.m)
		newFD, newName := dstCur.at(mv.name)
		if err := unix.Linkat(oldFD, oldName, newFD, newName, 0); err != nil {
			from := d.MessagePath(mv.m)
			if err == unix.ENOENT {
				err = fmt.Errorf("message %s was removed or renamed by another program: %w", from, ErrNoMessage)
			} else {
				err = fmt.Errorf("cannot move message %s to %s: %w", from, filepath.Join(dst.Path, "cur", mv.name),
					&os.LinkError{Op: "link", Old: from, New: filepath.Join(dst.Path, "cur", mv.name), Err: err})
			}
			errs = append(errs, err)
			continue
		}
		done = append(done, mv)
	}
	if len(done) == 0 {
		return names, errors.Join(errs...)
	}
	removeCopy := func(mv move) {
		fd, name := dstCur.at(mv.name)
		unix.Unlinkat(fd, name, 0)
	}
	if err := syncDir(dstCur.path); err != nil {
		for _, mv := range done {
			removeCopy(mv)
		}
		return names, errors.Join(append(errs, fmt.Errorf("cannot move messages to %s: %w", dst.Path, err))...)
	}
	for _, mv := range done {
		fd, name := at(mv.m)
		if err := unix.Unlinkat(fd, name, 0); err != nil && err != unix.ENOENT {
			removeCopy(mv)
			errs = append(errs, fmt.Errorf("cannot move message %s: %w", d.MessagePath(mv.m), &os.PathError{Op: "unlink", Path: d.MessagePath(mv.m), Err: err}))
			continue
		}
		names[mv.i] = mv.name
		q.add(mv.delta)
	}
	return names, errors.Join(errs...)
}
