package auth

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/gocourier/courier/pkg/auth/pamwire"
	"github.com/gocourier/courier/pkg/authlib"
)

// pamTimeout bounds one PAM conversation. pam_unix delays a failure by
// about two seconds; a helper that takes longer than this is stuck (a
// PAM module waiting on a dead network service) and is killed.
const pamTimeout = 60 * time.Second

// pamModule is authpam: lookups as authshadow does them (the passwd and
// shadow files), logins and password changes through a pool of authpam
// helper processes, at most `daemons` of them at once, each serving one
// request at a time (PAM's failure delay then holds up one helper only).
type pamModule struct {
	*unixModule
	helper string
	slots  chan struct{}

	mu     sync.Mutex
	idle   []*pamProc
	closed bool
}

type pamProc struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

func newPAMModule(helper, passwdPath, shadowPath string, max int, warn func(error)) (*pamModule, error) {
	if fi, err := os.Stat(helper); err != nil || fi.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("the PAM helper %s is missing or not executable (build it with CGO_ENABLED=1 against libpam: install the Debian package libpam0g-dev and rerun make)", helper)
	}
	if max < 1 {
		max = 1
	}
	return &pamModule{
		unixModule: newUnixModule("authpam", passwdPath, shadowPath, nil, warn),
		helper:     helper,
		slots:      make(chan struct{}, max),
	}, nil
}

func (m *pamModule) start() (*pamProc, error) {
	cmd := exec.Command(m.helper)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the PAM helper %s: %w", m.helper, err)
	}
	return &pamProc{cmd: cmd, in: in, out: bufio.NewReader(out)}, nil
}

func (p *pamProc) kill() {
	p.in.Close()
	p.cmd.Process.Kill()
	p.cmd.Wait()
}

// call runs one request on an idle helper (starting one if none is idle).
func (m *pamModule) call(ctx context.Context, req pamwire.Request) (pamwire.Reply, error) {
	select {
	case m.slots <- struct{}{}:
	case <-ctx.Done():
		return pamwire.Reply{}, ctx.Err()
	}
	defer func() { <-m.slots }()
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return pamwire.Reply{}, errors.New("authpam is shutting down")
	}
	var p *pamProc
	if n := len(m.idle); n > 0 {
		p, m.idle = m.idle[n-1], m.idle[:n-1]
	}
	m.mu.Unlock()
	if p == nil {
		var err error
		if p, err = m.start(); err != nil {
			return pamwire.Reply{}, err
		}
	}
	timer := time.AfterFunc(pamTimeout, func() { p.cmd.Process.Kill() })
	stop := context.AfterFunc(ctx, func() { p.cmd.Process.Kill() })
	_, err := p.in.Write(req.Encode())
	var rep pamwire.Reply
	if err == nil {
		rep, err = pamwire.ReadReply(p.out)
	}
	timer.Stop()
	stop()
	if err != nil {
		p.kill()
		return pamwire.Reply{}, fmt.Errorf("the PAM helper failed for service %s, user %s (stuck over %v, or crashed; see its messages above): %w", req.Service, req.User, pamTimeout, err)
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		p.kill()
	} else {
		m.idle = append(m.idle, p)
		m.mu.Unlock()
	}
	return rep, nil
}

func replyErr(rep pamwire.Reply) error {
	switch rep.Status {
	case pamwire.StatusOK:
		return nil
	case pamwire.StatusTemp:
		return fmt.Errorf("PAM: %s", rep.Message)
	}
	return ErrReject
}

func (m *pamModule) Authenticate(ctx context.Context, service string, c *Credentials) (*authlib.Account, error) {
	if c.IsCRAM() || c.Type != "login" {
		return nil, ErrReject
	}
	e, err := m.find(c.User)
	if err != nil {
		return nil, err
	}
	rep, err := m.call(ctx, pamwire.Request{Op: pamwire.OpAuth, Service: service, User: c.User, Password: c.Password, RemoteIP: remoteIP(ctx)})
	if err != nil {
		return nil, err
	}
	if err := replyErr(rep); err != nil {
		return nil, err
	}
	a := m.account(e)
	a.Passwd2 = c.Password
	return a, nil
}

func (m *pamModule) ChangePassword(ctx context.Context, service, user, oldPassword, newPassword string) error {
	if _, err := m.find(user); err != nil {
		return err
	}
	rep, err := m.call(ctx, pamwire.Request{Op: pamwire.OpPasswd, Service: service, User: user, Password: oldPassword, NewPassword: newPassword, RemoteIP: remoteIP(ctx)})
	if err != nil {
		return err
	}
	return replyErr(rep)
}

func (m *pamModule) Close() error {
	m.mu.Lock()
	m.closed = true
	idle := m.idle
	m.idle = nil
	m.mu.Unlock()
	for _, p := range idle {
		p.kill()
	}
	return nil
}

type remoteIPKey struct{}

// WithRemoteIP returns a context carrying the client's TCPREMOTEIP, which
// modules pass on (authpam sets it as PAM_RHOST).
func WithRemoteIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, remoteIPKey{}, ip)
}

func remoteIP(ctx context.Context) string {
	s, _ := ctx.Value(remoteIPKey{}).(string)
	return s
}
