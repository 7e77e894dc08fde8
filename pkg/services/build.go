package services

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gocourier/courier/pkg/config"
)

// The Build functions below follow the Debian 1.0.16 scripts
// /usr/sbin/esmtpd (also esmtpd-msa), /usr/lib/courier/esmtpd-ssl,
// /usr/lib/courier/imapd, imapd-ssl, pop3d and pop3d-ssl, with these
// differences, all due to courierd keeping each daemon in the foreground as
// its own child:
//
//   - no -pid=$PIDFILE on couriertcpd and no "-pid=… -start" on
//     courierlogger: with them the daemons would detach. courierd writes
//     PIDFILE (SSLPIDFILE) itself with the pid of the process it started.
//   - the wrapper's "ulimit" and "umask" are not applied: ULIMIT,
//     IMAP_ULIMITD and IMAP_UMASK are in the daemon's environment like
//     every setting, for the daemon to apply.
//   - esmtpd-ssl's inner shell does not set sysconfdir, so there
//     ACCESSFILE=${sysconfdir}/smtpaccess reaches the daemon's environment
//     as /smtpaccess; courierd gives it the intended path (couriertcpd's
//     -access= is right in both).
//   - the imapd/pop3d scripts' start-time housekeeping (re-creating
//     TLS_CACHEFILE, running makeimapaccess when imapaccess.dat is
//     missing) is not repeated on every restart.
//
// As in the scripts, the settings substituted unquoted into the command
// line are split into words (splitWords), and the daemon's environment is
// every setting of the configuration files (they are sourced with set -a
// under env -i), plus what the script assigns on top.

// cmdline accumulates a command line from settings, recording the first
// error.
type cmdline struct {
	vf   *config.VarFile // the settings the script's own shell expands
	args []string
	err  error
}

func (c *cmdline) lit(words ...string) { c.args = append(c.args, words...) }

// expand adds prefix$NAME suffix, with $NAME unquoted.
func (c *cmdline) expand(prefix, name, suffix string) {
	c.expandValue(prefix, name, c.vf.Value(name, ""), suffix)
}

// expandValue is expand with the value of name given (a default applied).
func (c *cmdline) expandValue(prefix, name, value, suffix string) {
	words, err := splitWords(value)
	if err != nil {
		if c.err == nil {
			c.err = c.settingError(name, value, err.Error())
		}
		return
	}
	if len(words) == 0 {
		if prefix+suffix != "" {
			c.args = append(c.args, prefix+suffix)
		}
		return
	}
	words[0] = prefix + words[0]
	words[len(words)-1] += suffix
	c.args = append(c.args, words...)
}

// mailIDs adds the esmtpd scripts' -user=$MAILUSER -group=$MAILGROUP,
// with the defaults of Context.mailUser applied.
func (c *cmdline) mailIDs(user, group string) {
	c.expandValue("-user=", "MAILUSER", user, "")
	c.expandValue("-group=", "MAILGROUP", group, "")
}

// filters adds the esmtpd scripts' $BLACKLISTS $DROP, then
// -access=$ACCESSFILE.dat only when that file exists (they test it with -f).
func (c *cmdline) filters() {
	c.expand("", "BLACKLISTS", "")
	c.expand("", "DROP", "")
	if af := c.vf.Value("ACCESSFILE", ""); af != "" && isFile(af+".dat") {
		c.expand("-access=", "ACCESSFILE", ".dat")
	}
}

func (c *cmdline) settingError(name, value, why string) error {
	o, _ := c.vf.Origin(name)
	file := o.File
	if file == "" {
		file = c.vf.Path
	}
	return &config.Error{File: file, Line: o.Line, Reason: fmt.Sprintf("%s=%q: %s", name, value, why)}
}

// env builds an environment: the variables of base in order, then every
// setting of vf, then the assignments of after; a later value of a name
// replaces an earlier one in place.
func env(base []string, vf *config.VarFile, after ...string) []string {
	var out []string
	index := map[string]int{}
	add := func(kv string) {
		name, _, _ := strings.Cut(kv, "=")
		if i, ok := index[name]; ok {
			out[i] = kv
			return
		}
		index[name] = len(out)
		out = append(out, kv)
	}
	for _, kv := range base {
		add(kv)
	}
	for _, kv := range vf.Environ() {
		add(kv)
	}
	for _, kv := range after {
		add(kv)
	}
	return out
}

