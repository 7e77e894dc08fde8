package queue

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Entry is one scheduled message as msgq/ names it.
type Entry struct {
	Inode       uint64
	NextAttempt time.Time
}

// parseSchedName splits "C<inode>.<A>".
func parseSchedName(name string) (Entry, bool) {
	ino, a, ok := strings.Cut(strings.TrimPrefix(name, "C"), ".")
	if !ok || !strings.HasPrefix(name, "C") {
		return Entry{}, false
	}
	i, err1 := strconv.ParseUint(ino, 10, 64)
	t, err2 := strconv.ParseInt(a, 10, 64)
	if err1 != nil || err2 != nil || t < 0 {
		return Entry{}, false
	}
	return Entry{Inode: i, NextAttempt: time.Unix(t, 0)}, true
}

// Scan lists the queued messages from the msgq/ schedule index, earliest
// next attempt first (the scheduler's and mailq's view; no control file is
// read). Names that are not "C<inode>.<time>" are skipped; Recover removes
// them.
func (q *Queue) Scan() ([]Entry, error) {
	var out []Entry
	buckets, err := os.ReadDir(q.path("msgq"))
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	for _, b := range buckets {
		if !b.IsDir() {
			continue
		}
		names, err := readNames(q.path("msgq", b.Name()))
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			if e, ok := parseSchedName(n); ok {
				out = append(out, e)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].NextAttempt.Equal(out[j].NextAttempt) {
			return out[i].NextAttempt.Before(out[j].NextAttempt)
		}
		return out[i].Inode < out[j].Inode
	})
	return out, nil
}

func readNames(dir string) ([]string, error) {
	// O_DIRECTORY: never open (and block on) the trigger FIFO or a file.
	f, err := os.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("queue: %w", err)
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("queue: reading directory %s: %w", dir, err)
	}
	return names, nil
}

// RecoverReport counts what Recover did.
type RecoverReport struct {
	TmpRemoved    int // stale files of crashed submissions removed from tmp/
	OrphanData    int // data files in msgs/ without a control file removed
	Relinked      int // msgq/ links created or renamed to match the last A
	StaleSchedule int // msgq/ links without a message removed
	Finished      int // messages with every recipient done, deleted
	Repaired      int // control files with a torn last line cut back
	Broken        int // unusable control files moved to tmp/broken/
	Queued        int // messages left in the queue
	PoolPruned    int // recycled files kept too long in tmp/free/, deleted
}

