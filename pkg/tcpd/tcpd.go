// Package tcpd owns couriertcpd, the suite's TCP acceptor (spec
// couriertcpd.md, DESIGN §1-2): it binds the ports as root, drops to its
// -user/-group before it runs anything, applies the access database, the
// connection limits and the DNS block lists, and gives every connection
// to the protocol server with the original's TCP* environment, either by
// running the server per connection (exec mode, the original's) or by
// handing the socket to one long-running server (pass mode,
// pkg/tcpd/handoff).
//
// Callers: cmd/couriertcpd; the supervisor and the esmtpd/imapd/pop3d
// wrappers build its command line (pkg/services).
//
// DNS questions (TCPREMOTEHOST, TCPLOCALHOST, -block, -allow) go straight
// to the servers of /etc/resolv.conf, as the original's own resolver
// does, or to the one named by TCPD_RESOLVER=ADDRESS:PORT (ours).
//
// Where this couriertcpd knowingly differs from tcpd.c: a PTR name whose
// addresses do not include the client gives TCPREMOTEHOST=softdnserr, as
// the spec says (tcpd.c leaves it unset); "-block=zone,VAR,*" without a
// TXT record sets VAR to "Blacklisted by zone" (tcpd.c: a literal "*");
// an IPv4-mapped client is asked about in the block lists in its IPv4
// form only (tcpd.c also asks with the 32 nibbles of the mapped address);
// -listen sets the listen backlog (tcpd.c checks it and then ignores
// it); a missing -access database stops couriertcpd from starting (tcpd.c
// goes on without one).
//
// Not implemented: the PROXY protocol options -haproxy and -proxy (newer
// than Debian's 1.0.16; refused with an error naming them).
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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gocourier/courier/pkg/access"
	"github.com/gocourier/courier/pkg/logging"
	"github.com/gocourier/courier/pkg/logging/pidfile"
	"github.com/gocourier/courier/pkg/privsep"
	"github.com/gocourier/courier/pkg/tcpd/handoff"
)

// passServers are the servers that take connections passed (pass mode).
var passServers = map[string]bool{"courieresmtpd": true, "imapd": true, "imaplogin": true, "pop3d": true, "pop3login": true, "courierpop3d": true, "courierpop3login": true}

// Main runs couriertcpd and returns its exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	for _, a := range args {
		if a == "--help" || a == "-help" || a == "-h" {
			fmt.Fprint(stdout, Usage)
			return 0
		}
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
		err = Run(o, stderr)
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
	res  *resolver

	mu        sync.Mutex
	db        *access.DB
	live      int
	perIP     map[[16]byte]int
	perC      map[[15]byte]int
	conns     map[uint64]*conn // counted connections by id: handed over (pass mode) or with a program running (exec mode)
	nextID    uint64
	sender    *handoff.Sender // pass mode: the running server's socket
	passProc  *os.Process     // pass mode: the running server
	lastWarn  time.Time
	lastAlert time.Time

	slots  chan struct{} // -maxprocs: one per connection being handled
	errlog *os.File      // the programs' standard error
}

// conn is one accepted connection while it counts against the limits.
type conn struct {
	ip      [16]byte
	cmd     *exec.Cmd // exec mode
	counted bool
}

