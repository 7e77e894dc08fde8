package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Server is the TLS configuration of a server (courieresmtpd, the IMAP
// and POP3 login stages) from the original's variables, read through
// getenv (per connection in pass mode):
//
//   - TLS_CERTFILE: the certificate and, unless TLS_PRIVATE_KEYFILE names
//     another file, its key, in PEM. $TLS_CERTFILE.<name> is used for a
//     client that asks for <name> (SNI) and $TLS_CERTFILE.<ip> on the
//     local address <ip>, as the original's virtual hosts (with
//     $TLS_PRIVATE_KEYFILE.<name> and .<ip> as their keys).
//   - TLS_PROTOCOL (TLS_STARTTLS_PROTOCOL when starttls is true and it is
//     set): the lowest version, OpenSSL's names TLSv1, TLSv1.1, TLSv1.2,
//     TLSv1.3, with or without "++" (client renegotiation, which Go never
//     allows). Unset: TLS 1.2; the original's TLS 1.0 default must be asked
//     for.
//   - TLS_CIPHER_LIST: OpenSSL's cipher list. Named TLS 1.2 suites that Go
//     has restrict the choice to them; group words (HIGH, !aNULL, @STRENGTH,
//     ...) add nothing, because Go's own list has only strong suites. TLS
//     1.3's suites are not configurable. TLS_PRIORITY is GnuTLS's and has
//     no meaning here.
//   - TLS_VERIFYPEER: NONE, PEER (a client certificate is verified against
//     TLS_TRUSTCERTS when one is given) or REQUIREPEER.
//
// Server returns nil and no error when TLS_CERTFILE is unset or the file
// cannot be read: the original then offers no TLS. A file that exists but
// does not parse, and a bad setting, are errors that name the variable.
func Server(getenv func(string) string, starttls bool) (*tls.Config, error) {
	certPath := getenv("TLS_CERTFILE")
	if certPath == "" {
		return nil, nil
	}
	if f, err := os.Open(certPath); err != nil {
		return nil, nil
	} else {
		f.Close()
	}
	keyPath := getenv("TLS_PRIVATE_KEYFILE")
	vh := &virtualHosts{cert: certPath, key: keyPath, loaded: map[string]*tls.Certificate{}}
	main, err := vh.load("")
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{*main}, MinVersion: tls.VersionTLS12}
	cfg.GetCertificate = vh.get
	proto := getenv("TLS_PROTOCOL")
	if p := getenv("TLS_STARTTLS_PROTOCOL"); starttls && p != "" {
		proto = p
	}
	if proto != "" {
		v, err := MinVersion(proto)
		if err != nil {
			return nil, err
		}
		cfg.MinVersion = v
	}
	if list := getenv("TLS_CIPHER_LIST"); list != "" {
		cfg.CipherSuites = CipherSuites(list)
	}
	switch v := strings.ToUpper(getenv("TLS_VERIFYPEER")); v {
	case "", "NONE":
	case "PEER", "REQUIREPEER":
		trust := getenv("TLS_TRUSTCERTS")
		if trust == "" {
			return nil, fmt.Errorf("TLS_VERIFYPEER=%s needs TLS_TRUSTCERTS, the certificates that sign client certificates", v)
		}
		pool, err := LoadPool(trust)
		if err != nil {
			return nil, fmt.Errorf("TLS_TRUSTCERTS=%s: %v", trust, err)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
		if v == "REQUIREPEER" {
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		}
	default:
		return nil, fmt.Errorf("TLS_VERIFYPEER=%s: use NONE, PEER or REQUIREPEER", v)
	}
	return cfg, nil
}

// virtualHosts finds $TLS_CERTFILE.<name> and .<ip> files, once each.
type virtualHosts struct {
	cert, key string
	mu        sync.Mutex
	loaded    map[string]*tls.Certificate // suffix → certificate, nil when there is none
}

func (v *virtualHosts) load(suffix string) (*tls.Certificate, error) {
	cert, key := v.cert+suffix, v.key
	if key == "" {
		key = cert
	} else {
		key += suffix
	}
	kp, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return nil, fmt.Errorf("TLS_CERTFILE=%s: %v (the file must hold the certificate and, without TLS_PRIVATE_KEYFILE, its private key, in PEM)", cert, err)
	}
	return &kp, nil
}

