package smtpd

import (
	"crypto/tls"
	"strings"
)

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