// Run is couriertcpd with parsed options: it returns when it is told to
// stop (SIGTERM, SIGINT), or with an error when it cannot start.
func Run(o *Options, stderr io.Writer) error {
	var daemon *pidfile.Daemon
	if o.PidFile != "" {
		d, err := pidfile.Daemonize(o.PidFile)
		if err != nil || d == nil {
			return err
		}
		daemon = d
	}
	fail := func(err error) error {
		if daemon != nil {
			daemon.Fail(err)
		}
		return err
	}
	s := &server{o: o, perIP: map[[16]byte]int{}, perC: map[[15]byte]int{}, conns: map[uint64]*conn{},
		slots: make(chan struct{}, o.MaxProcs)}
	s.log = logging.New(logging.Options{Program: "couriertcpd", Stderr: true, Writer: stderr})
	s.prog, s.args = serverCommand(o.Program, o.Args)
	s.pass = !o.Exec && passServers[filepath.Base(s.prog)]
	var err error
	if s.res, err = newResolver(); err != nil {
		return fail(err)
	}
	var listeners []net.Listener
	closeAll := func() {
		for _, l := range listeners {
			l.Close()
		}
	}
	for _, p := range o.Ports {
		ls, err := listenPort(p, o.Listen)
		if err != nil {
			closeAll()
			return fail(err)
		}
		listeners = append(listeners, ls...)
	}
	if o.Access != "" {
		if s.db, err = access.Open(o.Access); err != nil {
			closeAll()
			return fail(fmt.Errorf("the access database: %w (build it with makesmtpaccess)", err))
		}
	}
	// As the original: the pid file is written, and the starting shell
	// let go, once the ports are bound and before the privileges go.
	if daemon != nil {
		if err := daemon.Ready(); err != nil {
			return err
		}
	}
	if err := s.drop(); err != nil {
		return err
	}
	if s.errlog, err = s.openStderr(); err != nil {
		return err
	}
	if s.errlog != os.Stderr {
		s.log = logging.New(logging.Options{Program: "couriertcpd", Stderr: true, Writer: s.errlog})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	var passDone chan struct{}
	if s.pass {
		if passDone, err = s.startPass(ctx); err != nil {
			return err
		}
	}
	var wg sync.WaitGroup
	for _, l := range listeners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.accept(ctx, l.(*net.TCPListener))
		}()
	}
	var where []string
	for _, l := range listeners {
		where = append(where, l.Addr().String())
	}
	mode := "exec"
	if s.pass {
		mode = "pass"
	}
	s.log.Info(fmt.Sprintf("listening on %s for %s (%s mode)", strings.Join(where, ", "), s.prog, mode))
	for sig := range sigs {
		if sig == syscall.SIGHUP {
			s.reopen()
			s.hupPass()
			continue
		}
		s.log.Info(fmt.Sprintf("%v: stopping", sig))
		break
	}
	cancel()
	closeAll()
	wg.Wait()
	s.stopExec()
	if passDone != nil {
		<-passDone
	}
	return nil
}

// serverCommand returns the program to run: PROGRAM ARGS, except that
// "couriertls -server -tcpd [options] PROG ARGS" (the -ssl wrappers) runs
// PROG ARGS, which makes its TLS itself (ESMTP_TLS=1 and its like in the
// environment).
func serverCommand(prog string, args []string) (string, []string) {
	if filepath.Base(prog) != "couriertls" || len(args) < 3 || args[0] != "-server" || args[1] != "-tcpd" {
		return prog, args
	}
	rest := args[2:]
	for len(rest) > 0 && strings.HasPrefix(rest[0], "-") {
		rest = rest[1:]
	}
	if len(rest) == 0 {
		return prog, args
	}
	return rest[0], rest[1:]
}

// drop changes to -user and -group (tcpd.c init): -user alone takes the
// user's group and supplementary groups; either may be numeric.
func (s *server) drop() error {
	if s.o.User == "" && s.o.Group == "" {
		return nil
	}
	c := privsep.Credential{UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), Groups: []uint32{}}
	if s.o.User != "" {
		if uid, ok := privsep.ParseID(s.o.User); ok {
			c.UID = uid
		} else {
			u, err := privsep.LookupUser(s.o.User)
			if err != nil {
				return fmt.Errorf("-user=%s: %w", s.o.User, err)
			}
			if c, err = privsep.CredentialFor(u); err != nil {
				return fmt.Errorf("-user=%s: %w", s.o.User, err)
			}
		}
	}
	if s.o.Group != "" {
		gid, ok := privsep.ParseID(s.o.Group)
		if !ok {
			var err error
			if gid, err = privsep.LookupGroup(s.o.Group); err != nil {
				return fmt.Errorf("-group=%s: %w", s.o.Group, err)
			}
		}
		c.GID = gid
		c.Groups = []uint32{gid}
	}
	_, err := privsep.DropIfRoot(c)
	return err
}

// openStderr is where the programs' standard error goes (and couriertcpd's
// own log, as in the original): one -stderrlogger process, the file of
// -stderr=FILE, or couriertcpd's standard error. -stderr=socket is
// applied per connection in exec mode.
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
		cmd.Stdin = r
		err = cmd.Start()
		r.Close()
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("-stderrlogger=%s: %w", s.o.StderrLogger, err)
		}
		go cmd.Wait()
		return w, nil
	case s.o.Stderr != "" && s.o.Stderr != "socket":
		f, err := os.OpenFile(s.o.Stderr, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o660)
		if err != nil {
			return nil, fmt.Errorf("-stderr=%s: %w", s.o.Stderr, err)
		}
		return f, nil
	}
	return os.Stderr, nil
}

