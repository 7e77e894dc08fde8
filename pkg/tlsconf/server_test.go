package tlsconf

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// TestServerSettings: the TLS_* variables map onto the configuration, and
// every bad value is an error that names the variable.
func TestServerSettings(t *testing.T) {
	dir := t.TempDir()
	cert := filepath.Join(dir, "imapd.pem")
	if err := MakeSelfSigned(cert, "imap.example.test"); err != nil {
		t.Fatal(err)
	}
	if c, err := Server(envOf(nil), false); c != nil || err != nil {
		t.Errorf("no TLS_CERTFILE: %v %v, want no TLS", c, err)
	}
	if c, err := Server(envOf(map[string]string{"TLS_CERTFILE": filepath.Join(dir, "missing.pem")}), false); c != nil || err != nil {
		t.Errorf("missing file: %v %v, want no TLS", c, err)
	}
	bad := filepath.Join(dir, "bad.pem")
	os.WriteFile(bad, []byte("not a certificate\n"), 0o600)
	if _, err := Server(envOf(map[string]string{"TLS_CERTFILE": bad}), false); err == nil || !strings.Contains(err.Error(), "TLS_CERTFILE="+bad) {
		t.Errorf("unparsable file: %v", err)
	}
	c, err := Server(envOf(map[string]string{"TLS_CERTFILE": cert}), false)
	if err != nil || c == nil || c.MinVersion != tls.VersionTLS12 || c.ClientAuth != tls.NoClientCert {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	c, err = Server(envOf(map[string]string{"TLS_CERTFILE": cert, "TLS_PROTOCOL": "TLSv1.1++", "TLS_STARTTLS_PROTOCOL": "TLSv1.3"}), false)
	if err != nil || c.MinVersion != tls.VersionTLS11 {
		t.Errorf("TLS_PROTOCOL=TLSv1.1++: %v %v", c.MinVersion, err)
	}
	c, err = Server(envOf(map[string]string{"TLS_CERTFILE": cert, "TLS_PROTOCOL": "TLSv1", "TLS_STARTTLS_PROTOCOL": "TLSv1.3"}), true)
	if err != nil || c.MinVersion != tls.VersionTLS13 {
		t.Errorf("TLS_STARTTLS_PROTOCOL for STARTTLS: %v %v", c.MinVersion, err)
	}
	for _, p := range []string{"SSL3", "TLSv9", "bogus"} {
		if _, err := Server(envOf(map[string]string{"TLS_CERTFILE": cert, "TLS_PROTOCOL": p}), false); err == nil || !strings.Contains(err.Error(), "TLS_PROTOCOL="+p) {
			t.Errorf("TLS_PROTOCOL=%s: %v", p, err)
		}
	}
	c, _ = Server(envOf(map[string]string{"TLS_CERTFILE": cert, "TLS_CIPHER_LIST": "ECDHE-RSA-AES128-GCM-SHA256:HIGH:!aNULL:ECDHE-ECDSA-AES256-GCM-SHA384"}), false)
	if len(c.CipherSuites) != 2 || c.CipherSuites[1] != tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 {
		t.Errorf("TLS_CIPHER_LIST: %v", c.CipherSuites)
	}
	c, _ = Server(envOf(map[string]string{"TLS_CERTFILE": cert, "TLS_CIPHER_LIST": "TLSv1:HIGH:!LOW:!MEDIUM:!EXP:!NULL:!aNULL@STRENGTH"}), false)
	if c.CipherSuites != nil {
		t.Errorf("group words only: %v, want Go's list", c.CipherSuites)
	}
	if _, err := Server(envOf(map[string]string{"TLS_CERTFILE": cert, "TLS_VERIFYPEER": "SOMETIMES"}), false); err == nil || !strings.Contains(err.Error(), "TLS_VERIFYPEER=SOMETIMES") {
		t.Errorf("bad TLS_VERIFYPEER: %v", err)
	}
	if _, err := Server(envOf(map[string]string{"TLS_CERTFILE": cert, "TLS_VERIFYPEER": "PEER"}), false); err == nil || !strings.Contains(err.Error(), "TLS_TRUSTCERTS") {
		t.Errorf("PEER without TLS_TRUSTCERTS: %v", err)
	}
	c, err = Server(envOf(map[string]string{"TLS_CERTFILE": cert, "TLS_VERIFYPEER": "REQUIREPEER", "TLS_TRUSTCERTS": dir}), false)
	if err != nil || c.ClientAuth != tls.RequireAndVerifyClientCert || c.ClientCAs == nil {
		t.Errorf("REQUIREPEER with a directory of certificates: %v", err)
	}
}

// TestServerVirtualHosts: a client that names a host gets
// $TLS_CERTFILE.<name>; others get the main certificate.
func TestServerVirtualHosts(t *testing.T) {
	dir := t.TempDir()
	cert := filepath.Join(dir, "imapd.pem")
	if err := MakeSelfSigned(cert, "main.example.test"); err != nil {
		t.Fatal(err)
	}
	if err := MakeSelfSigned(cert+".other.example.test", "other.example.test"); err != nil {
		t.Fatal(err)
	}
	cfg, err := Server(envOf(map[string]string{"TLS_CERTFILE": cert}), false)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	for name, want := range map[string]string{"other.example.test": "other.example.test", "unknown.example.test": "main.example.test", "": "main.example.test"} {
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{ServerName: name, InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		got := c.ConnectionState().PeerCertificates[0].Subject.CommonName
		c.Close()
		if got != want {
			t.Errorf("client asking for %q got %s, want %s", name, got, want)
		}
	}
}
