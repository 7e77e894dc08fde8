package local

import (
	"context"
	"log/slog"

	"github.com/gocourier/courier/pkg/controlfiles"
	"github.com/gocourier/courier/pkg/layout"
)

// Verifier answers courieresmtpd's question at RCPT TO: does this local
// address reach an account? It makes the same lookups as a delivery
// (authdaemond, the -default fallbacks, the aliasdir, MINUID), so that mail
// for an unknown user is refused during the SMTP dialogue instead of being
// accepted and bounced later (the original's submit asks the local module's
// rewriting the same question).
//
// The caller is not root: a .courier-<ext> file in a home directory it may
// not read counts as present, and delivery makes the final decision.
type Verifier struct {
	m *Module
}

// NewVerifier prepares lookups for the installation l with the control
// files files; environ is the courierd configuration's environment (MINUID).
//
// Problems with an account (a uid delivery would refuse) are logged with
// slog's default logger. An account's answer is reused for 2 s, as in
// delivery: a burst of RCPTs for one mailbox costs one authdaemond round
// trip.
func NewVerifier(l layout.Layout, files *controlfiles.Files, environ []string) (*Verifier, error) {
	m, err := newLookup(l, files, environ, slog.Default())
	if err != nil {
		return nil, err
	}
	m.authTTL = authCacheTTL
	return &Verifier{m: m}, nil
}

// Verify checks a local recipient in canonical form (submit.Check's
// Address of a Local result). It returns "" when the address reaches an
// account, else the whole SMTP reply: "550 User <addr> unknown", a 550 for
// an account delivery would refuse, or "450 Service temporarily
// unavailable." when authdaemond cannot be asked.
func (v *Verifier) Verify(ctx context.Context, rcpt string) string {
	if _, res := v.m.lookup(ctx, rcpt); res != nil {
		return res.reply
	}
	return ""
}
