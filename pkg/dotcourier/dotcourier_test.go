package dotcourier

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseLineKinds(t *testing.T) {
	src := "# comment\n\n./Maildir/\n/var/mail/u\n| /usr/bin/id >ID\n|| echo ./Other\n" +
		"&legacy@example.com\n!bang@example.com\nA <a@example.com>, b@example.org,\n" +
		"|  cmd \\  \n  continued\nx@example.com, \\\n  y@example.com\n.\n"
	got, err := Parse("f", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []Instruction{
		{Kind: Mailbox, Path: "./Maildir", Line: 3},
		{Kind: Mailbox, Path: "/var/mail/u", Line: 4},
		{Kind: Program, Command: "/usr/bin/id >ID", Line: 5},
		{Kind: Dynamic, Command: "echo ./Other", Line: 6},
		{Kind: Forward, Addresses: []string{"legacy@example.com"}, Line: 7},
		{Kind: Forward, Addresses: []string{"bang@example.com"}, Line: 8},
		{Kind: Forward, Addresses: []string{"a@example.com", "b@example.org"}, Line: 9},
		{Kind: Program, Command: "cmd \\  \n  continued", Line: 10},
		{Kind: Forward, Addresses: []string{"x@example.com", "y@example.com"}, Line: 12},
		{Kind: Mailbox, Path: ".", Line: 14},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%#v\nwant\n%#v", got, want)
	}
}

func TestParseCommentsOnly(t *testing.T) {
	got, err := Parse("f", []byte("# nothing here\n#\n\n"))
	if err != nil || len(got) != 0 {
		t.Fatalf("got %v, %v; want no instructions", got, err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"./M\n\"unterminated@x\n", "f:2: forwarding line is not an address list"},
		{"./a\x00b\n", "f:1: NUL byte"},
		{"# c\n|   \n", "f:2: program delivery without a command"},
		{"||\n", "f:1: program delivery without a command"},
	} {
		_, err := Parse("f", []byte(c.src))
		var e *Error
		if !errors.As(err, &e) || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("Parse(%q) = %v, want %q", c.src, err, c.want)
		}
	}
}

func TestFindOrder(t *testing.T) {
	home := t.TempDir()
	touch := func(name string) { os.WriteFile(filepath.Join(home, name), nil, 0o600) }
	rm := func(name string) { os.Remove(filepath.Join(home, name)) }
	check := func(ext, stem, wantName, wantDef string) {
		t.Helper()
		f, err := Find(home, ext, stem)
		if err != nil || f.Name != wantName || f.Default != wantDef {
			t.Errorf("Find(%q, %q) = %+v, %v; want %s DEFAULT=%q", ext, stem, f, err, wantName, wantDef)
		}
	}
	check("", "", ".courier", "")
	if _, err := Find(home, "foo-bar-baz", ""); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("no files: %v, want ErrNotExist", err)
	}
	touch(".courier-default")
	check("foo-bar-baz", "", ".courier-default", "foo-bar-baz")
	touch(".courier-foo-default")
	check("foo-bar-baz", "", ".courier-foo-default", "bar-baz")
	touch(".courier-foo-bar-default")
	check("foo-bar-baz", "", ".courier-foo-bar-default", "baz")
	touch(".courier-foo-bar-baz")
	check("foo-bar-baz", "", ".courier-foo-bar-baz", "")
	// A one-part extension falls back to .courier-default directly.
	check("foo", "", ".courier-default", "foo")
	rm(".courier-default")
	if _, err := Find(home, "foo", ""); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf(".courier-foo-default does not serve extension foo: %v", err)
	}
	touch(".courier-a:b")
	check("a.b", "", ".courier-a:b", "")
	touch(".qmail-list")
	check("list", "qmail", ".qmail-list", "")
	check("", "qmail", ".qmail", "")
	if _, err := Find(home, "other", "qmail"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("qmail mode ignores .courier-default: %v", err)
	}
}

func TestFindUnreadableHome(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads every directory")
	}
	home := t.TempDir()
	os.Chmod(home, 0)
	defer os.Chmod(home, 0o700)
	if _, err := Find(home, "x", ""); err == nil || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("unreadable home: %v, want a permission error", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("./Maildir/\n| prog \\\n  arg\nuser@example.com\n# c\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ins, err := Parse("fuzz", data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Line < 1 {
				t.Fatalf("error without a line: %v", err)
			}
			return
		}
		for _, in := range ins {
			if in.Line < 1 || in.Line > strings.Count(string(data), "\n")+1 {
				t.Fatalf("line %d out of range", in.Line)
			}
			switch in.Kind {
			case Mailbox:
				if in.Path == "" || (in.Path[0] != '.' && in.Path[0] != '/') {
					t.Fatalf("mailbox %q", in.Path)
				}
			case Program, Dynamic:
				if strings.TrimSpace(in.Command) == "" {
					t.Fatal("empty command")
				}
			case Forward:
				if len(in.Addresses) == 0 {
					t.Fatal("forward without addresses")
				}
			default:
				t.Fatalf("kind %v", in.Kind)
			}
		}
	})
}
