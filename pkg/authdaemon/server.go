package authdaemon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gocourier/courier/pkg/auth"
	"github.com/gocourier/courier/pkg/authlib"
)

// Protocol timeouts (spec §1): the original waits at most 10 s for each
// piece of a request and then closes silently.
const (
	ReadTimeout  = 10 * time.Second
	WriteTimeout = 10 * time.Second
	// requestDeadline bounds a whole request, so that a client dripping
	// one byte every 9 s cannot hold a connection for hours (the original
	// has no such bound; its 10 s per read is kept).
	requestDeadline = 60 * time.Second
	// MaxConnections bounds open connections; past it new ones are closed
	// at once. Each costs a goroutine and a descriptor, not a module slot.
	MaxConnections = 10000
)

// generation is one configuration: a module stack and its work slots.
// Requests hold its read lock while they use it; a reload takes the write
// lock before closing it, so no request sees a closed module.
type generation struct {
	mu     sync.RWMutex
	stack  *auth.Stack
	slots  chan struct{} // `daemons` requests may run modules at once
	closed bool          // set under mu's write lock
}

// acquire returns the current generation, read-locked.
func (s *Server) acquire() *generation {
	for {
		g := s.gen.Load()
		g.mu.RLock()
		if !g.closed {
			return g
		}
		// Replaced and closed between Load and RLock: take the new one.
		g.mu.RUnlock()
	}
}

// retire closes a generation once no request uses it.
func (s *Server) retire(g *generation) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	g.closed = true
	return g.stack.Close()
}

// Server answers requests on a listener.
type Server struct {
	Log *slog.Logger

	gen   atomic.Pointer[generation]
	conns chan struct{}
	wg    sync.WaitGroup

	mu        sync.Mutex
	listeners []net.Listener
	closing   bool
	lastFull  time.Time
	reading   map[net.Conn]struct{} // connections still sending their request
	acceptFDs map[int]struct{}      // the fast path's listening descriptors
	stopping  atomic.Bool           // set by Shutdown: reads end at once
}

// NewServer returns a server for stack with daemons work slots.
func NewServer(stack *auth.Stack, daemons int, log *slog.Logger) *Server {
	s := &Server{Log: log, conns: make(chan struct{}, MaxConnections), reading: map[net.Conn]struct{}{}, acceptFDs: map[int]struct{}{}}
	s.Swap(stack, daemons)
	return s
}

// Swap installs a new module stack (SIGHUP) and closes the old one once
// the requests that use it are done.
func (s *Server) Swap(stack *auth.Stack, daemons int) {
	if daemons < 1 {
		daemons = 1
	}
	old := s.gen.Swap(&generation{stack: stack, slots: make(chan struct{}, daemons)})
	if old != nil {
		go func() {
			if err := s.retire(old); err != nil {
				s.Log.Warn("closing the previous modules after a reload", "error", err)
			}
		}()
	}
}

// Serve accepts connections until the listener is closed. A Unix
// listener is served by the fast path's blocking workers (fastpath.go),
// which put its socket in blocking mode: its Accept must not be called
// by anyone else.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return net.ErrClosed
	}
	s.listeners = append(s.listeners, ln)
	s.mu.Unlock()
	if ul, ok := ln.(*net.UnixListener); ok {
		return s.serveFast(ul)
	}
	var delay time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Out of descriptors and the like: back off, keep serving.
			if delay == 0 {
				delay = 5 * time.Millisecond
			} else if delay < time.Second {
				delay *= 2
			}
			s.Log.Error("accepting a connection on the authdaemon socket failed", "error", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		select {
		case s.conns <- struct{}{}:
		default:
			conn.Close()
			s.noteFull()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-s.conns }()
			s.handle(conn, nil, time.Now())
		}()
	}
}

func (s *Server) noteFull() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.lastFull) > time.Minute {
		s.lastFull = time.Now()
		s.Log.Warn(fmt.Sprintf("%d connections are open on the authdaemon socket: new connections are closed until some finish", MaxConnections))
	}
}

// Shutdown stops accepting and waits up to ctx for requests in progress.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	s.stopping.Store(true)
	for _, ln := range s.listeners {
		ln.Close()
	}
	// Clients that have not finished their request will not get an
	// answer from this daemon: let them go now rather than at their
	// timeout.
	for c := range s.reading {
		c.SetReadDeadline(time.Now())
	}
	s.wakeAcceptors()
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.retire(s.gen.Load())
}

// Buffers are recycled across connections: a request then allocates
// little besides its reply.
var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, authlib.ReaderSize) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4096) }}
)

// connReader gives each read its own timeout within the request deadline.
// It first returns pending, the bytes the fast path had already read.
type connReader struct {
	conn     net.Conn
	pending  []byte
	end      time.Time
	stopping *atomic.Bool
}

