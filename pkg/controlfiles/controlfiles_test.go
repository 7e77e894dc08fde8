package controlfiles

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gocourier/courier/pkg/dbfile"
)

func write(t *testing.T, dir, name, text string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDefaults(t *testing.T) {
	dir := t.TempDir()
	f, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if f.Me != host || f.DefaultDomain != host {
		t.Errorf("Me %q DefaultDomain %q, want the host name %q", f.Me, f.DefaultDomain, host)
	}
	if !f.IsLocalDomain("") || !f.IsLocalDomain(strings.ToUpper(host)) || f.IsLocalDomain("remote.example") {
		t.Error("without locals only the host name (and no domain) is local")
	}
	if d, err := f.Duration("queuetime", 7*24*time.Hour); err != nil || d != 7*24*time.Hour {
		t.Errorf("missing queuetime: %v %v", d, err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "me", "mx.example.test\n")
	write(t, dir, "defaultdomain", "example.test\n")
	write(t, dir, "locals", "example.test\n.sub.example.test\n")
	write(t, dir, "queuetime", "1h30m\n")
	write(t, dir, "retrybeta", "3\n")
	w, err := dbfile.Create(filepath.Join(dir, "hosteddomains.dat"), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	w.Put("virtual.example", "1")
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	f, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if f.Me != "mx.example.test" || f.DefaultDomain != "example.test" {
		t.Errorf("Me %q DefaultDomain %q", f.Me, f.DefaultDomain)
	}
	for d, want := range map[string]bool{"example.test": true, "a.sub.example.test": true, "virtual.example": true,
		"mx.example.test": false, "remote.example": false, "": true} {
		if got := f.IsLocalDomain(d); got != want {
			t.Errorf("IsLocalDomain(%q) = %v", d, got)
		}
	}
	if d, err := f.Duration("queuetime", 0); err != nil || d != 90*time.Minute {
		t.Errorf("queuetime %v %v", d, err)
	}
	if n, err := f.Int("retrybeta", 0); err != nil || n != 3 {
		t.Errorf("retrybeta %v %v", n, err)
	}
	write(t, dir, "warntime", "soon\n")
	if _, err := f.Duration("warntime", 0); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "warntime")+":1:") {
		t.Errorf("bad warntime: %v", err)
	}
	write(t, dir, "dsnlimit", "-4\n")
	if _, err := f.Int("dsnlimit", 0); err == nil || !strings.Contains(err.Error(), "dsnlimit") {
		t.Errorf("bad dsnlimit: %v", err)
	}
	write(t, dir, "me", "not a domain!\n")
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "me")) {
		t.Errorf("bad me: %v", err)
	}
}

func TestLoadLocals(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "me", "mx.example.test\n")
	write(t, dir, "locals", "example.test\n")
	write(t, dir, "hosteddomains.dat", "not a database")
	f, err := LoadLocals(dir)
	if err != nil {
		t.Fatalf("LoadLocals read a database: %v", err)
	}
	if !f.IsLocalDomain("example.test") || f.Rules.Hosted != nil {
		t.Errorf("LoadLocals: locals not read, or the databases read: %+v", f.Rules)
	}
	if err := f.LoadDomains(); err == nil || !strings.Contains(err.Error(), "hosteddomains.dat") {
		t.Errorf("LoadDomains with a broken hosteddomains.dat: %v", err)
	}
}
