// Package handoff owns pass mode, the way couriertcpd hands accepted
// connections to a long-running protocol server (DESIGN §2): a unix
// SOCK_SEQPACKET socket pair, one packet per connection carrying the
// connection's id and its per-connection environment ("<id>\0NAME=value\0
// ...") with the socket itself as SCM_RIGHTS, and one packet back, "<id>",
// when the server has closed that connection, so that couriertcpd's limits
// count live connections. The server finds its end in the file descriptor
// named by COURIERTCPD_HANDOFF_FD.
//
// Servers (courieresmtpd, later imapd and pop3d) call Listen, or Stdio in
// exec mode, and read per-connection settings through Conn.Getenv;
// couriertcpd (pkg/tcpd) uses Pair and Sender.
package handoff

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// EnvFD names the environment variable that holds the server's end of the
// socket pair.
const EnvFD = "COURIERTCPD_HANDOFF_FD"

// maxPacket bounds one hand-off packet: the id and the environment.
const maxPacket = 64 << 10

// Conn is one client connection and its per-connection environment.
type Conn struct {
	net.Conn
	Env []string // per-connection "NAME=value" (TCPREMOTEIP, access-file variables, ...)

	once    sync.Once
	id      string
	notify  *net.UnixConn // nil in exec mode
	onClose func()        // OneConnListener's end of service
}

// Getenv returns a per-connection variable, else the process's own.
func (c *Conn) Getenv(name string) string {
	v, _ := c.LookupEnv(name)
	return v
}

// LookupEnv is Getenv that also says whether the variable is set.
func (c *Conn) LookupEnv(name string) (string, bool) {
	for i := len(c.Env) - 1; i >= 0; i-- {
		if k, v, ok := bytes.Cut([]byte(c.Env[i]), []byte("=")); ok && string(k) == name {
			return string(v), true
		}
	}
	return os.LookupEnv(name)
}

// ID is the connection's id in pass mode ("" in exec mode).
func (c *Conn) ID() string { return c.id }

// Close closes the connection and, in pass mode, tells couriertcpd that
// it is gone (once, however often Close is called).
func (c *Conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		if c.notify != nil {
			// A failed write means couriertcpd is gone, and with it
			// the count this would have ended.
			c.notify.Write([]byte(c.id))
		}
		if c.onClose != nil {
			c.onClose()
		}
	})
	return err
}

// Listener is the server's end of pass mode. Accept returns *Conn values.
type Listener struct {
	sock *net.UnixConn
	mu   sync.Mutex // one reader at a time, who uses buf and oob
	// The packet's buffers, kept: a new 64 KiB per connection was a third
	// of all that a busy courieresmtpd allocated.
	buf, oob []byte
}

// Listen returns the pass-mode listener couriertcpd gave this process;
// ok is false when the process was not started in pass mode.
func Listen() (l *Listener, ok bool, err error) {
	v := os.Getenv(EnvFD)
	if v == "" {
		return nil, false, nil
	}
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil, true, fmt.Errorf("%s=%q is not a file descriptor", EnvFD, v)
	}
	os.Unsetenv(EnvFD)
	f := os.NewFile(uintptr(fd), "couriertcpd hand-off")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, true, fmt.Errorf("the hand-off socket from couriertcpd (fd %d): %w", fd, err)
	}
	uc, isUnix := c.(*net.UnixConn)
	if !isUnix {
		c.Close()
		return nil, true, fmt.Errorf("fd %d from couriertcpd is not a unix socket", fd)
	}
	return &Listener{sock: uc}, true, nil
}

// Accept waits for the next connection. When couriertcpd goes away it
// returns an error wrapping net.ErrClosed. A packet that does not carry
// exactly one usable socket is answered at once as closed, so that
// couriertcpd does not count a connection the server never had.
func (l *Listener) Accept() (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buf == nil {
		l.buf, l.oob = make([]byte, maxPacket), make([]byte, unix.CmsgSpace(4*4))
	}
	buf, oob := l.buf, l.oob
	for {
		n, oobn, _, _, err := l.sock.ReadMsgUnix(buf, oob)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: reading from couriertcpd: %v", net.ErrClosed, err)
		}
		if n == 0 && oobn == 0 {
			return nil, net.ErrClosed
		}
		id, rest, _ := bytes.Cut(buf[:n], []byte{0})
		fds, err := rights(oob[:oobn])
		if err != nil || len(fds) != 1 {
			for _, fd := range fds {
				unix.Close(fd)
			}
			l.sock.Write(id)
			continue
		}
		f := os.NewFile(uintptr(fds[0]), "client")
		nc, err := net.FileConn(f)
		f.Close()
		if err != nil {
			l.sock.Write(id)
			continue
		}
		c := &Conn{Conn: nc, id: string(id), notify: l.sock}
		for _, p := range bytes.Split(rest, []byte{0}) {
			if bytes.IndexByte(p, '=') > 0 {
				c.Env = append(c.Env, string(p))
			}
		}
		return c, nil
	}
}

func rights(oob []byte) ([]int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("a hand-off packet from couriertcpd has bad control data: %w", err)
	}
	var fds []int
	for _, m := range msgs {
		if got, err := unix.ParseUnixRights(&m); err == nil {
			fds = append(fds, got...)
		}
	}
	return fds, nil
}

