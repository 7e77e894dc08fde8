package smtpd

import (
	"crypto/tls"
	"fmt"
	"os"
	"strings"
)

// loadTLS is the server's TLS configuration from TLS_CERTFILE (the key and
// the certificate in one PEM file, as mkesmtpdcert writes it). A file that
// is missing or unreadable means no TLS, as in the original (which offers
// STARTTLS only when it can read the file); a file that cannot be parsed is
// an error.
func loadTLS(getenv func(string) string) (*tls.Config, error) {
	cert := getenv("TLS_CERTFILE")
	if cert == "" {
		return nil, nil
	}
	f, err := os.Open(cert)
	if err != nil {
		return nil, nil
	}
	f.Close()
	kp, err := tls.LoadX509KeyPair(cert, cert)
	if err != nil {
		return nil, fmt.Errorf("TLS_CERTFILE=%s: %v (the file must hold the private key and the certificate in PEM; mkesmtpdcert makes one)", cert, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{kp}, MinVersion: tls.VersionTLS12}, nil
}

// describeTLS is the TLS part of the Received line in the original's form:
// "TLS1.3,256bits,AES_256_GCM_SHA384".
func describeTLS(cs tls.ConnectionState) string {
	v := strings.ReplaceAll(tls.VersionName(cs.Version), " ", "")
	name := tls.CipherSuiteName(cs.CipherSuite)
	bits := "128"
	if strings.Contains(name, "256") || strings.Contains(name, "CHACHA20") {
		bits = "256"
	}
	name = strings.TrimPrefix(name, "TLS_")
	return v + "," + bits + "bits," + strings.ReplaceAll(name, "_WITH_", "_")
}
