package smtpd_test

import (
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gocourier/courier/pkg/smtpd"
)

// TestTarpit: with TARPIT=1 (here from the bofh file's "opt" line, which
// applies because the environment does not set TARPIT) every permanent
// error reply waits, twice as long as the one before. The daemon runs in
// the test process, on a loopback listener, so that the first delay can be
// made short.
func TestTarpit(t *testing.T) {
	if _, set := os.LookupEnv("TARPIT"); set {
		t.Skip("TARPIT is set in the test's environment")
	}
	e := newEnv(t, "opt TARPIT=1\nbadfrom @spam.example\n")
	d, err := smtpd.Open(e.s.Layout, os.LookupEnv, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	d.TarpitDelay = 100 * time.Millisecond
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go d.Serve(l)
	c := newDialogue(t, "127.0.0.1", l.Addr().String())
	c.hello()
	for _, least := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond} {
		start := time.Now()
		r := c.cmd("MAIL FROM:<x@spam.example>")
		if took := time.Since(start); !strings.HasPrefix(r, "517 ") || took < least {
			t.Errorf("refused MAIL: %q after %v, want 517 after at least %v", r, took, least)
		}
	}
	c.expect("MAIL FROM:<x@elsewhere.example>", "250 *")
}
