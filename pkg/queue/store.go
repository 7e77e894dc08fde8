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
//
// Concurrent appends to one control file are a group commit: courierlocal
// delivers to a message's recipients at once, and the results that arrive
// while a write and fsync of that file is under way are written together
// in the next one instead of one fsync each (the slower the disk's fsync,
// the more of them share it). Each call still returns only once its own
// records are on disk, and they stay together in the file, so a crash
// leaves what one append per call would.
func (q *Queue) Append(inode uint64, recs ...Record) error {
	q.appendMu.Lock()
	if waiting, busy := q.appending[inode]; busy {
		req := &pendingAppend{recs: recs, done: make(chan error, 1)}
		q.appending[inode] = append(waiting, req)
		q.appendMu.Unlock()
		return <-req.done
	}
	if q.appending == nil {
		q.appending = map[uint64][]*pendingAppend{}
	}
	q.appending[inode] = nil
	q.appendMu.Unlock()
	path := q.ControlPath(inode)
	err := AppendFile(path, recs...)
	// Records that came meanwhile are written by another goroutine, so
	// that this caller does not wait for their fsync.
	if batch := q.nextAppends(inode); batch != nil {
		go q.flushAppends(inode, path, batch)
	}
	return err
}

// pendingAppend is an Append waiting for the write under way.
type pendingAppend struct {
	recs []Record
	done chan error
}

// nextAppends takes the appends waiting for inode's control file, or ends
// the write under way when there are none.
func (q *Queue) nextAppends(inode uint64) []*pendingAppend {
	q.appendMu.Lock()
	defer q.appendMu.Unlock()
	batch := q.appending[inode]
	if batch == nil {
		delete(q.appending, inode)
		return nil
	}
	q.appending[inode] = nil
	return batch
}

// flushAppends writes batches of waiting appends in one write each until
// none is left.
func (q *Queue) flushAppends(inode uint64, path string, batch []*pendingAppend) {
	for batch != nil {
		var recs []Record
		for _, r := range batch {
			recs = append(recs, r.recs...)
		}
		err := AppendFile(path, recs...)
		for _, r := range batch {
			r.done <- err
		}
		batch = q.nextAppends(inode)
	}
}

// AppendFile is Append for a control file given by path, for transport
// modules that are handed the path.
func AppendFile(path string, recs ...Record) error {
	if len(recs) == 0 {
		return nil
	}
	var b strings.Builder
	for _, r := range recs {
		if r.line == "" {
			return errors.New("queue: empty record (zero Record value)")
		}
		b.WriteString(r.line)
		b.WriteByte('\n')
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("queue: cannot open control file for appending: %w", err)
	}
	if _, err := f.WriteString(b.String()); err != nil {
		f.Close()
		return fmt.Errorf("queue: appending to %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("queue: fsync %s: %w", path, err)
	}
	return f.Close()
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

// Remove deletes a finished message: Unschedule, then RemoveFiles. An
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

// RemoveFiles deletes a message's data file, then its control file, the
// rest of Remove. The control file goes last because its inode is the
// queue id: once it is unlinked a new submission may get the same inode
// and must find msgs/<N>/D<inode> free.
func (q *Queue) RemoveFiles(inode uint64) error {
	return removeAll(inode, q.DataPath(inode), q.ControlPath(inode))
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
