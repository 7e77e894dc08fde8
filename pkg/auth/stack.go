package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/gocourier/courier/pkg/authlib"
)

// Stack is the ordered module list of authmodulelist.
type Stack struct {
	Modules []Module
	// DefaultOptions (DEFAULTOPTIONS) are merged into every account's
	// options in every reply, including ENUMERATE (spec §5).
	DefaultOptions authlib.Options
	// Debug is DEBUG_LOGIN: 1 logs each step at debug level, 2 also logs
	// the passwords.
	Debug int
	Log   *slog.Logger
}

func (s *Stack) debug(format string, a ...any) {
	if s.Debug > 0 && s.Log != nil {
		s.Log.Debug(fmt.Sprintf(format, a...))
	}
}

// debugFrom is debug with the client's TCPREMOTEIP attached.
func (s *Stack) debugFrom(ctx context.Context, format string, a ...any) {
	if s.Debug > 0 && s.Log != nil {
		s.Log.Debug(fmt.Sprintf(format, a...), "ip", remoteIP(ctx))
	}
}

// secret shows a password in the debug log only at DEBUG_LOGIN=2.
func (s *Stack) secret(pw string) string {
	if s.Debug >= 2 {
		return pw
	}
	return "<hidden>"
}

// Module returns the module of that name, or nil.
func (s *Stack) Module(name string) Module {
	for _, m := range s.Modules {
		if m.Name() == name {
			return m
		}
	}
	return nil
}

// try runs fn on each module in turn (or only on the module named only)
// with the original's semantics: the first success wins, ErrReject goes
// on, any other error stops with a temporary failure. When all reject the
// result is ErrReject.
func (s *Stack) try(only string, fn func(Module) (*authlib.Account, error)) (*authlib.Account, error) {
	for _, m := range s.Modules {
		if only != "" && m.Name() != only {
			continue
		}
		s.debug("%s: trying this module", m.Name())
		a, err := fn(m)
		switch {
		case err == nil:
			s.debug("%s: ACCEPT, uid=%d gid=%d home=%s address=%s username=%s", m.Name(), a.UID, a.GID, a.Home, a.Address, a.Username)
			a.Options = authlib.MergeOptions(a.Options, s.DefaultOptions)
			return a, nil
		case errors.Is(err, ErrReject):
			s.debug("%s: REJECT - try next module", m.Name())
		default:
			s.debug("%s: TEMPFAIL - no more modules will be tried", m.Name())
			return nil, fmt.Errorf("%s: %w", m.Name(), err)
		}
	}
	s.debug("FAIL, all modules rejected")
	return nil, ErrReject
}

// Pre answers "PRE module service user" (module "" for every module).
func (s *Stack) Pre(ctx context.Context, module, service, user string) (*authlib.Account, error) {
	s.debugFrom(ctx, "received userid lookup request: %s", user)
	return s.try(module, func(m Module) (*authlib.Account, error) {
		return m.Lookup(ctx, service, user)
	})
}

// Auth answers "AUTH": ErrReject (FAIL) for an authtype or authdata that
// no module understands.
func (s *Stack) Auth(ctx context.Context, service, authtype, authdata string) (*authlib.Account, error) {
	s.debugFrom(ctx, "received auth request, service=%s, authtype=%s", service, authtype)
	c, err := ParseCredentials(authtype, authdata)
	if err != nil {
		s.debug("unsupported authentication type or malformed authentication data for %s", authtype)
		return nil, ErrReject
	}
	if c.IsCRAM() {
		s.debug("%s: challenge=%s, user=%s, response=%s", authtype, c.Challenge, c.User, s.secret(c.Digest))
	} else {
		s.debug("login: username=%s, password=%s", c.User, s.secret(c.Password))
	}
	return s.try("", func(m Module) (*authlib.Account, error) {
		return m.Authenticate(ctx, service, c)
	})
}

// Passwd answers "PASSWD": nil when a module changed the password. A
// temporary failure ends the search like a rejection does: the original
// answers FAIL to both.
func (s *Stack) Passwd(ctx context.Context, service, user, oldPassword, newPassword string) error {
	s.debugFrom(ctx, "received password change request, service=%s, user=%s, old password=%s, new password=%s",
		service, user, s.secret(oldPassword), s.secret(newPassword))
	for _, m := range s.Modules {
		err := m.ChangePassword(ctx, service, user, oldPassword, newPassword)
		switch {
		case err == nil:
			s.debug("%s: password changed for %s", m.Name(), user)
			return nil
		case errors.Is(err, ErrReject):
			s.debug("%s: password not changed - try next module", m.Name())
		default:
			return fmt.Errorf("%s: %w", m.Name(), err)
		}
	}
	return ErrReject
}

// Enumerate answers "ENUMERATE": start is called before each module that
// can list accounts, fn for each account (options already merged). An
// error ends the listing (the reply then lacks its final ".").
func (s *Stack) Enumerate(ctx context.Context, start func(module string) error, fn func(authlib.EnumEntry) error) error {
	for _, m := range s.Modules {
		started := false
		err := m.Enumerate(ctx, func(e authlib.EnumEntry) error {
			if !started {
				started = true
				if err := start(m.Name()); err != nil {
					return err
				}
			}
			e.Module = m.Name()
			e.Options = authlib.MergeOptions(e.Options, s.DefaultOptions)
			return fn(e)
		})
		if errors.Is(err, ErrNoEnumerate) {
			continue
		}
		if err == nil && !started {
			err = start(m.Name())
		}
		if err != nil {
			return fmt.Errorf("%s: %w", m.Name(), err)
		}
	}
	return nil
}

// Close closes every module.
func (s *Stack) Close() error {
	var errs []error
	for _, m := range s.Modules {
		if err := m.Close(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", m.Name(), err))
		}
	}
	return errors.Join(errs...)
}
