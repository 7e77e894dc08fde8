// Package services is the service table of the suite: the one place that
// declares every daemon courierd supervises (in the manner of Postfix's
// master.cf, but in Go), which configuration files each one reads, the
// variable that enables it, who it runs as, and how its command line and
// environment are built from the configuration — exactly as the original
// start scripts (/usr/sbin/esmtpd, /usr/lib/courier/imapd, ...) build the
// couriertcpd command line (spec/couriertcpd.md §4, spec/imap-pop3.md §1,
// spec/aliases-and-control-files.md §8).
//
// Load turns the table plus the configuration into supervise.Specs; it also
// reads the admin's own extra services from ${sysconfdir}/supervise.d/
// (extra.go). cmd/courierd calls Load at start and on SIGHUP.
package services

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/gocourier/courier/pkg/config"
	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/pkg/logging/pidfile"
	"github.com/gocourier/courier/pkg/supervise"
)

// Service is one row of the table.
type Service struct {
	Name string

	// Config lists the configuration files (names in the configuration
	// directory) the service needs, in the order the original script
	// sources them for the daemon's environment (esmtpd, then
	// esmtpd-msa). A service whose files are missing is not configured
	// and is not run.
	Config []string

	// Enable is the variable that must be YES for the service to run
	// ("" for services that always run), read from the file EnableIn the
	// way the Debian init scripts read it.
	Enable, EnableIn string

	// MakeCert names the program that makes the certificate of a service
	// that speaks TLS from the first byte (the -ssl ones). Without the
	// TLS_CERTFILE it would accept connections only to fail each
	// handshake, so it is not started, with a warning naming the file
	// and this program.
	MakeCert string

	// The table's services all run as root: couriertcpd binds its port
	// and then drops to its -user/-group itself, and authdaemond needs
	// root to read shadow passwords. Services run as another user are
	// declared in supervise.d (extra.go).

	// Requires names services that start before this one and stop after
	// it.
	Requires []string

	// OnReload is what courier restart does to the service when its
	// command is unchanged (supervise.Reload).
	OnReload supervise.Reload

	// Build builds the command from the configuration.
	Build func(*Context) (Command, error)

	// Backoff is the restart policy; the zero value is the supervisor's
	// default.
	Backoff supervise.Backoff
}

// Command is what a Build function produces.
type Command struct {
	Program string   // absolute path of the program started
	Args    []string // its arguments
	Env     []string // its complete environment
	Needs   []string // other programs it cannot work without
	Listen  string   // where it accepts connections, for the log
	PidFile string   // the pid file the original script's daemon kept
}

// Table returns the services of the suite. Requires orders them (it orders
// only: a service is not stopped when one it requires fails); services of
// the same depth start in table order. Together they give the original
// courier.sysvinit's order: authdaemond, courierd (the scheduler), esmtpd,
// esmtpd-msa, esmtpd-ssl, pop3d, pop3d-ssl, imapd, imapd-ssl.
func Table() []Service {
	return []Service{
		{Name: "authdaemond", Config: []string{"authdaemonrc"}, Build: buildAuthdaemond},
		{Name: "scheduler", Config: []string{"courierd"}, Requires: []string{"authdaemond"}, Build: buildScheduler,
			// The scheduler and its modules read the control files
			// once: the original's courier restart restarts them.
			OnReload: supervise.ReloadRestart,
			// Mail waits while the scheduler is down: restart it soon.
			Backoff: supervise.Backoff{Min: time.Second, Max: 5 * time.Second, ResetAfter: 30 * time.Second}},
		{Name: "esmtpd", Config: []string{"esmtpd"}, Enable: "ESMTPDSTART", EnableIn: "esmtpd",
			Requires: []string{"authdaemond", "scheduler"}, OnReload: supervise.ReloadSIGHUP, Build: buildESMTPD},
		{Name: "esmtpd-msa", Config: []string{"esmtpd", "esmtpd-msa"}, Enable: "ESMTPDSTART", EnableIn: "esmtpd-msa",
			Requires: []string{"authdaemond", "scheduler"}, OnReload: supervise.ReloadSIGHUP, Build: buildESMTPD},
		{Name: "esmtpd-ssl", Config: []string{"esmtpd", "esmtpd-ssl"}, Enable: "ESMTPDSSLSTART", EnableIn: "esmtpd-ssl",
			Requires: []string{"authdaemond", "scheduler"}, MakeCert: "mkesmtpdcert", OnReload: supervise.ReloadSIGHUP, Build: buildESMTPDSSL},
		{Name: "pop3d", Config: []string{"pop3d", "pop3d-ssl"}, Enable: "POP3DSTART", EnableIn: "pop3d",
			Requires: []string{"authdaemond", "scheduler"}, Build: buildPOP3D},
		{Name: "pop3d-ssl", Config: []string{"pop3d", "pop3d-ssl"}, Enable: "POP3DSSLSTART", EnableIn: "pop3d-ssl",
			Requires: []string{"authdaemond", "scheduler"}, MakeCert: "mkpop3dcert", Build: buildPOP3DSSL},
		{Name: "imapd", Config: []string{"imapd", "imapd-ssl"}, Enable: "IMAPDSTART", EnableIn: "imapd",
			Requires: []string{"authdaemond", "scheduler"}, Build: buildIMAPD},
		{Name: "imapd-ssl", Config: []string{"imapd", "imapd-ssl"}, Enable: "IMAPDSSLSTART", EnableIn: "imapd-ssl",
			Requires: []string{"authdaemond", "scheduler"}, MakeCert: "mkimapdcert", Build: buildIMAPDSSL},
	}
}

