package imapd

import (
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/gocourier/courier/pkg/imapd/fetch"
	"github.com/gocourier/courier/pkg/imapd/mailbox"
	"github.com/gocourier/courier/pkg/imapd/search"
	"github.com/gocourier/courier/pkg/maildir"
)

// The prescans of messages (fetch.Prescan: the header, the CRLF size, the
// rendered ENVELOPE) that FETCH and SEARCH need. The files of a maildir
// never change (a flag change renames the file), so the sessions of the
// process share what one of them read, by folder and unique name, as long
// as the budget allows.
const (
	infoBudget   = 64 << 20 // bytes of headers kept by the process
	maxInfoBytes = 16 << 10 // a larger header is not kept
)

// infoKey is a message of a folder of the process.
type infoKey struct {
	dir, unique string
}

// msgInfo is a cached message: its prescan, and its header parsed for
// SEARCH when a SEARCH needed it.
type msgInfo struct {
	pre    *fetch.Prescan
	header atomic.Pointer[search.Header]
}

// infos are the cached messages. Lookups take no lock (a SEARCH looks up
// every message of the folder, from many sessions at once); mu orders
// the additions, the byte count and the clearing.
var infos struct {
	m     sync.Map // infoKey → *msgInfo
	mu    sync.Mutex
	bytes int
	gen   atomic.Int64 // cleared so many times
}

// OpenFile is fetch.FileOpener: the file by the snapshot's name, without
// an os.File.
func (v *view) OpenFile() (io.ReadCloser, error) {
	if f, err := v.openCur(); err == nil {
		return f, nil
	}
	return v.mb.Open(v.m.UID) // renamed since the snapshot
}

// openCur opens the file by the snapshot's name: in the folder's cur/
// when a command holds it open (holdCur), else by its path.
func (v *view) openCur() (*msgFile, error) {
	path := v.mb.Path()
	var fd int
	var err error
	if cur := useCur(path); cur >= 0 {
		fd, err = openAt(cur, v.m.File)
		dropCur(path)
	} else {
		fd, err = openAt(unix.AT_FDCWD, filepath.Join(path, "cur", v.m.File))
	}
	if err != nil {
		return nil, err
	}
	return &msgFile{fd: fd, size: maildir.NameSize(v.m.File)}, nil
}

// info returns the message's msgInfo, reading the file when no session
// of the process did yet (a message renamed since the snapshot is looked
// for); nil when the message cannot be read or its header is too large to
// keep. A message that a reading job (readAhead) has begun is waited for
// rather than read a second time.
func (v *view) info() *msgInfo {
	if v.scanned {
		return v.inf
	}
	v.scanned = true
	key := v.key()
	in := cachedInfo(key)
	if in == nil && awaitReading(key.dir, v.m.UID) {
		in = cachedInfo(key)
	}
	if in == nil {
		in = v.read(key, true)
	}
	v.inf = in
	return in
}

// key is the message's key in infos.
func (v *view) key() infoKey {
	unique, _, _ := strings.Cut(v.m.File, ":")
	return infoKey{v.mb.Path(), unique}
}

// cachedInfo is the cached message, nil when none.
func cachedInfo(key infoKey) *msgInfo {
	if in, ok := infos.m.Load(key); ok {
		return in.(*msgInfo)
	}
	return nil
}

// read reads the message and caches it.
func (v *view) read(key infoKey, search bool) *msgInfo {
	var f io.ReadCloser
	fd, err := v.openCur()
	if err == nil {
		f = fd
	} else if search {
		f, err = v.mb.Open(v.m.UID) // renamed since the snapshot
	}
	if err != nil {
		return nil
	}
	p, err := fetch.ScanMessage(f, maxInfoBytes)
	f.Close()
	if err != nil || p == nil {
		return nil
	}
	in := &msgInfo{pre: p}
	cost := 4*len(p.Header) + len(key.dir) + len(key.unique) + 256 // with the ENVELOPE and the parsed header
	infos.mu.Lock()
	if infos.bytes+cost > infoBudget {
		infos.m.Clear()
		infos.bytes = 0
		infos.gen.Add(1)
	}
	infos.m.Store(key, in)
	infos.bytes += cost
	infos.mu.Unlock()
	return in
}

// prescan returns the message's fetch.Prescan, nil when unknown.
func (v *view) prescan() *fetch.Prescan {
	if in := v.info(); in != nil {
		return in.pre
	}
	return nil
}

// Scan is fetch.Prescanned.
func (v *view) Scan() (*fetch.Prescan, bool) {
	p := v.prescan()
	return p, p != nil
}

// Header is search.HeaderSource.
func (v *view) Header() (*search.Header, bool) {
	in := v.info()
	if in == nil {
		return nil, false
	}
	h := in.header.Load()
	if h == nil {
		h = search.ParseHeader(in.pre.Header)
		in.header.Store(h)
	}
	return h, true
}

