// Package controlfiles reads Courier's small control files in the
// configuration directory: the one-value files (me, defaultdomain,
// queuetime, warntime, retryalpha, dsnlimit, ...), the domain lists (locals,
// esmtpacceptmailfor, esmtppercentrelay) and the compiled domain databases
// (hosteddomains.dat, esmtpacceptmailfor.dat, esmtppercentrelay.dat), and
// turns them into the address.Rules that decide which addresses are local
// (spec aliases-and-control-files.md §2, dot-courier.md §1).
//
// Callers: the scheduler (routing, retry schedule), submit (canonical
// addresses, queue times), courierlocal (account lookup) and later
// courieresmtpd. A Files value is a snapshot; callers load a new one to see
// changes.
package controlfiles

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gocourier/courier/pkg/address"
	"github.com/gocourier/courier/pkg/config"
	"github.com/gocourier/courier/pkg/dbfile"
)

// Files is a snapshot of the control files of one configuration directory.
type Files struct {
	Dir           string         // the configuration directory (sysconfdir)
	Me            string         // "me", else the host name
	DefaultDomain string         // "defaultdomain", else Me
	Rules         *address.Rules // which domains are local and how local parts name accounts
	hostname      string         // the system's, read once for the defaults
}

// Hosts reads only me and defaultdomain: Files without Rules, for programs
// that need no routing (the dsn module) and so need not open the domain
// databases.
func Hosts(sysconfdir string) (*Files, error) {
	hostname, err := os.Hostname()
	if err != nil {
		return nil, err
	}
	f := &Files{Dir: sysconfdir, hostname: hostname}
	if f.Me, err = f.Value("me", hostname); err != nil {
		return nil, err
	}
	if f.DefaultDomain, err = f.Value("defaultdomain", f.Me); err != nil {
		return nil, err
	}
	return f, nil
}

// Load reads the control files of sysconfdir. Missing files take the
// original's defaults; a file that exists but cannot be read or parsed is an
// error naming it.
func Load(sysconfdir string) (*Files, error) {
	f, err := LoadLocals(sysconfdir)
	if err != nil {
		return nil, err
	}
	if err := f.LoadDomains(); err != nil {
		return nil, err
	}
	return f, nil
}

// LoadLocals is Load without the domain databases and the ESMTP lists:
// Rules has Me, Locals, LocalLowercase and Separators, enough for InLocals,
// and LoadDomains reads the rest. A submission needs the rest only for an
// unusual address, and opening a database costs more than the other files
// together, in a sendmail run that reads them all for one message.
func LoadLocals(sysconfdir string) (*Files, error) {
	f, err := Hosts(sysconfdir)
	if err != nil {
		return nil, err
	}
	r := &address.Rules{}
	if r.Me, err = address.ParseDomain(f.Me); err != nil {
		return nil, &config.Error{File: f.path("me"), Reason: fmt.Sprintf("%q is not a domain name: %v", f.Me, err)}
	}
	if r.Locals, err = f.list("locals", f.hostname); err != nil {
		return nil, err
	}
	if _, err := os.Stat(f.path("locallowercase")); err == nil {
		r.LocalLowercase = true
	}
	// Courier 1.0.16 separates extensions with '-' only; defaultsep adds
	// more.
	if r.Separators, err = f.Value("defaultsep", ""); err != nil {
		return nil, err
	}
	f.Rules = r
	return f, nil
}

// LoadDomains completes the Rules of LoadLocals: hosteddomains.dat,
// esmtpacceptmailfor, esmtppercentrelay and their databases. It writes
// only those fields, so InLocals may run meanwhile.
func (f *Files) LoadDomains() error {
	hostname, r := f.hostname, f.Rules
	var err error
	if r.AcceptMailFor, err = f.list("esmtpacceptmailfor", hostname); err != nil {
		return err
	}
	if r.PercentRelay, err = f.list("esmtppercentrelay", hostname); err != nil {
		return err
	}
	if r.Hosted, err = f.db("hosteddomains.dat", hostname); err != nil {
		return err
	}
	if r.AcceptMailForDB, err = f.db("esmtpacceptmailfor.dat", hostname); err != nil {
		return err
	}
	if r.PercentRelayDB, err = f.db("esmtppercentrelay.dat", hostname); err != nil {
		return err
	}
	return nil
}

func (f *Files) path(name string) string { return filepath.Join(f.Dir, name) }

// Value reads a one-value file (its first line, trimmed); a missing or empty
// file gives def.
func (f *Files) Value(name, def string) (string, error) {
	v, err := config.ReadValue(f.path(name))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return def, nil
	case err != nil:
		return "", err
	case v == "":
		return def, nil
	}
	return v, nil
}

// Duration reads a one-value interval file (queuetime, warntime,
// retryalpha, ...: "1w2d", "15m", a bare number of seconds).
func (f *Files) Duration(name string, def time.Duration) (time.Duration, error) {
	v, err := f.Value(name, "")
	if err != nil || v == "" {
		return def, err
	}
	d, err := config.ParseDuration(v)
	if err != nil {
		return 0, &config.Error{File: f.path(name), Line: 1, Reason: err.Error()}
	}
	return d, nil
}

// Int reads a one-value number file (dsnlimit, sizelimit, retrybeta, ...).
func (f *Files) Int(name string, def int64) (int64, error) {
	v, err := f.Value(name, "")
	if err != nil || v == "" {
		return def, err
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, &config.Error{File: f.path(name), Line: 1, Reason: fmt.Sprintf("%q is not a number", v)}
	}
	return n, nil
}

// list reads a domain list file; nil when it is missing.
func (f *Files) list(name, hostname string) (*address.DomainList, error) {
	lines, err := config.ReadLines(f.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	texts := make([]string, len(lines))
	for i, l := range lines {
		texts[i] = l.Text
	}
	dl, err := address.ParseDomainList(texts, hostname)
	if err != nil {
		return nil, &config.Error{File: f.path(name), Reason: err.Error()}
	}
	return dl, nil
}

// db reads a compiled domain database; nil when it is missing.
func (f *Files) db(name, hostname string) (*address.DomainDB, error) {
	d, err := dbfile.Open(f.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer d.Close()
	entries := map[string]string{}
	if err := d.ForEach(func(k, v string) error { entries[k] = v; return nil }); err != nil {
		return nil, fmt.Errorf("%s: %w", f.path(name), err)
	}
	db, err := address.NewDomainDB(entries, hostname)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (rebuild it with its make command)", f.path(name), err)
	}
	return db, nil
}

// InLocals reports whether domain is one of locals (Me alone when locals is
// missing), whose addresses lose their domain for alias lookup; a hosted
// domain keeps it (spec aliases-and-control-files.md §2).
func (f *Files) InLocals(domain string) bool {
	d, err := address.ParseDomain(domain)
	return err == nil && f.Rules.InLocals(d)
}

// IsLocalDomain reports whether mail for domain is delivered on this host:
// no domain at all, a domain of locals (Me alone when locals is missing), or
// a hosted domain.
func (f *Files) IsLocalDomain(domain string) bool {
	if domain == "" {
		return true
	}
	d, err := address.ParseDomain(domain)
	if err != nil {
		return false
	}
	_, ok := f.Rules.LocalDomain(d)
	return ok
}