// scriptDirs are the directory variables the imapd and pop3d scripts
// assign after "set -a", so that the daemons get them in the environment.
func (c *Context) scriptDirs(libexec bool) []string {
	l := c.Layout
	d := []string{"prefix=" + l.Prefix, "exec_prefix=" + l.Prefix, "sbindir=" + l.SbinDir, "bindir=" + l.BinDir}
	if libexec {
		d = append(d, "libexecdir="+l.LibexecDir)
	}
	return d
}

// mailUser returns MAILUSER and MAILGROUP, the layout's mail user and group
// when the configuration does not set them.
func (c *Context) mailUser(vf *config.VarFile) (string, string) {
	u := strings.TrimSpace(vf.Value("MAILUSER", ""))
	if u == "" {
		u = c.Layout.MailUser
	}
	g := strings.TrimSpace(vf.Value("MAILGROUP", ""))
	if g == "" {
		g = c.Layout.MailGroup
	}
	return u, g
}

// listen describes where couriertcpd listens: -address applies to the
// ports of the list that do not name their own address, and "0" (or
// nothing) means every address.
func listen(address, ports string) string {
	address, ports = strings.TrimSpace(address), strings.TrimSpace(ports)
	if address == "" || address == "0" {
		address = "all addresses"
	}
	return address + ", port " + ports
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// buildAuthdaemond: /usr/sbin/authdaemond sources authdaemonrc with set -a
// and runs the daemon in the foreground under courierlogger; courierd is
// that parent now.
func buildAuthdaemond(c *Context) (Command, error) {
	vf, err := c.Vars(c.Service.Config...)
	if err != nil {
		return Command{}, err
	}
	dir := vf.Value("authdaemonvar", c.Layout.AuthdaemonVar)
	return Command{
		Program: c.Program("authdaemond"),
		Env:     vf.Environ(),
		Listen:  "socket " + filepath.Join(dir, "socket"),
	}, nil
}

// buildScheduler: courierd's queue manager, which the original's
// courierctl.start runs after sourcing the courierd file; it starts the
// transport modules itself.
func buildScheduler(c *Context) (Command, error) {
	vf, err := c.Vars(c.Service.Config...)
	if err != nil {
		return Command{}, err
	}
	return Command{
		Program: c.Program("courierd"),
		Args:    []string{"scheduler"},
		Env:     vf.Environ(),
		Listen:  "queue " + c.Layout.LocalstateDir,
	}, nil
}

// buildESMTPD: /usr/sbin/esmtpd and esmtpd-msa.
//
//	couriertcpd $TCPDOPTS -user=$MAILUSER -group=$MAILGROUP [-address=$ADDRESS]
//	    $BLACKLISTS $DROP [-access=$ACCESSFILE.dat] -maxprocs=$MAXDAEMONS
//	    -maxperc=$MAXPERC -maxperip=$MAXPERIP $PORT courieresmtpd
func buildESMTPD(c *Context) (Command, error) {
	vf, err := c.Vars(c.Service.Config...)
	if err != nil {
		return Command{}, err
	}
	l := &cmdline{vf: vf}
	l.expand("", "TCPDOPTS", "")
	l.mailIDs(c.mailUser(vf))
	if vf.Value("ADDRESS", "") != "" {
		l.expand("-address=", "ADDRESS", "")
	}
	l.filters()
	l.expand("-maxprocs=", "MAXDAEMONS", "")
	l.expand("-maxperc=", "MAXPERC", "")
	l.expand("-maxperip=", "MAXPERIP", "")
	l.expand("", "PORT", "")
	server := c.Program("courieresmtpd")
	l.lit(server)
	return Command{
		Program: c.Program("couriertcpd"), Args: l.args, Env: env(nil, vf),
		Needs:   []string{server},
		Listen:  listen(vf.Value("ADDRESS", ""), vf.Value("PORT", "")),
		PidFile: vf.Value("PIDFILE", ""),
	}, l.err
}

// buildESMTPDSSL: /usr/lib/courier/esmtpd-ssl.
//
//	couriertcpd -stderrlogger=courierlogger -stderrloggername=esmtpd-ssl
//	    -maxprocs=$MAXDAEMONS -maxperip=$MAXPERIP -maxperc=$MAXPERC $TCPDOPTS
//	    -user=$MAILUSER -group=$MAILGROUP $BLACKLISTS $DROP [-access=$ACCESSFILE.dat]
//	    -address=$SSLADDRESS $SSLPORT $COURIERTLS -server -tcpd courieresmtpd
//
// with ESMTP_TLS=1 added to the environment. couriertcpd runs courieresmtpd
// in place of "couriertls -server -tcpd courieresmtpd", and courieresmtpd
// makes the TLS handshake itself (ESMTP_TLS=1), so COURIERTLS need not be
// installed.
func buildESMTPDSSL(c *Context) (Command, error) {
	vf, err := c.Vars(c.Service.Config...)
	if err != nil {
		return Command{}, err
	}
	l := &cmdline{vf: vf}
	logger := c.Program("courierlogger")
	l.lit("-stderrlogger="+logger, "-stderrloggername=esmtpd-ssl")
	l.expand("-maxprocs=", "MAXDAEMONS", "")
	l.expand("-maxperip=", "MAXPERIP", "")
	l.expand("-maxperc=", "MAXPERC", "")
	l.expand("", "TCPDOPTS", "")
	l.mailIDs(c.mailUser(vf))
	l.filters()
	l.expand("-address=", "SSLADDRESS", "")
	l.expand("", "SSLPORT", "")
	l.expand("", "COURIERTLS", "")
	server := c.Program("courieresmtpd")
	l.lit("-server", "-tcpd", server)
	return Command{
		Program: c.Program("couriertcpd"), Args: l.args, Env: env(nil, vf, "ESMTP_TLS=1"),
		Needs:   []string{server, logger},
		Listen:  listen(vf.Value("SSLADDRESS", ""), vf.Value("SSLPORT", "")),
		PidFile: vf.Value("SSLPIDFILE", ""),
	}, l.err
}

// tcpdFamily is what distinguishes the imapd, imapd-ssl, pop3d and
// pop3d-ssl scripts in the command line they share:
//
//	courierlogger $LOGGEROPTS couriertcpd -address=$ADDRESS
//	    -maxprocs=$MAXDAEMONS -maxperip=$MAXPERIP [-access=$IMAPACCESSFILE.dat]
//	    $TCPDOPTS $PORT [$COURIERTLS -server -tcpd -user=courier]
//	    LOGIN SERVER $MAILDIRPATH
//
// where the -ssl scripts read SSLLOGGEROPTS, SSLADDRESS, SSLPORT (and
// SSLPIDFILE) instead and put couriertls in front of the login program,
// which drops to the mail user itself (-user=).
type tcpdFamily struct {
	ssl           bool
	access        bool   // -access=$IMAPACCESSFILE.dat (imapd, imapd-ssl)
	login, server string // program names
}

// build returns the command of a tcpdFamily script whose own shell expands
// the settings of vf; the caller adds the daemon's environment.
func (f tcpdFamily) build(c *Context, vf *config.VarFile) (Command, error) {
	ssl := ""
	if f.ssl {
		ssl = "SSL"
	}
	l := &cmdline{vf: vf}
	tcpd, login, server := c.Program("couriertcpd"), c.Program(f.login), c.Program(f.server)
	l.expand("", ssl+"LOGGEROPTS", "")
	l.lit(tcpd)
	l.expand("-address=", ssl+"ADDRESS", "")
	l.expand("-maxprocs=", "MAXDAEMONS", "")
	l.expand("-maxperip=", "MAXPERIP", "")
	if f.access {
		l.expandValue("-access=", "IMAPACCESSFILE", c.imapAccess(vf), ".dat")
	}
	l.expand("", "TCPDOPTS", "")
	l.expand("", ssl+"PORT", "")
	needs := []string{tcpd, login, server}
	if f.ssl {
		l.expand("", "COURIERTLS", "")
		l.lit("-server", "-tcpd", "-user="+c.Layout.MailUser)
	}
	l.lit(login, server)
	l.expand("", "MAILDIRPATH", "")
	return Command{
		Program: c.Program("courierlogger"), Args: l.args,
		Needs:   needs,
		Listen:  listen(vf.Value(ssl+"ADDRESS", ""), vf.Value(ssl+"PORT", "")),
		PidFile: vf.Value(ssl+"PIDFILE", ""),
	}, l.err
}

// imapAccess is ${IMAPACCESSFILE:=${sysconfdir}/imapaccess}.
func (c *Context) imapAccess(vf *config.VarFile) string {
	if v := vf.Value("IMAPACCESSFILE", ""); v != "" {
		return v
	}
	return c.Layout.Config("imapaccess")
}

// buildIMAPD: /usr/lib/courier/imapd (tcpdFamily, with the access file).
// The script's own shell sources imapd-ssl then imapd (so imapd's settings
// win on the command line), the daemon's shell imapd then imapd-ssl.
func buildIMAPD(c *Context) (Command, error) {
	outer, err := c.Vars("imapd-ssl", "imapd")
	if err != nil {
		return Command{}, err
	}
	inner, err := c.Vars(c.Service.Config...)
	if err != nil {
		return Command{}, err
	}
	cmd, err := tcpdFamily{access: true, login: "imaplogin", server: "imapd"}.build(c, outer)
	cmd.Env = env(c.scriptDirs(false), inner,
		"IMAP_STARTTLS="+outer.Value("IMAPDSTARTTLS", ""),
		"PROXY_HOSTNAME="+outer.Value("PROXY_HOSTNAME", ""))
	return cmd, err
}

// buildIMAPDSSL: /usr/lib/courier/imapd-ssl (tcpdFamily, SSL, with the
// access file; both shells source imapd then imapd-ssl), with IMAP_TLS=1
// added to the environment.
func buildIMAPDSSL(c *Context) (Command, error) {
	vf, err := c.Vars(c.Service.Config...)
	if err != nil {
		return Command{}, err
	}
	cmd, err := tcpdFamily{ssl: true, access: true, login: "imaplogin", server: "imapd"}.build(c, vf)
	cmd.Env = env(c.scriptDirs(false), vf,
		"PROXY_HOSTNAME="+vf.Value("PROXY_HOSTNAME", ""), "IMAP_TLS=1")
	return cmd, err
}

// buildPOP3D: /usr/lib/courier/pop3d (tcpdFamily; its own shell sources
// pop3d-ssl then pop3d, the daemon's pop3d then pop3d-ssl).
func buildPOP3D(c *Context) (Command, error) {
	outer, err := c.Vars("pop3d-ssl", "pop3d")
	if err != nil {
		return Command{}, err
	}
	inner, err := c.Vars(c.Service.Config...)
	if err != nil {
		return Command{}, err
	}
	cmd, err := tcpdFamily{login: "courierpop3login", server: "courierpop3d"}.build(c, outer)
	cmd.Env = env(c.scriptDirs(true), inner, "PROXY_HOSTNAME="+outer.Value("PROXY_HOSTNAME", ""))
	return cmd, err
}

// buildPOP3DSSL: /usr/lib/courier/pop3d-ssl (tcpdFamily, SSL), with
// POP3_TLS=1, POP3_STARTTLS=NO and POP3_TLS_REQUIRED=0 added to the
// environment. Unlike the others, this script passes PATH and SHELL
// through its env -i.
func buildPOP3DSSL(c *Context) (Command, error) {
	vf, err := c.Vars(c.Service.Config...)
	if err != nil {
		return Command{}, err
	}
	cmd, err := tcpdFamily{ssl: true, login: "courierpop3login", server: "courierpop3d"}.build(c, vf)
	base := append([]string{
		"PATH=" + vf.Value("PATH", c.getenv("PATH")),
		"SHELL=" + vf.Value("SHELL", c.getenv("SHELL")),
	}, c.scriptDirs(true)...)
	cmd.Env = env(base, vf, "PROXY_HOSTNAME="+vf.Value("PROXY_HOSTNAME", ""),
		"POP3_TLS=1", "POP3_STARTTLS=NO", "POP3_TLS_REQUIRED=0")
	return cmd, err
}
