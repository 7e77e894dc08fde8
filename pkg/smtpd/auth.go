package smtpd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/gocourier/courier/pkg/authlib"
)

// mechanisms are the SASL mechanisms this server implements (RFC 4616
// PLAIN, LOGIN, RFC 2195 CRAM-MD5 and its SHA variants, as authlib's
// CRAM knows them), with the hash authdaemond uses for the CRAM ones.
var mechanisms = map[string]string{"PLAIN": "", "LOGIN": "", "CRAM-MD5": "md5", "CRAM-SHA1": "sha1", "CRAM-SHA256": "sha256"}

// AuthMechanisms implements smtp.AuthSession: ESMTPAUTH before TLS,
// ESMTPAUTH_TLS (else ESMTPAUTH) under TLS (spec esmtp.md §2-3), limited
// to the mechanisms this server implements.
func (s *session) AuthMechanisms() []string {
	list := s.getenv("ESMTPAUTH")
	if _, ok := s.tlsState(); ok {
		if l := s.getenv("ESMTPAUTH_TLS"); strings.TrimSpace(l) != "" {
			list = l
		}
	}
	var out []string
	for _, m := range strings.Fields(strings.ToUpper(list)) {
		if _, ok := mechanisms[m]; ok {
			out = append(out, m)
		}
	}
	return out
}

var errAuthFailed = reply(535, "Authentication failed.")

// Auth implements smtp.AuthSession. As in the original, AUTH is refused
// while no mechanism is offered, and then any mechanism it implements is
// accepted, offered or not.
func (s *session) Auth(mech string) (sasl.Server, error) {
	cmd := "AUTH " + mech
	if _, ok := s.tlsState(); !ok && s.envTrue("ESMTP_TLS_REQUIRED") {
		return nil, s.refuse(reply(400, "STARTTLS is required first."), cmd, "ESMTP_TLS_REQUIRED is set and the client has not used STARTTLS")
	}
	if len(s.AuthMechanisms()) == 0 || s.inTx {
		return nil, s.refuse(reply(502, "ESMTP command error"), cmd, "no AUTH mechanism is offered (ESMTPAUTH, ESMTPAUTH_TLS), or a transaction is in progress")
	}
	hash, ok := mechanisms[mech]
	if !ok {
		return nil, s.refuse(errAuthFailed, cmd, "unknown mechanism")
	}
	check := func(user string, login func(ctx context.Context) (*authlib.Account, error)) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		a, err := login(ctx)
		if err == nil {
			s.authUser, s.authMech = user, mech
			if a != nil && a.Address != "" {
				s.authUser = a.Address
			}
			s.d.Log.Info("AUTH ok", "relay", s.ip, "mech", mech, "user", s.authUser)
			return nil
		}
		if errors.Is(err, authlib.ErrFail) {
			return s.refuse(errAuthFailed, cmd+" "+user, "wrong user name or password")
		}
		s.d.Log.Warn("AUTH: authdaemond cannot be asked: "+err.Error(), "relay", s.ip, "mech", mech, "user", user)
		return reply(454, "Service temporarily unavailable.")
	}
	switch mech {
	case "PLAIN":
		return sasl.NewPlainServer(func(_, user, pass string) error {
			return check(user, func(ctx context.Context) (*authlib.Account, error) { return s.auth.Login(ctx, Service, user, pass) })
		}), nil
	case "LOGIN":
		return &loginServer{check: func(user, pass string) error {
			return check(user, func(ctx context.Context) (*authlib.Account, error) { return s.auth.Login(ctx, Service, user, pass) })
		}}, nil
	}
	var nonce [16]byte
	rand.Read(nonce[:])
	challenge := fmt.Sprintf("<%s.%d@%s>", hex.EncodeToString(nonce[:]), time.Now().Unix(), s.d.Files.Rules.Me.ASCII())
	return &cramServer{challenge: challenge, check: func(resp string) error {
		user, _, _ := strings.Cut(resp, " ")
		return check(user, func(ctx context.Context) (*authlib.Account, error) {
			return s.auth.CRAM(ctx, Service, hash, challenge, resp)
		})
	}, fail: func() error {
		return s.refuse(errAuthFailed, cmd, "a CRAM response must not come with the AUTH command")
	}}, nil
}

// loginServer is the server side of the LOGIN mechanism, which go-sasl
// does not provide: "Username:", then "Password:" (an initial response is
// the user name).
type loginServer struct {
	check func(user, pass string) error
	step  int
	user  string
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step = 1
		if resp == nil {
			return []byte("Username:"), false, nil
		}
		fallthrough
	case 1:
		l.user, l.step = string(resp), 2
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.check(l.user, string(resp))
	}
}

// cramServer is the server side of CRAM-MD5 (RFC 2195) and its SHA
// variants: one challenge, one "user digest" answer.
type cramServer struct {
	challenge string
	check     func(resp string) error
	fail      func() error
	sent      bool
}

func (c *cramServer) Next(resp []byte) ([]byte, bool, error) {
	if !c.sent {
		c.sent = true
		if resp != nil {
			return nil, true, c.fail()
		}
		return []byte(c.challenge), false, nil
	}
	return nil, true, c.check(string(resp))
}
