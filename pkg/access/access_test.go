package access

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gocourier/courier/test/testenv"
)

func TestExpandKey(t *testing.T) {
	for _, c := range []struct {
		key  string
		want []string
	}{
		{"127.0.0.1", []string{"127.0.0.1"}},
		{"192.168", []string{"192.168"}},
		{"*", []string{"*"}},
		{":0000:0000:0000:0000:0000:0000:0000:0001", []string{":0000:0000:0000:0000:0000:0000:0000:0001"}},
		{":2001:0DB8", []string{":2001:0db8"}},
		{"10.0.0.0/8", []string{"10"}},
		{"10.1.0.0/16", []string{"10.1"}},
		{"10.1.4.0/22", []string{"10.1.4", "10.1.5", "10.1.6", "10.1.7"}},
		{"192.168.1.128/25", []string{"192.168.1.128", "192.168.1.129"}[:0]},
		{"2001:db8::/32", []string{":2001:0db8"}},
	} {
		got, err := ExpandKey(c.key)
		if c.key == "192.168.1.128/25" {
			if err != nil || len(got) != 128 || got[0] != "192.168.1.128" || got[127] != "192.168.1.255" {
				t.Errorf("ExpandKey(%s) = %d keys %v, %v", c.key, len(got), got[:min(2, len(got))], err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ExpandKey(%s) = %v, %v; want %v", c.key, got, err, c.want)
		}
	}
	for _, bad := range []string{"::1", "1.2.3.4.5", "256.1", "01.2", "example.com", ":12345", "1.2.3.4/7", "1.2.3.4/x", ":zzzz", ""} {
		if _, err := ExpandKey(bad); err == nil {
			t.Errorf("ExpandKey(%q) accepted", bad)
		}
	}
}

func TestParseValue(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Verdict
	}{
		{"allow,RELAYCLIENT", Verdict{Vars: []string{"RELAYCLIENT="}}},
		{"allow", Verdict{}},
		{"deny", Verdict{Deny: true}},
		{"deny,whatever", Verdict{Deny: true}},
		{"RELAYCLIENT,SIZELIMIT=1000000", Verdict{Vars: []string{"RELAYCLIENT=", "SIZELIMIT=1000000"}}},
		{` allow , BLOCK="550 no, thanks" , X='a,b'`, Verdict{Vars: []string{"BLOCK=550 no, thanks", "X=a,b"}}},
	} {
		got, err := ParseValue(c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseValue(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"allowRELAYCLIENT", `allow,BLOCK="open`, "allow,9X=1", "allow,A B=1"} {
		if _, err := ParseValue(bad); err == nil {
			t.Errorf("ParseValue(%q) accepted", bad)
		}
	}
}

func TestParseErrorsNameTheLine(t *testing.T) {
	_, err := ParseData("smtpaccess", []byte("# comment\n127.0.0.1\tallow,RELAYCLIENT\n::1\tallow\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "smtpaccess:3: ") {
		t.Errorf("error %v, want one naming smtpaccess:3", err)
	}
	_, err = ParseData("smtpaccess", []byte("10.1.0.0/16\tallow\n10.1\tdeny\n"))
	if err == nil || !strings.Contains(err.Error(), "smtpaccess:2: 10.1 is also given at smtpaccess:1") {
		t.Errorf("duplicate through CIDR: %v", err)
	}
}

// TestCompileAndLookup builds a database and looks clients up in it: the
// most specific entry wins, IPv4-mapped addresses use the IPv4 keys, "*"
// is the default, and a broken source leaves the old database alone.
func TestCompileAndLookup(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "smtpaccess")
	os.Mkdir(src, 0o755)
	testenv.WriteFile(t, filepath.Join(src, "default"), "127.0.0.1\tallow,RELAYCLIENT\n"+
		":0000:0000:0000:0000:0000:0000:0000:0001\tallow,RELAYCLIENT\n"+
		"10.1.4.0/22\tallow,RELAYCLIENT,SIZELIMIT=5\n10.1.5.7\tdeny\n192.168\tallow,BLOCK=550 no\n*\tallow,TARPIT=1\n", 0o644)
	dat := filepath.Join(dir, "smtpaccess.dat")
	n, err := Compile(src, dat)
	if err != nil || n != 9 {
		t.Fatalf("Compile = %d, %v; want 9 keys", n, err)
	}
	db, err := Open(dat)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, c := range []struct {
		ip   string
		key  string
		deny bool
		vars []string
	}{
		{"127.0.0.1", "127.0.0.1", false, []string{"RELAYCLIENT="}},
		{"::ffff:127.0.0.1", "127.0.0.1", false, []string{"RELAYCLIENT="}},
		{"::1", ":0000:0000:0000:0000:0000:0000:0000:0001", false, []string{"RELAYCLIENT="}},
		{"10.1.6.9", "10.1.6", false, []string{"RELAYCLIENT=", "SIZELIMIT=5"}},
		{"10.1.5.7", "10.1.5.7", true, nil},
		{"10.1.8.1", "*", false, []string{"TARPIT=1"}},
		{"192.168.3.4", "192.168", false, []string{"BLOCK=550 no"}},
		{"2001:db8::1", "*", false, []string{"TARPIT=1"}},
	} {
		v, key, found, err := db.Lookup(net.ParseIP(c.ip))
		if err != nil || !found || key != c.key || v.Deny != c.deny || !reflect.DeepEqual(v.Vars, c.vars) {
			t.Errorf("Lookup(%s) = %+v key %q found %v err %v; want key %q deny %v vars %v", c.ip, v, key, found, err, c.key, c.deny, c.vars)
		}
	}
	before, _ := os.ReadFile(dat)
	testenv.WriteFile(t, filepath.Join(src, "zz"), "bogus key\tallow\n", 0o644)
	if _, err := Compile(src, dat); err == nil || !strings.Contains(err.Error(), "zz:1:") {
		t.Errorf("Compile with a bad line: %v", err)
	}
	if after, _ := os.ReadFile(dat); !bytes.Equal(before, after) {
		t.Error("a failed Compile changed the database")
	}
}

// TestAgainstMakedat compiles the same source with the original's
// makedat -cidr and checks that every record we store is in its GDBM file.
func TestAgainstMakedat(t *testing.T) {
	testenv.NeedPackage(t, "courier-mta", "/usr/bin/makedat", "/usr/lib/courier/courier/makedatprog")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	testenv.WriteFile(t, src, "127.0.0.1\tallow,RELAYCLIENT\n"+
		":0000:0000:0000:0000:0000:0000:0000:0001\tallow,RELAYCLIENT\n10\tallow,RELAYCLIENT\n192.168\tallow,RELAYCLIENT\n"+
		"172.16.0.0/14\tallow,SIZELIMIT=100\n10.9.8.0/23\tdeny\n", 0o644)
	_, errOut, code := testenv.Run(t, exec.Command("/usr/bin/makedat", "-src="+src, "-file="+filepath.Join(dir, "real.dat"), "-tmp="+filepath.Join(dir, "real.tmp"), "-cidr"))
	if code != 0 {
		t.Fatalf("makedat: %d %s", code, errOut)
	}
	gdbm, err := os.ReadFile(filepath.Join(dir, "real.dat"))
	if err != nil {
		t.Fatal(err)
	}
	ents, err := ParseSource(src)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		for _, k := range e.Keys {
			n++
			if !bytes.Contains(gdbm, []byte(k+e.Value)) {
				t.Errorf("record %q → %q is not in makedat -cidr's database", k, e.Value)
			}
		}
	}
	if n != 10 {
		t.Errorf("%d records, want 10", n)
	}
}

func FuzzParseValue(f *testing.F) {
	for _, s := range []string{"allow,RELAYCLIENT", "deny", `allow,BLOCK="550 a, b",X='y'`, "allow,", ",,,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseValue(s)
		if err != nil {
			return
		}
		for _, kv := range v.Vars {
			name, _, ok := strings.Cut(kv, "=")
			if !ok || !validName(name) {
				t.Fatalf("ParseValue(%q) gave variable %q", s, kv)
			}
		}
	})
}

func FuzzParseSource(f *testing.F) {
	for _, s := range []string{"127.0.0.1\tallow,RELAYCLIENT\n", "10.1.0.0/20\tdeny\n*\tallow\n", ":2001:0db8\tallow,X=1\n# c\n\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ents, err := ParseData("fuzz", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz:") {
				t.Fatalf("error without file:line: %v", err)
			}
			return
		}
		for _, e := range ents {
			for _, k := range e.Keys {
				if again, err := ExpandKey(k); err != nil || len(again) != 1 || again[0] != k {
					t.Fatalf("stored key %q does not stand for itself: %v %v", k, again, err)
				}
			}
		}
	})
}
