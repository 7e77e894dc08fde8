// Package tcpd owns couriertcpd, the suite's TCP acceptor (spec
// couriertcpd.md, DESIGN §1-2): it binds the ports as root, drops to its
// -user/-group before it runs anything, applies the access database, the
// DNS block lists and the connection limits, and gives every connection
// to the protocol server with the original's TCP* environment, either by
// running the server per connection (exec mode, the original's) or by
// handing the socket to one long-running server (pass mode, pkg/tcpd/handoff).
//
// Callers: cmd/couriertcpd; the supervisor and the esmtpd/imapd/pop3d
// wrappers build its command line (pkg/services).
//
// Not implemented: -accesslocal and the PROXY protocol options (refused
// with an error naming them).
package tcpd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gocourier/courier/pkg/access"
	"github.com/gocourier/courier/pkg/logging/pidfile"
	"github.com/gocourier/courier/pkg/privsep"
	"github.com/gocourier/courier/pkg/tcpd/handoff"
)

// passServers are the servers that take connections passed (pass mode).
var passServers = map[string]bool{"courieresmtpd": true, "imapd": true, "imaplogin": true, "pop3d": true, "pop3login": true}

// Main runs couriertcpd and returns its exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "--help" || args[0] == "-help" || args[0] == "-h") {
		fmt.Fprint(stdout, Usage)
		return 0
	}
	o, err := ParseArgs(args)
	if err != nil {
		fmt.Fprintln(stderr, "couriertcpd:", err)
		return 1
	}
	switch {
	case o.Stop:
		err = pidfile.Stop(o.PidFile)
	case o.Restart:
		err = pidfile.Restart(o.PidFile)
	default:
		err = run(o, stderr)
	}
	if err != nil {
		fmt.Fprintln(stderr, "couriertcpd:", err)
		return 1
	}
	return 0
}

// server is one running couriertcpd.
type server struct {
	o    *Options
	log  *slog.Logger
	prog string
	args []string
	pass bool

	mu     sync.Mutex
	db     *access.DB
	live   int
	perIP  map[string]int
	perC   map[string]int
	conns  map[uint64]*conn // connections handed over (pass mode) or with a program running (exec mode), by id
	nextID uint64
	slots  chan struct{} // -maxprocs

	sender *handoff.Sender
	errlog *os.File // stderr of the programs run
	cancel context.CancelFunc
}

// conn is one accepted connection while it counts against the limits.
type conn struct {
	ip, c  string
	cmd    *exec.Cmd
	counts bool
}

func run(o *Options, stderr io.Writer) error {
	var daemon *pidfile.Daemon
	if o.PidFile != "" {
		d, err := pidfile.Daemonize(o.PidFile)
		if err != nil {
			return err
		}
		if d == nil {
			return nil
		}
		daemon = d
	}
	fail := func(err error) error {
		if daemon != nil {
			daemon.Fail(err)
		}
		return err
	}
	s := &server{o: o, perIP: map[string]int{}, perC: map[string]int{}, conns: map[uint64]*conn{},
		log: slog.New(slog.NewTextHandler(stderr, nil)).With("program", "couriertcpd")}
	s.prog, s.args = o.Program, o.Args
	// The suite's servers make their own TLS: "couriertls -server -tcpd
	// PROG ARGS" (the -ssl wrappers) runs PROG, which sees ESMTP_TLS=1 or
	// its like in the environment.
	if filepath.Base(s.prog) == "couriertls" {
		for i, a := range s.args {
			if a == "-tcpd" && i+1 < len(s.args) {
				s.prog, s.args = s.args[i+1], s.args[i+2:]
				break
			}
		}
	}
	s.pass = !o.Exec && passServers[filepath.Base(s.prog)]
	addrs, err := listenAddrs(o.Ports, o.Address)
	if err != nil {
		return fail(err)
	}
	var lc net.ListenConfig
	var listeners []net.Listener
	for _, a := range addrs {
		l, err := lc.Listen(context.Background(), "tcp", a)
		if err != nil {
			return fail(fmt.Errorf("cannot listen on %s: %w", a, err))
		}
		listeners = append(listeners, l)
	}
	if o.Access != "" {
		if s.db, err = access.Open(o.Access); err != nil {
			return fail(fmt.Errorf("access database: %w", err))
		}
	}
	if err := s.drop(); err != nil {
		return fail(err)
	}
	if s.errlog, err = s.openStderr(); err != nil {
		return fail(err)
	}
	if o.MaxProcs > 0 {
		s.slots = make(chan struct{}, o.MaxProcs)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	if s.pass {
		if err := s.startPass(ctx); err != nil {
			return fail(err)
		}
	}
	if daemon != nil {
		if err := daemon.Ready(); err != nil {
			return err
		}
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	var wg sync.WaitGroup
	for _, l := range listeners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.accept(ctx, l)
		}()
	}
	s.log.Info(fmt.Sprintf("listening on %s for %s (%s mode)", strings.Join(addrs, ", "), s.prog, map[bool]string{true: "pass", false: "exec"}[s.pass]))
	for sig := range sigs {
		if sig == syscall.SIGHUP {
			s.reopen()
			continue
		}
		break
	}
	cancel()
	for _, l := range listeners {
		l.Close()
	}
	wg.Wait()
	s.stopAll()
	return nil
}

