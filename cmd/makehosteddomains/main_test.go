package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gocourier/courier/pkg/dbfile"
	"github.com/gocourier/courier/test/testenv"
)

func TestMakehosteddomains(t *testing.T) {
	s := testenv.NewSandbox(t, "makehosteddomains")
	out, _, code := testenv.Run(t, exec.Command(s.Path("makehosteddomains"), "--help"))
	if code != 0 || !strings.HasPrefix(out, "Usage: makehosteddomains") {
		t.Errorf("--help: %d %q", code, out)
	}
	etc := s.Layout.SysconfDir
	if err := os.MkdirAll(filepath.Join(etc, "hosteddomains"), 0o755); err != nil {
		t.Fatal(err)
	}
	s.WriteConfig(t, "hosteddomains/list", "example.com\nalias.example\texample.com\n", 0o644)
	_, errOut, code := testenv.Run(t, exec.Command(s.Path("makehosteddomains")))
	if code != 0 {
		t.Fatalf("makehosteddomains: %d %s", code, errOut)
	}
	db, err := dbfile.Open(filepath.Join(etc, "hosteddomains.dat"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for k, want := range map[string]string{"example.com": "1", "alias.example": "example.com"} {
		if v, ok, err := db.Get(k); err != nil || !ok || v != want {
			t.Errorf("%s = %q %v %v, want %q", k, v, ok, err, want)
		}
	}
	s.WriteConfig(t, "hosteddomains/more", "example.com\n", 0o644)
	_, errOut, code = testenv.Run(t, exec.Command(s.Path("makehosteddomains")))
	want := "makehosteddomains: " + filepath.Join(etc, "hosteddomains", "more") + `:1: "example.com" is already listed at ` +
		filepath.Join(etc, "hosteddomains", "list") + ":1; list each domain once\n"
	if code != 1 || errOut != want {
		t.Errorf("duplicate: %d %q, want %q", code, errOut, want)
	}
}