// reopen re-opens the access database (SIGHUP: makesmtpaccess, -restart).
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
	s.log.Info("SIGHUP: re-opened the access database " + s.o.Access)
}

// slotWait is how long an idle listener keeps a free -maxprocs slot
// before it lets a listener on another port have it.
const slotWait = time.Second

// accept takes connections from l until ctx ends. It holds a -maxprocs
// slot before each accept, so that at the limit couriertcpd stops
// accepting and new clients wait in the listen queue (as the original's
// getfreeslot does) instead of being read by a process that cannot serve
// them.
func (s *server) accept(ctx context.Context, l *net.TCPListener) {
	for {
		select {
		case s.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		l.SetDeadline(time.Now().Add(slotWait))
		nc, err := l.AcceptTCP()
		if err != nil {
			s.release()
			if ctx.Err() != nil {
				return
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			s.log.Error(fmt.Sprintf("accepting on %s: %v", l.Addr(), err))
			time.Sleep(100 * time.Millisecond)
			continue
		}
		go s.handle(ctx, nc)
	}
}

func (s *server) release() { <-s.slots }

// handle decides about one connection and gives it to the program, in
// the original's order (tcpd.c accepted and run): the access file, the
// connection limits, the environment, the block lists, -drop.
func (s *server) handle(ctx context.Context, nc *net.TCPConn) {
	nc.SetKeepAlive(true)
	ra := nc.RemoteAddr().(*net.TCPAddr)
	la := nc.LocalAddr().(*net.TCPAddr)
	remoteIP := envIP(ra.IP)
	c := &conn{}
	copy(c.ip[:], ra.IP.To16())

	s.mu.Lock()
	db := s.db
	s.mu.Unlock()
	var vars []string
	if db != nil {
		v, found, err := db.Check(ra.IP, la.IP, la.Port, s.o.AccessLocal)
		if err != nil {
			s.log.Error(fmt.Sprintf("access database: %v; connection from %s allowed without variables", err, remoteIP))
		}
		if found && v.Deny {
			if v.Local {
				s.log.Info(fmt.Sprintf("connection from %s to %s refused by the access database (entry %s)", remoteIP, la, v.Key))
				nc.Close()
			} else {
				s.log.Info(fmt.Sprintf("connection from %s refused by the access database (entry %s)", remoteIP, v.Key))
				s.deny(nc)
			}
			s.release()
			return
		}
		vars = v.Vars
	}
	// The access file's MAXCPERIP overrides -maxperip for this client.
	maxPerIP := s.o.MaxPerIP
	if v, ok := lookupEnv(vars, "MAXCPERIP"); ok {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
			maxPerIP = n
		}
	}
	if !s.count(c, maxPerIP, remoteIP) {
		nc.Close()
		s.release()
		return
	}

	env := append([]string(nil), vars...)
	env = append(env, "TCPREMOTEIP="+remoteIP, "TCPREMOTEPORT="+strconv.Itoa(ra.Port))
	env = append(env, s.lookups(ctx, ra, la, remoteIP, vars)...)
	env = append(env, "TCPLOCALIP="+envIP(la.IP), "TCPLOCALPORT="+strconv.Itoa(la.Port))
	if ctx.Err() != nil { // stopping: the lookups were cut short
		nc.Close()
		s.uncount(c)
		return
	}
	for _, name := range s.o.Drop {
		if v, _ := lookupEnv(env, name); v != "" {
			s.log.Warn("dropped blocked connection from " + remoteIP)
			s.deny(nc)
			s.uncount(c)
			return
		}
	}
	if s.pass {
		s.passOn(nc, c, env, remoteIP)
		return
	}
	s.execFor(nc, c, env, remoteIP)
}

// lookups runs the DNS and ident lookups for one connection at the same
// time and returns TCPREMOTEHOST, TCPLOCALHOST, TCPREMOTEINFO and the
// block lists' variables, in that order.
func (s *server) lookups(ctx context.Context, ra, la *net.TCPAddr, remoteIP string, vars []string) []string {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	results := make([][]string, 4)
	run := func(i int, f func() []string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = f()
		}()
	}
	if !s.o.NoDNS {
		run(0, func() []string {
			if h, ok := s.res.hostName(ctx, ra.IP); ok {
				return []string{"TCPREMOTEHOST=" + h}
			}
			return nil
		})
		run(1, func() []string {
			if h, ok := s.res.hostName(ctx, la.IP); ok {
				return []string{"TCPLOCALHOST=" + h}
			}
			return nil
		})
	}
	if !s.o.NoIdent {
		run(2, func() []string {
			if info := ident(ctx, ra, la); info != "" {
				return []string{"TCPREMOTEINFO=" + info}
			}
			return nil
		})
	}
	if len(s.o.Blocks) > 0 {
		run(3, func() []string { return s.res.blockLists(ctx, s.o.Blocks, ra.IP, remoteIP, vars) })
	}
	wg.Wait()
	var out []string
	for _, r := range results {
		out = append(out, r...)
	}
	return out
}