// Size is RFC822.SIZE: from the file name's ",W=" when it has one, else
// from the prescan; -1 when unknown (FETCH then counts it).
func (v *view) Size() int64 {
	if unique, _, _ := strings.Cut(v.m.File, ":"); strings.Contains(unique, ",W=") {
		if n, err := maildir.ParseName(v.m.File); err == nil && n.VSize >= 0 {
			return n.VSize
		}
	}
	if p := v.prescan(); p != nil {
		return p.Size
	}
	return -1
}

// msgFile is a message file read through its descriptor alone: an
// os.File registers with the runtime's poller and keeps a finalizer,
// which costs more than reading a small message.
type msgFile struct {
	fd   int
	size int64 // from the name's ",S=", -1 when it has none
	off  int64
}

// openAt opens name in the directory dir (a descriptor): reading many
// messages of a folder, the kernel then looks up one name for each
// rather than the whole path.
func openAt(dir int, name string) (int, error) {
	for {
		fd, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: name, Err: err}
		}
		return fd, nil
	}
}

// curDirs are the cur/ directories that commands reading many messages
// hold open, by folder path: the messages are opened in them (openAt).
var curDirs struct {
	mu sync.Mutex
	m  map[string]*curDir
}

type curDir struct {
	fd, users int
}

// minHoldCur is how many messages a command must read for holding cur/
// open to be worth its own open and close.
const minHoldCur = 64

// holdCur opens the cur/ of the folder at path, or takes it when open,
// until dropCur; false when it cannot (the messages are then opened by
// their paths).
func holdCur(path string) bool {
	curDirs.mu.Lock()
	defer curDirs.mu.Unlock()
	if d := curDirs.m[path]; d != nil {
		d.users++
		return true
	}
	fd, err := openAt(unix.AT_FDCWD, filepath.Join(path, "cur"))
	if err != nil {
		return false
	}
	if curDirs.m == nil {
		curDirs.m = map[string]*curDir{}
	}
	curDirs.m[path] = &curDir{fd: fd, users: 1}
	return true
}

// useCur returns the descriptor of the folder's cur/ when it is held,
// taken until dropCur; -1 otherwise.
func useCur(path string) int {
	curDirs.mu.Lock()
	defer curDirs.mu.Unlock()
	d := curDirs.m[path]
	if d == nil {
		return -1
	}
	d.users++
	return d.fd
}

// dropCur ends a holdCur or a useCur that succeeded.
func dropCur(path string) {
	curDirs.mu.Lock()
	defer curDirs.mu.Unlock()
	d := curDirs.m[path]
	if d == nil {
		return
	}
	if d.users--; d.users == 0 {
		unix.Close(d.fd)
		delete(curDirs.m, path)
	}
}

// Read reports the end of the file with the data that reaches it when
// the name gave its size: a read asked for more than was left, got the
// rest, and a second read for the end is saved (a FETCH of whole
// messages or a prescan reads most files in one call).
func (f *msgFile) Read(p []byte) (int, error) {
	for {
		n, err := unix.Read(f.fd, p)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return 0, err
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		f.off += int64(n)
		if n < len(p) && f.off == f.size {
			return n, io.EOF
		}
		return n, nil
	}
}

func (f *msgFile) Close() error { return unix.Close(f.fd) }

// readers is how many goroutines read a folder's messages ahead of the
// commands that need them: all cores but one, which is left to the
// command writing its response, to the client when it runs on the same
// machine (the benchmarks), and to the other sessions of the process.
func readers() int { return max(1, runtime.GOMAXPROCS(0)-1) }

// prefetchBlock is how many messages a reader takes at a time.
const prefetchBlock = 128

// readJob is the reading ahead of messages of one folder: its readers
// take blocks of its messages in order, reading those that no session of
// the process read yet and rendering their ENVELOPE; block i is ready
// when ready[i] is closed. A command needing one of the messages waits
// for its block when a reader has begun it (awaitReading), so that no
// message is read twice.
type readJob struct {
	mb      *mailbox.Mailbox
	n       int
	msg     func(i int) mailbox.Msg // the i-th of n, in UID order
	env     bool                    // render the ENVELOPE
	utf8    bool                    // with UTF-8 (RFC 6855)
	ready   []chan struct{}
	next    atomic.Int64 // blocks taken
	stopped atomic.Bool  // readers skip the blocks not taken yet
	left    atomic.Int64 // readers running
	done    func()       // run when the last reader ends
}

// reading holds the running reading jobs, by folder path: one at a time
// per folder.
var reading sync.Map // folder path → *readJob

