// Package authdaemon owns authdaemond, the resident authentication daemon
// of spec/authdaemon.md: its configuration (authdaemonrc), its socket
// (created and replaced as the original does), the request loop that puts
// pkg/auth's module stack behind that socket, reloads on SIGHUP, and the
// start/stop/restart wrapper of the original /usr/sbin/authdaemond script.
// cmd/authdaemond calls Main.
package authdaemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gocourier/courier/pkg/auth"
	"github.com/gocourier/courier/pkg/config"
	"github.com/gocourier/courier/pkg/layout"
)

// Config is authdaemonrc as the daemon uses it.
type Config struct {
	File           string
	ModuleList     []string      // authmodulelist
	Daemons        int           // concurrent module work
	SocketDir      string        // authdaemonvar
	DefaultOptions string        // DEFAULTOPTIONS
	Debug          int           // DEBUG_LOGIN
	LoggerOpts     string        // LOGGEROPTS: its -facility=NAME is honoured
	LoginCacheTTL  time.Duration // LOGIN_CACHE_TTL (ours): successful password checks remembered
	// Warnings found while reading, for the log.
	Warnings []string
}

// DefaultLoginCacheTTL is LOGIN_CACHE_TTL when authdaemonrc does not set
// it.
const DefaultLoginCacheTTL = 5 * time.Minute

// LoadConfig reads authdaemonrc. The original's wrapper sources the file
// with `set -a`, so every variable in it is also an environment variable of
// the daemon, and variables the file leaves unset come from the
// environment (spec §1); the same holds here.
func LoadConfig(path string, l layout.Layout) (*Config, error) {
	vars := map[string]string{}
	for _, kv := range l.Vars() {
		vars[kv[0]] = kv[1]
	}
	vf, err := config.ReadVarFile(path, vars)
	if err != nil {
		return nil, err
	}
	rcMu.Lock()
	defer rcMu.Unlock()
	get := func(name, def string) string {
		if v, ok := vf.Get(name); ok {
			return v
		}
		// A variable an earlier version of the file exported is gone
		// from it now: the environment no longer counts.
		if v, ok := os.LookupEnv(name); ok && !rcExported[name] {
			return v
		}
		return def
	}
	c := &Config{
		File:           path,
		ModuleList:     strings.Fields(get("authmodulelist", "authuserdb")),
		SocketDir:      get("authdaemonvar", l.AuthdaemonVar),
		DefaultOptions: get("DEFAULTOPTIONS", ""),
		LoggerOpts:     get("LOGGEROPTS", ""),
	}
	if c.SocketDir == "" || !filepath.IsAbs(c.SocketDir) {
		return nil, fmt.Errorf("%s: authdaemonvar=%q must be an absolute directory", path, c.SocketDir)
	}
	d := strings.TrimSpace(get("daemons", ""))
	n, err := strconv.Atoi(d)
	if err != nil || n <= 0 {
		// [spec §1] the original's message and fallback.
		c.Warnings = append(c.Warnings, fmt.Sprintf("Configuration error - missing 'daemons' setting, using 1 (%s: daemons=%q)", path, d))
		n = 1
	}
	c.Daemons = n
	c.LoginCacheTTL = DefaultLoginCacheTTL
	if v := strings.TrimSpace(get("LOGIN_CACHE_TTL", "")); v != "" {
		d, err := config.ParseDuration(v)
		if err != nil || d < 0 {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s: LOGIN_CACHE_TTL=%q is not a time interval (like 300 or 5m): using %v", path, v, DefaultLoginCacheTTL))
		} else {
			c.LoginCacheTTL = d
		}
	}
	switch dl := strings.TrimSpace(get("DEBUG_LOGIN", "0")); dl {
	case "", "0":
	case "1", "2":
		c.Debug = int(dl[0] - '0')
	default:
		c.Warnings = append(c.Warnings, fmt.Sprintf("%s: DEBUG_LOGIN=%q is not 0, 1 or 2: debugging stays off", path, dl))
	}
	// Modules and PAM see the rc file's variables as the original's
	// children do; those a reload dropped are removed again.
	now := map[string]bool{}
	for _, kv := range vf.Environ() {
		name, value, _ := strings.Cut(kv, "=")
		os.Setenv(name, value)
		now[name] = true
	}
	for name := range rcExported {
		if !now[name] {
			os.Unsetenv(name)
		}
	}
	rcExported = now
	return c, nil
}

// rcExported are the variables the last LoadConfig put into the
// environment.
var (
	rcMu       sync.Mutex
	rcExported = map[string]bool{}
)

// Facility is the syslog facility named by LOGGEROPTS' -facility=NAME, or
// "" for the default (mail).
func (c *Config) Facility() string {
	for _, f := range strings.Fields(c.LoggerOpts) {
		if v, ok := strings.CutPrefix(f, "-facility="); ok {
			return v
		}
	}
	return ""
}

// Socket is the socket path.
func (c *Config) Socket() string { return filepath.Join(c.SocketDir, "socket") }

// PidFile is the pid file of a detached daemon.
func (c *Config) PidFile() string { return filepath.Join(c.SocketDir, "pid") }

// StackConfig is the module configuration for the layout's files.
func (c *Config) StackConfig(l layout.Layout) auth.Config {
	return auth.Config{
		File:           c.File,
		ModuleList:     c.ModuleList,
		Daemons:        c.Daemons,
		DefaultOptions: c.DefaultOptions,
		Debug:          c.Debug,
		LoginCacheTTL:  c.LoginCacheTTL,
		UserdbSource:   l.Config("userdb"),
		PasswdFile:     "/etc/passwd",
		ShadowFile:     "/etc/shadow",
		PAMHelper:      l.ProgramPath("authpam"),
	}
}