// deny sends the -denymsg text and a newline, then closes (tcpd.c denied).
func (s *server) deny(nc *net.TCPConn) {
	if s.o.DenyMsg != "" {
		nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		nc.Write([]byte(s.o.DenyMsg + "\n"))
	}
	nc.Close()
}

// envIP is how the original presents addresses: IPv4 as IPv4-mapped IPv6.
func envIP(ip net.IP) string {
	if v4 := ip.To4(); v4 != nil {
		return "::ffff:" + v4.String()
	}
	return ip.String()
}

// count applies -maxperip and -maxperc (tcpd.c run) and counts the
// connection; false means refused. The "C block" is every address that
// shares all but the last byte of the 16-byte form: an IPv4 /24 (an IPv6
// /120).
func (s *server) count(c *conn, maxPerIP int, remoteIP string) bool {
	var block [15]byte
	copy(block[:], c.ip[:15])
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.perIP[c.ip]; n >= maxPerIP {
		s.log.Log(context.Background(), logging.LevelAlert, fmt.Sprintf("Maximum connection limit reached for %s (%d connections; -maxperip, MAXCPERIP)", remoteIP, n))
		return false
	}
	if n := s.perC[block]; n >= s.o.MaxPerC {
		s.log.Warn(fmt.Sprintf("connection from %s refused: %d connections from its /24 already (-maxperc)", remoteIP, n))
		return false
	}
	s.perIP[c.ip]++
	s.perC[block]++
	c.counted = true
	s.live++
	now := time.Now()
	switch {
	case s.live >= s.o.MaxProcs:
		if now.Sub(s.lastAlert) > time.Minute {
			s.lastAlert = now
			s.log.Log(context.Background(), logging.LevelAlert, fmt.Sprintf("%d maximum active connections.", s.o.MaxProcs))
		}
	case s.live >= s.o.Warn:
		if now.Sub(s.lastWarn) > time.Minute {
			s.lastWarn = now
			s.log.Warn(fmt.Sprintf("%d active connections.", s.live))
		}
	}
	return true
}

// uncount ends a counted connection and frees its slot.
func (s *server) uncount(c *conn) {
	var block [15]byte
	copy(block[:], c.ip[:15])
	s.mu.Lock()
	if c.counted {
		c.counted = false
		s.live--
		if s.perIP[c.ip]--; s.perIP[c.ip] <= 0 {
			delete(s.perIP, c.ip)
		}
		if s.perC[block]--; s.perC[block] <= 0 {
			delete(s.perC, block)
		}
	}
	s.mu.Unlock()
	s.release()
}

// done ends a connection by id (pass mode: the server closed it; exec
// mode: its program ended).
func (s *server) done(id uint64) {
	s.mu.Lock()
	c := s.conns[id]
	delete(s.conns, id)
	s.mu.Unlock()
	if c != nil {
		s.uncount(c)
	}
}

