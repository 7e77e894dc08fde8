package queue

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gocourier/courier/pkg/privsep"
	"github.com/gocourier/courier/pkg/safeio"
)

// Modes observed on Debian's /var/lib/courier (spec §1).
const (
	modeTopDir = 0o750 // the queue itself, track
	modeTmpDir = 0o770 // tmp and tmp/<T>
	// msgs, msgq and their subdirectories are writable by the courier
	// group: a submission links its files in itself (the original's
	// submit left that to courierd), also from a user's setgid sendmail.
	modeLinkDir  = 0o770
	modeSubDir   = 0o755 // tmp/broken
	modeMsgFile  = 0o660 // C and D files
	modeTrigger  = 0o660 // tmp/trigger FIFO
	dirBucketSec = 10000 // msgq/<T> and tmp/<T>: T = time / 10000
)

// Options are the caller's settings; the zero value uses Courier's defaults.
type Options struct {
	// Times freezes queuetime, faxqueuetime and warntime into new control
	// files; zero fields take DefaultTimes.
	Times Times
	// SubmitTimeout is how old a file in tmp/ (or a data file in msgs/
	// without its control file) must be before Recover treats it as the
	// leftover of a crashed submission; default one hour.
	SubmitTimeout time.Duration
	// Logger receives recovery messages; default slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now. Tests set it.
	Now func() time.Time
	// Owner, when set, is given the C and D files of new submissions
	// (fchown, so the process must be root). Courier's files are owned by
	// the submitting uid, except that SMTP and root's sendmail mail belongs
	// to the courier user (spec §1), which mailq and cancelmsg rely on.
	Owner *Owner
}

// Owner is a uid and gid for queue files.
type Owner struct{ UID, GID int }

// Queue is an open queue directory (the localstatedir: Debian
// /var/lib/courier, layout.Current().LocalstateDir).
type Queue struct {
	root string
	opt  Options
	seq  atomic.Uint64

	syncMu  sync.Mutex
	syncers map[string]*dirSyncer // group commit of directory fsyncs, by path

	wakeMu sync.Mutex
	waker  int // the trigger FIFO's descriptor kept open by Wake; -1: none

	lateSyncs chan struct{} // AppendSyncLater's fsyncs under way, at most its capacity

	pool pool // recycled message files (pool.go)
}

// Open opens the queue at root, creating the directories and the trigger
// FIFO that are missing (with the observed modes). A process without the
// right to create them (sendmail run by a user) gets an error naming the
// path only if something is actually missing.
func Open(root string, opt Options) (*Queue, error) {
	if opt.Times.QueueTime == 0 {
		opt.Times.QueueTime = DefaultTimes.QueueTime
	}
	if opt.Times.FaxQueueTime == 0 {
		opt.Times.FaxQueueTime = DefaultTimes.FaxQueueTime
	}
	if opt.Times.WarnTime == 0 {
		opt.Times.WarnTime = DefaultTimes.WarnTime
	}
	if opt.SubmitTimeout == 0 {
		opt.SubmitTimeout = time.Hour
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	q := &Queue{root: root, opt: opt, waker: -1, lateSyncs: make(chan struct{}, maxLateSyncs)}
	q.pool.owner = sync.OnceValue(q.poolOwner)
	for _, d := range []struct {
		path string
		mode os.FileMode
	}{
		{root, modeTopDir}, {q.path("msgs"), modeLinkDir}, {q.path("msgq"), modeLinkDir},
		{q.path("track"), modeTopDir}, {q.path("tmp"), modeTmpDir}, {q.path("tmp", "broken"), modeSubDir},
	} {
		if _, err := q.mkdirSynced(d.path, d.mode); err != nil {
			return nil, err
		}
	}
	// The pool is an optimisation: a process that may not create it (a
	// user's sendmail before the scheduler first ran) works without.
	q.mkdirSynced(q.path("tmp", poolDir), modeTmpDir)
	trig := q.path("tmp", "trigger")
	if _, err := os.Lstat(trig); errors.Is(err, os.ErrNotExist) {
		err := unix.Mkfifo(trig, modeTrigger)
		switch {
		case errors.Is(err, os.ErrExist):
			// Another process (a module starting beside this one) made it.
		case err != nil:
			return nil, fmt.Errorf("queue: cannot create the trigger FIFO %s: %w", trig, err)
		default:
			if err := os.Chmod(trig, modeTrigger); err != nil {
				return nil, fmt.Errorf("queue: %w", err)
			}
			if o := opt.Owner; o != nil {
				if err := os.Chown(trig, o.UID, o.GID); err != nil {
					return nil, fmt.Errorf("queue: %w", err)
				}
			}
		}
	}
	return q, nil
}

// Root is the queue directory.
func (q *Queue) Root() string { return q.root }

func (q *Queue) path(elem ...string) string {
	return filepath.Join(append([]string{q.root}, elem...)...)
}

// mkdirSynced creates dir (one level) if missing, with its exact mode
// (chmod after mkdir, as the umask may have cut bits), and fsyncs the parent
// so the new entry survives a crash. It reports whether it created dir. With
// Options.Owner set (a root process: the supervisor's modules, root's
// sendmail) the new directory is given to the courier user, so that the
// scheduler, which runs as that user, can work in it.
func (q *Queue) mkdirSynced(dir string, mode os.FileMode) (bool, error) {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return false, fmt.Errorf("queue: %s exists but is not a directory", dir)
		}
		return false, nil
	}
	if err := os.Mkdir(dir, mode); err != nil {
		if errors.Is(err, os.ErrExist) {
			return false, nil
		}
		return false, fmt.Errorf("queue: cannot create directory %s: %w", dir, err)
	}
	if err := os.Chmod(dir, mode); err != nil {
		return true, fmt.Errorf("queue: %w", err)
	}
	if o := q.opt.Owner; o != nil {
		if err := os.Chown(dir, o.UID, o.GID); err != nil {
			return true, fmt.Errorf("queue: %w", err)
		}
	}
	return true, syncDir(filepath.Dir(dir))
}