func (r *connReader) Read(p []byte) (int, error) {
	if len(r.pending) > 0 {
		n := copy(p, r.pending)
		r.pending = r.pending[n:]
		return n, nil
	}
	if r.stopping.Load() {
		return 0, os.ErrDeadlineExceeded
	}
	d := time.Now().Add(ReadTimeout)
	if d.After(r.end) {
		d = r.end
	}
	r.conn.SetReadDeadline(d)
	return r.conn.Read(p)
}

// connWriter gives each write its own timeout.
type connWriter struct{ conn net.Conn }

func (w connWriter) Write(p []byte) (int, error) {
	w.conn.SetWriteDeadline(time.Now().Add(WriteTimeout))
	return w.conn.Write(p)
}

// handle answers the one request of a connection that arrived at start;
// pending holds what the fast path already read of it.
func (s *Server) handle(conn net.Conn, pending []byte, start time.Time) {
	defer conn.Close()
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	s.reading[conn] = struct{}{}
	s.mu.Unlock()
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(&connReader{conn: conn, pending: pending, end: start.Add(requestDeadline), stopping: &s.stopping})
	req, err := authlib.ReadRequest(br)
	br.Reset(nil)
	readerPool.Put(br)
	s.mu.Lock()
	delete(s.reading, conn)
	s.mu.Unlock()
	if err != nil {
		s.readFailed(err, connWriter{conn})
		return
	}
	s.respond(req, connWriter{conn})
}

// readFailed logs why a request could not be read, and tells the client
// FAIL when the original does (spec §1).
func (s *Server) readFailed(err error, out io.Writer) {
	var re *authlib.RequestError
	switch {
	case errors.As(err, &re):
		if re.Fail {
			out.Write([]byte(authlib.ReplyFail))
		}
		s.Log.Warn(fmt.Sprintf("%v; connection closed", err))
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, os.ErrDeadlineExceeded):
		s.Log.Debug("client went away or was too slow before finishing its request", "error", err)
	default:
		s.Log.Debug("reading a request", "error", err)
	}
}

// respond runs req on a work slot of the current modules and writes the
// reply to out.
func (s *Server) respond(req *authlib.Request, out io.Writer) {
	g := s.acquire()
	defer g.mu.RUnlock()
	g.slots <- struct{}{}
	defer func() { <-g.slots }()

	ctx := auth.WithRemoteIP(context.Background(), req.RemoteIP())
	w := writerPool.Get().(*bufio.Writer)
	w.Reset(out)
	defer func() {
		w.Flush()
		w.Reset(nil)
		writerPool.Put(w)
	}()
	switch req.Command {
	case authlib.CmdPre:
		a, err := g.stack.Pre(ctx, req.Module, req.Service, req.User)
		s.answer(w, req, a, err)
	case authlib.CmdAuth:
		a, err := g.stack.Auth(ctx, req.Service, req.AuthType, req.AuthData)
		s.answer(w, req, a, err)
	case authlib.CmdPasswd:
		err := g.stack.Passwd(ctx, req.Service, req.User, req.OldPassword, req.NewPassword)
		switch {
		case err == nil:
			s.Log.Info(fmt.Sprintf("password changed for %s (service %s)", req.User, req.Service), "ip", req.RemoteIP())
			w.WriteString(authlib.ReplyOK)
		case errors.Is(err, auth.ErrReject):
			w.WriteString(authlib.ReplyFail)
		default:
			s.Log.Error(fmt.Sprintf("password change for %s (service %s) failed: %v", req.User, req.Service, err), "ip", req.RemoteIP())
			w.WriteString(authlib.ReplyFail)
		}
	case authlib.CmdEnumerate:
		var buf []byte
		err := g.stack.Enumerate(ctx, func(module string) error {
			_, err := w.Write(authlib.AppendEnumModule(buf[:0], module))
			return err
		}, func(e authlib.EnumEntry) error {
			b, ok := authlib.AppendEnumEntry(buf[:0], e)
			if !ok {
				s.Log.Warn(fmt.Sprintf("%s: account %q has a tab or newline in a field and is left out of ENUMERATE", e.Module, e.Name))
				return nil
			}
			buf = b
			_, err := w.Write(b)
			return err
		})
		if err != nil {
			s.Log.Error(fmt.Sprintf("ENUMERATE aborted: %v", err))
			return
		}
		w.WriteString(".\n")
	}
}

// answer writes the reply to PRE or AUTH: the account, FAIL, or nothing
// (the connection is just closed) for a temporary failure.
func (s *Server) answer(w *bufio.Writer, req *authlib.Request, a *authlib.Account, err error) {
	switch {
	case err == nil:
		w.Write(authlib.AppendAccount(nil, a))
	case errors.Is(err, auth.ErrReject):
		w.WriteString(authlib.ReplyFail)
	default:
		user := req.User
		if req.Command == authlib.CmdAuth {
			if c, perr := auth.ParseCredentials(req.AuthType, req.AuthData); perr == nil {
				user = c.User
			}
		}
		s.Log.Error(fmt.Sprintf("temporary failure for %s (service %s): %v; the client was told to try again later", user, req.Service, err), "ip", req.RemoteIP())
	}
}
