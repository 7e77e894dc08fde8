package maildir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"

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

// dirAt is a directory opened once for a batch of messages: renames,
// links and unlinks relative to its descriptor spare the kernel the walk of
// the whole path for every message. fd -1 (not opened, or one message
// only, where opening costs more than it saves) uses the path.
type dirAt struct {
	path string
	fd   int
}

// openDirAt opens dir for a batch of n messages.
func openDirAt(dir string, n int) dirAt {
	if n < 2 {
		return dirAt{dir, -1}
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return dirAt{dir, -1}
	}
	return dirAt{dir, fd}
}

func (a dirAt) close() {
	if a.fd >= 0 {
		unix.Close(a.fd)
	}
}

// at is the descriptor and name for an *at system call on the entry name.
func (a dirAt) at(name string) (int, string) {
	if a.fd < 0 {
		return unix.AT_FDCWD, filepath.Join(a.path, name)
	}
	return a.fd, name
}

// flagLetters is the normalized set of the flag letters in f.
func flagLetters(f Flags) Flags { return normalizeFlags(onlyLetters(string(f))) }

// withFlags is n.WithFlags for flags already normalized.
func withFlags(n Name, flags Flags) string { return n.Unique + ":2," + string(flags) }

// SetFlags gives a message (by file name or unique part) exactly the flags
// given, by renaming it to cur/<unique>:2,<flags> in one rename(2); a
// message still in new/ moves to cur/. It returns the new file name.
//
// Setting T (deleted) takes the message out of the quota and clearing it
// puts it back, as Courier's imapd does; clearing T fails with a
// *QuotaError when the message no longer fits.
func (d *Dir) SetFlags(file string, flags Flags) (string, error) {
	b := d.flagBatch(1)
	defer b.finish()
	return b.set(file, flags)
}

// SetFlagsBatch is SetFlags for several messages (files[i] gets flags[i])
// with the quota file locked once and given one line for them all.
// names[i] is the new name of files[i], "" when its flags could not be
// changed; err joins the failures. done, when not nil, is set to the
// number of files handled after each (for a reader in another goroutine).
func (d *Dir) SetFlagsBatch(files []string, flags []Flags, done *atomic.Int64) (names []string, err error) {
	names = make([]string, len(files))
	var errs []error
	b := d.flagBatch(len(files))
	for i, file := range files {
		name, err := b.set(file, flags[i])
		if done != nil {
			done.Store(int64(i + 1))
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		names[i] = name
	}
	b.finish()
	return names, errors.Join(errs...)
}

// flagBatch renames messages of d for SetFlags and SetFlagsBatch.
type flagBatch struct {
	d     *Dir
	cur   dirAt
	quota quotaBatch
}

func (d *Dir) flagBatch(n int) *flagBatch {
	return &flagBatch{
		d:     d,
		cur:   openDirAt(filepath.Join(d.Path, "cur"), n),
		quota: quotaBatch{d: d, folder: d.Path, what: "message flags changed"},
	}
}

// set is SetFlags.
func (b *flagBatch) set(file string, flags Flags) (string, error) {
	flags = flagLetters(flags)
	if m := messageOf("cur", file); strings.IndexByte(file, ':') >= 0 && withFlags(m.Name, flags) != file {
		// The common case: a name in cur/ as last seen, renamed without
		// looking it up first; only a message gone from that name is
		// looked for.
		name, err := b.rename(m, flags)
		if !errors.Is(err, ErrNoMessage) {
			return name, err
		}
	}
	m, err := b.d.locate(file)
	if err != nil {
		return "", err
	}
	return b.rename(m, flags)
}

// rename gives the message m, which may be gone (ErrNoMessage), the
// flags (normalized).
func (b *flagBatch) rename(m Message, flags Flags) (string, error) {
	d := b.d
	newFile := withFlags(m.Name, flags)
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
		} else if err := b.quota.check(d, delta); err != nil {
			return "", err
		}
		b.quota.lock()
	}
	// rename(2) itself: os.Rename looks at the target first, one more
	// system call a message for a STORE of thousands.
	var err error
	if m.Sub == "cur" {
		fromFD, fromName := b.cur.at(m.File)
		toFD, toName := b.cur.at(newFile)
		err = unix.Renameat(fromFD, fromName, toFD, toName)
	} else {
		err = unix.Rename(d.MessagePath(m), filepath.Join(d.Path, "cur", newFile))
	}
	if err != nil {
		from := d.MessagePath(m)
		err = &os.LinkError{Op: "rename", Old: from, New: filepath.Join(d.Path, "cur", newFile), Err: err}
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("message %s was removed or renamed by another program: %w", from, ErrNoMessage)
		}
		return "", fmt.Errorf("cannot change the flags of %s: %w", from, err)
	}
	b.quota.add(delta)
	return newFile, nil
}

// finish writes the batch's quota change out and releases what it holds.
func (b *flagBatch) finish() {
	b.quota.flush()
	b.cur.close()
}

// Remove deletes messages (by file name or unique part) and takes those
// that counted out of the quota with one maildirsize line, as Courier's
// imapd EXPUNGE and pop3d QUIT do. A message that is already gone is not an
// error. After removing, the quota file is recounted if it has grown too
// long.
func (d *Dir) Remove(files ...string) error {
	_, err := d.RemoveMessages(files)
	return err
}

// RemoveMessages is Remove reporting each message: removed[i] says that
// files[i] is gone (removed now, or before); err joins the failures.
func (d *Dir) RemoveMessages(files []string) (removed []bool, err error) {
	removed = make([]bool, len(files))
	var delta Usage
	var errs []error
	unlock := func() {}
	if d.counted() {
		unlock = lockMaildir(d.Root, unix.LOCK_SH)
	}
	cur := openDirAt(filepath.Join(d.Path, "cur"), len(files))
	defer cur.close()
	for i, file := range files {
		if m := messageOf("cur", file); strings.IndexByte(file, ':') >= 0 && m.Name.Size >= 0 {
			// The common case: a name in cur/ as last seen, whose size
			// is in the name, removed without looking it up first.
			fd, name := cur.at(file)
			err := unix.Unlinkat(fd, name, 0)
			if err == nil {
				removed[i] = true
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
			removed[i] = true
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		size, serr := d.messageSize(m)
		err = os.Remove(d.MessagePath(m))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("cannot remove message: %w", err))
			continue
		}
		removed[i] = true
		if err == nil && serr == nil && m.Name.Counted() {
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
	return removed, errors.Join(errs...)
}
