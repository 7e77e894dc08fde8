package aliases

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLoadHostsAndDefaults(t *testing.T) {
	dir := t.TempDir()
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	h, err := LoadHosts(dir)
	if err != nil {
		t.Fatal(err)
	}
	if h.Me != host || h.DefaultDomain != host || !h.IsLocal(host) || h.IsLocal("example.org") {
		t.Errorf("no control files: %+v", h)
	}
	for name, content := range map[string]string{"me": "mail.example.com\n", "locals": "localhost\n.example.com\n", "locallowercase": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if h, err = LoadHosts(dir); err != nil {
		t.Fatal(err)
	}
	if h.Me != "mail.example.com" || h.DefaultDomain != "mail.example.com" || !h.IsLocal("LocalHost") || !h.IsLocal("a.example.com") || h.IsLocal("example.com") {
		t.Errorf("with me and locals: %+v", h)
	}
	o := DefaultOptions(dir, "esmtp", h, AppendDefaultDomain)
	want := MakeOptions{
		Src:        filepath.Join(dir, "aliases-esmtp"),
		Alias:      filepath.Join(dir, "aliases-esmtp.dat"),
		Lock:       filepath.Join(dir, "aliases-esmtp.tmp"),
		ProgramDir: filepath.Join(dir, "aliasdir", ".courier-:xalias-esmtp"),
		ProgramTmp: filepath.Join(dir, "aliasdir", "courier-:xalias-esmtp.tmp"),
	}
	if o.Src != want.Src || o.Alias != want.Alias || o.Lock != want.Lock || o.ProgramDir != want.ProgramDir || o.ProgramTmp != want.ProgramTmp {
		t.Errorf("paths %+v, want %+v", o, want)
	}
	if !o.Config.LocalLowercase || o.Config.ProgramPrefix != ".xalias-esmtp/" || o.Config.DefaultDomain != "mail.example.com" {
		t.Errorf("config %+v", o.Config)
	}
	if err := os.WriteFile(filepath.Join(dir, "locals"), []byte("bad domain!\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadHosts(dir); err == nil {
		t.Error("a bad locals file was accepted")
	}
}
