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

func TestMakeacceptmailfor(t *testing.T) {
	s := testenv.NewSandbox(t, "makeacceptmailfor")
	out, _, code := testenv.Run(t, exec.Command(s.Path("makeacceptmailfor"), "--help"))
	if code != 0 || !strings.HasPrefix(out, "Usage: makeacceptmailfor") {
		t.Errorf("--help: %d %q", code, out)
	}
	etc := s.Layout.SysconfDir
	_, errOut, code := testenv.Run(t, exec.Command(s.Path("makeacceptmailfor")))
	if code != 1 || !strings.Contains(errOut, "esmtpacceptmailfor.dir") {
		t.Errorf("without a source: %d %q", code, errOut)
	}
	if err := os.MkdirAll(filepath.Join(etc, "esmtpacceptmailfor.dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	s.WriteConfig(t, "esmtpacceptmailfor.dir/domains", "# relay for\nexample.com\n.wild.example\n", 0o644)
	s.WriteConfig(t, "esmtpacceptmailfor.dir/domains~", "backup.example\n", 0o644)
	_, errOut, code = testenv.Run(t, exec.Command(s.Path("makeacceptmailfor")))
	if code != 0 {
		t.Fatalf("makeacceptmailfor: %d %s", code, errOut)
	}
	db, err := dbfile.Open(filepath.Join(etc, "esmtpacceptmailfor.dat"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got := map[string]string{}
	if err := db.ForEach(func(k, v string) error { got[k] = v; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["example.com"] != "1" || got[".wild.example"] != "1" {
		t.Errorf("records %q", got)
	}
}
