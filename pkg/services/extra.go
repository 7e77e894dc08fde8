package services

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gocourier/courier/pkg/config"
	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/pkg/privsep"
	"github.com/gocourier/courier/pkg/supervise"
)

// ExtraDir is the directory, in the configuration directory, that holds
// the admin's own services: one file per service, named after it, in the
// same NAME=value format as the other configuration files:
//
//	# supervise.d/spamd
//	PROGRAM=/usr/sbin/spamd       # required, absolute
//	ARGS="--max-children=5 --syslog=mail"  # split into words like TCPDOPTS
//	USER=spamd                    # default: the mail user (courier)
//	GROUP=spamd                   # default: USER's primary group (the mail group for the mail user)
//	DIR=/var/lib/spamd            # working directory, default /
//	REQUIRES="authdaemond"        # services started before it, stopped after it
//	STOPTIMEOUT=10                # SIGTERM to SIGKILL, Courier interval syntax; default 2s
//	PIDFILE=/run/spamd.pid        # courierd writes the running pid there
//	START=YES                     # NO keeps the file but does not run the service
//	HOME=/var/lib/spamd           # every other setting is the program's environment
//
// As run-parts(8) does, only files whose names are letters, digits, - and _
// are read, which skips editor backups and package leftovers (x~,
// x.dpkg-old, x.dist).
const ExtraDir = "supervise.d"

// extraControl are the settings of a supervise.d file that describe the
// service rather than being its environment.
var extraControl = map[string]bool{
	"PROGRAM": true, "ARGS": true, "USER": true, "GROUP": true, "DIR": true,
	"REQUIRES": true, "STOPTIMEOUT": true, "PIDFILE": true, "START": true,
}

// loadExtra reads supervise.d. builtin holds the names of the table's
// services, which an extra service may require but not redefine.
func loadExtra(l layout.Layout, environ []string, builtin map[string]bool, log *slog.Logger) ([]supervise.Spec, error) {
	dir := l.Config(ExtraDir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read the extra services directory: %w", err)
	}
	c := &Context{Layout: l, Environ: environ}
	known := map[string]bool{}
	for n := range builtin {
		known[n] = true
	}
	var names []string
	for _, e := range entries {
		if runPartsName(e.Name()) && e.Type().IsRegular() {
			names = append(names, e.Name())
			known[e.Name()] = true
		}
	}
	sort.Strings(names)
	var specs []supervise.Spec
	for _, name := range names {
		path := filepath.Join(dir, name)
		if builtin[name] {
			return nil, &config.Error{File: path, Reason: fmt.Sprintf("%s is a service of the suite; name the file after your own service", name)}
		}
		vf, err := config.ReadVarFile(path, c.Layout.ScriptVars())
		if err != nil {
			return nil, err
		}
		if v := vf.Value("START", "YES"); !strings.EqualFold(strings.TrimSpace(v), "yes") {
			log.Info(fmt.Sprintf("service %s not started: START=%s in %s", name, v, path), "service", name)
			continue
		}
		sp, err := extraSpec(c, name, vf, known)
		if err != nil {
			return nil, err
		}
		specs = append(specs, sp)
	}
	return specs, nil
}

func extraSpec(c *Context, name string, vf *config.VarFile, known map[string]bool) (supervise.Spec, error) {
	sp := supervise.Spec{Name: name}
	line := &cmdline{vf: vf}
	bad := func(setting, why string) error { return line.settingError(setting, vf.Value(setting, ""), why) }

	sp.Path = strings.TrimSpace(vf.Value("PROGRAM", ""))
	if sp.Path == "" {
		return sp, &config.Error{File: vf.Path, Reason: "PROGRAM is not set: it names the program to run (an absolute path)"}
	}
	if !filepath.IsAbs(sp.Path) {
		return sp, bad("PROGRAM", "not an absolute path")
	}
	line.expand("", "ARGS", "")
	if line.err != nil {
		return sp, line.err
	}
	sp.Args = line.args
	if d := strings.TrimSpace(vf.Value("DIR", "")); d != "" {
		if !filepath.IsAbs(d) {
			return sp, bad("DIR", "not an absolute path")
		}
		sp.Dir = d
	}
	if p := strings.TrimSpace(vf.Value("PIDFILE", "")); p != "" {
		if !filepath.IsAbs(p) {
			return sp, bad("PIDFILE", "not an absolute path")
		}
		sp.PidFile = p
	}
	for _, r := range strings.Fields(vf.Value("REQUIRES", "")) {
		if !known[r] {
			return sp, bad("REQUIRES", fmt.Sprintf("no service is called %s", r))
		}
		if r == name {
			return sp, bad("REQUIRES", "a service cannot require itself")
		}
		sp.Requires = append(sp.Requires, r)
	}
	t, err := vf.Duration("STOPTIMEOUT", 0)
	if err != nil {
		return sp, err
	}
	if t < 0 {
		return sp, bad("STOPTIMEOUT", "must not be negative")
	}
	sp.StopTimeout = t
	cred, err := extraCredential(c, vf, bad)
	if err != nil {
		return sp, err
	}
	sp.Cred = cred
	for _, kv := range vf.Environ() {
		if n, _, _ := strings.Cut(kv, "="); !extraControl[n] {
			sp.Env = append(sp.Env, kv)
		}
	}
	return sp, nil
}

// extraCredential resolves USER and GROUP: the mail user and group by
// default, the named user with its primary group otherwise, and the
// supplementary groups initgroups(3) would give.
func extraCredential(c *Context, vf *config.VarFile, bad func(string, string) error) (*privsep.Credential, error) {
	userName := strings.TrimSpace(vf.Value("USER", ""))
	groupName := strings.TrimSpace(vf.Value("GROUP", ""))
	setting := "USER"
	if userName == "" {
		userName, setting = c.Layout.MailUser, ""
		if groupName == "" {
			groupName = c.Layout.MailGroup
		}
	}
	u, err := privsep.LookupUser(userName)
	if err != nil {
		if setting == "" {
			return nil, &config.Error{File: vf.Path, Reason: fmt.Sprintf("the mail user %s, which runs services without USER=, does not exist: %v", userName, err)}
		}
		return nil, bad("USER", err.Error())
	}
	gid := u.GID
	if groupName != "" {
		if gid, err = privsep.LookupGroup(groupName); err != nil {
			if vf.Value("GROUP", "") == "" {
				return nil, &config.Error{File: vf.Path, Reason: fmt.Sprintf("the mail group %s does not exist: %v", groupName, err)}
			}
			return nil, bad("GROUP", err.Error())
		}
	}
	groups, err := privsep.UserGroups(u.Name, gid)
	if err != nil {
		return nil, &config.Error{File: vf.Path, Reason: fmt.Sprintf("cannot read the groups of %s: %v", u.Name, err)}
	}
	return &privsep.Credential{UID: u.UID, GID: gid, Groups: groups}, nil
}

// runPartsName accepts the file names run-parts(8) runs by default.
func runPartsName(n string) bool {
	if n == "" {
		return false
	}
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
