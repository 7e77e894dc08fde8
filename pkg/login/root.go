package login

import (
	"context"
	"errors"
	"fmt"
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

	"golang.org/x/sys/unix"

	"github.com/gocourier/courier/pkg/authlib"
	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/pkg/logging"
	"github.com/gocourier/courier/pkg/privsep"
	"github.com/gocourier/courier/pkg/tcpd/handoff"
)

// WorkerIdle is how long a mailbox owner's server runs without a session
// before the root part lets it go.
const WorkerIdle = 30 * time.Second

// root is the privileged part: it owns the client sockets' ids, the stage
// and the servers, and asks authdaemond.
type root struct {
	prog, proto string
	server      []string // SERVER [MAILDIRPATH]
	log         *slog.Logger
	auth        *authlib.Client
	minUID      uint32
	stageCred   *privsep.Credential

	mu      sync.Mutex
	conns   map[uint64]*handoff.Conn // the root's copy of each live connection
	owner   map[uint64]*worker       // the server a handed-over connection went to
	workers map[[2]uint32]*worker    // by uid, gid
	stage   *handoff.Sender
	nextID  uint64
	oneConn bool          // exec mode: stop when the connection ends
	done    chan struct{} // closed when oneConn's connection ended
}

// worker is one running server for one uid/gid.
type worker struct {
	cred   privsep.Credential
	sender *handoff.Sender
	cmd    *exec.Cmd
	live   map[uint64]bool
	idle   *time.Timer
	gone   bool
}

func runRoot(prog, proto string, server []string) int {
	log := logging.New(logging.Options{Program: prog, Stderr: true, Writer: os.Stderr, Level: slog.LevelInfo})
	if !filepath.IsAbs(server[0]) {
		if p, err := exec.LookPath(server[0]); err == nil {
			server[0] = p
		}
	}
	if _, err := os.Stat(server[0]); err != nil {
		log.Error(fmt.Sprintf("the server to run after login, %s, is missing: %v (check the start script's command line)", server[0], err))
		return 1
	}
	r := &root{prog: prog, proto: proto, server: server, log: log, auth: authlib.NewClient(), minUID: 1,
		conns: map[uint64]*handoff.Conn{}, owner: map[uint64]*worker{}, workers: map[[2]uint32]*worker{},
		done: make(chan struct{})}
	if v := os.Getenv("MINUID"); v != "" {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			log.Error(fmt.Sprintf("MINUID=%q is not a uid", v))
			return 1
		}
		r.minUID = uint32(n)
	}
	if privsep.IsRoot() {
		l := layout.Current()
		c, err := privsep.MailCredential(l.MailUser, l.MailGroup)
		if err != nil {
			log.Error("cannot run the login stage unprivileged: " + err.Error())
			return 1
		}
		r.stageCred = &c
	}
	src, pass, err := handoff.Listen()
	if err != nil {
		log.Error("cannot read the connections couriertcpd passes: " + err.Error())
		return 1
	}
	reqs, err := r.startStage()
	if err != nil {
		log.Error(err.Error())
		return 1
	}
	go r.readRequests(reqs)
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM, syscall.SIGINT)
	if !pass {
		c, err := handoff.Stdio()
		if err != nil {
			log.Error(err.Error())
			return 1
		}
		c.Env = tcpEnv(os.Environ())
		r.oneConn = true
		if err := r.accept(c); err != nil {
			log.Error(err.Error())
			return 1
		}
		select {
		case <-r.done:
		case <-term:
		}
		r.stop()
		return 0
	}
	go func() {
		<-term
		src.Close()
	}()
	for {
		nc, err := src.Accept()
		if err != nil {
			r.stop()
			return 0
		}
		if err := r.accept(nc.(*handoff.Conn)); err != nil {
			log.Error(err.Error())
		}
	}
}

// tcpEnv is the per-connection part of an exec-mode environment.
func tcpEnv(environ []string) []string {
	var env []string
	for _, kv := range environ {
		if strings.HasPrefix(kv, "TCP") {
			env = append(env, kv)
		}
	}
	return env
}

