package local_test

import (
	"context"
	"strings"
	"syscall"
	"testing"

	"github.com/gocourier/courier/pkg/controlfiles"
	"github.com/gocourier/courier/pkg/local"
)

// TestVerifier asks RCPT-time questions of a real authdaemond with userdb
// accounts, as courieresmtpd does.
func TestVerifier(t *testing.T) {
	e := newEnv(t, "alice", "bob")
	e.writeFile("alice", ".courier-lists", "./Maildir\n", 0o644)
	files, err := controlfiles.Load(e.s.Layout.SysconfDir)
	if err != nil {
		t.Fatal(err)
	}
	v, err := local.NewVerifier(e.s.Layout, files, moduleEnv)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range []struct{ rcpt, want string }{
		{"alice@example.test", ""},
		{"alice-lists@example.test", ""},
		{"alice-nolist@example.test", "550 User <alice-nolist@example.test> unknown"},
		{"nobody@example.test", "550 User <nobody@example.test> unknown"},
		{"rootish@example.test", "550 Delivery to account rootish refused: refusing to access a mailbox as uid 0"},
	} {
		if got := v.Verify(ctx, c.rcpt); !strings.HasPrefix(got, c.want) || (got == "") != (c.want == "") {
			t.Errorf("Verify(%s) = %q, want %q", c.rcpt, got, c.want)
		}
	}
	e.auth.Process.Signal(syscall.SIGTERM)
	e.auth.Wait()
	// bob was not asked for yet (alice's answer may be reused for 2 s).
	if got, want := v.Verify(ctx, "bob@example.test"), "450 Service temporarily unavailable."; got != want {
		t.Errorf("Verify with authdaemond stopped = %q, want %q", got, want)
	}
}