// Close closes the hand-off socket; connections already accepted stay open.
func (l *Listener) Close() error { return l.sock.Close() }

// Addr is the hand-off socket's address.
func (l *Listener) Addr() net.Addr { return l.sock.LocalAddr() }

// Stdio is exec mode: the connection on standard input and output, with
// the per-connection variables in the process environment. Standard input
// is usually the socket couriertcpd accepted; when it is a pipe (a
// pre-authenticated server run through ssh or a mail client's tunnel),
// the session reads standard input and writes standard output.
func Stdio() (*Conn, error) {
	// Only a socket goes to net.FileConn: it makes the descriptor
	// non-blocking before it finds out, and a pipe left so fails the
	// first read that comes before the client's input (EAGAIN).
	var st unix.Stat_t
	if unix.Fstat(int(os.Stdin.Fd()), &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFSOCK {
		if c, err := net.FileConn(os.Stdin); err == nil {
			return &Conn{Conn: c}, nil
		}
	}
	return &Conn{Conn: &pipeConn{r: os.Stdin, w: os.Stdout}}, nil
}

// pipeConn is a connection made of two pipes (or files).
type pipeConn struct {
	r, w *os.File
}

func (p *pipeConn) Read(b []byte) (int, error)  { return p.r.Read(b) }
func (p *pipeConn) Write(b []byte) (int, error) { return p.w.Write(b) }
func (p *pipeConn) Close() error {
	err := p.r.Close()
	if e := p.w.Close(); err == nil {
		err = e
	}
	return err
}
func (p *pipeConn) LocalAddr() net.Addr  { return pipeAddr{} }
func (p *pipeConn) RemoteAddr() net.Addr { return pipeAddr{} }

// SetDeadline sets both deadlines; a pipe that cannot have one (a
// regular file) has none.
func (p *pipeConn) SetDeadline(t time.Time) error {
	p.r.SetReadDeadline(t)
	p.w.SetWriteDeadline(t)
	return nil
}
func (p *pipeConn) SetReadDeadline(t time.Time) error  { p.r.SetReadDeadline(t); return nil }
func (p *pipeConn) SetWriteDeadline(t time.Time) error { p.w.SetWriteDeadline(t); return nil }

// OneConnListener yields c once, then blocks until c is closed and
// returns net.ErrClosed, so that a server loop serves one exec-mode
// connection and stops. Accept returns c itself.
func OneConnListener(c *Conn) net.Listener {
	o := &oneConn{c: c, closed: make(chan struct{})}
	c.onClose = func() { o.Close() }
	return o
}

type oneConn struct {
	mu     sync.Mutex
	c      *Conn
	closed chan struct{}
	once   sync.Once
}

func (o *oneConn) Accept() (net.Conn, error) {
	o.mu.Lock()
	c := o.c
	o.c = nil
	o.mu.Unlock()
	if c != nil {
		return c, nil
	}
	<-o.closed
	return nil, net.ErrClosed
}

func (o *oneConn) Close() error {
	o.once.Do(func() { close(o.closed) })
	return nil
}

func (o *oneConn) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "stdio" }
func (pipeAddr) String() string  { return "stdio" }

// Pair makes the socket pair of pass mode: couriertcpd keeps the Sender,
// the server gets the file (as fd 3, with EnvFD=3).
func Pair() (*Sender, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair for pass mode: %w", err)
	}
	mine := os.NewFile(uintptr(fds[0]), "hand-off")
	c, err := net.FileConn(mine)
	mine.Close()
	if err != nil {
		unix.Close(fds[1])
		return nil, nil, err
	}
	return &Sender{sock: c.(*net.UnixConn)}, os.NewFile(uintptr(fds[1]), "hand-off"), nil
}

// Sender is couriertcpd's end of pass mode.
type Sender struct {
	sock *net.UnixConn
}

// Filer is a connection whose descriptor can be passed: *net.TCPConn and
// *net.UnixConn (the login stage passes both).
type Filer interface {
	File() (*os.File, error)
}

// Send hands c with its environment to the server. The caller closes its
// own copy of c afterwards.
func (s *Sender) Send(id uint64, env []string, c Filer) error {
	f, err := c.File()
	if err != nil {
		return err
	}
	defer f.Close()
	var b bytes.Buffer
	b.WriteString(strconv.FormatUint(id, 10))
	b.WriteByte(0)
	for _, kv := range env {
		b.WriteString(kv)
		b.WriteByte(0)
	}
	if b.Len() > maxPacket {
		return fmt.Errorf("the environment of connection %d is larger than %d bytes", id, maxPacket)
	}
	_, _, err = s.sock.WriteMsgUnix(b.Bytes(), unix.UnixRights(int(f.Fd())), nil)
	return err
}

// Done reads the id of the next connection the server has closed.
func (s *Sender) Done() (uint64, error) {
	buf := make([]byte, 32)
	n, err := s.sock.Read(buf)
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, net.ErrClosed
	}
	return strconv.ParseUint(string(buf[:n]), 10, 64)
}

// Close closes couriertcpd's end; the server's Accept then fails.
func (s *Sender) Close() error { return s.sock.Close() }