// readAhead starts a reading job on n messages of the mailbox; nil when
// one runs for the folder already. done runs when the job ends.
func readAhead(mb *mailbox.Mailbox, n int, msg func(int) mailbox.Msg, env, utf8 bool, done func()) *readJob {
	path := mb.Path()
	if _, busy := reading.Load(path); busy {
		return nil
	}
	j := &readJob{mb: mb, n: n, msg: msg, env: env, utf8: utf8, done: done}
	j.ready = make([]chan struct{}, (n+prefetchBlock-1)/prefetchBlock)
	for i := range j.ready {
		j.ready[i] = make(chan struct{})
	}
	if _, busy := reading.LoadOrStore(path, j); busy {
		return nil
	}
	held := holdCur(path)
	workers := readers()
	j.left.Store(int64(workers))
	for range workers {
		go func() {
			j.run()
			if j.left.Add(-1) == 0 {
				if held {
					dropCur(path)
				}
				reading.CompareAndDelete(path, j)
				if j.done != nil {
					j.done()
				}
			}
		}()
	}
	return j
}

// run is one reader of the job.
func (j *readJob) run() {
	for j.readBlock() {
	}
}

// readBlock takes the next block and reads it; false when none is left.
func (j *readJob) readBlock() bool {
	b := int(j.next.Add(1) - 1)
	if b >= len(j.ready) {
		return false
	}
	if !j.stopped.Load() {
		for i := b * prefetchBlock; i < min((b+1)*prefetchBlock, j.n); i++ {
			// A message renamed since the snapshot is left to the
			// command that needs it (looking for it lists the
			// folder).
			v := view{mb: j.mb, m: j.msg(i)}
			key := v.key()
			in := cachedInfo(key)
			if in == nil {
				in = v.read(key, false)
			}
			if in != nil && j.env {
				in.pre.Envelope(j.utf8)
			}
		}
	}
	close(j.ready[b])
	return true
}

// awaitReading waits for the message of the folder at path with the
// given UID when a reading job has begun its block; false when no job
// has (the caller reads it). Rather than idle meanwhile, the caller
// reads the job's next blocks: a command that its client keeps waiting
// (a fast client) thus reads on its own core too, one that outruns its
// client leaves the reading to the job.
func awaitReading(path string, uid uint32) bool {
	x, ok := reading.Load(path)
	if !ok {
		return false
	}
	j := x.(*readJob)
	i := sort.Search(j.n, func(i int) bool { return j.msg(i).UID >= uid })
	if i == j.n || j.msg(i).UID != uid || int64(i/prefetchBlock) >= j.next.Load() {
		return false
	}
	ready := j.ready[i/prefetchBlock]
	for {
		select {
		case <-ready:
			return true
		default:
		}
		if !j.readBlock() {
			<-ready
			return true
		}
	}
}

// prefetch prepares the reading of the messages of a FETCH: it holds
// the folder's cur/ open (holdCur) when they are many, and when a FETCH
// of envelopes or sizes is to answer many, has them read ahead of the
// writer by the folder's reading job: the one running (the SELECT's
// warm-up, usually), else one of its own over views. The writer waits
// for them message by message (awaitReading, reading blocks itself
// meanwhile): waiting for whole blocks would keep it from reading. The
// returned stop ends it all: the FETCH's readers skip the blocks not
// begun yet.
func prefetch(views []*view, req *fetch.Request, utf8 bool) (stop func()) {
	release := func() {}
	if len(views) >= minHoldCur {
		if path := views[0].mb.Path(); holdCur(path) {
			release = func() { dropCur(path) }
		}
	}
	env, want := false, false
	for _, it := range req.Items {
		switch it.Kind {
		case fetch.ItemEnvelope:
			env, want = true, true
		case fetch.ItemRFC822Size:
			want = true
		}
	}
	if !want || len(views) < 2*prefetchBlock {
		return release
	}
	j := readAhead(views[0].mb, len(views), func(i int) mailbox.Msg { return views[i].m }, env, utf8, nil)
	if j == nil {
		return release
	}
	return func() {
		j.stopped.Store(true)
		release()
	}
}

// warmed holds the folders read whole, with the UIDNEXT and the cache
// generation they were read at.
var warmed sync.Map // folder path → warmedAt

type warmedAt struct {
	uidNext uint32
	gen     int64
}

// maxWarm bounds the messages a warm-up reads.
const maxWarm = 50000

// warm reads, in the background, the messages of a mailbox just selected
// that no session of the process read yet, as an index would have them,
// with their ENVELOPE: the FETCH of envelopes or the SEARCH that usually
// follows SELECT then finds them in memory, or waits for them in the
// order it needs them (from the first).
func warm(mb *mailbox.Mailbox) {
	msgs := mb.Messages()
	if len(msgs) < 100 || len(msgs) > maxWarm {
		return
	}
	at := warmedAt{mb.UIDNext(), infos.gen.Load()}
	if w, ok := warmed.Load(mb.Path()); ok && w.(warmedAt) == at {
		return
	}
	readAhead(mb, len(msgs), func(i int) mailbox.Msg { return msgs[i] }, true, false, func() { warmed.Store(mb.Path(), at) })
}
