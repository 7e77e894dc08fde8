package auth

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/gocourier/courier/pkg/authlib"
)

// Available lists the modules this authdaemond provides.
var Available = []string{"authuserdb", "authpwd", "authshadow", "authpam"}

// upstreamOnly are modules of courier-authlib that this suite does not
// provide; a site's authmodulelist may still name them.
var upstreamOnly = map[string]string{
	"authldap":   "LDAP",
	"authpgsql":  "PostgreSQL",
	"authmysql":  "MySQL",
	"authsqlite": "SQLite",
	"authcustom": "a site-written module",
	"authpipe":   "an external program",
	"authvchkpw": "vpopmail",
}

// Config is what building a Stack needs: the authdaemonrc settings and
// the paths of the files the modules read.
type Config struct {
	File           string   // the authdaemonrc path, for messages
	ModuleList     []string // authmodulelist, in order
	Daemons        int      // concurrent PAM helpers
	DefaultOptions string   // DEFAULTOPTIONS
	Debug          int      // DEBUG_LOGIN
	// LoginCacheTTL is how long a successful password check is remembered
	// (LOGIN_CACHE_TTL); 0 checks every login with crypt(3).
	LoginCacheTTL time.Duration

	// UserdbSource is the userdb text file or directory; its databases
	// are UserdbSource.dat and UserdbSourceshadow.dat (as makeuserdb -f).
	UserdbSource           string
	PasswdFile, ShadowFile string // /etc/passwd, /etc/shadow
	PAMHelper              string // the authpam helper program

	Log *slog.Logger
}

// NewStack builds the modules of cfg.ModuleList. A module this suite does
// not provide, or one that cannot work here (authpam without its helper),
// is skipped with a warning to the admin; it is an error only when no
// module is left.
func NewStack(cfg Config) (*Stack, error) {
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	warnFile := func(err error) {
		log.Warn("skipping an unreadable line of a system account file", "error", err)
	}
	s := &Stack{DefaultOptions: authlib.ParseOptions(cfg.DefaultOptions), Debug: cfg.Debug, Log: log}
	verify := newVerifyCache(cfg.LoginCacheTTL)
	seen := map[string]bool{}
	for _, name := range cfg.ModuleList {
		if seen[name] {
			continue
		}
		seen[name] = true
		var m Module
		switch name {
		case "authuserdb":
			m = newUserdbModule(cfg.UserdbSource, verify, log)
		case "authpwd":
			m = newUnixModule(name, cfg.PasswdFile, "", verify, warnFile)
		case "authshadow":
			m = newUnixModule(name, cfg.PasswdFile, cfg.ShadowFile, verify, warnFile)
		case "authpam":
			pm, err := newPAMModule(cfg.PAMHelper, cfg.PasswdFile, cfg.ShadowFile, cfg.Daemons, warnFile)
			if err != nil {
				log.Warn(fmt.Sprintf("module authpam is not available and is skipped: %v", err), "file", cfg.File)
				continue
			}
			m = pm
		default:
			what := upstreamOnly[name]
			if what == "" {
				what = "no known back end"
			}
			log.Warn(fmt.Sprintf("module %s (%s) named in authmodulelist is not available in this authdaemond and is skipped: "+
				"its accounts will get FAIL. Remove it from authmodulelist in %s, or keep the original courier-authlib "+
				"authdaemond for it. Available modules: %s", name, what, cfg.File, strings.Join(Available, " ")))
			continue
		}
		s.Modules = append(s.Modules, m)
		log.Info("Installation complete: " + name)
	}
	if len(s.Modules) == 0 {
		return nil, errors.New("no usable authentication module in authmodulelist=\"" + strings.Join(cfg.ModuleList, " ") +
			"\" of " + cfg.File + " (available: " + strings.Join(Available, " ") + ")")
	}
	return s, nil
}