// accept gives a new client connection to the stage.
func (r *root) accept(c *handoff.Conn) error {
	fc, ok := c.Conn.(handoff.Filer)
	if !ok {
		c.Close()
		return errors.New("the client connection is not a socket; run me from couriertcpd")
	}
	r.mu.Lock()
	r.nextID++
	id := r.nextID
	r.conns[id] = c
	stage := r.stage
	r.mu.Unlock()
	if stage == nil || stage.Send(id, c.Env, fc) != nil {
		r.closed(id)
		return fmt.Errorf("connection from %s dropped: the login stage is not running", c.Getenv("TCPREMOTEIP"))
	}
	return nil
}

// closed ends connection id: the root's copy is closed, which tells
// couriertcpd.
func (r *root) closed(id uint64) {
	r.mu.Lock()
	c := r.conns[id]
	delete(r.conns, id)
	delete(r.owner, id)
	last := r.oneConn && len(r.conns) == 0
	r.mu.Unlock()
	if c != nil {
		c.Close()
	}
	if last {
		select {
		case <-r.done:
		default:
			close(r.done)
		}
	}
}

// startStage starts the login stage and returns the request link; the
// stage is started again when it dies.
func (r *root) startStage() (*net.UnixConn, error) {
	sender, stageEnd, err := handoff.Pair()
	if err != nil {
		return nil, err
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		stageEnd.Close()
		sender.Close()
		return nil, fmt.Errorf("socket pair for the login stage: %w", err)
	}
	reqEnd := os.NewFile(uintptr(fds[1]), "login requests")
	mine := os.NewFile(uintptr(fds[0]), "login requests")
	fc, err := net.FileConn(mine)
	mine.Close()
	if err != nil {
		reqEnd.Close()
		stageEnd.Close()
		sender.Close()
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	env := append(withoutVars(os.Environ(), handoff.EnvFD, stageEnv), handoff.EnvFD+"=3", stageEnv+"=4")
	child := &privsep.Child{Path: self, Argv0: r.prog, Args: r.server, Env: env, Cred: r.stageCred,
		ExtraFiles: []*os.File{stageEnd, reqEnd}, Stderr: os.Stderr, Dir: "/", NoNewPrivs: true}
	cmd, err := child.Start()
	stageEnd.Close()
	reqEnd.Close()
	if err != nil {
		fc.Close()
		sender.Close()
		return nil, fmt.Errorf("cannot start the login stage: %w", err)
	}
	r.mu.Lock()
	r.stage = sender
	r.mu.Unlock()
	go r.stageDone(sender, cmd)
	return fc.(*net.UnixConn), nil
}

// stageDone reads the stage's closed connections; when the stage exits,
// its connections are gone and a new stage starts.
func (r *root) stageDone(sender *handoff.Sender, cmd *exec.Cmd) {
	for {
		id, err := sender.Done()
		if err != nil {
			break
		}
		r.closed(id)
	}
	err := cmd.Wait()
	sender.Close()
	r.mu.Lock()
	stopping := r.stage == nil
	var lost []uint64
	for id := range r.conns {
		if r.owner[id] == nil {
			lost = append(lost, id)
		}
	}
	r.mu.Unlock()
	for _, id := range lost {
		r.closed(id)
	}
	if stopping {
		return
	}
	r.log.Error(fmt.Sprintf("the login stage exited (%v); %d connections in it were lost; starting it again", err, len(lost)))
	time.Sleep(time.Second)
	reqs, err := r.startStage()
	if err != nil {
		r.log.Error(err.Error())
		return
	}
	go r.readRequests(reqs)
}

// readRequests answers the stage's logins, each in a goroutine.
func (r *root) readRequests(link *net.UnixConn) {
	defer link.Close()
	buf := make([]byte, maxRequest)
	oob := make([]byte, unix.CmsgSpace(4*4))
	for {
		n, oobn, _, _, err := link.ReadMsgUnix(buf, oob)
		if err != nil || (n == 0 && oobn == 0) {
			return
		}
		fds := passedFDs(oob[:oobn])
		req, err := parseRequest(buf[:n])
		if err != nil || len(fds) != 1 {
			for _, fd := range fds {
				unix.Close(fd)
			}
			if err == nil {
				err = fmt.Errorf("%d sockets passed, 1 expected", len(fds))
			}
			r.log.Error("the login stage sent a bad request: " + err.Error())
			if req != nil {
				link.Write(marshalReply(req.id, codeTemp, ""))
			}
			continue
		}
		go func() {
			code, user := r.login(req, fds[0])
			unix.Close(fds[0])
			link.Write(marshalReply(req.id, code, user))
		}()
	}
}

func passedFDs(oob []byte) []int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for _, m := range msgs {
		if got, err := unix.ParseUnixRights(&m); err == nil {
			fds = append(fds, got...)
		}
	}
	return fds
}