// drop changes to -user/-group (the user's own group unless -group).
func (s *server) drop() error {
	if s.o.User == "" && s.o.Group == "" {
		return nil
	}
	c := privsep.Credential{UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), Groups: []uint32{}}
	if s.o.User != "" {
		u, err := privsep.LookupUser(s.o.User)
		if err != nil {
			return fmt.Errorf("-user=%s: %w", s.o.User, err)
		}
		c.UID, c.GID = u.UID, u.GID
	}
	if s.o.Group != "" {
		g, err := privsep.LookupGroup(s.o.Group)
		if err != nil {
			return fmt.Errorf("-group=%s: %w", s.o.Group, err)
		}
		c.GID = g
	}
	_, err := privsep.DropIfRoot(c)
	return err
}

// openStderr is where the programs' standard error goes: -stderr=FILE,
// one -stderrlogger process, or couriertcpd's own. -stderr=socket is
// decided per connection (exec mode).
func (s *server) openStderr() (*os.File, error) {
	switch {
	case s.o.StderrLogger != "":
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		name := s.o.StderrLoggerName
		if name == "" {
			name = filepath.Base(s.prog)
		}
		cmd := exec.Command(s.o.StderrLogger, name)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = r, os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("-stderrlogger=%s: %w", s.o.StderrLogger, err)
		}
		r.Close()
		go cmd.Wait()
		return w, nil
	case s.o.Stderr != "" && s.o.Stderr != "socket":
		f, err := os.OpenFile(s.o.Stderr, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("-stderr=%s: %w", s.o.Stderr, err)
		}
		return f, nil
	}
	return os.Stderr, nil
}

// reopen re-opens the access database (SIGHUP; makesmtpaccess).
func (s *server) reopen() {
	if s.o.Access == "" {
		return
	}
	db, err := access.Open(s.o.Access)
	if err != nil {
		s.log.Error(fmt.Sprintf("SIGHUP: cannot re-open the access database, keeping the old one: %v", err))
		return
	}
	s.mu.Lock()
	old := s.db
	s.db = db
	s.mu.Unlock()
	if old != nil {
		old.Close()
	}
	s.log.Info("SIGHUP: access database re-opened: " + s.o.Access)
}

