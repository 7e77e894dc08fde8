// Package test holds the end-to-end tests: they install the suite the way an
// admin does (scripts/install.sh, make run's sandbox) and drive the real
// programs.
package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/test/testenv"
)

// installTree runs scripts/install.sh for a preset into a fresh root with the
// given programs built and returns the root.
func installTree(t *testing.T, preset string, programs ...string) string {
	t.Helper()
	var bindir string
	for _, p := range programs {
		bindir = filepath.Dir(testenv.Build(t, p))
	}
	repo, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	cmd := exec.Command(filepath.Join(repo, "scripts/install.sh"), bindir, preset, root)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("install.sh %s: %v\n%s", preset, err, out)
	}
	if !strings.Contains(string(out), "programs installed into the "+preset+" layout") {
		t.Errorf("install.sh output: %s", out)
	}
	return root
}

func TestInstallLayouts(t *testing.T) {
	for _, preset := range []string{"debian", "courier", "sandbox"} {
		t.Run(preset, func(t *testing.T) {
			root := installTree(t, preset, "courier-config")
			l, err := layout.ForPreset(preset, root)
			if err != nil {
				t.Fatal(err)
			}
			bin := l.ProgramPath("courier-config")
			st, err := os.Stat(bin)
			if err != nil {
				t.Fatalf("courier-config not installed at its place: %v", err)
			}
			if st.Mode().Perm() != 0o755 {
				t.Errorf("%s: mode %o, want 755", bin, st.Mode().Perm())
			}
			for _, d := range []string{l.SysconfDir, l.LocalstateDir, l.RunDir} {
				if st, err := os.Stat(d); err != nil || !st.IsDir() {
					t.Errorf("directory %s not created: %v", d, err)
				}
			}
			st, err = os.Stat(l.AuthdaemonVar)
			if err != nil || st.Mode().Perm() != 0o750 {
				t.Errorf("%s: %v, mode %v, want 0750", l.AuthdaemonVar, err, st)
			}
			if dists, _ := filepath.Glob(filepath.Join(l.SysconfDir, "*.dist")); len(dists) == 0 {
				repo, _ := testenv.ModuleRoot()
				if src, _ := filepath.Glob(filepath.Join(repo, "etc", "*.dist")); len(src) > 0 {
					t.Errorf("no .dist files installed into %s", l.SysconfDir)
				}
			}
			// The installed program reports the layout it was placed in
			// when asked for that preset, which is how install.sh finds
			// its directories.
			out, err := exec.Command(bin, "-layout="+preset, "-root="+root).Output()
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(out), "sysconfdir="+l.SysconfDir+"\n") {
				t.Errorf("courier-config output lacks sysconfdir=%s:\n%s", l.SysconfDir, out)
			}
		})
	}
}

// TestInstallDestdirAsUser runs make install DESTDIR=... as a user other than
// root (nobody, when the tests run as root), as a packager does: the whole
// tree is installed (programs, manual pages, configuration, init script,
// systemd units) and build/permissions.dat lists every path of it with the
// mode, owner and group it must have on the system, like the original's make
// install-perms.
func TestInstallDestdirAsUser(t *testing.T) {
	repo, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	// A world-readable copy of what make install reads, so that nobody
	// can run it; the programs are built first, as root would before
	// handing the tree to a packaging user.
	src := t.TempDir()
	for _, d := range []string{filepath.Dir(src), src} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cp := exec.Command("sh", "-c", `tar -C "$1" -cf - Makefile scripts etc docs/man pkg/layout/programs.tab | tar -C "$2" -xf - && chmod -R a+rX "$2"`, "sh", repo, src)
	if out, err := cp.CombinedOutput(); err != nil {
		t.Fatalf("copy: %v\n%s", err, out)
	}
	build := filepath.Join(src, "build")
	for _, target := range []string{"build", "man"} {
		cmd := exec.Command("make", "-C", repo, target, "BUILDDIR="+build)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make %s: %v\n%s", target, err, out)
		}
	}
	dest := filepath.Join(t.TempDir(), "destdir")
	if err := os.MkdirAll(dest, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dest, 0o777) // not by umask
	os.Chmod(build, 0o777)
	// -o build -o man: the programs and pages are made; install only.
	args := []string{"make", "-C", src, "-o", "build", "-o", "man", "install", "DESTDIR=" + dest, "BUILDDIR=" + build}
	if os.Geteuid() == 0 {
		args = append([]string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "HOME="+build)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
	perms, err := os.ReadFile(filepath.Join(build, "permissions.dat"))
	if err != nil {
		t.Fatalf("no permissions list: %v\n%s", err, out)
	}
	listed := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(perms)), "\n") {
		f := strings.Fields(l)
		if len(f) != 4 {
			t.Fatalf("permissions.dat line %q is not \"path mode owner group\"", l)
		}
		listed[f[0]] = strings.Join(f[1:], " ")
		if _, err := os.Lstat(filepath.Join(dest, f[0])); err != nil {
			t.Errorf("permissions.dat lists %s, which is not in the tree: %v", f[0], err)
		}
	}
	filepath.Walk(dest, func(p string, info os.FileInfo, err error) error {
		if err == nil && p != dest {
			rel := strings.TrimPrefix(p, dest)
			// Directories may be the system's own (/usr, /lib/systemd),
			// made only as parents; every file and link is listed.
			if _, ok := listed[rel]; !ok && !info.IsDir() {
				t.Errorf("%s is installed but not in permissions.dat", rel)
			}
		}
		return nil
	})
	for path, want := range map[string]string{
		"/usr/sbin/sendmail":                       "2755 root courier",
		"/usr/bin/cancelmsg":                       "2755 root courier",
		"/usr/sbin/courierd":                       "0755 root root",
		"/var/lib/courier":                         "0750 courier courier",
		"/run/courier":                             "0775 root courier",
		"/etc/courier/authdaemonrc.dist":           "0640 root courier",
		"/etc/init.d/courier":                      "0755 root root",
		"/lib/systemd/system/courier.target":       "0644 root root",
		"/lib/systemd/system/courier-imap.service": "0644 root root",
		"/usr/share/man/man8/courierd.8.gz":        "0644 root root",
		"/usr/share/man/man8/newaliases.8.gz":      "0644 root root",
		"/usr/share/man/man5/esmtpd.5.gz":          "0644 root root",
	} {
		if listed[path] != want {
			t.Errorf("permissions.dat: %s is %q, want %q", path, listed[path], want)
		}
	}
	// The modes are applied even where the owners cannot be.
	if st, err := os.Stat(filepath.Join(dest, "usr/sbin/sendmail")); err != nil || st.Mode()&os.ModeSetgid == 0 {
		t.Errorf("sendmail in the tree is not setgid: %v %v", st, err)
	}
	// A link page points at its program's page.
	if b, err := exec.Command("sh", "-c", "gzip -dc "+filepath.Join(dest, "usr/share/man/man8/newaliases.8.gz")).Output(); err != nil || string(b) != ".so man8/makealiases.8\n" {
		t.Errorf("newaliases.8: %q %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(dest, "lib/systemd/system/courier-imap.service")); err != nil || !strings.Contains(string(b), "ExecStart=/usr/sbin/courierd -only=imapd\n") {
		t.Errorf("courier-imap.service: %v\n%s", err, b)
	}
	if b, err := os.ReadFile(filepath.Join(dest, "etc/init.d/courier")); err != nil || !strings.Contains(string(b), `sbindir="/usr/sbin"`) {
		t.Errorf("/etc/init.d/courier does not have the layout's paths: %v\n%s", err, b)
	}
}