func (v *virtualHosts) get(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	var names []string
	if n := strings.ToLower(hello.ServerName); n != "" && !strings.ContainsAny(n, "/\\") && !strings.HasPrefix(n, ".") {
		names = append(names, n)
	}
	if hello.Conn != nil {
		if a, ok := hello.Conn.LocalAddr().(*net.TCPAddr); ok {
			names = append(names, a.IP.String())
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, n := range names {
		c, seen := v.loaded[n]
		if !seen {
			c = nil
			if _, err := os.Stat(v.cert + "." + n); err == nil {
				c, _ = v.load("." + n)
			}
			v.loaded[n] = c
		}
		if c != nil {
			return c, nil
		}
	}
	return nil, nil // the main certificate
}

// MinVersion maps TLS_PROTOCOL's OpenSSL names to the lowest version.
func MinVersion(proto string) (uint16, error) {
	p := strings.TrimSuffix(strings.TrimSpace(proto), "++")
	p = strings.TrimSuffix(p, "+")
	switch strings.ToUpper(strings.ReplaceAll(p, "_", ".")) {
	case "TLSV1", "TLS1", "TLSV1.0", "TLS1.0":
		return tls.VersionTLS10, nil
	case "TLSV1.1", "TLS1.1":
		return tls.VersionTLS11, nil
	case "TLSV1.2", "TLS1.2":
		return tls.VersionTLS12, nil
	case "TLSV1.3", "TLS1.3":
		return tls.VersionTLS13, nil
	case "SSL2", "SSL3", "SSLV2", "SSLV3", "SSL23":
		return 0, fmt.Errorf("TLS_PROTOCOL=%s: SSL is not supported; use TLSv1.2 (or TLSv1, TLSv1.1, TLSv1.3)", proto)
	}
	return 0, fmt.Errorf("TLS_PROTOCOL=%s: unknown; use TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3 (\"++\" may follow)", proto)
}

// CipherSuites picks the TLS 1.2 suites OpenSSL's list names by their
// OpenSSL names; nil (Go's default list) when it names none.
func CipherSuites(list string) []uint16 {
	var ids []uint16
	for _, w := range strings.FieldsFunc(list, func(r rune) bool { return r == ':' || r == ',' || r == ' ' }) {
		if id, ok := opensslSuites[strings.ToUpper(w)]; ok {
			ids = append(ids, id)
		}
	}
	return ids
}

// opensslSuites are OpenSSL's names of the TLS 1.2 suites Go offers.
var opensslSuites = map[string]uint16{
	"ECDHE-ECDSA-AES128-GCM-SHA256": tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-RSA-AES128-GCM-SHA256":   tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-ECDSA-AES256-GCM-SHA384": tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-RSA-AES256-GCM-SHA384":   tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-ECDSA-CHACHA20-POLY1305": tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-RSA-CHACHA20-POLY1305":   tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-ECDSA-AES128-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
	"ECDHE-RSA-AES128-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	"ECDHE-ECDSA-AES256-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	"ECDHE-RSA-AES256-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	"AES128-GCM-SHA256":             tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	"AES256-GCM-SHA384":             tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
	"AES128-SHA":                    tls.TLS_RSA_WITH_AES_128_CBC_SHA,
	"AES256-SHA":                    tls.TLS_RSA_WITH_AES_256_CBC_SHA,
}

// LoadPool reads PEM certificates from a file, or from every file of a
// directory (OpenSSL's CApath), as TLS_TRUSTCERTS names them.
func LoadPool(path string) (*x509.CertPool, error) {
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
