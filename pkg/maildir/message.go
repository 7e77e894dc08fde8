package maildir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// Message is one message file found in new/ or cur/.
type Message struct {
	// Sub is "new" or "cur".
	Sub string
	// File is the file name in Sub, including any ":2,<flags>" info.
	File string
	// Name is File parsed. A file whose name does not parse still is
	// listed, with Name.Unique = File and no sizes or flags, so that one
	// odd file never hides the others.
	Name Name
}

// MessagePath returns the path of the message file m in d.
func (d *Dir) MessagePath(m Message) string { return filepath.Join(d.Path, m.Sub, m.File) }

// Flags returns the message's flags.
func (m Message) Flags() Flags { return m.Name.Flags() }

func readNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

// Files lists the message files of new/ or cur/ (sub): every name but
// those starting with '.', unsorted. Readers that need only names (the
// IMAP scan, POP3's list) use it instead of Messages, which parses them.
func (d *Dir) Files(sub string) ([]string, error) {
	names, err := readNames(filepath.Join(d.Path, sub))
	if err != nil {
		return nil, fmt.Errorf("cannot list the messages of %s: %w", d.Path, err)
	}
	out := names[:0]
	for _, n := range names {
		if n != "" && n[0] != '.' {
			out = append(out, n)
		}
	}
	return out, nil
}

func messageOf(sub, file string) Message {
	n, err := ParseName(file)
	if err != nil {
		n = Name{Unique: file, Size: -1, VSize: -1}
	}
	return Message{Sub: sub, File: file, Name: n}
}

// Messages lists the messages of cur/ and new/ (files whose names start
// with '.' are not messages), sorted by name, which is delivery order for
// names of the same length.
func (d *Dir) Messages() ([]Message, error) {
	var out []Message
	for _, sub := range []string{"cur", "new"} {
		names, err := d.Files(sub)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			out = append(out, messageOf(sub, n))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].File < out[j].File })
	return out, nil
}

// ScanNew moves every message of new/ into cur/, giving it the info ":2,"
// (keeping flags it already had; other info is replaced), and returns the
// moved messages with their cur/ names. A message another reader moved
// first is skipped. This is what Courier's imapd and pop3d do when they
// open a mailbox (maildirgetnew.c).
func (d *Dir) ScanNew() ([]Message, error) {
	newDir, curDir := filepath.Join(d.Path, "new"), filepath.Join(d.Path, "cur")
	names, err := readNames(newDir)
	if err != nil {
		return nil, fmt.Errorf("cannot list the new messages of %s: %w", d.Path, err)
	}
	sort.Strings(names)
	var moved []Message
	var errs []error
	for _, n := range names {
		if n[0] == '.' {
			continue
		}
		cur := n
		if i := strings.IndexByte(n, ':'); i < 0 {
			cur = n + ":2,"
		} else if !strings.HasPrefix(n[i:], ":2,") {
			cur = n[:i] + ":2,"
		}
		if err := os.Rename(filepath.Join(newDir, n), filepath.Join(curDir, cur)); err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		moved = append(moved, messageOf("cur", cur))
	}
	if len(errs) > 0 {
		return moved, fmt.Errorf("cannot move new messages of %s into cur/: %w", d.Path, errors.Join(errs...))
	}
	return moved, nil
}

// ErrNoMessage is matched (errors.Is) when a message is not in the maildir
// any more.
var ErrNoMessage = fs.ErrNotExist

// Find returns the message whose unique part (the file name before the
// colon) is unique, wherever it is now: in cur/ with whatever flags another
// session gave it, or still in new/.
func (d *Dir) Find(unique string) (Message, error) {
	if i := strings.IndexByte(unique, ':'); i >= 0 {
		unique = unique[:i]
	}
	for _, sub := range []string{"cur", "new"} {
		dir := filepath.Join(d.Path, sub)
		// The common case: no flags yet, or flags ":2," only.
		for _, try := range []string{unique + ":2,", unique} {
			if _, err := os.Lstat(filepath.Join(dir, try)); err == nil {
				return messageOf(sub, try), nil
			}
		}
		names, err := readNames(dir)
		if err != nil {
			return Message{}, fmt.Errorf("cannot look for message %s in %s: %w", unique, d.Path, err)
		}
		for _, n := range names {
			if n == unique || strings.HasPrefix(n, unique+":") {
				return messageOf(sub, n), nil
			}
		}
	}
	return Message{}, fmt.Errorf("message %s is not in %s: %w", unique, d.Path, ErrNoMessage)
}

// FindAs is Find with the file name the message had in cur/ when last
// seen, which is tried first: that is the common case, and it spares a
// large folder a listing per message.
func (d *Dir) FindAs(unique, last string) (Message, error) {
	if last != "" {
		if _, err := os.Lstat(filepath.Join(d.Path, "cur", last)); err == nil {
			return messageOf("cur", last), nil
		}
	}
	return d.Find(unique)
}

// locate returns the message for a file name, or for its unique part when
// the file was renamed meanwhile.
func (d *Dir) locate(file string) (Message, error) {
	for _, sub := range []string{"cur", "new"} {
		if _, err := os.Lstat(filepath.Join(d.Path, sub, file)); err == nil {
			return messageOf(sub, file), nil
		}
	}
	return d.Find(file)
}

