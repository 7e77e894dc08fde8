package imapd

import (
	"io"
	"os"
	"path/filepath"
	"runtime"
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

// info returns the message's msgInfo, reading the file when no session
// of the process did yet; nil when the message cannot be read or its
// header is too large to keep.
func (v *view) info() *msgInfo { return v.infoIn(true) }

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
func (v *view) openCur() (fdFile, error) {
	path := v.mb.Path()
	if cur := useCur(path); cur >= 0 {
		defer dropCur(path)
		return openAt(cur, v.m.File)
	}
	return openFD(filepath.Join(path, "cur", v.m.File))
}

// infoIn is info; a message renamed since the snapshot is looked for
// only when search is set.
func (v *view) infoIn(search bool) *msgInfo {
	if v.scanned {
		return v.inf
	}
	v.scanned = true
	unique, _, _ := strings.Cut(v.m.File, ":")
	key := infoKey{v.mb.Path(), unique}
	if in, ok := infos.m.Load(key); ok {
		v.inf = in.(*msgInfo)
		return v.inf
	}
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
	v.inf = in
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

// fdFile is a message file read through its descriptor alone: an os.File
// registers with the runtime's poller and keeps a finalizer, which costs
// more than reading a small message.
type fdFile int

func openFD(path string) (fdFile, error) { return openAt(unix.AT_FDCWD, path) }

// openAt opens name in the directory dir (a descriptor): reading many
// messages of a folder, the kernel then looks up one name for each
// rather than the whole path.
func openAt(dir int, name string) (fdFile, error) {
	for {
		fd, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: name, Err: err}
		}
		return fdFile(fd), nil
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
	curDirs.m[path] = &curDir{fd: int(fd), users: 1}
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

func (f fdFile) Read(p []byte) (int, error) {
	for {
		n, err := unix.Read(int(f), p)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return 0, err
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

func (f fdFile) Close() error { return unix.Close(int(f)) }

// prefetchBlock is how many messages a prefetch worker reads at a time.
const prefetchBlock = 128

// prefetch prepares the reading of the messages of a FETCH: it holds
// the folder's cur/ open (holdCur) when they are many, and reads, on
// every core, the messages that a FETCH of envelopes or sizes is about
// to answer and that no session of the process read yet, block by block
// ahead of the writer, rendering their ENVELOPE: block i is ready when
// ready[i] is closed. ready is nil when it is not worth it (few messages,
// no such item). stop ends it all: the workers skip the blocks not begun
// yet (they still close them).
func prefetch(views []*view, req *fetch.Request, utf8 bool) (ready []chan struct{}, stop func()) {
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
		return nil, release
	}
	ready = make([]chan struct{}, (len(views)+prefetchBlock-1)/prefetchBlock)
	for i := range ready {
		ready[i] = make(chan struct{})
	}
	var next atomic.Int64
	var stopped atomic.Bool
	for range runtime.GOMAXPROCS(0) {
		go func() {
			for {
				b := int(next.Add(1) - 1)
				if b >= len(ready) {
					return
				}
				if !stopped.Load() {
					for _, v := range views[b*prefetchBlock : min((b+1)*prefetchBlock, len(views))] {
						if in := v.infoIn(true); in != nil && env {
							in.pre.Envelope(utf8)
						}
					}
				}
				close(ready[b])
			}
		}()
	}
	return ready, func() {
		stopped.Store(true)
		release()
	}
}

// warming holds the folders whose messages a warm-up is reading;
// warmed the folders read whole, with the UIDNEXT and the cache
// generation they were read at.
var warming, warmed sync.Map // folder path → struct{}, warmedAt

type warmedAt struct {
	uidNext uint32
	gen     int64
}

// maxWarm bounds the messages a warm-up reads.
const maxWarm = 50000

// warm reads, in the background, the messages of a mailbox just selected
// that no session of the process read yet, as an index would have them:
// the FETCH of envelopes or the SEARCH that usually follows SELECT then
// finds them in memory. One warm-up runs per folder at a time.
func warm(mb *mailbox.Mailbox) {
	msgs := mb.Messages()
	if len(msgs) < 100 || len(msgs) > maxWarm {
		return
	}
	at := warmedAt{mb.UIDNext(), infos.gen.Load()}
	if w, ok := warmed.Load(mb.Path()); ok && w.(warmedAt) == at {
		return
	}
	if _, busy := warming.LoadOrStore(mb.Path(), struct{}{}); busy {
		return
	}
	go func() {
		defer warming.Delete(mb.Path())
		// From the end: a FETCH or SEARCH of the whole mailbox runs
		// from the start meanwhile, and they meet halfway. A message
		// renamed since the SELECT is left to the command that needs
		// it (looking for it lists the folder). The ENVELOPE is
		// rendered too: FETCH of envelopes is what clients do next.
		if holdCur(mb.Path()) {
			defer dropCur(mb.Path())
		}
		for i := len(msgs) - 1; i >= 0; i-- {
			v := view{mb: mb, m: msgs[i]}
			if in := v.infoIn(false); in != nil {
				in.pre.Envelope(false)
			}
		}
		warmed.Store(mb.Path(), at)
	}()
}
