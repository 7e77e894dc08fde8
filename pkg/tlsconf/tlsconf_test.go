package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMakeSelfSigned: the file holds a key and a certificate that load
// together, is private, names the host, and is never replaced.
func TestMakeSelfSigned(t *testing.T) {
	p := filepath.Join(t.TempDir(), "esmtpd.pem")
	if err := MakeSelfSigned(p, "mx.example.test"); err != nil {
		t.Fatal(err)
	}
	kp, err := tls.LoadX509KeyPair(p, p)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(kp.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.VerifyHostname("mx.example.test"); err != nil {
		t.Error(err)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	before, _ := os.ReadFile(p)
	if err := MakeSelfSigned(p, "other"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second run: %v", err)
	}
	if after, _ := os.ReadFile(p); string(after) != string(before) {
		t.Error("an existing certificate was replaced")
	}
}