// login checks one login and hands the session over.
func (r *root) login(req *request, fd int) (code, user string) {
	r.mu.Lock()
	c := r.conns[req.conn]
	r.mu.Unlock()
	if c == nil {
		return codeTemp, ""
	}
	ip, port := c.Getenv("TCPREMOTEIP"), c.Getenv("TCPREMOTEPORT")
	user = loginUser(req.AuthType, req.AuthData)
	service := r.proto
	if v := c.Getenv("AUTHSERVICE" + c.Getenv("TCPLOCALPORT")); v != "" {
		service = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl := *r.auth
	cl.RemoteIP = ip
	acct, err := cl.Auth(ctx, service, req.AuthType, req.AuthData)
	if err != nil {
		if errors.Is(err, authlib.ErrTemporary) {
			r.log.Error(fmt.Sprintf("authdaemond did not answer for user=%s, ip=[%s]: %v (is authdaemond running?)", user, ip, err))
			return codeTemp, user
		}
		r.log.Info(fmt.Sprintf("LOGIN FAILED, user=%s, ip=[%s]", user, ip))
		return codeFail, user
	}
	if acct.Address != "" {
		user = acct.Address
	}
	if acct.Options.Enabled("disable" + r.proto) {
		r.log.Info(fmt.Sprintf("LOGIN FAILED, user=%s, ip=[%s]: %s access is disabled for the account (OPTIONS disable%s)", user, ip, strings.ToUpper(r.proto), r.proto))
		return codeDisabled, user
	}
	if !req.tls && acct.Options.Enabled("disableinsecure"+r.proto) {
		r.log.Info(fmt.Sprintf("LOGIN FAILED, user=%s, ip=[%s]: the account allows %s only with TLS (OPTIONS disableinsecure%s)", user, ip, strings.ToUpper(r.proto), r.proto))
		return codeInsecure, user
	}
	cred, home, err := r.identity(acct)
	if err != nil {
		r.log.Error(fmt.Sprintf("LOGIN FAILED, user=%s, ip=[%s]: %v", user, ip, err))
		return codeFail, user
	}
	maildir := acct.Maildir
	if maildir == "" {
		maildir = "Maildir"
		if len(r.server) > 1 && r.server[1] != "" {
			maildir = r.server[1]
		}
	}
	if !filepath.IsAbs(maildir) {
		maildir = filepath.Join(home, maildir)
	}
	tlsFlag := "0"
	if req.tls {
		tlsFlag = "1"
	}
	env := append(append([]string{}, c.Env...),
		"AUTHENTICATED="+user, "AUTHADDR="+acct.Address, "AUTHFULLNAME="+acct.Name,
		"OPTIONS="+acct.Options.String(), "HOME="+home, "MAILDIR="+maildir, "MAILDIRQUOTA="+acct.Quota,
		strings.ToUpper(r.proto)+"_TLS="+tlsFlag)
	env = append(env, req.Env...)
	if err := r.handOver(req.conn, cred, env, fd); err != nil {
		r.log.Error(fmt.Sprintf("LOGIN FAILED, user=%s, ip=[%s]: %v", user, ip, err))
		return codeTemp, user
	}
	r.log.Info(fmt.Sprintf("LOGIN, user=%s, ip=[%s], port=[%s], protocol=%s", user, ip, port, strings.ToUpper(r.proto)))
	return codeOK, user
}

// identity is the identity and home of an account's sessions.
func (r *root) identity(a *authlib.Account) (privsep.Credential, string, error) {
	c := privsep.Credential{UID: a.UID, GID: a.GID}
	home := a.Home
	if !a.HasUID {
		u, err := privsep.LookupUser(a.Username)
		if err != nil {
			return c, "", fmt.Errorf("the account's system user %q: %w", a.Username, err)
		}
		c.UID, c.GID = u.UID, u.GID
		if home == "" {
			home = u.Home
		}
	}
	c.Groups = []uint32{c.GID}
	if home == "" {
		return c, "", errors.New("the account has no home directory")
	}
	if privsep.IsRoot() {
		if err := privsep.RequireMailboxOwner(c.UID, r.minUID); err != nil {
			return c, "", err
		}
	}
	return c, home, nil
}

// passedConn lends a received descriptor to handoff.Sender.Send.
type passedConn int

func (p passedConn) File() (*os.File, error) {
	fd, err := unix.Dup(int(p))
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), "session"), nil
}