// accept takes connections from l until ctx ends, holding a -maxprocs
// slot before each accept so that a full server stops accepting.
func (s *server) accept(ctx context.Context, l net.Listener) {
	for {
		if s.slots != nil {
			select {
			case s.slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
		nc, err := l.Accept()
		if err != nil {
			s.release()
			if ctx.Err() != nil {
				return
			}
			s.log.Error(fmt.Sprintf("accept: %v", err))
			time.Sleep(100 * time.Millisecond)
			continue
		}
		go s.handle(ctx, nc.(*net.TCPConn))
	}
}

func (s *server) release() {
	if s.slots != nil {
		<-s.slots
	}
}

// handle decides about one connection and gives it to the program.
func (s *server) handle(ctx context.Context, nc *net.TCPConn) {
	ra := nc.RemoteAddr().(*net.TCPAddr)
	la := nc.LocalAddr().(*net.TCPAddr)
	ip := ra.IP
	c := &conn{ip: ip.String()}
	if v4 := ip.To4(); v4 != nil {
		c.c = fmt.Sprintf("%d.%d.%d", v4[0], v4[1], v4[2])
	}
	env := []string{
		"TCPREMOTEIP=" + envIP(ip), fmt.Sprintf("TCPREMOTEPORT=%d", ra.Port),
		"TCPLOCALIP=" + envIP(la.IP), fmt.Sprintf("TCPLOCALPORT=%d", la.Port),
	}
	s.mu.Lock()
	db := s.db
	s.mu.Unlock()
	var vars []string
	if db != nil {
		v, found, err := db.Check(ip, la.IP, la.Port, false)
		if err != nil {
			s.log.Error(fmt.Sprintf("access database lookup for %s: %v", ip, err))
		}
		if found && v.Deny {
			s.log.Info(fmt.Sprintf("connection from %s refused by the access database (entry %s)", ip, v.Key))
			if s.o.DenyMsg != "" {
				nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
				nc.Write([]byte(s.o.DenyMsg + "\r\n"))
			}
			nc.Close()
			s.release()
			return
		}
		vars = v.Vars
	}
	maxPerIP := s.o.MaxPerIP
	for _, kv := range vars {
		if v, ok := strings.CutPrefix(kv, "MAXCPERIP="); ok {
			fmt.Sscan(v, &maxPerIP)
		}
	}
	if !s.count(c, maxPerIP) {
		nc.Close()
		s.release()
		return
	}
	lookupCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if !s.o.NoDNS {
		env = append(env, reverseDNS(lookupCtx, ip, "TCPREMOTEHOST")...)
		env = append(env, reverseDNS(lookupCtx, la.IP, "TCPLOCALHOST")...)
	}
	if !s.o.NoIdent {
		if info := ident(lookupCtx, ra, la); info != "" {
			env = append(env, "TCPREMOTEINFO="+info)
		}
	}
	env = append(env, vars...)
	env = append(env, blockLists(lookupCtx, s.o.Blocks, ip, env)...)
	if s.o.Drop != "" {
		if v := lookupEnv(env, s.o.Drop); v != "" {
			s.log.Info(fmt.Sprintf("connection from %s dropped: %s=%s", ip, s.o.Drop, v))
			nc.Close()
			s.uncount(c)
			return
		}
	}
	if s.pass {
		s.mu.Lock()
		s.nextID++
		id := s.nextID
		s.conns[id] = c
		sender := s.sender
		s.mu.Unlock()
		err := errors.New("the server is not running")
		if sender != nil {
			err = sender.Send(id, env, nc)
		}
		nc.Close()
		if err != nil {
			s.log.Error(fmt.Sprintf("cannot pass the connection from %s to %s: %v", ip, s.prog, err))
			s.done(id)
		}
		return
	}
	s.execFor(nc, c, env)
}

// envIP is how the original presents addresses: IPv4 as IPv4-mapped IPv6.
func envIP(ip net.IP) string {
	if v4 := ip.To4(); v4 != nil {
		return "::ffff:" + v4.String()
	}
	return ip.String()
}

func lookupEnv(env []string, name string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], name+"="); ok {
			return v
		}
	}
	return ""
}

// count applies -maxperip and -maxperc; false means refused.
func (s *server) count(c *conn, maxPerIP int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if maxPerIP > 0 && s.perIP[c.ip] >= maxPerIP {
		s.log.Warn(fmt.Sprintf("connection from %s refused: %d connections from that address already (-maxperip)", c.ip, s.perIP[c.ip]))
		return false
	}
	if s.o.MaxPerC > 0 && c.c != "" && s.perC[c.c] >= s.o.MaxPerC {
		s.log.Warn(fmt.Sprintf("connection from %s refused: %d connections from %s.* already (-maxperc)", c.ip, s.perC[c.c], c.c))
		return false
	}
	s.perIP[c.ip]++
	if c.c != "" {
		s.perC[c.c]++
	}
	c.counts = true
	s.live++
	if s.o.MaxProcs > 0 && s.live >= s.o.Warn && s.o.Warn > 0 {
		s.log.Warn(fmt.Sprintf("%d connections of at most %d (-maxprocs)", s.live, s.o.MaxProcs))
	}
	return true
}