func syncDir(dir string) error {
	if err := safeio.SyncDir(dir); err != nil {
		return fmt.Errorf("queue: cannot make the entries of directory %s durable: %w", dir, err)
	}
	return nil
}

// dirSyncer makes the fsyncs of one directory a group commit among this
// process's concurrent Commits (courieresmtpd serves every connection in
// one process): a commit needs an fsync of the directory that began after
// its link was made, and one fsync serves every commit that linked before
// it began. Under load this turns one directory fsync per message into
// one per batch; a lone commit still syncs at once.
type dirSyncer struct {
	mu       sync.Mutex
	cond     sync.Cond
	running  bool
	started  uint64 // fsyncs begun
	finished uint64 // fsyncs ended; the last one's result is err
	err      error
}

// syncDirFn is syncDir; the group-commit test replaces it.
var syncDirFn = syncDir

func (q *Queue) groupSyncDir(dir string) error {
	q.syncMu.Lock()
	d := q.syncers[dir]
	if d == nil {
		if q.syncers == nil {
			q.syncers = map[string]*dirSyncer{}
		}
		d = &dirSyncer{}
		d.cond.L = &d.mu
		q.syncers[dir] = d
	}
	q.syncMu.Unlock()
	return d.sync(dir)
}

func (d *dirSyncer) sync(dir string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	// An fsync already running may have begun before the caller's link:
	// only the next one counts.
	need := d.started + 1
	for d.finished < need {
		if d.running {
			d.cond.Wait()
			continue
		}
		d.running = true
		d.started++
		n := d.started
		d.mu.Unlock()
		err := syncDirFn(dir)
		d.mu.Lock()
		d.running = false
		d.finished, d.err = n, err
		d.cond.Broadcast()
	}
	return d.err
}

// bucket is the T of msgq/<T> and tmp/<T>.
func bucket(t time.Time) string { return strconv.FormatInt(t.Unix()/dirBucketSec, 10) }

// ControlPath is msgs/<N>/C<inode>.
func (q *Queue) ControlPath(inode uint64) string {
	return q.path("msgs", strconv.FormatUint(inode%100, 10), "C"+strconv.FormatUint(inode, 10))
}

// DataPath is msgs/<N>/D<inode>: the message itself.
func (q *Queue) DataPath(inode uint64) string {
	return q.path("msgs", strconv.FormatUint(inode%100, 10), "D"+strconv.FormatUint(inode, 10))
}

// schedulePath is msgq/<T>/C<inode>.<A>.
func (q *Queue) schedulePath(inode uint64, next time.Time) string {
	return q.path("msgq", bucket(next), "C"+strconv.FormatUint(inode, 10)+"."+strconv.FormatInt(next.Unix(), 10))
}

