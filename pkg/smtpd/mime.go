package smtpd

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/gocourier/courier/pkg/rfc2045"
)

// memSpool is how much of a message is kept in memory before the spool
// moves to a file: a message of the maximum size is held once, on disk.
const memSpool = 1 << 20

// spool keeps the message as the client sent it, for the MIME check and
// the rewrite, in memory up to memSpool and in a file (unlinked at once)
// in the queue's tmp directory beyond.
type spool struct {
	dir string
	mem bytes.Buffer
	f   *os.File
	n   int64
}

func (s *spool) Write(p []byte) (int, error) {
	if s.f == nil && s.mem.Len()+len(p) > memSpool {
		f, err := os.CreateTemp(s.dir, "smtpd-spool-")
		if err != nil {
			if f, err = os.CreateTemp("", "courier-smtpd-spool-"); err != nil {
				return 0, err
			}
		}
		os.Remove(f.Name())
		if _, err := f.Write(s.mem.Bytes()); err != nil {
			f.Close()
			return 0, err
		}
		s.f = f
		s.mem = bytes.Buffer{}
	}
	s.n += int64(len(p))
	if s.f != nil {
		return s.f.Write(p)
	}
	return s.mem.Write(p)
}

// ReaderAt is the spooled message.
func (s *spool) ReaderAt() io.ReaderAt {
	if s.f != nil {
		return s.f
	}
	return bytes.NewReader(s.mem.Bytes())
}

func (s *spool) Reader() io.Reader { return io.NewSectionReader(s.ReaderAt(), 0, s.n) }

func (s *spool) Close() {
	if s.f != nil {
		s.f.Close()
	}
}

func (d *Daemon) newSpool() *spool {
	sp := &spool{dir: filepath.Join(d.Layout.LocalstateDir, "tmp")}
	// Room for a common message at once: grown from nothing, a 2 KB
	// message took seven allocations.
	sp.mem.Grow(4 << 10)
	return sp
}

// boundaryCount numbers the rewrite's boundary roots as the original's
// submit does (a counter of the process, 4 digits at least).
var boundaryCount atomic.Uint64

// boundaryRoot is a new boundary root as the original makes them:
// "=_", the host name (at most 30 characters), the process id, the time
// and the counter.
func boundaryRoot(unix int64) string {
	host, _ := os.Hostname()
	if len(host) > 30 {
		host = host[:30]
	}
	return fmt.Sprintf("=_%s-%d-%d-%04d", host, os.Getpid(), unix, boundaryCount.Add(1))
}

// mimeReader is the message to queue: the spool, or, when the original
// would have rewritten its MIME headers, the rewrite of it.
func mimeReader(sp *spool, res *rfc2045.Result, unix int64) io.ReadCloser {
	if !res.NeedRewrite {
		return io.NopCloser(sp.Reader())
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(res.Rewrite(pw, sp.ReaderAt(), func() string { return boundaryRoot(unix) }))
	}()
	return pr
}
