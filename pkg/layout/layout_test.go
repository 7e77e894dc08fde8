package layout

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every program under cmd/ has its line in programs.tab, so that make
// install places it and the other programs find it.
func TestProgramTableCoversCmd(t *testing.T) {
	progs, err := Programs()
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, p := range progs {
		if listed[p.Name] {
			t.Errorf("programs.tab lists %s twice", p.Name)
		}
		listed[p.Name] = true
	}
	dirs, err := os.ReadDir("../../cmd")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if d.IsDir() && !listed[d.Name()] {
			t.Errorf("cmd/%s has no line in programs.tab", d.Name())
		}
	}
	for name := range listed {
		if _, err := os.Stat(filepath.Join("../../cmd", name)); err != nil {
			t.Errorf("programs.tab lists %s, which is not under cmd/", name)
		}
	}
}

func TestPresets(t *testing.T) {
	for _, name := range Presets() {
		l, err := ForPreset(name, "/tmp/root")
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range l.Vars() {
			switch kv[0] {
			case "layout", "mailuser", "mailgroup":
				continue
			}
			if kv[1] != "/tmp/root" && !strings.HasPrefix(kv[1], "/tmp/root/") {
				t.Errorf("%s: %s=%s is not under the root", name, kv[0], kv[1])
			}
		}
		if got := l.ProgramPath("authpam"); got != filepath.Join(l.LibexecDir, "authpam") {
			t.Errorf("%s: authpam at %s", name, got)
		}
		if got := l.ProgramPath("newaliases"); got != filepath.Join(l.SbinDir, "newaliases") {
			t.Errorf("%s: the link newaliases at %s", name, got)
		}
	}
	if _, err := ForPreset("bogus", "/"); err == nil || !strings.Contains(err.Error(), "known: courier, debian, sandbox") {
		t.Errorf("unknown preset: %v", err)
	}
}