// afterStep, when set (only by this package's crash tests), is called after
// each durable step of Commit so a test process can kill itself exactly
// there and prove that recovery completes or removes the message.
var afterStep func(step string)

func reached(step string) {
	if afterStep != nil {
		afterStep(step)
	}
}

// Submission is a message being received: its control file is written at
// Begin, the data is streamed with Write, and Commit makes it durable and
// visible. Abort (or a crash) leaves nothing in msgs/.
type Submission struct {
	q        *Queue
	id       QueueID
	cPath    string // the tmp/ names; "" for unnamed files (O_TMPFILE)
	dPath    string
	c, d     *os.File
	cLen     int64 // bytes of control file written
	cOld     int64 // size of the files from the pool, cut at Commit
	dOld     int64
	buf      *bufio.Writer // buffers d: callers write line by line
	size     int64
	finished bool
}

// bufPool holds the data-file buffers, so a busy courieresmtpd does not
// allocate one per message.
var bufPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 32<<10) }}

// Begin starts a submission for env: it takes the control and data files,
// takes the queue id from the control file's inode and writes the control
// file. env is validated first. The files are delivered messages' files
// taken from the pool (pool.go) and named in tmp/<T>/; when the pool has
// none they are new, unnamed (O_TMPFILE in msgs/) where the system allows
// it, so that a crash leaves nothing to clean up and the names are made
// once, by Commit, and elsewhere created in tmp/<T>/.
func (q *Queue) Begin(env *Envelope) (*Submission, error) {
	if err := env.validate(); err != nil {
		return nil, err
	}
	now := q.opt.Now()
	pid := os.Getpid()
	s := &Submission{q: q}
	var err error
	tmpDir := q.path("tmp", bucket(now))
	n := q.seq.Add(1)
	base := fmt.Sprintf("%d.%d.%d", now.Unix(), pid, n)
	cPath, dPath := filepath.Join(tmpDir, base+".C"), filepath.Join(tmpDir, base+".D")
	if _, err := q.mkdirSynced(tmpDir, modeTmpDir); err != nil {
		return nil, err
	}
	// A process's first submission makes new files: one that submits a
	// single message (sendmail) would spend more reading the pool than
	// the files it would take save.
	if n > 1 {
		if s.c, s.cOld = q.claim(now, cPath); s.c != nil {
			s.cPath = cPath
			if s.d, s.dOld = q.claim(now, dPath); s.d != nil {
				s.dPath = dPath
			}
		}
	}
	switch {
	case s.d != nil:
	case anonymousFiles():
		if s.c == nil {
			if s.c, err = createAnonymous(q.path("msgs")); err != nil {
				return nil, err
			}
		}
		if s.d, err = createAnonymous(q.path("msgs")); err != nil {
			s.Abort()
			return nil, err
		}
	default:
		if s.c == nil {
			if s.c, err = createExcl(cPath); err != nil {
				return nil, err
			}
			s.cPath = cPath
		}
		if s.d, err = createExcl(dPath); err != nil {
			s.Abort()
			return nil, err
		}
		s.dPath = dPath
	}
	s.buf = bufPool.Get().(*bufio.Writer)
	s.buf.Reset(s.d)
	if o := q.opt.Owner; o != nil {
		for _, f := range []*os.File{s.c, s.d} {
			if err := f.Chown(o.UID, o.GID); err != nil {
				s.Abort()
				return nil, fmt.Errorf("queue: cannot give %s to uid %d gid %d: %w", f.Name(), o.UID, o.GID, err)
			}
		}
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(s.c.Fd()), &st); err != nil {
		s.Abort()
		return nil, fmt.Errorf("queue: fstat %s: %w", s.c.Name(), err)
	}
	s.id = QueueID{Inode: st.Ino, Time: time.Unix(now.Unix(), 0), PID: pid}
	ctl, err := ControlBytes(env, s.id, q.opt.Times)
	if err != nil {
		s.Abort()
		return nil, err
	}
	if _, err := s.c.Write(ctl); err != nil {
		s.Abort()
		return nil, fmt.Errorf("queue: writing control file %s: %w", s.c.Name(), err)
	}
	s.cLen = int64(len(ctl))
	return s, nil
}

// anonymousFiles reports whether submissions start as unnamed files: Commit
// names them with linkat through /proc/self/fd, so /proc must be there.
var anonymousFiles = sync.OnceValue(func() bool {
	_, err := os.Stat("/proc/self/fd")
	return err == nil
})

