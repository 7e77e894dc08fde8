package imapd

import (
	"strings"
	"sync"
	"sync/atomic"

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

var infos = struct {
	sync.RWMutex
	m     map[infoKey]*msgInfo
	bytes int
	gen   int // cleared so many times
}{m: map[infoKey]*msgInfo{}}

// info returns the message's msgInfo, reading the file when no session
// of the process did yet; nil when the message cannot be read or its
// header is too large to keep.
func (v *view) info() *msgInfo {
	if v.scanned {
		return v.inf
	}
	v.scanned = true
	unique, _, _ := strings.Cut(v.m.File, ":")
	key := infoKey{v.mb.Path(), unique}
	infos.RLock()
	in, ok := infos.m[key]
	infos.RUnlock()
	if ok {
		v.inf = in
		return in
	}
	f, err := v.mb.Open(v.m.UID)
	if err != nil {
		return nil
	}
	p, err := fetch.ScanMessage(f, maxInfoBytes)
	f.Close()
	if err != nil || p == nil {
		return nil
	}
	in = &msgInfo{pre: p}
	cost := 4*len(p.Header) + len(key.dir) + len(key.unique) + 256 // with the ENVELOPE and the parsed header
	infos.Lock()
	if infos.bytes+cost > infoBudget {
		clear(infos.m)
		infos.bytes = 0
		infos.gen++
	}
	infos.m[key] = in
	infos.bytes += cost
	infos.Unlock()
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
	if n, err := maildir.ParseName(v.m.File); err == nil && n.VSize >= 0 {
		return n.VSize
	}
	if p := v.prescan(); p != nil {
		return p.Size
	}
	return -1
}

// warming holds the folders whose messages a warm-up is reading;
// warmed the folders read whole, with the UIDNEXT and the cache
// generation they were read at.
var warming, warmed sync.Map // folder path → struct{}, warmedAt

type warmedAt struct {
	uidNext uint32
	gen     int
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
	infos.RLock()
	at := warmedAt{mb.UIDNext(), infos.gen}
	infos.RUnlock()
	if w, ok := warmed.Load(mb.Path()); ok && w.(warmedAt) == at {
		return
	}
	if _, busy := warming.LoadOrStore(mb.Path(), struct{}{}); busy {
		return
	}
	go func() {
		defer warming.Delete(mb.Path())
		// From the end: a FETCH or SEARCH of the whole mailbox runs
		// from the start meanwhile, and they meet halfway.
		for i := len(msgs) - 1; i >= 0; i-- {
			v := view{mb: mb, m: msgs[i]}
			v.info()
		}
		warmed.Store(mb.Path(), at)
	}()
}
