package aliases

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/gocourier/courier/pkg/address"
	"github.com/gocourier/courier/pkg/config"
	"github.com/gocourier/courier/pkg/controlfiles"
)

// Protocols are the values -protocol= accepts: the transport modules of
// the suite, each of which may have its own aliases-<protocol> source.
var Protocols = []string{"local", "esmtp", "uucp", "dsn", "fax"}

// Hosts are the host names aliases depend on, read from the control
// files in sysconfdir (spec §2).
type Hosts struct {
	Me            string // me, else the host name
	DefaultDomain string // defaultdomain, else Me
	Locals        *address.DomainList
}

// LoadHosts reads me, defaultdomain and locals from sysconfdir.
func LoadHosts(sysconfdir string) (Hosts, error) {
	var h Hosts
	hostname, err := os.Hostname()
	if err != nil {
		return h, err
	}
	f, err := controlfiles.Hosts(sysconfdir)
	if err != nil {
		return h, err
	}
	h.Me, h.DefaultDomain = f.Me, f.DefaultDomain
	lines := []string{h.Me}
	ls, err := config.ReadLines(filepath.Join(sysconfdir, "locals"))
	switch {
	case err == nil:
		lines = lines[:0]
		for _, l := range ls {
			lines = append(lines, l.Text)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return h, err
	}
	if h.Locals, err = address.ParseDomainList(lines, hostname); err != nil {
		return h, fmt.Errorf("%s: %w", filepath.Join(sysconfdir, "locals"), err)
	}
	return h, nil
}

// IsLocal reports whether domain is listed in locals.
func (h Hosts) IsLocal(domain string) bool {
	d, err := address.ParseDomain(domain)
	return err == nil && h.Locals.Contains(d)
}

// DefaultOptions are the makealiases defaults for protocol ("" for the
// common aliases) under sysconfdir, as the original's script sets them.
func DefaultOptions(sysconfdir, protocol string, h Hosts, rw Rewrite) MakeOptions {
	suffix, prefix := "", ".xalias/"
	if protocol != "" {
		suffix, prefix = "-"+protocol, ".xalias-"+protocol+"/"
	}
	_, err := os.Stat(filepath.Join(sysconfdir, "locallowercase"))
	return MakeOptions{
		Src:        filepath.Join(sysconfdir, "aliases"+suffix),
		Alias:      filepath.Join(sysconfdir, "aliases"+suffix+".dat"),
		Lock:       filepath.Join(sysconfdir, "aliases"+suffix+".tmp"),
		ProgramDir: filepath.Join(sysconfdir, "aliasdir", ".courier-:xalias"+suffix),
		ProgramTmp: filepath.Join(sysconfdir, "aliasdir", "courier-:xalias"+suffix+".tmp"),
		Config: Config{
			DefaultDomain:  h.DefaultDomain,
			IsLocal:        h.IsLocal,
			LocalLowercase: err == nil,
			Rewrite:        rw,
			ProgramPrefix:  prefix,
		},
	}
}