// handOver sends the session to the server running as cred, starting one
// when none runs.
func (r *root) handOver(id uint64, cred privsep.Credential, env []string, fd int) error {
	key := [2]uint32{cred.UID, cred.GID}
	r.mu.Lock()
	w := r.workers[key]
	if w == nil {
		var err error
		if w, err = r.startWorker(cred); err != nil {
			r.mu.Unlock()
			return err
		}
		r.workers[key] = w
	}
	if w.idle != nil {
		w.idle.Stop()
		w.idle = nil
	}
	w.live[id] = true
	r.owner[id] = w
	r.mu.Unlock()
	if err := w.sender.Send(id, env, passedConn(fd)); err != nil {
		r.mu.Lock()
		delete(w.live, id)
		delete(r.owner, id)
		r.mu.Unlock()
		return fmt.Errorf("handing the session to %s: %w", r.server[0], err)
	}
	return nil
}

// startWorker starts the server for cred; r.mu is held.
func (r *root) startWorker(cred privsep.Credential) (*worker, error) {
	sender, end, err := handoff.Pair()
	if err != nil {
		return nil, err
	}
	env := append(withoutVars(os.Environ(), handoff.EnvFD, stageEnv), handoff.EnvFD+"=3")
	child := &privsep.Child{Path: r.server[0], Args: r.server[1:], Env: env, Cred: &cred,
		ExtraFiles: []*os.File{end}, Stderr: os.Stderr, Dir: "/", NoNewPrivs: true}
	cmd, err := child.Start()
	end.Close()
	if err != nil {
		sender.Close()
		return nil, err
	}
	w := &worker{cred: cred, sender: sender, cmd: cmd, live: map[uint64]bool{}}
	go r.workerDone(w)
	return w, nil
}

// workerDone follows one server: its ended sessions, its idle time, its
// exit.
func (r *root) workerDone(w *worker) {
	for {
		id, err := w.sender.Done()
		if err != nil {
			break
		}
		r.mu.Lock()
		delete(w.live, id)
		if len(w.live) == 0 && !w.gone {
			w.idle = time.AfterFunc(WorkerIdle, func() { r.retire(w) })
		}
		r.mu.Unlock()
		r.closed(id)
	}
	err := w.cmd.Wait()
	r.mu.Lock()
	w.gone = true
	if key := [2]uint32{w.cred.UID, w.cred.GID}; r.workers[key] == w {
		delete(r.workers, key)
	}
	var lost []uint64
	for id := range w.live {
		lost = append(lost, id)
	}
	r.mu.Unlock()
	if len(lost) > 0 {
		r.log.Error(fmt.Sprintf("%s (%s) exited (%v) with %d sessions", r.server[0], w.cred, err, len(lost)))
	}
	for _, id := range lost {
		r.closed(id)
	}
}

// retire lets an idle server go: its listener fails and it exits.
func (r *root) retire(w *worker) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(w.live) > 0 || w.gone {
		return
	}
	w.gone = true
	delete(r.workers, [2]uint32{w.cred.UID, w.cred.GID})
	w.sender.Close()
}

// stop ends the stage and lets the servers finish their sessions.
func (r *root) stop() {
	r.mu.Lock()
	stage := r.stage
	r.stage = nil
	var ws []*worker
	for _, w := range r.workers {
		ws = append(ws, w)
	}
	r.mu.Unlock()
	if stage != nil {
		stage.Close()
	}
	for _, w := range ws {
		if w.cmd.Process != nil {
			w.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
}

func withoutVars(environ []string, names ...string) []string {
	var out []string
next:
	for _, kv := range environ {
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}
