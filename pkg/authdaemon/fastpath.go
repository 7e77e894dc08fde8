package authdaemon

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gocourier/courier/pkg/authlib"
)

// The fast path serves the common client, which writes its whole request
// at once, with plain blocking system calls on a few worker goroutines,
// the way the original's daemons do: a blocking accept, a read, the reply,
// a close. Going through Go's netpoller instead costs a goroutine wake-up
// and epoll bookkeeping per connection, which dominates a cached login.
// A client whose request is not all there within fastWait is handed to
// the netpoller path (handle) with what was read so far, so slow or idle
// clients never hold a worker and keep the 10 s per-read timeout (§1).
const (
	// fastWait is how long a worker waits for the rest of a request.
	fastWait = 5 * time.Millisecond
	// slowRequest is how long a request may keep a worker before another
	// is started, should none be left accepting.
	slowRequest = 20 * time.Millisecond
	// acceptWake bounds a worker's blocking accept, so that workers notice
	// a listener closed by its owner rather than by Shutdown.
	acceptWake = 250 * time.Millisecond
)

// errSlow ends a fast-path read whose request is not complete in time.
var errSlow = errors.New("request not complete within the fast path's wait")

// fastWorkers is the number of workers kept waiting in accept: enough to
// keep the cores busy while others wait for request bytes.
func fastWorkers() int {
	return max(4, 2*runtime.GOMAXPROCS(0))
}

// acceptPool is the workers of one listening descriptor. When all of them
// are busy with requests that take more than slowRequest (a PAM failure
// delay, an unreachable LDAP server), another is started, so that such
// requests never leave the socket without an acceptor: `daemons` alone
// bounds them. Extra workers exit once enough are idle again.
type acceptPool struct {
	rc      syscall.RawConn
	lfd     int
	idle    atomic.Int32 // workers in accept
	target  int32        // idle workers kept; more exit after a request
	workers sync.WaitGroup
}

// serveFast accepts on ln with blocking workers until ln is closed or the
// server shuts down.
func (s *Server) serveFast(ln *net.UnixListener) error {
	rc, err := ln.SyscallConn()
	if err != nil {
		return err
	}
	// The workers use their own descriptor of the socket: closing ln
	// (Socket.Close) must not pull it from under a blocked accept.
	lfd := -1
	var derr error
	if err := rc.Control(func(fd uintptr) { lfd, derr = unix.Dup(int(fd)) }); err != nil {
		return nil // already closed
	}
	if derr != nil {
		return derr
	}
	unix.CloseOnExec(lfd)
	// Blocking mode is a property of the open socket, so it applies to
	// ln's descriptor too: ln.Accept is never called once this runs.
	if err := unix.SetNonblock(lfd, false); err != nil {
		unix.Close(lfd)
		return err
	}
	tv := unix.NsecToTimeval(int64(acceptWake))
	if err := unix.SetsockoptTimeval(lfd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(lfd)
		return err
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		unix.Close(lfd)
		return net.ErrClosed
	}
	s.acceptFDs[lfd] = struct{}{}
	s.mu.Unlock()

	p := &acceptPool{rc: rc, lfd: lfd, target: int32(fastWorkers())}
	for range p.target {
		p.workers.Go(func() { s.acceptLoop(p) })
	}
	p.workers.Wait()
	s.mu.Lock()
	delete(s.acceptFDs, lfd)
	s.mu.Unlock()
	unix.Close(lfd)
	return nil
}

// wakeAcceptors ends the workers' blocking accepts (Shutdown); s.mu is held.
func (s *Server) wakeAcceptors() {
	for fd := range s.acceptFDs {
		unix.Shutdown(fd, unix.SHUT_RDWR)
	}
}

