package queue

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Load reads and parses the control file of the message with this inode.
// It also checks that the M record names the same inode, so a control file
// copied or linked under a wrong name is refused.
func (q *Queue) Load(inode uint64) (*Control, error) {
	path := q.ControlPath(inode)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	c, err := ParseControl(path, data)
	if err != nil {
		return nil, err
	}
	if c.ID.Inode != inode {
		return nil, &ParseError{File: path, Line: 1, Msg: fmt.Sprintf("queue id %s in the M record does not match the file's inode %d", c.ID, inode)}
	}
	return c, nil
}

// Append adds records to the message's control file in one write(2) and
// fsyncs it (DESIGN.md §3): after a crash either all of them are there or
// the last line is torn, which Recover cuts off.
func (q *Queue) Append(inode uint64, recs ...Record) error {
	return AppendFile(q.ControlPath(inode), recs...)
}

// AppendFile is Append for a control file given by path, for transport
// modules that are handed the path.
func AppendFile(path string, recs ...Record) error {
	f, err := appendRecords(path, recs)
	if err != nil || f == nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("queue: fsync %s: %w", path, err)
	}
	return f.Close()
}

// maxLateSyncs bounds AppendSyncLater's fsyncs under way (MAXDELS of the
// local module is 10 by default).
const maxLateSyncs = 64

// AppendSyncLater adds records to the message's control file in one
// write(2), as Append does, and returns before the fsync, which a goroutine
// makes (its failure is logged). Local delivery records its results so:
// the message is already fsynced in the maildir, the scheduler reads the
// record from the page cache, and waiting for the control file's fsync
// kept each of an account's MAXHOST delivery slots busy a sixth longer. A
// crash before that fsync can lose the record, and the delivery is then
// made again: a duplicate, never a loss. At most maxLateSyncs fsyncs are
// under way; past that a call waits for one to end, so that a disk that
// stalls slows deliveries down instead of piling up open files.
func (q *Queue) AppendSyncLater(inode uint64, recs ...Record) error {
	path := q.ControlPath(inode)
	f, err := appendRecords(path, recs)
	if err != nil || f == nil {
		return err
	}
	q.lateSyncs <- struct{}{}
	go func() {
		defer func() { <-q.lateSyncs }()
		if err := f.Sync(); err != nil {
			q.opt.Logger.Error("queue: cannot fsync a delivery result; a crash now would make the delivery again", "file", path, "err", err)
		}
		f.Close()
	}()
	return nil
}

// appendRecords writes recs to the control file at path in one write(2)
// and returns the open file, nil when there was nothing to write.
func appendRecords(path string, recs []Record) (*os.File, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	var b strings.Builder
	for _, r := range recs {
		if r.line == "" {
			return nil, errors.New("queue: empty record (zero Record value)")
		}
		b.WriteString(r.line)
		b.WriteByte('\n')
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("queue: cannot open control file for appending: %w", err)
	}
	if _, err := f.WriteString(b.String()); err != nil {
		f.Close()
		return nil, fmt.Errorf("queue: appending to %s: %w", path, err)
	}
	return f, nil
}

// Reschedule records the next attempt time: it appends A<next> and renames
// the msgq/ link from the old time to the new one (spec §1: the msgq name
// carries the latest A). A crash between the two steps is repaired by
// Recover, which re-links from the control file's last A.
func (q *Queue) Reschedule(inode uint64, old, next time.Time) error {
	if err := q.Append(inode, NextAttempt(next)); err != nil {
		return err
	}
	to := q.schedulePath(inode, next)
	if _, err := q.mkdirSynced(filepath.Dir(to), modeLinkDir); err != nil {
		return err
	}
	from := q.schedulePath(inode, old)
	if err := os.Rename(from, to); err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("queue: rescheduling: %w", err)
		}
		if err := os.Link(q.ControlPath(inode), to); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("queue: rescheduling: %w", err)
		}
	}
	if err := syncDir(filepath.Dir(to)); err != nil {
		return err
	}
	if filepath.Dir(from) != filepath.Dir(to) {
		return syncDir(filepath.Dir(from))
	}
	return nil
}

// Remove takes a finished message out of the queue: Unschedule, then
// RemoveFiles (its files go to the pool or are deleted). An
// interrupted removal leaves a finished control file, with or without its
// data, which Recover deletes.
func (q *Queue) Remove(inode uint64, next time.Time) error {
	if err := q.Unschedule(inode, next); err != nil {
		return err
	}
	return q.RemoveFiles(inode)
}

// Unschedule removes a finished message's msgq/ link, the first step of
// Remove: Scan, the scheduler's rescans and mailq no longer list it.
func (q *Queue) Unschedule(inode uint64, next time.Time) error {
	return removeAll(inode, q.schedulePath(inode, next))
}

// RemoveFiles takes a message's data file, then its control file, out of
// msgs/ into the pool of files for new submissions (pool.go), or deletes
// them; the rest of Remove. The control file goes last because its inode
// is the queue id: once it is out of msgs/ a new submission may get the
// same inode and must find msgs/<N>/D<inode> free.
func (q *Queue) RemoveFiles(inode uint64) error {
	if err := q.release(inode, q.DataPath(inode), 'D'); err != nil {
		return err
	}
	return q.release(inode, q.ControlPath(inode), 'C')
}

// removeAll removes the files of message inode in order; one that is gone
// already is no error. No directory fsync: a removal lost in a crash
// leaves a control file whose recipients are all done, which recovery
// removes again.
func removeAll(inode uint64, paths ...string) error {
	for _, p := range paths {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("queue: removing message %d: %w", inode, err)
		}
	}
	return nil
}