// execFor runs the program for one connection (exec mode) with the
// connection as standard input and output.
func (s *server) execFor(nc *net.TCPConn, c *conn, env []string, remoteIP string) {
	f, err := nc.File()
	nc.Close()
	if err != nil {
		s.log.Error(fmt.Sprintf("connection from %s: %v", remoteIP, err))
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
		s.log.Error(fmt.Sprintf("cannot run %s for the connection from %s: %v", s.prog, remoteIP, err))
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

// stopExec sends SIGTERM to the programs of exec mode still running, as
// the original does to its process group when it is stopped.
func (s *server) stopExec() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		if c.cmd != nil && c.cmd.Process != nil {
			c.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
}

// passOn hands the connection to the pass-mode server; it stays counted
// until the server says it has closed it.
func (s *server) passOn(nc *net.TCPConn, c *conn, env []string, remoteIP string) {
	s.mu.Lock()
	s.nextID++
	id := s.nextID
	s.conns[id] = c
	sender := s.sender
	s.mu.Unlock()
	err := errors.New("it is not running (it is being started again)")
	if sender != nil {
		err = sender.Send(id, env, nc)
	}
	nc.Close()
	if err != nil {
		s.log.Error(fmt.Sprintf("cannot pass the connection from %s to %s: %v", remoteIP, s.prog, err))
		s.done(id)
	}
}

func (s *server) setPassProc(p *os.Process) {
	s.mu.Lock()
	s.passProc = p
	s.mu.Unlock()
}

// hupPass passes SIGHUP on to a pass-mode courieresmtpd, which then
// re-reads the control files for new connections, as an exec-mode server
// started after the change would (makesmtpaccess, courier restart). The
// login servers keep their configuration until they are restarted.
func (s *server) hupPass() {
	s.mu.Lock()
	p := s.passProc
	s.mu.Unlock()
	if p == nil || filepath.Base(s.prog) != "courieresmtpd" {
		return
	}
	if err := p.Signal(syscall.SIGHUP); err == nil {
		s.log.Info(fmt.Sprintf("SIGHUP: told %s (pid %d) to re-read its configuration", s.prog, p.Pid))
	}
}

// Pass-mode server restarts wait restartMin, doubling up to restartMax;
// a server that ran for restartReset starts again after restartMin.
const (
	restartMin   = time.Second
	restartMax   = 30 * time.Second
	restartReset = time.Minute
	stopWait     = 10 * time.Second
)

// startPass starts the pass-mode server and keeps it running until ctx
// ends, then stops it (SIGTERM, SIGKILL after stopWait); the returned
// channel closes when it is gone. The first start's failure is returned.
func (s *server) startPass(ctx context.Context) (chan struct{}, error) {
	cmd, sender, err := s.spawn()
	if err != nil {
		return nil, err
	}
	s.setPassProc(cmd.Process)
	done := make(chan struct{})
	go func() {
		defer close(done)
		backoff := restartMin
		for {
			begun := time.Now()
			waited := make(chan error, 1)
			go func() { waited <- cmd.Wait() }()
			var werr error
			select {
			case werr = <-waited:
			case <-ctx.Done():
				cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-waited:
				case <-time.After(stopWait):
					s.log.Warn(fmt.Sprintf("%s (pid %d) did not stop within %v of SIGTERM: killing it", s.prog, cmd.Process.Pid, stopWait))
					cmd.Process.Kill()
					<-waited
				}
				sender.Close()
				return
			}
			lost := s.serverGone(sender)
			if time.Since(begun) > restartReset {
				backoff = restartMin
			}
			s.log.Error(fmt.Sprintf("%s (pid %d) ended (%v), closing %d connections; starting it again in %v", s.prog, cmd.Process.Pid, werr, lost, backoff))
			for {
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, restartMax)
				if cmd, sender, err = s.spawn(); err == nil {
					s.setPassProc(cmd.Process)
					break
				}
				s.log.Error(fmt.Sprintf("%v; trying again in %v", err, backoff))
			}
		}
	}()
	return done, nil
}

// spawn starts the pass-mode server with its end of a new socket pair as
// descriptor 3.
func (s *server) spawn() (*exec.Cmd, *handoff.Sender, error) {
	sender, file, err := handoff.Pair()
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(s.prog, s.args...)
	cmd.Env = append(os.Environ(), handoff.EnvFD+"=3")
	cmd.ExtraFiles = []*os.File{file}
	cmd.Stdout, cmd.Stderr = s.errlog, s.errlog
	err = cmd.Start()
	file.Close()
	if err != nil {
		sender.Close()
		return nil, nil, fmt.Errorf("cannot start %s: %w", s.prog, err)
	}
	s.mu.Lock()
	s.sender = sender
	s.mu.Unlock()
	go s.readDone(sender)
	return cmd, sender, nil
}

// serverGone forgets the connections of a server that ended: their
// sockets closed with it. It returns how many there were.
func (s *server) serverGone(sender *handoff.Sender) int {
	sender.Close()
	s.mu.Lock()
	s.sender = nil
	lost := s.conns
	s.conns = map[uint64]*conn{}
	s.mu.Unlock()
	for _, c := range lost {
		s.uncount(c)
	}
	return len(lost)
}

// readDone ends the connections the server reports closed, until its
// socket closes.
func (s *server) readDone(sender *handoff.Sender) {
	for {
		id, err := sender.Done()
		var ne *strconv.NumError
		if errors.As(err, &ne) {
			s.log.Error(fmt.Sprintf("%s sent a bad connection id: %v", s.prog, err))
			continue
		}
		if err != nil {
			return
		}
		s.done(id)
	}
}