// Context gives a Build function the configuration and the layout.
type Context struct {
	Service *Service
	Layout  layout.Layout
	Environ []string // courierd's own environment

	cache map[string]*config.VarFile // evaluated file lists, shared by one Load
}

// Vars evaluates configuration files, named relative to the configuration
// directory, in the order given.
func (c *Context) Vars(files ...string) (*config.VarFile, error) {
	key := strings.Join(files, "\x00")
	if vf, ok := c.cache[key]; ok {
		return vf, nil
	}
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = c.Layout.Config(f)
	}
	vf, err := config.ReadVarFiles(paths, c.Layout.ScriptVars())
	if err == nil && c.cache != nil {
		c.cache[key] = vf
	}
	return vf, err
}

// Program returns the installed path of one of the suite's programs.
func (c *Context) Program(name string) string { return c.Layout.ProgramPath(name) }

// getenv returns a variable of courierd's own environment.
func (c *Context) getenv(name string) string {
	for i := len(c.Environ) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(c.Environ[i], name+"="); ok {
			return v
		}
	}
	return ""
}

// Load evaluates the configuration of every service of the table and of
// supervise.d and returns the specs of those to run. Services that are not
// configured (their files are missing) or not enabled are logged and left
// out. Any configuration error fails the whole load, so that a reload never
// applies half a configuration.
func Load(l layout.Layout, environ []string, log *slog.Logger) ([]supervise.Spec, error) {
	table := Table()
	var specs []supervise.Spec
	names := map[string]bool{}
	cache := map[string]*config.VarFile{}
	for i := range table {
		names[table[i].Name] = true
		spec, err := loadService(&Context{Service: &table[i], Layout: l, Environ: environ, cache: cache}, log)
		if err != nil {
			return nil, err
		}
		if spec != nil {
			specs = append(specs, *spec)
		}
	}
	extra, err := loadExtra(l, environ, names, log)
	if err != nil {
		return nil, err
	}
	return append(specs, extra...), nil
}

// LoadOnly is Load for one service of the table or of supervise.d (courierd
// -only): its spec, or none when it is not enabled.
func LoadOnly(l layout.Layout, environ []string, log *slog.Logger, name string) ([]supervise.Spec, error) {
	table := Table()
	names := map[string]bool{}
	for i := range table {
		names[table[i].Name] = true
	}
	for i := range table {
		if table[i].Name != name {
			continue
		}
		spec, err := loadService(&Context{Service: &table[i], Layout: l, Environ: environ, cache: map[string]*config.VarFile{}}, log)
		if err != nil || spec == nil {
			return nil, err
		}
		spec.Requires = nil // the others run under their own supervisors
		return []supervise.Spec{*spec}, nil
	}
	extra, err := loadExtra(l, environ, names, log)
	if err != nil {
		return nil, err
	}
	for _, spec := range extra {
		if spec.Name == name {
			spec.Requires = nil
			return []supervise.Spec{spec}, nil
		}
	}
	return nil, fmt.Errorf("there is no service %q: the services are %s and the files of %s", name, strings.Join(serviceNames(table), ", "), l.Config("supervise.d"))
}

func serviceNames(table []Service) []string {
	var n []string
	for _, s := range table {
		n = append(n, s.Name)
	}
	return n
}

