// Package tlsconf owns the suite's TLS settings: the servers'
// configuration from the original's TLS_* variables (Server), the trusted
// certificates of TLS_TRUSTCERTS (LoadPool), and the self-signed
// certificates of mkesmtpdcert, mkimapdcert and mkpop3dcert (the original
// runs openssl with esmtpd.cnf; we make them with crypto/x509, so no
// openssl is needed).
//
// Callers: courieresmtpd and the IMAP and POP3 login stages (Server), the
// outbound module (LoadPool), the mk*cert programs.
package tlsconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/gocourier/courier/pkg/config"
	"github.com/gocourier/courier/pkg/controlfiles"
	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/pkg/privsep"
)

// Validity is how long a self-signed certificate is valid, as the
// original's esmtpd.cnf asks (365 days).
const Validity = 365 * 24 * time.Hour

// MakeSelfSigned writes a new ECDSA P-256 key and a self-signed
// certificate for commonName, both in one PEM file at path, mode 0600 (the
// mk*cert programs then give it to the mail group). It refuses to replace
// an existing file.
func MakeSelfSigned(path, commonName string) error {
	return makeSelfSigned(path, commonName, "ESMTP STARTTLS")
}

// makeSelfSigned is MakeSelfSigned for one service ("ESMTP STARTTLS",
// "IMAP SSL", "POP3 SSL", as the original's .cnf files name them).
func makeSelfSigned(path, commonName, service string) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("%s already exists; remove it first to make a new one", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: commonName, OrganizationalUnit: []string{"Automatically-generated " + service + " key"}},
		DNSNames:     []string{commonName},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(Validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	err = errors.Join(pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: kder}), pem.Encode(f, &pem.Block{Type: "CERTIFICATE", Bytes: der}), f.Sync(), f.Close())
	if err != nil {
		os.Remove(path)
	}
	return err
}

// certPrograms are the mk*cert programs: the configuration file whose
// TLS_CERTFILE they fill, its default, and the service in the key's name.
var certPrograms = map[string]struct{ config, file, service string }{
	"mkesmtpdcert": {"esmtpd", "esmtpd.pem", "ESMTP STARTTLS"},
	"mkimapdcert":  {"imapd-ssl", "imapd.pem", "IMAP SSL"},
	"mkpop3dcert":  {"pop3d-ssl", "pop3d.pem", "POP3 SSL"},
}

// MkcertMain is mkesmtpdcert, mkimapdcert and mkpop3dcert (prog): the
// certificate goes to TLS_CERTFILE of the service's configuration, for the
// host name in the me control file.
func MkcertMain(l layout.Layout, prog string, args []string, stdout, stderr *os.File) int {
	p, ok := certPrograms[prog]
	if !ok {
		prog, p = "mkesmtpdcert", certPrograms["mkesmtpdcert"]
	}
	if len(args) > 0 && (args[0] == "--help" || args[0] == "-h") {
		fmt.Fprintf(stdout, "Usage: %s\n\nMakes a self-signed certificate for %s in TLS_CERTFILE of\n%s, named after the me control file. An existing file is never replaced.\n", prog, p.service, l.Config(p.config))
		return 0
	}
	if len(args) > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q (%s takes none)\n", prog, args[0], prog)
		return 2
	}
	path := l.Config(p.file)
	if vf, err := config.ReadVarFiles([]string{l.Config(p.config)}, l.ScriptVars()); err == nil {
		path = vf.Value("TLS_CERTFILE", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintln(stderr, prog+":", err)
		return 1
	}
	name := "localhost"
	if f, err := controlfiles.Hosts(l.SysconfDir); err == nil && f.Me != "" {
		name = f.Me
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		fmt.Fprintln(stderr, prog+":", err)
		return 1
	}
	if err := makeSelfSigned(path, name, p.service); err != nil {
		fmt.Fprintln(stderr, prog+":", err)
		return 1
	}
	// The servers read the key as the mail user: made by root, the file
	// is root's and the mail group's, mode 0640, as Debian's are.
	if os.Geteuid() == 0 {
		gid, err := privsep.LookupGroup(l.MailGroup)
		if err == nil {
			err = errors.Join(os.Chown(path, 0, int(gid)), os.Chmod(path, 0o640))
		}
		if err != nil {
			fmt.Fprintf(stderr, "%s: %s stays readable by root only, so the servers, which run as %s, cannot use it: %v; give it to the group %s with mode 0640\n", prog, path, l.MailUser, err, l.MailGroup)
		}
	}
	fmt.Fprintf(stdout, "%s: %s: a self-signed certificate for %s, valid for a year\n", prog, path, name)
	return 0
}
