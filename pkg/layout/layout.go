// Package layout owns the installation layout: where each kind of file of
// the suite lives (configuration, programs, spool, sockets) under the three
// presets the Makefile knows: "debian" (Debian's courier packages, the
// default), "courier" (a source-built Courier, everything under
// /usr/lib/courier) and "sandbox" (the `make run` tree, everything under one
// directory found from the running executable).
//
// Every program asks this package for paths instead of compiling its own, so
// one -ldflags setting at build time moves the whole suite. The preset is
// chosen with
//
//	-ldflags "-X github.com/gocourier/courier/pkg/layout.preset=sandbox"
package layout

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// preset is set at link time; see the package documentation.
var preset = "debian"

// Layout is one complete set of installation directories.
type Layout struct {
	Name          string // preset name
	Root          string // "/" for system presets, the sandbox directory otherwise
	SysconfDir    string // configuration files: /etc/courier
	BinDir        string // programs for users: sendmail, mailq, maildirmake
	SbinDir       string // programs for the admin and daemons: courierd, couriertcpd, makeuserdb
	LibexecDir    string // internal programs started by other programs: courierlocal, authpam helper
	Prefix        string // installation prefix, as courier-config prints it
	LocalstateDir string // the queue (msgs/, msgq/, tmp/, track/) and other state
	RunDir        string // pid files and sockets of the daemons
	AuthdaemonVar string // authdaemond's socket directory
	DataDir       string // read-only data shipped with the suite
	ManDir        string // manual pages
	MailUser      string // the courier user that owns the queue
	MailGroup     string // its group
}

// Presets lists the known preset names.
func Presets() []string {
	names := []string{"debian", "courier", "sandbox"}
	sort.Strings(names)
	return names
}

// ForPreset returns the layout of the named preset with the given root.
// root is ignored by the system presets except as a DESTDIR-like prefix when
// it is not "/"; for "sandbox" it is the sandbox directory.
func ForPreset(name, root string) (Layout, error) {
	if root == "" {
		root = "/"
	}
	j := func(p string) string { return filepath.Join(root, p) }
	switch name {
	case "debian":
		return Layout{
			Name: name, Root: root, Prefix: j("/usr"),
			SysconfDir: j("/etc/courier"), BinDir: j("/usr/bin"), SbinDir: j("/usr/sbin"),
			LibexecDir: j("/usr/lib/courier"), LocalstateDir: j("/var/lib/courier"),
			RunDir: j("/run/courier"), AuthdaemonVar: j("/run/courier/authdaemon"),
			DataDir: j("/usr/lib/courier"), ManDir: j("/usr/share/man"),
			MailUser: "courier", MailGroup: "courier",
		}, nil
	case "courier":
		p := j("/usr/lib/courier")
		return Layout{
			Name: name, Root: root, Prefix: p,
			SysconfDir: p + "/etc", BinDir: p + "/bin", SbinDir: p + "/sbin",
			LibexecDir: p + "/libexec", LocalstateDir: p + "/var",
			RunDir: p + "/var/tmp", AuthdaemonVar: p + "/var/authdaemon",
			DataDir: p + "/share", ManDir: p + "/man",
			MailUser: "courier", MailGroup: "courier",
		}, nil
	case "sandbox":
		l := Layout{
			Name: name, Root: root, Prefix: root,
			SysconfDir: j("etc"), BinDir: j("bin"), SbinDir: j("sbin"),
			LibexecDir: j("lib"), LocalstateDir: j("var/spool"),
			RunDir: j("var/run"), AuthdaemonVar: j("var/authdaemon"),
			DataDir: j("share"), ManDir: j("man"),
		}
		l.MailUser, l.MailGroup = invokingUser()
		return l, nil
	}
	return Layout{}, fmt.Errorf("unknown layout preset %q (known: %s)", name, strings.Join(Presets(), ", "))
}

var current *Layout

// Current returns the layout this program was built for. A sandbox build
// finds its root as the parent of the directory holding the executable, so a
// sandbox tree can be copied anywhere and keeps working.
func Current() Layout {
	if current != nil {
		return *current
	}
	root := "/"
	if preset == "sandbox" {
		root = sandboxRoot()
	}
	l, err := ForPreset(preset, root)
	if err != nil {
		// A bad -X value is a build mistake; fall back to Debian's layout
		// rather than running with empty paths.
		l, _ = ForPreset("debian", "/")
	}
	current = &l
	return l
}

// Override replaces the layout returned by Current for the rest of the
// process. Tests use it to point a package at a temporary tree.
func Override(l Layout) { current = &l }

// invokingUser names the user and primary group the sandbox's services run
// as: whoever started it, or, when that is root, the courier user (or
// "daemon" where Courier is not installed) so that a root sandbox performs
// the real privilege drops.
func invokingUser() (string, string) {
	if os.Getuid() == 0 {
		for _, name := range []string{"courier", "daemon"} {
			if u, err := user.Lookup(name); err == nil {
				g := u.Gid
				if grp, err := user.LookupGroupId(u.Gid); err == nil {
					g = grp.Name
				}
				return u.Username, g
			}
		}
	}
	u, err := user.Current()
	if err != nil {
		return strconv.Itoa(os.Getuid()), strconv.Itoa(os.Getgid())
	}
	g := u.Gid
	if grp, err := user.LookupGroupId(u.Gid); err == nil {
		g = grp.Name
	}
	return u.Username, g
}

func sandboxRoot() string {
	exe, err := os.Executable()
	if err != nil {
		return "."
	}
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	return filepath.Dir(filepath.Dir(exe))
}

// Preset returns the name of the preset this program was built with.
func Preset() string { return preset }

// Vars returns the layout as name=value pairs in a fixed order: first the
// names the original courier-config prints, in its order, then ours.
func (l Layout) Vars() [][2]string {
	return [][2]string{
		{"prefix", l.Prefix},
		{"bindir", l.BinDir},
		{"sbindir", l.SbinDir},
		{"libexecdir", l.LibexecDir},
		{"sysconfdir", l.SysconfDir},
		{"datadir", l.DataDir},
		{"localstatedir", l.LocalstateDir},
		{"mailuser", l.MailUser},
		{"mailgroup", l.MailGroup},
		{"rundir", l.RunDir},
		{"authdaemonvar", l.AuthdaemonVar},
		{"mandir", l.ManDir},
		{"layout", l.Name},
	}
}

// ScriptVars are the variables the original start scripts set before they
// source a configuration file, which its values may refer to
// ("${sysconfdir}/esmtpd.pem"), plus piddir (the layout's RunDir), which our
// .dist files use for pid files where the original substituted a path at
// build time.
func (l Layout) ScriptVars() map[string]string {
	return map[string]string{
		"prefix": l.Prefix, "exec_prefix": l.Prefix, "bindir": l.BinDir, "sbindir": l.SbinDir,
		"libexecdir": l.LibexecDir, "sysconfdir": l.SysconfDir, "localstatedir": l.LocalstateDir,
		"piddir": l.RunDir,
	}
}

// Config returns the path of a file in the configuration directory.
func (l Layout) Config(name string) string { return filepath.Join(l.SysconfDir, name) }
