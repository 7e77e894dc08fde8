package aliases

import (
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestDBAndSearcher(t *testing.T) {
	dir := t.TempDir()
	var src strings.Builder
	src.WriteString("root: postmaster\n@virt.example: john\n@uucp.example: uucp!path!\nbig:")
	var big []string
	for i := range 80 {
		a := "member" + itoa(i) + "@example.org"
		big = append(big, a)
		src.WriteString(" " + a + ",")
	}
	src.WriteString("\n")
	tab, err := Parse([]Source{{"a", []byte(src.String())}}, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := tab.WriteDB(filepath.Join(dir, "aliases.dat"), 0o644); err != nil {
		t.Fatal(err)
	}
	mod, err := Parse([]Source{{"m", []byte("root: esmtp-admin\n")}}, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := mod.WriteDB(filepath.Join(dir, "aliases-esmtp.dat"), 0o644); err != nil {
		t.Fatal(err)
	}

	db, err := OpenDB(filepath.Join(dir, "aliases.dat"))
	if err != nil {
		t.Fatal(err)
	}
	got, ok, err := db.Lookup("big@example.test")
	if err != nil || !ok || !reflect.DeepEqual(got, big) {
		t.Errorf("Lookup(big) = %q %v %v", got, ok, err)
	}
	n := 0
	if err := db.ForEach(func(a string, m []string) error {
		n++
		if a == "big@example.test" && len(m) != 80 {
			t.Errorf("ForEach big: %d members", len(m))
		}
		return nil
	}); err != nil || n != 4 {
		t.Errorf("ForEach: %d aliases, %v", n, err)
	}
	db.Close()

	if _, err := OpenDB(filepath.Join(dir, "none.dat")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("OpenDB(missing) = %v", err)
	}

	isLocal := func(d string) bool { return strings.EqualFold(d, "example.test") || strings.EqualFold(d, "localhost") }
	for _, tc := range []struct {
		module, addr string
		want         []string
	}{
		{"", "root", []string{"postmaster@example.test"}},
		{"", "root@LocalHost", []string{"postmaster@example.test"}},
		{"", "root@example.test", []string{"postmaster@example.test"}},
		{"esmtp", "root", []string{"esmtp-admin@example.test"}},
		{"local", "root", []string{"postmaster@example.test"}},
		{"", "foo@virt.example", []string{"john-foo@mail.example.test"}},
		{"", "foo@uucp.example", []string{"uucp!path!foo@mail.example.test"}},
		{"", "a%b@virt.example", nil},
		{"", "nobody", nil},
		{"", "root@other.com", nil},
	} {
		s, err := OpenSearcher(dir, tc.module, "example.test", "mail.example.test", isLocal)
		if err != nil {
			t.Fatal(err)
		}
		got, ok, err := s.Expand(tc.addr)
		if err != nil || ok != (tc.want != nil) || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Expand(%q) module %q = %q %v %v, want %q", tc.addr, tc.module, got, ok, err, tc.want)
		}
		s.Close()
	}
}
