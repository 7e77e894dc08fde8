package authlib

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gocourier/courier/pkg/layout"
)

// The client library's timeouts (spec §1), each overridable by the
// environment variable of the same name, in seconds.
const (
	DefaultConnectTimeout = 10 * time.Second // TIMEOUT_SOCK
	DefaultWriteTimeout   = 10 * time.Second // TIMEOUT_WRITE
	DefaultReadTimeout    = 30 * time.Second // TIMEOUT_READ
)

// DefaultSocket is the socket of the installation this program belongs to:
// $authdaemonvar/socket of its layout.
func DefaultSocket() string {
	return filepath.Join(layout.Current().AuthdaemonVar, "socket")
}

// Client talks to authdaemond: one connection per request, as the original
// library does. The zero value is not usable; start from NewClient. A Client
// is safe for concurrent use.
type Client struct {
	Socket string // the daemon's socket; DefaultSocket() by NewClient
	// RemoteIP, when set, is sent as the TCPREMOTEIP meta line so the
	// daemon can log the login's origin. NewClient takes $TCPREMOTEIP.
	RemoteIP string
	// DefDomain is appended ("@" + DefDomain) to a login or CRAM userid
	// without '@'. NewClient takes $DEFDOMAIN.
	DefDomain string

	ConnectTimeout time.Duration // connecting; $TIMEOUT_SOCK
	WriteTimeout   time.Duration // sending the request; $TIMEOUT_WRITE
	ReadTimeout    time.Duration // waiting for the whole reply (ENUMERATE: each read); $TIMEOUT_READ
}

// NewClient returns a client configured like the original library: the
// layout's socket, and TCPREMOTEIP, DEFDOMAIN and the TIMEOUT_* variables
// from the environment.
func NewClient() *Client {
	return &Client{
		Socket:         DefaultSocket(),
		RemoteIP:       os.Getenv("TCPREMOTEIP"),
		DefDomain:      os.Getenv("DEFDOMAIN"),
		ConnectTimeout: envSeconds("TIMEOUT_SOCK", DefaultConnectTimeout),
		WriteTimeout:   envSeconds("TIMEOUT_WRITE", DefaultWriteTimeout),
		ReadTimeout:    envSeconds("TIMEOUT_READ", DefaultReadTimeout),
	}
}

func envSeconds(name string, def time.Duration) time.Duration {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	return def
}

// Pre looks an account up without checking a password ("PRE . service
// user"): every module in turn. The result has PASSWD when the module
// knows the encrypted password.
func (c *Client) Pre(ctx context.Context, service, user string) (*Account, error) {
	return c.PreModule(ctx, "", service, user)
}

// PreModule is Pre restricted to one module ("authuserdb", ...); module ""
// asks every module.
func (c *Client) PreModule(ctx context.Context, module, service, user string) (*Account, error) {
	req := &Request{Command: CmdPre, Module: module, Service: service, User: user}
	var a *Account
	err := c.do(ctx, req, func(br *bufio.Reader) (err error) {
		a, err = ReadReply(br)
		return err
	})
	return a, err
}

// Auth authenticates with raw authdata in the layout of spec §2 for
// authtype ("login": "user\npassword\n"; "cram-md5" etc.:
// "base64(challenge)\nbase64(response)\n"). Authtype "EXTERNAL" is a
// lookup of the userid in authdata (the TLS client certificate's name),
// as the original library does it. DefDomain is applied to login and CRAM
// userids.
func (c *Client) Auth(ctx context.Context, service, authtype, authdata string) (*Account, error) {
	if authtype == "EXTERNAL" {
		return c.Pre(ctx, service, authdata)
	}
	authdata, err := c.applyDefDomain(authtype, authdata)
	if err != nil {
		return nil, err
	}
	req := &Request{Command: CmdAuth, Service: service, AuthType: authtype, AuthData: authdata}
	var a *Account
	err = c.do(ctx, req, func(br *bufio.Reader) (err error) {
		a, err = ReadReply(br)
		return err
	})
	return a, err
}

// Login checks a userid and cleartext password (SASL PLAIN and LOGIN, IMAP
// LOGIN, POP3 USER/PASS all end up here). On success Passwd2 holds the
// password.
func (c *Client) Login(ctx context.Context, service, user, password string) (*Account, error) {
	if strings.Contains(user, "\n") || strings.Contains(password, "\n") {
		return nil, ErrFail
	}
	return c.Auth(ctx, service, "login", user+"\n"+password+"\n")
}

// CRAM checks a CRAM-MD5/SHA1/SHA256 response (RFC 2195). hash is "md5",
// "sha1" or "sha256"; challenge is the challenge the server sent (not
// base64); response is the client's decoded answer, "user hexdigest".
func (c *Client) CRAM(ctx context.Context, service, hash, challenge, response string) (*Account, error) {
	switch hash {
	case "md5", "sha1", "sha256":
	default:
		return nil, fmt.Errorf("authlib: unknown CRAM hash %q (want md5, sha1 or sha256)", hash)
	}
	enc := base64.StdEncoding.EncodeToString
	return c.Auth(ctx, service, "cram-"+hash, enc([]byte(challenge))+"\n"+enc([]byte(response))+"\n")
}

