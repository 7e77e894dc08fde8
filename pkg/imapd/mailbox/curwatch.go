package mailbox

import (
	"encoding/binary"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// The cur/ directories of the folders this process caches are followed
// with one inotify instance (shared, since a user may have few), so that a
// scan learns what changed in cur/ from the events instead of listing it
// again: a 10,000-message folder takes milliseconds to list, and the stamp
// of cur/ cannot tell a change made in the same clock tick, so every flag
// change would otherwise cost a listing to every session of the folder.
// Events are queued by the kernel before the change's system call
// returns, so reading the queue at the start of a scan sees every change
// made before it. A lost event (queue overflow) or watch (folder removed or
// renamed) sends the scan back to listing.

// curEvent is one change of a name in cur/.
type curEvent struct {
	name string
	gone bool // moved out or removed; else moved in or created
}

// curWatch is the watch of one cur/ directory: the events read for it
// since its folder's scan last took them.
type curWatch struct {
	events   []curEvent
	overflow bool
	lost     bool
}

// watchState is what take found.
type watchState int

const (
	watchOK       watchState = iota
	watchOverflow            // events were lost: list cur/ again
	watchLost                // the watch ended: list cur/ again with a new one
)

// maxPendingEvents bounds the events kept for a folder no scan asks for;
// beyond, the folder is listed again when next scanned.
const maxPendingEvents = 20000

var watcher struct {
	once sync.Once
	fd   int // -1 without inotify: scans go by the stamps alone

	mu   sync.Mutex
	byWD map[int32]*curWatch
	buf  []byte
}

func watcherFD() int {
	watcher.once.Do(func() {
		fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
		if err != nil {
			fd = -1
		}
		watcher.fd = fd
		watcher.byWD = map[int32]*curWatch{}
		watcher.buf = make([]byte, 64<<10)
	})
	return watcher.fd
}

// watchCur starts following the directory dir (a folder's cur/); nil when
// it cannot. The caller lists dir after: events from now on come on top
// of that listing.
func watchCur(dir string) *curWatch {
	fd := watcherFD()
	if fd < 0 {
		return nil
	}
	const mask = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO |
		unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR | unix.IN_DONT_FOLLOW
	watcher.mu.Lock()
	defer watcher.mu.Unlock()
	// Events already queued belong to an earlier watch of the same
	// directory (the same watch descriptor), not to the new listing.
	drainLocked()
	wd, err := unix.InotifyAddWatch(fd, dir, mask)
	if err != nil {
		return nil
	}
	if old, ok := watcher.byWD[int32(wd)]; ok {
		old.lost, old.events = true, nil
	}
	w := &curWatch{}
	watcher.byWD[int32(wd)] = w
	return w
}

// take returns the events of cur/ since the last take, in order.
func (w *curWatch) take() ([]curEvent, watchState) {
	watcher.mu.Lock()
	defer watcher.mu.Unlock()
	drainLocked()
	switch {
	case w.lost:
		return nil, watchLost
	case w.overflow:
		w.overflow, w.events = false, nil
		return nil, watchOverflow
	}
	ev := w.events
	w.events = nil
	return ev, watchOK
}

// drainLocked reads the queued events and hands them to their watches;
// the caller holds watcher.mu.
func drainLocked() {
	buf := watcher.buf
	for {
		n, err := unix.Read(watcher.fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			return // EAGAIN: the queue is empty
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			wd := int32(binary.NativeEndian.Uint32(buf[off:]))
			mask := binary.NativeEndian.Uint32(buf[off+4:])
			nameLen := int(binary.NativeEndian.Uint32(buf[off+12:]))
			start := off + unix.SizeofInotifyEvent
			off = start + nameLen
			if off > n {
				break
			}
			if mask&unix.IN_Q_OVERFLOW != 0 {
				for _, w := range watcher.byWD {
					w.overflow, w.events = true, nil
				}
				continue
			}
			w := watcher.byWD[wd]
			if w == nil {
				continue
			}
			if mask&(unix.IN_IGNORED|unix.IN_DELETE_SELF|unix.IN_MOVE_SELF) != 0 {
				w.lost, w.events = true, nil
				delete(watcher.byWD, wd)
				if mask&unix.IN_IGNORED == 0 {
					unix.InotifyRmWatch(watcher.fd, uint32(wd))
				}
				continue
			}
			name := strings.TrimRight(string(buf[start:off]), "\x00")
			if w.overflow || mask&unix.IN_ISDIR != 0 || name == "" || name[0] == '.' {
				continue
			}
			if len(w.events) >= maxPendingEvents {
				w.overflow, w.events = true, nil
				continue
			}
			w.events = append(w.events, curEvent{name: name, gone: mask&(unix.IN_MOVED_FROM|unix.IN_DELETE) != 0})
		}
	}
}

// catchUp applies events of cur/ to the cache's listing. A message renamed
// (a flag change) stays the same message, whatever order its events came
// in; events older than the listing's view of a message (its name is no
// longer the one removed) are ignored.
func (c *folderCache) catchUp(evs []curEvent) {
	if len(evs) == 0 {
		return
	}
	final := make(map[string]string, len(evs)) // unique → name, "" when gone
	for _, ev := range evs {
		u, _, _ := strings.Cut(ev.name, ":")
		now, ok := final[u]
		if !ok {
			now = c.files[u]
		}
		if ev.gone {
			if now == ev.name {
				final[u] = ""
			}
			continue
		}
		final[u] = ev.name
	}
	for u, name := range final {
		have, found := c.files[u]
		switch {
		case name == "":
			if found {
				delete(c.files, u)
				c.setDirty = true
			}
		case !found:
			c.files[u] = name
			c.setDirty = true
		case have != name:
			c.renamed(u, name)
		}
	}
}