// createAnonymous creates an unnamed file in dir (O_TMPFILE), which
// disappears if it is closed, or the system crashes, before it is linked.
func createAnonymous(dir string) (*os.File, error) {
	f, err := safeio.Open(dir, unix.O_TMPFILE|unix.O_WRONLY, modeMsgFile)
	if err != nil {
		return nil, fmt.Errorf("queue: cannot create a file in %s (O_TMPFILE): %w", dir, err)
	}
	if err := f.Chmod(modeMsgFile); err != nil {
		f.Close()
		return nil, fmt.Errorf("queue: chmod %s: %w", f.Name(), err)
	}
	return f, nil
}

// link gives a submission's file f the name path: an unnamed file is
// linked, a file named in tmp/ (*tmpName) is moved there, and *tmpName is
// then "". An existing path is an error (os.ErrExist), never replaced.
func link(f *os.File, tmpName *string, path string) error {
	if *tmpName != "" {
		if err := unix.Renameat2(unix.AT_FDCWD, *tmpName, unix.AT_FDCWD, path, unix.RENAME_NOREPLACE); err != nil {
			return &os.LinkError{Op: "rename", Old: *tmpName, New: path, Err: err}
		}
		*tmpName = ""
		return nil
	}
	err := unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(int(f.Fd())), unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW)
	if err != nil {
		return &os.LinkError{Op: "link", Old: f.Name(), New: path, Err: err}
	}
	return nil
}

func createExcl(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, modeMsgFile)
	if err != nil {
		return nil, fmt.Errorf("queue: cannot create %s: %w", path, err)
	}
	if err := f.Chmod(modeMsgFile); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("queue: chmod %s: %w", path, err)
	}
	return f, nil
}

// ID is the queue id the message will have.
func (s *Submission) ID() QueueID { return s.id }

// Write appends message data (headers and body, LF line ends).
func (s *Submission) Write(p []byte) (int, error) {
	if s.finished {
		return 0, errors.New("queue: write to a finished submission")
	}
	n, err := s.buf.Write(p)
	s.size += int64(n)
	if err != nil {
		return n, fmt.Errorf("queue: writing data file %s: %w", s.d.Name(), err)
	}
	return n, nil
}

func (s *Submission) releaseBuf() {
	if s.buf != nil {
		s.buf.Reset(nil)
		bufPool.Put(s.buf)
		s.buf = nil
	}
}

// Size is the number of data bytes written so far.
func (s *Submission) Size() int64 { return s.size }

// Abort discards the submission: its files are closed, and go back to the
// pool (or are removed) when they are named in tmp/.
func (s *Submission) Abort() {
	if s.finished {
		return
	}
	s.finished = true
	s.releaseBuf()
	s.close()
	if s.cPath != "" {
		s.q.release(s.id.Inode, s.cPath, 'C')
	}
	if s.dPath != "" {
		s.q.release(s.id.Inode, s.dPath, 'D')
	}
}

func (s *Submission) close() {
	for _, f := range []*os.File{s.c, s.d} {
		if f != nil {
			f.Close()
		}
	}
	s.c, s.d = nil, nil
}

func (s *Submission) removeTmp() {
	for _, p := range []string{s.cPath, s.dPath} {
		if p != "" {
			os.Remove(p)
		}
	}
}

