package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"path/filepath"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gocourier/courier/pkg/passwd"
)

// maxCacheEntries bounds each cache; a full cache is emptied and refilled.
const maxCacheEntries = 100000

// verifyCache remembers successful password checks for a while, so that a
// mail client that logs in every minute does not cost a crypt(3) run each
// time (md5-crypt alone is about 0.15 ms of CPU; bcrypt far more). Like
// saslauthd's credential cache it keeps no password, only an HMAC, under a
// key made at start-up, of the stored hash and the password: a changed
// password (new hash) can never match an old entry, and entries expire
// after the TTL (authdaemonrc LOGIN_CACHE_TTL, 0 turns the cache off).
type verifyCache struct {
	ttl time.Duration
	key [32]byte

	mu sync.Mutex
	m  map[[32]byte]time.Time // entry → expiry
}

func newVerifyCache(ttl time.Duration) *verifyCache {
	c := &verifyCache{ttl: ttl, m: map[[32]byte]time.Time{}}
	if _, err := rand.Read(c.key[:]); err != nil {
		c.ttl = 0
	}
	return c
}

// check is passwd.Check with the cache in front.
func (c *verifyCache) check(hash, password string) bool {
	if c == nil || c.ttl <= 0 {
		return passwd.Check(hash, password)
	}
	mac := hmac.New(sha256.New, c.key[:])
	mac.Write([]byte(hash))
	mac.Write([]byte{0})
	mac.Write([]byte(password))
	var k [32]byte
	mac.Sum(k[:0])
	now := time.Now()
	c.mu.Lock()
	exp, ok := c.m[k]
	c.mu.Unlock()
	if ok && now.Before(exp) {
		return true
	}
	if !passwd.Check(hash, password) {
		return false
	}
	c.mu.Lock()
	if len(c.m) >= maxCacheEntries {
		for e, x := range c.m {
			if !now.Before(x) {
				delete(c.m, e)
			}
		}
		if len(c.m) >= maxCacheEntries {
			clear(c.m)
		}
	}
	c.m[k] = now.Add(c.ttl)
	c.mu.Unlock()
	return true
}

// dirWatch tells whether files of one directory changed since it was last
// asked, through inotify: a question costs one non-blocking read instead
// of a stat per file. The kernel queues an event before the write or
// rename that caused it returns, so a change made before a request is
// always seen by that request.
type dirWatch struct {
	fd    int
	names map[string]bool
	buf   []byte
	dead  bool
}

// newDirWatch watches the named files (all in one directory).
func newDirWatch(files ...string) (*dirWatch, error) {
	if len(files) == 0 {
		return nil, errors.New("nothing to watch")
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, err
	}
	w := &dirWatch{fd: fd, names: map[string]bool{}, buf: make([]byte, 64<<10)}
	for _, f := range files {
		w.names[filepath.Base(f)] = true
	}
	mask := uint32(unix.IN_MODIFY | unix.IN_CLOSE_WRITE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM |
		unix.IN_CREATE | unix.IN_DELETE | unix.IN_ATTRIB | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF)
	if _, err := unix.InotifyAddWatch(fd, filepath.Dir(files[0]), mask); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return w, nil
}

// changed drains the queued events and reports whether any touched a
// watched file. After the directory itself went away, or on any error,
// it reports true from then on: the caller then never trusts a cache.
func (w *dirWatch) changed() bool {
	if w.dead {
		return true
	}
	hit := false
	for {
		n, err := unix.Read(w.fd, w.buf)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return hit
		}
		if err != nil || n <= 0 {
			w.dead = true
			return true
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&w.buf[off]))
			name := w.buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			switch {
			case ev.Mask&(unix.IN_Q_OVERFLOW|unix.IN_IGNORED|unix.IN_DELETE_SELF|unix.IN_MOVE_SELF|unix.IN_UNMOUNT) != 0:
				w.dead = true
				return true
			case w.names[string(name)]:
				hit = true
			}
			off += unix.SizeofInotifyEvent + int(ev.Len)
		}
	}
}

func (w *dirWatch) close() { unix.Close(w.fd) }