// uncount ends a counted connection and frees its slot.
func (s *server) uncount(c *conn) {
	s.mu.Lock()
	if c.counts {
		c.counts = false
		s.live--
		if s.perIP[c.ip]--; s.perIP[c.ip] <= 0 {
			delete(s.perIP, c.ip)
		}
		if c.c != "" {
			if s.perC[c.c]--; s.perC[c.c] <= 0 {
				delete(s.perC, c.c)
			}
		}
	}
	s.mu.Unlock()
	s.release()
}

// done ends a passed connection by id.
func (s *server) done(id uint64) {
	s.mu.Lock()
	c := s.conns[id]
	delete(s.conns, id)
	s.mu.Unlock()
	if c != nil {
		s.uncount(c)
	}
}

// execFor runs the program for one connection (exec mode).
func (s *server) execFor(nc *net.TCPConn, c *conn, env []string) {
	f, err := nc.File()
	nc.Close()
	if err != nil {
		s.log.Error(fmt.Sprintf("connection from %s: %v", c.ip, err))
		s.uncount(c)
		return
	}
	cmd := exec.Command(s.prog, s.args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = f, f, s.errlog
	if s.o.Stderr == "socket" {
		cmd.Stderr = f
	}
	err = cmd.Start()
	f.Close()
	if err != nil {
		s.log.Error(fmt.Sprintf("cannot run %s for the connection from %s: %v", s.prog, c.ip, err))
		s.uncount(c)
		return
	}
	s.mu.Lock()
	c.cmd = cmd
	s.nextID++
	id := s.nextID
	s.conns[id] = c
	s.mu.Unlock()
	cmd.Wait()
	s.done(id)
}

// startPass starts the pass-mode server and keeps it running.
func (s *server) startPass(ctx context.Context) error {
	started := make(chan error, 1)
	go func() {
		backoff := time.Second
		first := true
		for ctx.Err() == nil {
			sender, file, err := handoff.Pair()
			if err != nil {
				if first {
					started <- err
					return
				}
				s.log.Error(err.Error())
				time.Sleep(backoff)
				continue
			}
			cmd := exec.Command(s.prog, s.args...)
			cmd.Env = append(os.Environ(), handoff.EnvFD+"=3")
			cmd.ExtraFiles = []*os.File{file}
			cmd.Stdout, cmd.Stderr = s.errlog, s.errlog
			err = cmd.Start()
			file.Close()
			if err != nil {
				sender.Close()
				if first {
					started <- fmt.Errorf("cannot start %s: %w", s.prog, err)
					return
				}
				s.log.Error(fmt.Sprintf("cannot start %s: %v", s.prog, err))
			} else {
				s.mu.Lock()
				s.sender = sender
				s.mu.Unlock()
				if first {
					started <- nil
					first = false
				}
				begun := time.Now()
				waited := make(chan error, 1)
				go func() { waited <- cmd.Wait() }()
				go s.readDone(sender)
				select {
				case err = <-waited:
				case <-ctx.Done():
					cmd.Process.Signal(syscall.SIGTERM)
					select {
					case <-waited:
					case <-time.After(10 * time.Second):
						cmd.Process.Kill()
						<-waited
					}
					sender.Close()
					return
				}
				sender.Close()
				s.mu.Lock()
				s.sender = nil
				lost := s.conns
				s.conns = map[uint64]*conn{}
				s.mu.Unlock()
				for _, c := range lost {
					s.uncount(c)
				}
				s.log.Error(fmt.Sprintf("%s (pid %d) ended (%v) with %d connections; starting it again in %v", s.prog, cmd.Process.Pid, err, len(lost), backoff))
				if time.Since(begun) > time.Minute {
					backoff = time.Second
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			if backoff *= 2; backoff > 30*time.Second {
				backoff = 30 * time.Second
			}
		}
	}()
	return <-started
}

// readDone frees the slots of connections the server has closed.
func (s *server) readDone(sender *handoff.Sender) {
	for {
		id, err := sender.Done()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) || strings.Contains(err.Error(), "closed") {
				return
			}
			continue
		}
		s.done(id)
	}
}

// stopAll ends the programs of exec mode (SIGTERM) and waits for them.
func (s *server) stopAll() {
	s.mu.Lock()
	for _, c := range s.conns {
		if c.cmd != nil && c.cmd.Process != nil {
			c.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	s.mu.Unlock()
}
