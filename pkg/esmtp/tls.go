package esmtp

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// tlsConfig is the client configuration for a session with host (an MX
// name, a relay, or "[ip]"). Without verify any certificate is taken
// (opportunistic STARTTLS protects against listeners, not against a man in
// the middle); with verify the certificate must chain to TLS_TRUSTCERTS
// (TLS_TRUSTSECURITYCERTS for a /SECURITY=STARTTLS route, as the
// original) and name host.
func (m *Module) tlsConfig(host string, security, verify bool) (*tls.Config, *failure) {
	name := strings.Trim(host, "[]")
	if !verify {
		return &tls.Config{ServerName: name, InsecureSkipVerify: true}, nil
	}
	variable := "TLS_TRUSTCERTS"
	if security {
		variable = "TLS_TRUSTSECURITYCERTS"
	}
	path := m.Getenv(variable)
	if path == "" {
		if security {
			// The original's reply, when the private CA is not set.
			return nil, permanent("500 Unable to set minimum security level. (/SECURITY=STARTTLS needs TLS_TRUSTSECURITYCERTS, the certificates to trust, in the courierd configuration)")
		}
		return &tls.Config{ServerName: name}, nil // the system's roots
	}
	pool, err := loadPool(path)
	if err != nil {
		return nil, temporary("%s=%s: %v", variable, path, err)
	}
	return &tls.Config{ServerName: name, RootCAs: pool}, nil
}

// loadPool reads PEM certificates from a file, or from every file of a
// directory (as OpenSSL's CApath).
func loadPool(path string) (*x509.CertPool, error) {
	files := []string{path}
	if st, err := os.Stat(path); err != nil {
		return nil, err
	} else if st.IsDir() {
		ents, err := os.ReadDir(path)
		if err != nil {
			return nil, err
		}
		files = files[:0]
		for _, e := range ents {
			if !e.IsDir() {
				files = append(files, filepath.Join(path, e.Name()))
			}
		}
	}
	pool := x509.NewCertPool()
	n := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if pool.AppendCertsFromPEM(data) {
			n++
		}
	}
	if n == 0 {
		return nil, fmt.Errorf("no PEM certificate found")
	}
	return pool, nil
}