// Recover repairs the queue after a crash; the scheduler runs it at startup
// before its first Scan, while no other process delivers from the queue
// (submissions may run concurrently: their files are younger than
// SubmitTimeout, and a link Recover adds for a commit in progress is the
// one the commit would have made). It
//   - removes files in tmp/<T>/ older than SubmitTimeout (crashed
//     submissions; their message was never promised) and empty old tmp/<T>/;
//   - removes data files in msgs/ without a control file, older than
//     SubmitTimeout (a commit interrupted between its two links);
//   - cuts off a torn last line of a control file (an interrupted append);
//   - moves control files that do not parse, or have no data file, to
//     tmp/broken/ with their data file, logging why;
//   - deletes messages whose recipients are all delivered or failed;
//   - makes the msgq/ link of every other message match its last A record,
//     and removes msgq/ links whose message is gone;
//   - counts the files of the pool (pool.go) and deletes those kept longer
//     than an hour.
func (q *Queue) Recover() (RecoverReport, error) {
	var rep RecoverReport
	log := q.opt.Logger
	now := q.opt.Now()
	cutoff := now.Add(-q.opt.SubmitTimeout)

	// tmp/<T>/
	tmpNames, err := readNames(q.path("tmp"))
	if err != nil {
		return rep, err
	}
	for _, t := range tmpNames {
		if _, err := strconv.ParseUint(t, 10, 64); err != nil {
			continue // broken/, trigger, courierd.lock
		}
		dir := q.path("tmp", t)
		names, err := readNames(dir)
		if err != nil {
			continue // not a directory
		}
		for _, n := range names {
			p := filepath.Join(dir, n)
			fi, err := os.Lstat(p)
			if err != nil || fi.IsDir() || !fi.ModTime().Before(cutoff) {
				continue
			}
			if os.Remove(p) == nil {
				rep.TmpRemoved++
				log.Info("queue recovery: removed the leftover of an interrupted submission", "file", p, "modified", fi.ModTime().UTC().Format(time.RFC3339))
			}
		}
		if t != bucket(now) {
			os.Remove(dir) // only succeeds when empty
		}
	}

	// msgq/ index: inode -> link paths
	sched := map[uint64][]string{}
	qb, err := readNames(q.path("msgq"))
	if err != nil {
		return rep, err
	}
	for _, b := range qb {
		dir := q.path("msgq", b)
		names, err := readNames(dir)
		if err != nil {
			continue // not a directory
		}
		for _, n := range names {
			e, ok := parseSchedName(n)
			if !ok {
				if os.Remove(filepath.Join(dir, n)) == nil {
					rep.StaleSchedule++
					log.Warn("queue recovery: removed a file with a name that is not C<inode>.<time> from the schedule index", "file", filepath.Join(dir, n))
				}
				continue
			}
			sched[e.Inode] = append(sched[e.Inode], filepath.Join(dir, n))
		}
	}

	// msgs/<N>/
	live := map[uint64]bool{}
	mb, err := readNames(q.path("msgs"))
	if err != nil {
		return rep, err
	}
	for _, b := range mb {
		dir := q.path("msgs", b)
		names, err := readNames(dir)
		if err != nil {
			continue
		}
		ctl, dat := map[uint64]bool{}, map[uint64]bool{}
		for _, n := range names {
			if len(n) < 2 || (n[0] != 'C' && n[0] != 'D') {
				continue
			}
			ino, err := strconv.ParseUint(n[1:], 10, 64)
			if err != nil {
				continue
			}
			if n[0] == 'C' {
				ctl[ino] = true
			} else {
				dat[ino] = true
			}
		}
		for ino := range dat {
			if ctl[ino] {
				continue
			}
			p := q.DataPath(ino)
			var st syscall.Stat_t
			if syscall.Stat(p, &st) != nil || !time.Unix(st.Ctim.Unix()).Before(cutoff) {
				continue
			}
			if os.Remove(p) == nil {
				rep.OrphanData++
				log.Info("queue recovery: removed a data file whose submission never completed (no control file)", "file", p)
			}
		}
		for ino := range ctl {
			ok, err := q.recoverMessage(ino, dat[ino], sched[ino], &rep)
			if err != nil {
				return rep, err
			}
			if ok {
				live[ino] = true
			}
		}
	}
	for ino, links := range sched {
		if live[ino] {
			continue
		}
		if _, err := os.Lstat(q.ControlPath(ino)); err == nil {
			continue // appeared meanwhile: a commit in progress
		}
		for _, p := range links {
			if os.Remove(p) == nil {
				rep.StaleSchedule++
				log.Info("queue recovery: removed a schedule link whose message is gone", "file", p)
			}
		}
	}
	rep.PoolPruned = q.countPool()
	return rep, nil
}

