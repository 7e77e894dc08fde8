package login

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/gocourier/courier/pkg/logging"
	"github.com/gocourier/courier/pkg/tcpd/handoff"
	"github.com/gocourier/courier/pkg/tlsconf"
)

// stage is the unprivileged process that talks to the clients.
type stage struct {
	proto string
	log   *slog.Logger
	link  *net.UnixConn // the request link to the root part

	mu      sync.Mutex
	nextReq uint64
	waiting map[uint64]chan reply
}

type reply struct {
	code, user string
}

func runStage(prog, proto string, h Handler) int {
	log := logging.New(logging.Options{Program: prog, Stderr: true, Writer: os.Stderr, Level: slog.LevelInfo})
	fd, err := strconv.Atoi(os.Getenv(stageEnv))
	if err != nil || fd < 3 {
		log.Error(fmt.Sprintf("%s=%q is not a file descriptor: the login stage is started by %s itself", stageEnv, os.Getenv(stageEnv), prog))
		return 2
	}
	os.Unsetenv(stageEnv)
	f := os.NewFile(uintptr(fd), "login requests")
	fc, err := net.FileConn(f)
	f.Close()
	link, ok := fc.(*net.UnixConn)
	if err != nil || !ok {
		log.Error(fmt.Sprintf("fd %d is not the request link to the root part: %v", fd, err))
		return 2
	}
	l, pass, err := handoff.Listen()
	if err != nil || !pass {
		log.Error(fmt.Sprintf("the login stage has no connections to serve (%s): %v", handoff.EnvFD, err))
		return 2
	}
	s := &stage{proto: proto, log: log, link: link, waiting: map[uint64]chan reply{}}
	go s.readReplies()
	implicit := os.Getenv(strings.ToUpper(proto)+"_TLS") == "1"
	for {
		nc, err := l.Accept()
		if err != nil {
			// The root part is gone or stopping: sessions still in
			// the stage end with the process.
			return 0
		}
		go s.serve(nc.(*handoff.Conn), implicit, h)
	}
}

// readReplies delivers the root part's answers; when the link fails every
// waiting login fails as temporary.
func (s *stage) readReplies() {
	buf := make([]byte, 4096)
	for {
		n, err := s.link.Read(buf)
		if err != nil || n == 0 {
			s.mu.Lock()
			for id, ch := range s.waiting {
				ch <- reply{code: codeTemp}
				delete(s.waiting, id)
			}
			s.waiting = nil
			s.mu.Unlock()
			return
		}
		id, code, user, err := parseReply(buf[:n])
		if err != nil {
			s.log.Error("the root part sent a bad reply: " + err.Error())
			continue
		}
		s.mu.Lock()
		if ch, ok := s.waiting[id]; ok {
			ch <- reply{code, user}
			delete(s.waiting, id)
		}
		s.mu.Unlock()
	}
}

func (s *stage) serve(hc *handoff.Conn, implicit bool, h Handler) {
	id, _ := strconv.ParseUint(hc.ID(), 10, 64)
	c := &Conn{Conn: hc.Conn, env: hc.Env, id: id, stage: s}
	cfg, err := tlsconf.Server(c.Getenv, !implicit)
	if err != nil {
		s.log.Error("TLS is off for the connection from " + c.Getenv("TCPREMOTEIP") + ": " + err.Error())
	}
	c.tlsCfg = cfg
	if implicit {
		if cfg == nil {
			s.log.Error(fmt.Sprintf("connection from %s closed: %s_TLS=1 (implicit TLS) but there is no usable certificate (TLS_CERTFILE)", c.Getenv("TCPREMOTEIP"), strings.ToUpper(s.proto)))
			hc.Close()
			return
		}
		if err := c.StartTLS(); err != nil {
			s.log.Info(fmt.Sprintf("TLS handshake with %s failed: %v", c.Getenv("TCPREMOTEIP"), err))
			hc.Close()
			return
		}
	}
	h(c)
	switch {
	case !c.handed:
		c.Conn.Close()
		hc.Close() // tells the root part
	case c.proxyTo != nil:
		// The server has the other end; the root part hears of the
		// session's end from the server.
		pc, err := net.FileConn(c.proxyTo)
		c.proxyTo.Close()
		if err != nil {
			c.Conn.Close()
			return
		}
		copyBoth(c.Conn, pc)
	default:
		hc.Conn.Close() // the server has the socket
	}
}

func (s *stage) login(ctx context.Context, c *Conn, r Request) (Result, error) {
	var fd int
	var mine *os.File
	if c.tls {
		// The TLS state stays here: the server gets a socket pair.
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return Result{Temporary: true}, err
		}
		mine = os.NewFile(uintptr(fds[0]), "TLS session")
		defer unix.Close(fds[1])
		fd = fds[1]
	} else {
		sc, ok := c.Conn.(interface{ File() (*os.File, error) })
		if !ok {
			return Result{Temporary: true}, errors.New("the connection cannot be passed on")
		}
		f, err := sc.File()
		if err != nil {
			return Result{Temporary: true}, err
		}
		defer f.Close()
		fd = int(f.Fd())
	}
	s.mu.Lock()
	if s.waiting == nil {
		s.mu.Unlock()
		return Result{Temporary: true}, errors.New("the root part is gone")
	}
	s.nextReq++
	req := &request{id: s.nextReq, conn: c.id, tls: c.tls, Request: r}
	ch := make(chan reply, 1)
	s.waiting[req.id] = ch
	s.mu.Unlock()
	pkt, err := req.marshal()
	if err == nil {
		_, _, err = s.link.WriteMsgUnix(pkt, unix.UnixRights(fd), nil)
	}
	if err != nil {
		s.forget(req.id)
		if mine != nil {
			mine.Close()
		}
		return Result{Temporary: true}, err
	}
	var rep reply
	select {
	case rep = <-ch:
	case <-ctx.Done():
		s.forget(req.id)
		if mine != nil {
			mine.Close()
		}
		return Result{Temporary: true}, ctx.Err()
	}
	res := Result{User: rep.user}
	switch rep.code {
	case codeOK:
		res.OK = true
		c.handed = true
		c.proxyTo = mine
		return res, nil
	case codeTemp:
		res.Temporary = true
	case codeDisabled:
		res.Disabled = true
	case codeInsecure:
		res.Disabled, res.Insecure = true, true
	}
	if mine != nil {
		mine.Close()
	}
	return res, nil
}

func (s *stage) forget(id uint64) {
	s.mu.Lock()
	if s.waiting != nil {
		delete(s.waiting, id)
	}
	s.mu.Unlock()
}

func decodeBase64(s string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(strings.TrimSpace(s))
}