// Passwd changes a password: nil on success, ErrFail when refused (wrong
// old password, unknown account), a *TemporaryError otherwise.
func (c *Client) Passwd(ctx context.Context, service, user, oldPassword, newPassword string) error {
	req := &Request{Command: CmdPasswd, Service: service, User: user, OldPassword: oldPassword, NewPassword: newPassword}
	return c.do(ctx, req, func(br *bufio.Reader) error {
		b, err := br.ReadSlice('\n')
		line := string(b)
		switch {
		case line == ReplyOK:
			return nil
		case line == ReplyFail:
			return ErrFail
		case err != nil && line == "":
			return tempErr("read", errNoReply)
		}
		return tempErr("read", fmt.Errorf("unexpected answer to PASSWD: %q", clip(line)))
	})
}

// Enumerate lists every account of the modules that can list theirs,
// calling fn for each (see ReadEnumerate). An error from fn stops the
// listing and is returned.
func (c *Client) Enumerate(ctx context.Context, fn func(EnumEntry) error) error {
	return c.do(ctx, &Request{Command: CmdEnumerate}, func(br *bufio.Reader) error {
		return ReadEnumerate(br, fn)
	})
}

// applyDefDomain appends @DefDomain to the userid of login and CRAM data.
func (c *Client) applyDefDomain(authtype, data string) (string, error) {
	if c.DefDomain == "" {
		return data, nil
	}
	switch authtype {
	case "login":
		user, rest, _ := strings.Cut(data, "\n")
		if !strings.Contains(user, "@") {
			data = user + "@" + c.DefDomain + "\n" + rest
		}
	case "cram-md5", "cram-sha1", "cram-sha256":
		chal, rest, _ := strings.Cut(data, "\n")
		resp64, tail, _ := strings.Cut(rest, "\n")
		resp, err := base64.StdEncoding.DecodeString(resp64)
		if err != nil {
			return "", ErrFail
		}
		i := strings.LastIndexByte(string(resp), ' ')
		if i > 0 && !strings.Contains(string(resp[:i]), "@") {
			resp = []byte(string(resp[:i]) + "@" + c.DefDomain + string(resp[i:]))
			data = chal + "\n" + base64.StdEncoding.EncodeToString(resp) + "\n" + tail
		}
	}
	return data, nil
}

// do sends one request on a new connection and reads its reply with read.
func (c *Client) do(ctx context.Context, req *Request, read func(*bufio.Reader) error) error {
	if c.RemoteIP != "" && !hasControl([]byte(c.RemoteIP)) {
		req.Meta = append([]Meta{{Name: MetaRemoteIP, Value: c.RemoteIP}}, req.Meta...)
	}
	data, err := req.Encode()
	if err != nil {
		return err
	}
	d := net.Dialer{Timeout: orDefault(c.ConnectTimeout, DefaultConnectTimeout)}
	conn, err := d.DialContext(ctx, "unix", c.Socket)
	if err != nil {
		return tempErr("connect", fmt.Errorf("%w [is authdaemond running? it listens on %s]", err, c.Socket))
	}
	defer conn.Close()
	// Cancelling ctx interrupts whatever the connection is doing.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	conn.SetWriteDeadline(time.Now().Add(orDefault(c.WriteTimeout, DefaultWriteTimeout)))
	if _, err := conn.Write(data); err != nil {
		return tempErr("write", ctxErr(ctx, err))
	}
	readTimeout := orDefault(c.ReadTimeout, DefaultReadTimeout)
	var r interface{ Read([]byte) (int, error) } = conn
	if req.Command == CmdEnumerate {
		r = &deadlineReader{conn: conn, timeout: readTimeout}
	} else {
		conn.SetReadDeadline(time.Now().Add(readTimeout))
	}
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(r)
	err = read(br)
	br.Reset(nil)
	readerPool.Put(br)
	var te *TemporaryError
	if errors.As(err, &te) {
		te.Err = ctxErr(ctx, te.Err)
	}
	return err
}

// ctxErr prefers the context's error when the context ended the I/O.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// readerPool recycles reply buffers: a login costs one small allocation
// less, and no clearing of a fresh buffer.
var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, maxLine) }}

// deadlineReader gives each read its own timeout.
type deadlineReader struct {
	conn    net.Conn
	timeout time.Duration
}

func (r *deadlineReader) Read(p []byte) (int, error) {
	r.conn.SetReadDeadline(time.Now().Add(r.timeout))
	return r.conn.Read(p)
}

// Package-level helpers use a fresh NewClient(), so they follow the
// environment at the time of the call.

// Pre is NewClient().Pre.
func Pre(ctx context.Context, service, user string) (*Account, error) {
	return NewClient().Pre(ctx, service, user)
}

// Auth is NewClient().Auth.
func Auth(ctx context.Context, service, authtype, authdata string) (*Account, error) {
	return NewClient().Auth(ctx, service, authtype, authdata)
}

// Login is NewClient().Login.
func Login(ctx context.Context, service, user, password string) (*Account, error) {
	return NewClient().Login(ctx, service, user, password)
}

// CRAM is NewClient().CRAM.
func CRAM(ctx context.Context, service, hash, challenge, response string) (*Account, error) {
	return NewClient().CRAM(ctx, service, hash, challenge, response)
}

// Passwd is NewClient().Passwd.
func Passwd(ctx context.Context, service, user, oldPassword, newPassword string) error {
	return NewClient().Passwd(ctx, service, user, oldPassword, newPassword)
}

// Enumerate is NewClient().Enumerate.
func Enumerate(ctx context.Context, fn func(EnumEntry) error) error {
	return NewClient().Enumerate(ctx, fn)
}
