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
