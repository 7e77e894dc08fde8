package aliases

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func makeOptions(dir string) MakeOptions {
	return MakeOptions{
		Src:        filepath.Join(dir, "aliases"),
		Alias:      filepath.Join(dir, "aliases.dat"),
		Lock:       filepath.Join(dir, "aliases.tmp"),
		ProgramDir: filepath.Join(dir, "aliasdir", ".courier-:xalias"),
		ProgramTmp: filepath.Join(dir, "aliasdir", "courier-:xalias.tmp"),
		Config:     testConfig(),
	}
}

func listDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}

func TestMake(t *testing.T) {
	dir := t.TempDir()
	o := makeOptions(dir)
	if err := os.MkdirAll(filepath.Join(o.Src), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(o.Src, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("system", "root: postmaster\nb: /var/mail/info\n")
	write("site", "c: | /usr/bin/logger -t x\nlist: root, c\n")
	write(".hidden", "hidden: x\n")
	if err := Make(o); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"b@example+2etest": "/var/mail/info\n", "c@example+2etest": "| /usr/bin/logger -t x\n"}
	if got := listDir(t, o.ProgramDir); !reflect.DeepEqual(got, want) {
		t.Errorf("program files %q, want %q", got, want)
	}
	if _, err := os.Stat(o.ProgramTmp); !os.IsNotExist(err) {
		t.Errorf("temporary directory left: %v", err)
	}
	if _, err := os.Stat(o.Lock); !os.IsNotExist(err) {
		t.Errorf("lock file left: %v", err)
	}
	db, err := OpenDB(o.Alias)
	if err != nil {
		t.Fatal(err)
	}
	got, ok, err := db.Lookup("list@example.test")
	if err != nil || !ok || !reflect.DeepEqual(got, []string{"postmaster@example.test", `".xalias/c@example+2etest"@example.test`}) {
		t.Errorf("list = %q %v %v", got, ok, err)
	}
	if _, ok, _ := db.Lookup("hidden@example.test"); ok {
		t.Error("a hidden file was read")
	}
	db.Close()

	// An error changes nothing: database and program files stay.
	before, _ := os.ReadFile(o.Alias)
	write("site", "c: | /usr/bin/other\nbroken line\n")
	err = Make(o)
	if err == nil || !strings.Contains(err.Error(), "site:2: syntax error") {
		t.Fatalf("Make with an error: %v", err)
	}
	after, _ := os.ReadFile(o.Alias)
	if !bytes.Equal(before, after) {
		t.Error("database changed after an error")
	}
	if got := listDir(t, o.ProgramDir); !reflect.DeepEqual(got, want) {
		t.Errorf("program files after an error %q", got)
	}

	// A program alias removed: its file goes; none left: the directory goes.
	write("site", "c: x\n")
	if err := Make(o); err != nil {
		t.Fatal(err)
	}
	if got := listDir(t, o.ProgramDir); !reflect.DeepEqual(got, map[string]string{"b@example+2etest": "/var/mail/info\n"}) {
		t.Errorf("program files %q", got)
	}
	write("system", "root: postmaster\n")
	if err := Make(o); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(o.ProgramDir); !os.IsNotExist(err) {
		t.Errorf("empty program directory left: %v", err)
	}

	var dump bytes.Buffer
	o.Dump = &dump
	o.Alias = filepath.Join(dir, "not-written.dat")
	if err := Make(o); err != nil {
		t.Fatal(err)
	}
	if dump.String() != "c@example.test: x@example.test\n\nroot@example.test: postmaster@example.test\n\n" {
		t.Errorf("dump %q", dump.String())
	}
	if _, err := os.Stat(o.Alias); !os.IsNotExist(err) {
		t.Error("-dump wrote a database")
	}
}

func TestMakeLocked(t *testing.T) {
	dir := t.TempDir()
	o := makeOptions(dir)
	if err := os.WriteFile(o.Src, []byte("a: b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	unlock, err := lockFile(o.Lock)
	if err != nil {
		t.Fatal(err)
	}
	err = Make(o)
	unlock()
	if err == nil || !strings.Contains(err.Error(), "another makealiases is running") {
		t.Errorf("Make while locked: %v", err)
	}
	if err := Make(o); err != nil {
		t.Errorf("Make after unlock: %v", err)
	}
	o.Src = filepath.Join(dir, "missing")
	if err := Make(o); err == nil || !strings.Contains(err.Error(), "cannot read the alias source") {
		t.Errorf("Make without a source: %v", err)
	}
}
