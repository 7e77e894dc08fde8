package smtpd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/gocourier/courier/pkg/authlib"
)

// AuthMechanisms implements smtp.AuthSession: ESMTPAUTH before STARTTLS,
// ESMTPAUTH_TLS (else ESMTPAUTH) after it (spec esmtp.md §2-3), limited
// to the mechanisms this server implements.
func (s *session) AuthMechanisms() []string {
	list := s.env.Getenv("ESMTPAUTH")
	if _, ok := s.c.TLSConnectionState(); ok {
		if l := s.env.Getenv("ESMTPAUTH_TLS"); strings.TrimSpace(l) != "" {
			list = l
		}
	}
	var out []string
	for _, m := range strings.Fields(strings.ToUpper(list)) {
		if m == sasl.Plain || m == sasl.Login {
			out = append(out, m)
		}
	}
	return out
}

var errAuthFailed = reply(535, "Authentication failed.")

// Auth implements smtp.AuthSession.
func (s *session) Auth(mech string) (sasl.Server, error) {
	offered := false
	for _, m := range s.AuthMechanisms() {
		offered = offered || m == mech
	}
	if !offered {
		return nil, reply(502, "ESMTP command error")
	}
	check := func(user, pass string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := s.d.Auth.Login(ctx, Service, user, pass)
		if err == nil {
			s.authUser, s.authMech = user, mech
			s.d.Log.Info(fmt.Sprintf("AUTH %s %s from %s: ok", mech, user, s.ip))
			return nil
		}
		if errors.Is(err, authlib.ErrFail) {
			s.d.Log.Info(fmt.Sprintf("AUTH %s %s from %s: failed", mech, user, s.ip))
			return errAuthFailed
		}
		s.d.Log.Warn(fmt.Sprintf("AUTH %s %s from %s: authdaemond: %v", mech, user, s.ip, err))
		return reply(450, "Service temporarily unavailable.")
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
	default:
		return &loginServer{check: check}, nil
	}
}

// loginServer is the server side of the LOGIN mechanism, which go-sasl
// does not provide: "Username:", then "Password:" (an initial response
// is the user name).
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
