package queue

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The files of delivered messages are recycled, not deleted: RemoveFiles
// renames them into tmp/free/, and Begin takes its control and data files
// from there, writing over them (Commit cuts what is left of the old
// message before the fsync), and creates new ones only when none is ready
// and for a process's first submission (a sendmail submits one message,
// and reading the pool would cost it more than the files save).
//
// Why: a queue that takes and frees two inodes per message makes the file
// system do that work at the message rate. On ext4 without a journal it
// is worse than that: allocating an inode passes over every free inode of
// its block group that was freed in the last 60 to 360 seconds, reading
// each one's deletion time (recently_deleted() in ext4's ialloc.c), and a
// busy queue frees thousands a minute in msgs/'s block group. Under 200
// SMTP sessions that scan was a quarter of the machine's CPU (perf, see
// docs/design.md). Renaming a file costs a directory update, not an inode,
// and writing over its blocks spares freeing and allocating them.
//
// The rules that keep recycling safe:
//   - a file enters the pool only after its message's msgq/ link is gone,
//     and is used only while it has no other link (checked after the
//     claim, before it is truncated);
//   - its name there, "<second released>.<inode of the control file>C"
//     (or D), lets a submission take only files released in an earlier
//     second than its own start: the queue id is the control file's inode,
//     the second the submission began and the pid, so a recycled inode
//     never gives the id of the message that had it before;
//   - the claim is a rename out of the pool into tmp/<T>/, so two
//     processes never get one file, and a crash leaves a named tmp/ file
//     that Recover removes like any other leftover;
//   - only a process whose new files would have the pool's owner takes from
//     it (the courier user, or root giving its files to it), and only
//     files of that owner: a user's sendmail creates files of its own,
//     which mailq and cancelmsg go by, and the scheduler releases those
//     too;
//   - data files over poolMaxSize are deleted, not kept, and so is every
//     file once the pool holds poolMax of them or has kept it for
//     poolMaxAge, so the pool neither keeps large mail on disk nor grows
//     past what the message rate needs.
const (
	poolDir     = "free" // under tmp/
	poolMax     = 16384  // a few seconds of the busiest queue
	poolMaxSize = 64 << 10
	poolMaxAge  = time.Hour
	poolList    = 1024                  // names read from the pool at a time
	poolYoung   = 4096                  // names of this second's files kept aside
	poolRelist  = 20 * time.Millisecond // wait after finding nothing usable
	poolRecount = 4096                  // releases between two counts of the pool
)

// pool is this process's view of tmp/free/: names read from it, not yet
// tried, and what RemoveFiles knows of its size.
type pool struct {
	mu      sync.Mutex
	dir     *os.File // tmp/free/, open for reading on
	names   []string
	emptyAt time.Time // when a round through the pool last found nothing usable

	// Names read that were released in the second of the submission
	// asking, the latest in youngSec: they are tried once that second
	// is over instead of being read again (the pool of a busy queue is
	// mostly files of the last second or two).
	young    map[string]struct{}
	youngSec int64

	size     atomic.Int64 // files in the pool at the last count, plus releases since
	released atomic.Int64 // releases since the last count

	owner func() int // the owner of this process's new files when it is the pool's, else -1
}

// poolOwner is the uid of the files this process creates in the queue
// when tmp/free/ has that owner too, else -1: the process takes no files
// from the pool.
func (q *Queue) poolOwner() int {
	var st unix.Stat_t
	if unix.Stat(q.path("tmp", poolDir), &st) != nil {
		return -1
	}
	uid := os.Geteuid()
	if o := q.opt.Owner; o != nil {
		uid = o.UID
	}
	if int(st.Uid) != uid {
		return -1
	}
	return uid
}

// claim takes a file released before now's second out of the pool and
// names it dst (a tmp/ name); it returns the file, open for writing over
// from its start, and its size, or nil when the pool has none and the
// caller creates a new file. The caller cuts the file to what it wrote.
func (q *Queue) claim(now time.Time, dst string) (*os.File, int64) {
	uid := q.pool.owner()
	if uid < 0 {
		return nil, 0
	}
	for {
		name, ok := q.pool.take(q.path("tmp", poolDir), now)
		if !ok {
			return nil, 0
		}
		src := q.path("tmp", poolDir, name)
		// unix.Rename, not os.Rename, which looks at dst first.
		if err := unix.Rename(src, dst); err != nil {
			continue // another process took it
		}
		if f, size, ok := openClaimed(dst, uid); ok {
			q.pool.size.Add(-1)
			return f, size
		}
		os.Remove(dst)
	}
}