// Open opens a message for reading by its file name (or unique part).
func (d *Dir) Open(file string) (*os.File, Message, error) {
	m, err := d.locate(file)
	if err != nil {
		return nil, Message{}, err
	}
	f, err := os.Open(d.MessagePath(m))
	if errors.Is(err, os.ErrNotExist) {
		// Renamed between the lookup and the open.
		if m, err = d.Find(m.Name.Unique); err == nil {
			f, err = os.Open(d.MessagePath(m))
		}
	}
	if err != nil {
		return nil, Message{}, err
	}
	return f, m, nil
}

// messageSize is the size counted for the quota: ",S=" or the file's.
func (d *Dir) messageSize(m Message) (int64, error) {
	if m.Name.Size >= 0 {
		return m.Name.Size, nil
	}
	st, err := os.Stat(d.MessagePath(m))
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// SetFlags gives a message (by file name or unique part) exactly the flags
// given, by renaming it to cur/<unique>:2,<flags> in one rename(2); a
// message still in new/ moves to cur/. It returns the new file name.
//
// Setting T (deleted) takes the message out of the quota and clearing it
// puts it back, as Courier's imapd does; clearing T fails with a
// *QuotaError when the message no longer fits.
func (d *Dir) SetFlags(file string, flags Flags) (string, error) {
	flags = normalizeFlags(onlyLetters(string(flags)))
	if m := messageOf("cur", file); strings.IndexByte(file, ':') >= 0 && m.Name.WithFlags(flags) != file {
		// The common case: a name in cur/ as last seen, renamed without
		// looking it up first; only a message gone from that name is
		// looked for.
		name, err := d.setFlags(m, flags)
		if !errors.Is(err, ErrNoMessage) {
			return name, err
		}
	}
	m, err := d.locate(file)
	if err != nil {
		return "", err
	}
	return d.setFlags(m, flags)
}

// setFlags is SetFlags for the message m, which may be gone (ErrNoMessage).
func (d *Dir) setFlags(m Message, flags Flags) (string, error) {
	newFile := m.Name.WithFlags(flags)
	if m.Sub == "cur" && m.File == newFile {
		return newFile, nil
	}
	var delta Usage
	if wasT, isT := m.Flags().Has(FlagTrashed), flags.Has(FlagTrashed); wasT != isT && d.counted() {
		size, err := d.messageSize(m)
		if err != nil {
			return "", fmt.Errorf("cannot change the flags of %s: %w", d.MessagePath(m), err)
		}
		delta = Usage{size, 1}
		if isT {
			delta = Usage{-size, -1}
		} else if err := CheckQuota(d.Path, d.Quota, delta); err != nil {
			return "", err
		}
	}
	if delta != (Usage{}) {
		unlock := lockMaildir(d.Root, unix.LOCK_SH)
		defer unlock()
	}
	from, to := d.MessagePath(m), filepath.Join(d.Path, "cur", newFile)
	// rename(2) itself: os.Rename looks at the target first, one more
	// system call a message for a STORE of thousands.
	if err := unix.Rename(from, to); err != nil {
		err = &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("message %s was removed or renamed by another program: %w", from, ErrNoMessage)
		}
		return "", fmt.Errorf("cannot change the flags of %s: %w", from, err)
	}
	if delta != (Usage{}) {
		if err := appendUsage(d.Root, delta); err != nil {
			d.log().Warn("message flags changed but the quota file was not updated; the next recount corrects it",
				"message", to, "err", err)
		}
	}
	return newFile, nil
}

// Remove deletes messages (by file name or unique part) and takes those
// that counted out of the quota with one maildirsize line, as Courier's
// imapd EXPUNGE and pop3d QUIT do. A message that is already gone is not an
// error. After removing, the quota file is recounted if it has grown too
// long.
func (d *Dir) Remove(files ...string) error {
	var delta Usage
	var errs []error
	unlock := func() {}
	if d.counted() {
		unlock = lockMaildir(d.Root, unix.LOCK_SH)
	}
	for _, file := range files {
		if m := messageOf("cur", file); strings.IndexByte(file, ':') >= 0 && m.Name.Size >= 0 {
			// The common case: a name in cur/ as last seen, whose size
			// is in the name, removed without looking it up first.
			err := unix.Unlink(d.MessagePath(m))
			if err == nil {
				if m.Name.Counted() {
					delta.Bytes -= m.Name.Size
					delta.Messages--
				}
				continue
			}
			if err != unix.ENOENT {
				errs = append(errs, fmt.Errorf("cannot remove message: %w", &os.PathError{Op: "unlink", Path: d.MessagePath(m), Err: err}))
				continue
			}
		}
		m, err := d.locate(file)
		if errors.Is(err, ErrNoMessage) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		size, serr := d.messageSize(m)
		if err := os.Remove(d.MessagePath(m)); err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("cannot remove message: %w", err))
			}
			continue
		}
		if serr == nil && m.Name.Counted() {
			delta.Bytes -= size
			delta.Messages--
		}
	}
	if delta != (Usage{}) && d.counted() {
		if err := appendUsage(d.Root, delta); err != nil {
			errs = append(errs, err)
		}
	}
	unlock()
	if delta != (Usage{}) {
		if err := tidyQuota(d.Root); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
