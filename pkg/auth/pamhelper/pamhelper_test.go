package pamhelper

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gocourier/courier/pkg/auth/pamwire"
)

// Serve answers each request line with one reply line and stops on a
// malformed request. (Logins that succeed need a real account and root:
// pkg/authdaemon's TestPAM runs them through authdaemond.)
func TestServe(t *testing.T) {
	in := string(pamwire.Request{Op: pamwire.OpAuth, Service: "gocourier-no-such-service", User: "no-such-user-x", Password: "pw"}.Encode()) +
		string(pamwire.Request{Op: pamwire.OpPasswd, Service: "gocourier-no-such-service", User: "no-such-user-x", Password: "a", NewPassword: "b"}.Encode())
	var out bytes.Buffer
	if err := Serve(strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("replies %q", out.String())
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, pamwire.StatusFail+" ") && !strings.HasPrefix(l, pamwire.StatusTemp+" ") {
			t.Errorf("reply %q for an unknown user", l)
		}
	}
	if err := Serve(strings.NewReader("HELLO\n"), &out); err == nil {
		t.Error("malformed request accepted")
	}
}