// openClaimed opens a claimed file for writing and returns its size,
// unless it is not a plain file of uid with this one name (ok false):
// writing over a file that is still linked elsewhere would destroy mail,
// and a file of another owner would give the message to that owner. It
// is not emptied: writing over its blocks spares the file system freeing
// and allocating them again.
func openClaimed(path string, uid int) (f *os.File, size int64, ok bool) {
	f, err := os.OpenFile(path, os.O_WRONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, 0, false
	}
	var st syscall.Stat_t
	if syscall.Fstat(int(f.Fd()), &st) != nil || st.Mode&syscall.S_IFMT != syscall.S_IFREG || st.Nlink != 1 || int(st.Uid) != uid {
		f.Close()
		return nil, 0, false
	}
	return f, st.Size, true
}

// take returns the name of a pool file released before now's second. It
// reads the pool on from where it stopped (from its start again after its
// end) when the names read last and those kept aside are used up, until
// it has passed the directory's end twice, and not again within
// poolRelist of a round that found none.
func (p *pool) take(dir string, now time.Time) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n, ok := p.next(now); ok {
		return n, true
	}
	if d := now.Sub(p.emptyAt); d >= 0 && d < poolRelist {
		return "", false
	}
	wrapped := false
	for range poolMax/poolList + 2 {
		var end bool
		p.names, end = p.read(dir)
		if n, ok := p.next(now); ok {
			return n, true
		}
		if end {
			if wrapped {
				break // round the whole pool
			}
			wrapped = true
		}
	}
	p.emptyAt = now
	return "", false
}

// read reads the next poolList names of the pool directory; end says it
// reached the directory's end, and starts from the beginning next time.
func (p *pool) read(dir string) (names []string, end bool) {
	if p.dir == nil {
		d, err := os.Open(dir)
		if err != nil {
			return nil, true
		}
		p.dir = d
	}
	names, err := p.dir.Readdirnames(poolList)
	if err != nil || len(names) < poolList {
		p.dir.Seek(0, io.SeekStart)
		return names, true
	}
	return names, false
}

// next pops the names read until one released before now's second; the
// younger ones are kept aside (at most poolYoung of them) until their
// second is over.
func (p *pool) next(now time.Time) (string, bool) {
	if len(p.young) > 0 && p.youngSec < now.Unix() {
		for n := range p.young {
			p.names = append(p.names, n)
		}
		clear(p.young)
	}
	for len(p.names) > 0 {
		n := p.names[len(p.names)-1]
		p.names = p.names[:len(p.names)-1]
		sec, ok := releasedAt(n)
		if !ok {
			continue
		}
		if sec < now.Unix() {
			return n, true
		}
		if len(p.young) < poolYoung {
			if p.young == nil {
				p.young = map[string]struct{}{}
			}
			p.young[n] = struct{}{} // a name read again is kept once
			p.youngSec = max(p.youngSec, sec)
		}
	}
	return "", false
}

// releasedAt is the second a pool file name says it was released in.
func releasedAt(name string) (int64, bool) {
	i := strings.IndexByte(name, '.')
	if i < 0 {
		return 0, false
	}
	sec, err := strconv.ParseInt(name[:i], 10, 64)
	return sec, err == nil
}

// release puts a delivered message's file into the pool (kind 'C' or 'D'),
// or deletes it when the pool is full or the file too large to keep. A
// file already gone is no error.
func (q *Queue) release(inode uint64, path string, kind byte) error {
	keep := q.pool.size.Load() < poolMax
	if keep && kind == 'D' {
		var st unix.Stat_t
		if err := unix.Lstat(path, &st); err != nil {
			if errors.Is(err, unix.ENOENT) {
				return nil
			}
			return fmt.Errorf("queue: removing message %d: %w", inode, err)
		}
		keep = st.Size <= poolMaxSize
	}
	if keep {
		name := strconv.FormatInt(q.opt.Now().Unix(), 10) + "." + strconv.FormatUint(inode, 10) + string(kind)
		err := unix.Renameat2(unix.AT_FDCWD, path, unix.AT_FDCWD, q.path("tmp", poolDir, name), unix.RENAME_NOREPLACE)
		switch {
		case err == nil:
			q.pool.size.Add(1)
			if q.pool.released.Add(1) >= poolRecount {
				q.countPool()
			}
			return nil
		case errors.Is(err, unix.ENOENT) && fileGone(path):
			return nil
		}
		// No pool (a queue made before it, or no rights): delete.
	}
	return removeAll(inode, path)
}

func fileGone(path string) bool {
	_, err := os.Lstat(path)
	return errors.Is(err, os.ErrNotExist)
}

// countPool counts the pool's files again (other processes take from it)
// and deletes those kept longer than poolMaxAge. It returns how many it
// deleted.
func (q *Queue) countPool() int {
	q.pool.released.Store(0)
	dir := q.path("tmp", poolDir)
	names, err := readNames(dir)
	if err != nil {
		return 0
	}
	old := q.opt.Now().Add(-poolMaxAge).Unix()
	n, pruned := int64(0), 0
	for _, name := range names {
		if sec, ok := releasedAt(name); !ok || sec < old {
			if os.Remove(filepath.Join(dir, name)) == nil {
				pruned++
				continue
			}
		}
		n++
	}
	q.pool.size.Store(n)
	return pruned
}