// loadService builds the spec of one service of the table, or nil (logged) when it
// is not configured or not enabled.
func loadService(c *Context, log *slog.Logger) (*supervise.Spec, error) {
	svc := c.Service
	if why, err := c.disabled(); err != nil {
		return nil, err
	} else if why != "" {
		log.Info(fmt.Sprintf("service %s not started: %s", svc.Name, why), "service", svc.Name)
		return nil, nil
	}
	if why, err := c.noCertificate(); err != nil {
		return nil, err
	} else if why != "" {
		log.Warn(fmt.Sprintf("service %s not started: %s", svc.Name, why), "service", svc.Name)
		return nil, nil
	}
	cmd, err := svc.Build(c)
	if err != nil {
		return nil, fmt.Errorf("service %s: %w", svc.Name, err)
	}
	return &supervise.Spec{
		Name: svc.Name, Path: cmd.Program, Args: cmd.Args, Env: cmd.Env, Dir: c.Layout.Prefix,
		Needs: cmd.Needs, Requires: svc.Requires, PidFile: cmd.PidFile, Listen: cmd.Listen, Backoff: svc.Backoff,
		OnReload: svc.OnReload,
	}, nil
}

// Supervised reports whether a running courierd runs the named service: a
// courierd -only for it, or the whole suite's courierd with the service
// enabled. It returns that courierd's pid file. The original's wrapper
// scripts (esmtpd start, imapd start, authdaemond start, which Debian's init
// scripts call) use it to leave such a service alone.
func Supervised(l layout.Layout, environ []string, name string) (string, bool) {
	if p := supervise.OnlyPidPath(l.RunDir, name); running(p) {
		return p, true
	}
	p := supervise.PidPath(l.RunDir)
	if !running(p) {
		return "", false
	}
	table := Table()
	for i := range table {
		if table[i].Name == name {
			c := &Context{Service: &table[i], Layout: l, Environ: environ, cache: map[string]*config.VarFile{}}
			why, err := c.disabled()
			if err == nil && why == "" {
				why, err = c.noCertificate()
			}
			return p, err == nil && why == ""
		}
	}
	return "", false
}

func running(pidFile string) bool {
	_, ok, err := pidfile.Status(pidFile)
	return err == nil && ok
}

// disabled says why the service is not to run, or "".
func (c *Context) disabled() (string, error) {
	svc := c.Service
	for _, f := range svc.Config {
		p := c.Layout.Config(f)
		if _, err := os.Stat(p); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return "not configured (" + p + " does not exist)", nil
			}
			return "", err
		}
	}
	if svc.Enable == "" {
		return "", nil
	}
	vf, err := c.Vars(svc.EnableIn)
	if err != nil {
		return "", err
	}
	v := vf.Value(svc.Enable, "")
	if !strings.EqualFold(strings.TrimSpace(v), "yes") {
		return fmt.Sprintf("%s=%s in %s", svc.Enable, v, c.Layout.Config(svc.EnableIn)), nil
	}
	return "", nil
}

// noCertificate says why a service that needs a certificate cannot run
// without one, or "".
func (c *Context) noCertificate() (string, error) {
	svc := c.Service
	if svc.MakeCert == "" {
		return "", nil
	}
	vf, err := c.Vars(svc.Config...)
	if err != nil {
		return "", err
	}
	cert := vf.Value("TLS_CERTFILE", "")
	if cert == "" {
		return fmt.Sprintf("TLS_CERTFILE is not set in %s; set it, or %s=NO in %s", c.Layout.Config(svc.Config[len(svc.Config)-1]), svc.Enable, c.Layout.Config(svc.EnableIn)), nil
	}
	if !isFile(cert) {
		return fmt.Sprintf("its certificate TLS_CERTFILE=%s does not exist; make one with %s, or set %s=NO in %s", cert, c.Program(svc.MakeCert), svc.Enable, c.Layout.Config(svc.EnableIn)), nil
	}
	return "", nil
}

// Build builds the command of one service of the table by name, whether or
// not its *START variable enables it: the original wrapper scripts (esmtpd,
// esmtpd-msa, esmtpd-ssl) start their daemon when asked and leave the
// *START variables to the init scripts.
func Build(l layout.Layout, environ []string, name string) (Command, error) {
	for _, svc := range Table() {
		if svc.Name != name {
			continue
		}
		c := &Context{Service: &svc, Layout: l, Environ: environ, cache: map[string]*config.VarFile{}}
		for _, f := range svc.Config {
			if _, err := os.Stat(l.Config(f)); err != nil {
				return Command{}, fmt.Errorf("service %s is not configured: %w", name, err)
			}
		}
		return svc.Build(c)
	}
	return Command{}, fmt.Errorf("no service named %s", name)
}
