package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestReadValue(t *testing.T) {
	dir := t.TempDir()
	cases := []struct{ content, want string }{
		{"example.test\n", "example.test"},
		{"  mail.example.com \r\nsecond line\n", "mail.example.com"},
		{"\"Courier mail server at example.test\" <@>\n", "\"Courier mail server at example.test\" <@>"},
		{"no newline", "no newline"},
		{"", ""},
		{"\nsecond\n", ""},
	}
	for i, tc := range cases {
		p := filepath.Join(dir, "me"+string(rune('0'+i)))
		if err := os.WriteFile(p, []byte(tc.content), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := ReadValue(p)
		if err != nil || got != tc.want {
			t.Errorf("ReadValue(%q) = %q, %v; want %q", tc.content, got, err, tc.want)
		}
	}
	if _, err := ReadValue(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
	if _, err := ReadValue(dir); err == nil {
		t.Error("ReadValue of a directory succeeded")
	}
}

func TestReadLinesFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "locals")
	content := "# local domains\nlocalhost\n\n  \t\nexample.test   \n\t# indented comment\n.sub.example\r\n!host.sub.example"
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadLines(p)
	if err != nil {
		t.Fatal(err)
	}
	want := []Line{
		{"localhost", p, 2},
		{"example.test", p, 5},
		{".sub.example", p, 7},
		{"!host.sub.example", p, 8},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ReadLines\n got %+v\nwant %+v", got, want)
	}
}

func TestReadLinesDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "aliases")
	files := map[string]string{
		"system":     "postmaster: root\n# comment\nroot: admin,\n  other\n",
		"b-site":     "info: bob\n",
		".hidden":    "never: read\n",
		"a-first":    "abuse: carol\n",
		"Z-upper":    "upper: dave\n",
		"sub/nested": "nested: no\n",
	}
	for name, c := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ReadLines(dir)
	if err != nil {
		t.Fatal(err)
	}
	j := func(n string) string { return filepath.Join(dir, n) }
	want := []Line{
		{"upper: dave", j("Z-upper"), 1},
		{"abuse: carol", j("a-first"), 1},
		{"info: bob", j("b-site"), 1},
		{"postmaster: root", j("system"), 1},
		{"root: admin,", j("system"), 3},
		{"  other", j("system"), 4},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ReadLines(dir)\n got %+v\nwant %+v", got, want)
	}

	empty := t.TempDir()
	if got, err := ReadLines(empty); err != nil || len(got) != 0 {
		t.Errorf("empty directory: %+v, %v", got, err)
	}
	if _, err := ReadLines(filepath.Join(empty, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
	// A dangling symlink in a list directory is reported, not skipped.
	if err := os.Symlink(filepath.Join(empty, "nowhere"), filepath.Join(empty, "link")); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadLines(empty); err == nil {
		t.Error("dangling symlink in a list directory accepted")
	}
}

func TestReadLinesDebian(t *testing.T) {
	needDebianLists(t)
	lines, err := ReadLines("/etc/courier/locals")
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) == 0 || lines[0].Text != "localhost" {
		t.Errorf("/etc/courier/locals = %+v, want localhost first", lines)
	}
	acc, err := ReadLines("/etc/courier/smtpaccess")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, l := range acc {
		if l.Text == "127.0.0.1\tallow,RELAYCLIENT" && l.File == "/etc/courier/smtpaccess/default" {
			found = true
		}
	}
	if !found {
		t.Errorf("smtpaccess/default: no 127.0.0.1 line in %+v", acc)
	}
}