// recoverMessage handles one msgs/ control file; it reports whether the
// message stays queued.
func (q *Queue) recoverMessage(ino uint64, hasData bool, links []string, rep *RecoverReport) (bool, error) {
	log := q.opt.Logger
	cpath := q.ControlPath(ino)
	if !hasData {
		if _, err := os.Lstat(q.DataPath(ino)); err != nil {
			// Remove deletes the data file before the control file: a
			// finished message without data is a removal cut short.
			if c, err := q.Load(ino); err == nil && c.Done() {
				for _, p := range links {
					os.Remove(p)
				}
				if err := q.Remove(ino, c.NextAttempt); err != nil {
					return false, err
				}
				rep.Finished++
				log.Info("queue recovery: finished deleting a delivered message", "id", c.ID.String())
				return false, nil
			}
			q.moveBroken(ino, links, "it has no data file "+q.DataPath(ino))
			rep.Broken++
			return false, nil
		}
	}
	c, err := q.Load(ino)
	var pe *ParseError
	if errors.As(err, &pe) && pe.Torn {
		if rerr := cutTornLine(cpath); rerr != nil {
			return false, rerr
		}
		rep.Repaired++
		log.Warn("queue recovery: cut off an incomplete last line of a control file (an update interrupted by a crash; the delivery it recorded may be repeated)", "file", cpath, "line", pe.Line)
		c, err = q.Load(ino)
	}
	if err != nil {
		if errors.As(err, &pe) {
			q.moveBroken(ino, links, err.Error())
			rep.Broken++
			return false, nil
		}
		return false, err
	}
	if c.Done() {
		for _, p := range links {
			os.Remove(p)
		}
		if err := q.Remove(ino, c.NextAttempt); err != nil {
			return false, err
		}
		rep.Finished++
		log.Info("queue recovery: deleted a message whose recipients were all delivered or failed", "id", c.ID.String())
		return false, nil
	}
	want := q.schedulePath(ino, c.NextAttempt)
	have := false
	for _, p := range links {
		have = have || p == want
	}
	for _, p := range links {
		if p == want {
			continue
		}
		if !have {
			if _, err := q.mkdirSynced(filepath.Dir(want), modeLinkDir); err != nil {
				return false, err
			}
			if os.Rename(p, want) == nil {
				have = true
				rep.Relinked++
				log.Info("queue recovery: renamed a schedule link to the message's last next-attempt time", "id", c.ID.String(), "link", want)
				syncDir(filepath.Dir(p))
				continue
			}
		}
		os.Remove(p)
	}
	if !have {
		if _, err := q.mkdirSynced(filepath.Dir(want), modeLinkDir); err != nil {
			return false, err
		}
		if err := os.Link(cpath, want); err != nil && !errors.Is(err, os.ErrExist) {
			return false, fmt.Errorf("queue recovery: linking %s to %s: %w", cpath, want, err)
		}
		rep.Relinked++
		log.Info("queue recovery: restored the schedule link of a queued message", "id", c.ID.String(), "link", want)
	}
	if err := syncDir(filepath.Dir(want)); err != nil {
		return false, err
	}
	rep.Queued++
	return true, nil
}

// cutTornLine truncates a control file after its last newline.
func cutTornLine(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("queue recovery: %w", err)
	}
	i := bytes.LastIndexByte(data, '\n')
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("queue recovery: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(int64(i + 1)); err != nil {
		return fmt.Errorf("queue recovery: truncating %s: %w", path, err)
	}
	return f.Sync()
}

// moveBroken moves a message's control and data files to tmp/broken/ and
// drops its schedule links, logging the reason for the admin.
func (q *Queue) moveBroken(ino uint64, links []string, reason string) {
	for _, p := range links {
		os.Remove(p)
	}
	var moved []string
	for _, src := range []string{q.ControlPath(ino), q.DataPath(ino)} {
		if _, err := os.Lstat(src); err != nil {
			continue
		}
		dst := q.path("tmp", "broken", filepath.Base(src))
		if _, err := os.Lstat(dst); err == nil {
			dst += "." + strconv.FormatInt(q.opt.Now().Unix(), 10)
		}
		if err := os.Rename(src, dst); err != nil {
			q.opt.Logger.Error("queue recovery: cannot move an unusable message file to tmp/broken/", "file", src, "error", err)
			continue
		}
		moved = append(moved, dst)
	}
	syncDir(filepath.Dir(q.ControlPath(ino)))
	syncDir(q.path("tmp", "broken"))
	q.opt.Logger.Error("queue recovery: message taken out of the queue because its control file is unusable; it will not be delivered. Inspect the files and resubmit the message by hand",
		"reason", reason, "moved_to", strings.Join(moved, " "))
}

// ScanRecent lists the messages whose msgq/ bucket is the one of now or the
// one before: where a new submission is linked (its first A is its arrival
// time). The scheduler reads it when woken by the trigger FIFO, so a wake-up
// costs a look at two directories rather than the whole schedule.
func (q *Queue) ScanRecent(now time.Time) ([]Entry, error) {
	var out []Entry
	t := now.Unix() / dirBucketSec
	for _, b := range []int64{t - 1, t} {
		names, err := readNames(q.path("msgq", strconv.FormatInt(b, 10)))
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			if e, ok := parseSchedName(n); ok {
				out = append(out, e)
			}
		}
	}
	return out, nil
}
