package maildir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// LinkMessage puts the message file src (a path, normally in another
// folder of the same maildir) into d's cur/ under a new unique name with
// the given flags, as IMAP COPY does. It makes a hard link when the file
// system allows one (the content of a message file never changes, and the
// link keeps the modification time, which is the IMAP internal date), and
// copies the file otherwise. The quota of d's main maildir is checked and
// charged like a delivery (*QuotaError when it does not fit). It returns
// the new file name in cur/.
func (d *Dir) LinkMessage(src string, flags Flags) (string, error) {
	return d.linkMessage(src, flags, true)
}

// LinkMessages is LinkMessage for several messages (srcs[i] with
// flags[i]) with one fsync of cur/ for them all. It stops at the first
// failure and returns the names made until then, which the caller removes
// when it gives up.
func (d *Dir) LinkMessages(srcs []string, flags []Flags) ([]string, error) {
	names := make([]string, 0, len(srcs))
	for i, src := range srcs {
		name, err := d.linkMessage(src, flags[i], false)
		if err != nil {
			return names, err
		}
		names = append(names, name)
	}
	if len(names) > 0 {
		if err := syncDir(filepath.Join(d.Path, "cur")); err != nil {
			return names, fmt.Errorf("cannot make the copies in %s durable: %w", d.Path, err)
		}
	}
	return names, nil
}

// linkMessage is LinkMessage; sync false leaves the fsync of cur/ to the
// caller.
func (d *Dir) linkMessage(src string, flags Flags, sync bool) (string, error) {
	flags = normalizeFlags(onlyLetters(string(flags)))
	st, err := os.Stat(src)
	if err != nil {
		return "", fmt.Errorf("cannot copy message: %w", err)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return d.copyMessageFile(src, st, flags)
	}
	n := messageOf("", filepath.Base(src)).Name
	size := n.Size
	if size < 0 {
		size = st.Size()
	}
	account := d.counted() && !flags.Has(FlagTrashed)
	if account {
		if err := CheckQuota(d.Path, d.Quota, Usage{size, 1}); err != nil {
			return "", err
		}
	}
	cur := filepath.Join(d.Path, "cur")
	uniq := ""
	for attempt := 0; attempt < 100; attempt++ {
		name := newNameParts(time.Now(), uniq).finalName(uint64(sys.Dev), uint64(sys.Ino), size, n.VSize) + ":2," + string(flags)
		unlock := func() {}
		if account {
			unlock = lockMaildir(d.Root, unix.LOCK_SH)
		}
		err := os.Link(src, filepath.Join(cur, name))
		if err == nil && account {
			if uerr := appendUsage(d.Root, Usage{size, 1}); uerr != nil {
				d.log().Warn("message copied but its size was not added to the quota file; the next recount corrects it",
					"message", filepath.Join(cur, name), "err", uerr)
			}
		}
		unlock()
		switch {
		case err == nil:
			if !sync {
				return name, nil
			}
			if err := syncDir(cur); err != nil {
				return "", fmt.Errorf("cannot make the copy %s durable: %w", filepath.Join(cur, name), err)
			}
			return name, nil
		case errors.Is(err, os.ErrExist):
			// The same file linked twice in one microsecond.
			uniq = strconv.FormatUint(collisions.Add(1), 10)
		case errors.Is(err, unix.EXDEV), errors.Is(err, unix.EPERM), errors.Is(err, unix.EMLINK):
			return d.copyMessageFile(src, st, flags)
		default:
			return "", fmt.Errorf("cannot copy message %s into %s: %w", src, cur, err)
		}
	}
	return "", fmt.Errorf("cannot copy message %s into %s: no free file name", src, cur)
}

// copyMessageFile is LinkMessage for file systems without hard links: a
// delivery of the same content straight into cur/.
func (d *Dir) copyMessageFile(src string, st os.FileInfo, flags Flags) (string, error) {
	f, err := os.Open(src)
	if err != nil {
		return "", fmt.Errorf("cannot copy message: %w", err)
	}
	defer f.Close()
	p, err := d.Create(f, DeliverOptions{Size: st.Size(), ModTime: st.ModTime(), NoQuota: flags.Has(FlagTrashed)})
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

// MoveMessage moves a message of d (by file name or unique part) into
// dst's cur/, keeping its unique name and giving it the flags given, as
// IMAP MOVE and Courier's expunge into Trash do. The quota follows the
// message: leaving a counted folder for Trash (or becoming flagged T)
// takes it out, the reverse puts it back and fails with a *QuotaError when
// it no longer fits. It returns the new file name in dst's cur/. An
// existing file of that name in dst is never replaced.
func (d *Dir) MoveMessage(file string, dst *Dir, flags Flags) (string, error) {
	names, err := d.MoveMessages([]string{file}, dst, []Flags{flags})
	if err != nil {
		return "", err
	}
	return names[0], nil
}

// MoveMessages is MoveMessage for several messages of d (files[i] with
// flags[i]) with one fsync of dst's cur/ for them all, before any source
// is removed. names[i] is the new name of files[i] in dst's cur/, "" when
// that message could not be moved; err joins the failures.
func (d *Dir) MoveMessages(files []string, dst *Dir, flags []Flags) (names []string, err error) {
	type linked struct {
		i        int
		from, to string
		name     string
		delta    Usage
	}
	names = make([]string, len(files))
	var done []linked
	var errs []error
	var charged Usage // added to dst's quota by the messages linked so far
	locked := false
	for i, file := range files {
		fl := normalizeFlags(onlyLetters(string(flags[i])))
		m, err := d.locate(file)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		newName := m.Name.WithFlags(fl)
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
				if err := CheckQuota(dst.Path, dst.Quota, Usage{charged.Bytes + size, charged.Messages + 1}); err != nil {
					errs = append(errs, err)
					continue
				}
			}
		}
		if delta != (Usage{}) && !locked {
			defer lockMaildir(d.Root, unix.LOCK_SH)()
			locked = true
		}
		from, to := d.MessagePath(m), filepath.Join(dst.Path, "cur", newName)
		// link and unlink rather than rename: rename would silently
		// replace a file of the same name.
		if err := os.Link(from, to); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				err = fmt.Errorf("message %s was removed or renamed by another program: %w", from, ErrNoMessage)
			} else {
				err = fmt.Errorf("cannot move message %s to %s: %w", from, to, err)
			}
			errs = append(errs, err)
			continue
		}
		if delta.Messages > 0 {
			charged.Bytes += delta.Bytes
			charged.Messages += delta.Messages
		}
		done = append(done, linked{i, from, to, newName, delta})
	}
	if len(done) == 0 {
		return names, errors.Join(errs...)
	}
	if err := syncDir(filepath.Join(dst.Path, "cur")); err != nil {
		for _, l := range done {
			os.Remove(l.to)
		}
		return names, errors.Join(append(errs, fmt.Errorf("cannot move messages to %s: %w", dst.Path, err))...)
	}
	var total Usage
	for _, l := range done {
		if err := os.Remove(l.from); err != nil && !errors.Is(err, os.ErrNotExist) {
			os.Remove(l.to)
			errs = append(errs, fmt.Errorf("cannot move message %s: %w", l.from, err))
			continue
		}
		names[l.i] = l.name
		total.Bytes += l.delta.Bytes
		total.Messages += l.delta.Messages
	}
	if total != (Usage{}) {
		if err := appendUsage(d.Root, total); err != nil {
			d.log().Warn("messages moved but the quota file was not updated; the next recount corrects it",
				"folder", dst.Path, "err", err)
		}
	}
	return names, errors.Join(errs...)
}
