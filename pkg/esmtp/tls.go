package esmtp

import (
	"crypto/tls"
	"strings"

	"github.com/gocourier/courier/pkg/tlsconf"
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
	pool, err := tlsconf.LoadPool(path)
	if err != nil {
		return nil, temporary("%s=%s: %v", variable, path, err)
	}
	return &tls.Config{ServerName: name, RootCAs: pool}, nil
}