// Commit makes the message durable and queued, in this order: cut files
// taken from the pool to what was written; fsync the data and control
// files; link (or, from tmp/, move) the data file to msgs/<N>/D<inode>,
// then the control file to msgs/<N>/C<inode> (a control file in msgs/
// therefore always has its data); link that to msgq/<T>/C<inode>.<A>; fsync
// msgs/<N>. Only then is the id returned: the SMTP 250 / exit 0
// promise (DESIGN.md §3). Afterwards the files are closed and the
// scheduler is woken through the trigger FIFO. On
// error the submission is aborted; a message half linked by an interrupted
// Commit is completed or removed by Recover.
func (s *Submission) Commit() (QueueID, error) {
	if s.finished {
		return QueueID{}, errors.New("queue: commit of a finished submission")
	}
	// linked lists the names this commit created, so a failure removes
	// exactly those and never a file of another message.
	var linked []string
	fail := func(err error) (QueueID, error) {
		for i := len(linked) - 1; i >= 0; i-- {
			os.Remove(linked[i])
		}
		s.Abort()
		return QueueID{}, err
	}
	if err := s.buf.Flush(); err != nil {
		return fail(fmt.Errorf("queue: writing data file %s: %w", s.d.Name(), err))
	}
	s.releaseBuf()
	// Files from the pool were written over, not emptied: what is left of
	// their last message goes now.
	for _, t := range []struct {
		f         *os.File
		old, size int64
	}{{s.d, s.dOld, s.size}, {s.c, s.cOld, s.cLen}} {
		if t.old > t.size {
			if err := t.f.Truncate(t.size); err != nil {
				return fail(fmt.Errorf("queue: truncating %s: %w", t.f.Name(), err))
			}
		}
	}
	for _, f := range []*os.File{s.d, s.c} {
		if err := f.Sync(); err != nil {
			return fail(fmt.Errorf("queue: fsync %s: %w", f.Name(), err))
		}
	}
	reached("synced")
	// tmp/<T> is not fsynced: its names are never a promise, and the
	// links below are made durable by fsyncing msgs/<N>.
	q := s.q
	msgsDir := filepath.Dir(q.ControlPath(s.id.Inode))
	if _, err := q.mkdirSynced(msgsDir, modeLinkDir); err != nil {
		return fail(err)
	}
	if err := s.linkData(); err != nil {
		return fail(fmt.Errorf("queue: linking data file into msgs/: %w", err))
	}
	linked = append(linked, q.DataPath(s.id.Inode))
	reached("data-linked")
	if err := link(s.c, &s.cPath, q.ControlPath(s.id.Inode)); err != nil {
		return fail(fmt.Errorf("queue: linking control file into msgs/: %w", err))
	}
	linked = append(linked, q.ControlPath(s.id.Inode))
	reached("control-linked")
	sched := q.schedulePath(s.id.Inode, s.id.Time)
	if _, err := q.mkdirSynced(filepath.Dir(sched), modeLinkDir); err != nil {
		return fail(err)
	}
	// Recover may already have made this link for a commit in progress.
	if err := os.Link(q.ControlPath(s.id.Inode), sched); err != nil && !errors.Is(err, os.ErrExist) {
		return fail(fmt.Errorf("queue: linking control file into msgq/: %w", err))
	}
	linked = append(linked, sched)
	reached("scheduled")
	// Only msgs/<N> is fsynced: it holds the message. A msgq/ link lost
	// in a crash is made again by Recover, which links every message of
	// msgs/ that has none before the scheduler starts.
	if err := q.groupSyncDir(msgsDir); err != nil {
		return fail(err)
	}
	s.finished = true
	reached("committed")
	// The message is safe; a leftover tmp/ name is removed by Recover.
	s.close()
	s.removeTmp()
	q.Wake()
	return s.id, nil
}

// linkData links the data file to msgs/<N>/D<inode>. A file already there
// is the data of a submission that was killed between its two links: its
// control file, never named, had this inode, which the system has given
// to ours since. (Named tmp/ files keep their inode until Recover removes
// them with the data file; unnamed ones free it when the process dies.)
// No message can own that name while our control file holds the inode,
// so the leftover is replaced.
func (s *Submission) linkData() error {
	path := s.q.DataPath(s.id.Inode)
	err := link(s.d, &s.dPath, path)
	if !errors.Is(err, os.ErrExist) {
		return err
	}
	if _, cerr := os.Lstat(s.q.ControlPath(s.id.Inode)); cerr == nil {
		return err
	}
	if rerr := os.Remove(path); rerr != nil {
		return err
	}
	s.q.opt.Logger.Info("queue: removed the data file of an interrupted submission, whose queue id the new message has", "file", path, "id", s.id.String())
	return link(s.d, &s.dPath, path)
}

// Submit queues one message: Begin, copy data, Commit.
func (q *Queue) Submit(env *Envelope, data io.Reader) (QueueID, error) {
	s, err := q.Begin(env)
	if err != nil {
		return QueueID{}, err
	}
	if _, err := io.Copy(s, data); err != nil {
		s.Abort()
		return QueueID{}, err
	}
	return s.Commit()
}

// MailOwner is the Owner a root process gives the queue's new files and
// directories: the courier mail user and group (layout MailUser,
// MailGroup). It is nil for any other process, whose files stay its own.
func MailOwner(user, group string) (*Owner, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	c, err := privsep.MailCredential(user, group)
	if err != nil {
		return nil, fmt.Errorf("queue: the owner of the queue: %w", err)
	}
	return &Owner{UID: int(c.UID), GID: int(c.GID)}, nil
}