// acceptLoop is one worker.
func (s *Server) acceptLoop(p *acceptPool) {
	var delay time.Duration
	for {
		p.idle.Add(1)
		r1, _, errno := syscall.Syscall6(unix.SYS_ACCEPT4, uintptr(p.lfd), 0, 0, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
		p.idle.Add(-1)
		if errno != 0 {
			switch errno {
			case unix.EINTR, unix.ECONNABORTED:
				continue
			case unix.EAGAIN:
				// acceptWake passed: is the listener still open?
				if s.stopping.Load() || p.rc.Control(func(uintptr) {}) != nil {
					return
				}
				continue
			case unix.EINVAL, unix.EBADF:
				// Shut down by Shutdown.
				return
			}
			if s.stopping.Load() {
				return
			}
			if delay == 0 {
				delay = 5 * time.Millisecond
			} else if delay < time.Second {
				delay *= 2
			}
			s.Log.Error("accepting a connection on the authdaemon socket failed", "error", errno, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		fd := int(r1)
		start := time.Now()
		select {
		case s.conns <- struct{}{}:
		default:
			unix.Close(fd)
			s.noteFull()
			continue
		}
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			unix.Close(fd)
			<-s.conns
			return
		}
		s.wg.Add(1)
		s.mu.Unlock()
		// A request still running after slowRequest while no worker
		// accepts gets a new worker beside it.
		p.workers.Add(1)
		t := time.AfterFunc(slowRequest, func() {
			defer p.workers.Done()
			if p.idle.Load() == 0 {
				s.acceptLoop(p)
			}
		})
		s.serveFD(fd, start)
		if t.Stop() {
			p.workers.Done()
		}
		if p.idle.Load() >= p.target {
			return
		}
	}
}

// fdReader reads a request from a non-blocking socket, waiting at most
// until end for data, and keeps what it read for a hand-off.
type fdReader struct {
	fd       int
	end      time.Time
	got      []byte
	stopping *atomic.Bool
}

var fdReaderPool = sync.Pool{New: func() any { return &fdReader{got: make([]byte, 0, 512)} }}

func (r *fdReader) Read(p []byte) (int, error) {
	for {
		if r.stopping.Load() {
			return 0, os.ErrDeadlineExceeded
		}
		n, err := unix.Read(r.fd, p)
		switch {
		case n > 0:
			r.got = append(r.got, p[:n]...)
			return n, nil
		case err == nil:
			return 0, io.EOF
		case err == unix.EINTR:
			continue
		case err != unix.EAGAIN:
			return 0, err
		}
		wait := time.Until(r.end)
		if wait <= 0 {
			return 0, errSlow
		}
		pfd := []unix.PollFd{{Fd: int32(r.fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(pfd, int(wait/time.Millisecond)+1); err != nil && err != unix.EINTR {
			return 0, err
		}
	}
}

// fdWriter writes to a non-blocking socket; each write waits at most
// WriteTimeout for the client to make room (spec §1).
type fdWriter struct{ fd int }

func (w fdWriter) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := unix.Write(w.fd, p[n:])
		switch {
		case m > 0:
			n += m
			continue
		case err == unix.EINTR:
			continue
		case err != unix.EAGAIN:
			return n, err
		}
		pfd := []unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLOUT}}
		k, err := unix.Poll(pfd, int(WriteTimeout/time.Millisecond))
		if err != nil && err != unix.EINTR {
			return n, err
		}
		if k == 0 {
			return n, os.ErrDeadlineExceeded
		}
	}
	return n, nil
}

// serveFD answers the connection fd on the worker, or hands it to the
// netpoller path when its request is slow to come or its reply is long.
func (s *Server) serveFD(fd int, start time.Time) {
	r := fdReaderPool.Get().(*fdReader)
	r.fd, r.end, r.got, r.stopping = fd, start.Add(fastWait), r.got[:0], &s.stopping
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(r)
	req, err := authlib.ReadRequest(br)
	br.Reset(nil)
	readerPool.Put(br)
	var pending []byte
	if errors.Is(err, errSlow) {
		pending = append([]byte(nil), r.got...)
	}
	r.stopping = nil
	fdReaderPool.Put(r)
	switch {
	case errors.Is(err, errSlow):
		s.handOff(fd, func(c net.Conn) { s.handle(c, pending, start) })
		return
	case err == nil && req.Command == authlib.CmdEnumerate:
		// A reply of any length, to a client that may read it slowly.
		s.handOff(fd, func(c net.Conn) {
			defer c.Close()
			s.respond(req, connWriter{c})
		})
		return
	}
	defer s.release()
	defer unix.Close(fd)
	if err != nil {
		s.readFailed(err, fdWriter{fd})
		return
	}
	s.respond(req, fdWriter{fd})
}

// release frees a connection's place.
func (s *Server) release() {
	<-s.conns
	s.wg.Done()
}

// handOff continues the connection fd on its own goroutine through Go's
// netpoller; the connection keeps its place until then.
func (s *Server) handOff(fd int, run func(net.Conn)) {
	f := os.NewFile(uintptr(fd), "authdaemon client")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		s.Log.Error("moving a slow authdaemon client to the poller failed; connection closed", "error", err)
		s.release()
		return
	}
	go func() {
		defer s.release()
		run(c)
	}()
}
