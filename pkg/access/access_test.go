package access

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
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
		{"*.25", []string{"*.25"}},
		{"127.0.0.1.25", []string{"127.0.0.1.25"}},
		{":0000:0000:0000:0000:0000:0000:0000:0001", []string{":0000:0000:0000:0000:0000:0000:0000:0001"}},
		{":0000:0000:0000:0000:0000:0000:0000:0001.587", []string{":0000:0000:0000:0000:0000:0000:0000:0001.587"}},
		{":2001:0DB8", []string{":2001:0db8"}},
		{"10.0.0.0/8", []string{"10"}},
		{"10.0.0.0/7", []string{"10", "11"}},
		{"10.1.0.0/16", []string{"10.1"}},
		{"10.1.4.0/22", []string{"10.1.4", "10.1.5", "10.1.6", "10.1.7"}},
		{"1.2.3.5/30", []string{"1.2.3.4", "1.2.3.5", "1.2.3.6", "1.2.3.7"}},
		{"9.9.9.9/32", []string{"9.9.9.9"}},
		{"5.6.7.8-5.6.7.11", []string{"5.6.7.8", "5.6.7.9", "5.6.7.10", "5.6.7.11"}},
		{"3.3.3.0-3.3.4.255", []string{"3.3.3", "3.3.4"}},
		{"2001:db8::/32", []string{":2001:0db8"}},
		{"2001:DB8:AB::/48", []string{":2001:0db8:00ab"}},
		{"::1/128", []string{":0000:0000:0000:0000:0000:0000:0000:0001"}},
		{"2001:db8:1::-2001:db8:1::1", []string{":2001:0db8:0001:0000:0000:0000:0000:0000", ":2001:0db8:0001:0000:0000:0000:0000:0001"}},
	} {
		got, err := ExpandKey(c.key)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ExpandKey(%s) = %v, %v; want %v", c.key, got, err, c.want)
		}
	}
	for key, n := range map[string]int{"0.0.0.0/0": 256, "192.168.1.128/25": 128, "2001:db9::/33": 32768, "::/0": 65536} {
		if got, err := ExpandKey(key); err != nil || len(got) != n {
			t.Errorf("ExpandKey(%s) = %d keys, %v; want %d", key, len(got), err, n)
		}
	}
	for _, bad := range []string{"::1", "1.2.3.4.5.6", "1.2.3.4.0", "1.2.3.99999", "256.1", "01.2", "example.com", ":12345", ":zzzz",
		"1.2.3.4/33", "1.2.3.4/x", "1.2.3.4/-1", "::/129", "1.2.3.9-1.2.3.1", "1.2.3.4-::1", "::ffff:1.2.3.4/128", "1.2.3/24",
		"::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", "*.x", "*.0", ":0000.25", ""} {
		if got, err := ExpandKey(bad); err == nil {
			t.Errorf("ExpandKey(%q) accepted: %d keys", bad, len(got))
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
		{"deny,whatever goes", Verdict{Deny: true}},
		{"RELAYCLIENT,SIZELIMIT=1000000", Verdict{Vars: []string{"RELAYCLIENT=", "SIZELIMIT=1000000"}}},
		{` allow , BLOCK="550 no, thanks" , X='a,b'`, Verdict{Vars: []string{"BLOCK=550 no, thanks", "X=a,b"}}},
		{`allow,BLOCK= 550 x `, Verdict{Vars: []string{"BLOCK= 550 x"}}},
		{`allow,,A=1,`, Verdict{Vars: []string{"A=1"}}},
		{`allow,A="=,"=b`, Verdict{Vars: []string{"A==,=b"}}},
	} {
		got, err := ParseValue(c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseValue(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	for bad, why := range map[string]string{
		"allowRELAYCLIENT":  "comma after",
		`allow,BLOCK="open`: "quote is not closed",
		"allow,9X=1":        `"9X" is not a variable name`,
		"allow,A B=1":       `"A B" is not`,
		"RELAYCLIENT,allow": `"allow" must come first`,
		"DENY":              `"deny" must come first, in lower case`,
	} {
		if _, err := ParseValue(bad); err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("ParseValue(%q) = %v; want an error saying %q", bad, err, why)
		}
	}
}

func TestParseErrorsNameTheLine(t *testing.T) {
	for src, want := range map[string]string{
		"# comment\n127.0.0.1\tallow,RELAYCLIENT\n::1\tallow\n": "smtpaccess:3: ",
		"10.1.0.0/16\tallow\n10.1\tdeny\n":                      "smtpaccess:2: 10.1 is also given at smtpaccess:1",
		"\n\n127.0.0.1 allow\n":                                 "smtpaccess:3: \"127.0.0.1 allow\" has no value",
		"127.0.0.1\t\n":                                         "smtpaccess:1: \"127.0.0.1\" has an empty value",
		"127.0.0.1\tallow,X='\n":                                "smtpaccess:1: value",
		"10.0.0.0/8\tallow\n.\n":                                "smtpaccess:2: a line holding only",
		"1.2.3.4\tallow,A=\x00\n":                               "smtpaccess:1: the line holds a NUL byte",
	} {
		ents, err := ParseSource("smtpaccess", strings.NewReader(src))
		if err == nil || !strings.HasPrefix(err.Error(), want) || ents != nil {
			t.Errorf("ParseSource(%q) = %v, %v; want an error starting %q", src, ents, err, want)
		}
	}
	ents, err := ParseSource("s", strings.NewReader("10.0.0.0/31   allow,A\n1.2.3.4\tdeny\n# x\n\n*\tallow"))
	if err != nil || len(ents) != 3 || ents[0].Value != "allow,A" || len(ents[0].Keys) != 2 || ents[2].Line != 5 || ents[2].Keys[0] != "*" {
		t.Errorf("ParseSource: %+v, %v", ents, err)
	}
}

// TestReadSourceDirectory: the files of a directory in name order, editor
// backups and dpkg leftovers skipped, a key unique across files.
func TestReadSourceDirectory(t *testing.T) {
	dir := t.TempDir()
	testenv.WriteFile(t, filepath.Join(dir, "b"), "10\tallow,B\n", 0o644)
	testenv.WriteFile(t, filepath.Join(dir, "a"), "127.0.0.1\tallow,A\n", 0o644)
	testenv.WriteFile(t, filepath.Join(dir, "a~"), "10\tdeny\n", 0o644)
	testenv.WriteFile(t, filepath.Join(dir, "a.dpkg-dist"), "10\tdeny\n", 0o644)
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	ents, err := ReadSource(dir)
	if err != nil || len(ents) != 2 || ents[0].Value != "allow,A" || ents[1].File != filepath.Join(dir, "b") {
		t.Fatalf("ReadSource = %+v, %v", ents, err)
	}
	testenv.WriteFile(t, filepath.Join(dir, "c"), "\n10.0.0.0/8\tdeny\n", 0o644)
	if _, err := ReadSource(dir); err == nil || err.Error() != filepath.Join(dir, "c")+":2: 10 is also given at "+filepath.Join(dir, "b")+":1 (makedat refuses a key given twice); keep one" {
		t.Errorf("duplicate across files: %v", err)
	}
}

// TestCompileAndLookup builds a database and looks clients up in it: the
// most specific entry wins, IPv4-mapped addresses use the IPv4 keys, "*"
// is the default, -accesslocal consults the local address and port, and
// a broken source leaves the old database alone.
func TestCompileAndLookup(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "smtpaccess")
	os.Mkdir(src, 0o755)
	testenv.WriteFile(t, filepath.Join(src, "default"), "127.0.0.1\tallow,RELAYCLIENT\n"+
		":0000:0000:0000:0000:0000:0000:0000:0001\tallow,RELAYCLIENT\n"+
		"10.1.4.0/22\tallow,RELAYCLIENT,SIZELIMIT=5\n10.1.5.7\tdeny\n192.168\tallow,BLOCK=550 no\n*\tallow,TARPIT=1\n"+
		":2001:0db8\tallow,V6=1\n127.0.0.2.2525\tdeny\n*.587\tallow,MSA=1,TARPIT=0\n", 0o644)
	dat := filepath.Join(dir, "smtpaccess.dat")
	n, err := Compile(src, dat)
	if err != nil || n != 12 {
		t.Fatalf("Compile = %d, %v; want 12 keys", n, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "smtpaccess.tmp")); !os.IsNotExist(err) {
		t.Errorf("the lock file is left behind: %v", err)
	}
	db, err := Open(dat)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	lo := net.ParseIP("127.0.0.1")
	for _, c := range []struct {
		ip, local string
		port      int
		al        bool
		key       string
		deny      bool
		vars      []string
	}{
		{"127.0.0.1", "127.0.0.1", 25, false, "127.0.0.1", false, []string{"RELAYCLIENT="}},
		{"::ffff:127.0.0.1", "127.0.0.1", 25, false, "127.0.0.1", false, []string{"RELAYCLIENT="}},
		{"::1", "::1", 25, false, ":0000:0000:0000:0000:0000:0000:0000:0001", false, []string{"RELAYCLIENT="}},
		{"10.1.6.9", "127.0.0.1", 25, false, "10.1.6", false, []string{"RELAYCLIENT=", "SIZELIMIT=5"}},
		{"10.1.5.7", "127.0.0.1", 25, false, "10.1.5.7", true, nil},
		{"10.1.8.1", "127.0.0.1", 25, false, "*", false, []string{"TARPIT=1"}},
		{"192.168.3.4", "127.0.0.1", 25, false, "192.168", false, []string{"BLOCK=550 no"}},
		{"2001:db8::1", "127.0.0.1", 25, false, ":2001:0db8", false, []string{"V6=1"}},
		{"2001:db9::1", "127.0.0.1", 25, false, "*", false, []string{"TARPIT=1"}},
		// -accesslocal: the local entry's variables, then the client's.
		{"10.9.9.9", "127.0.0.3", 587, true, "*", false, []string{"MSA=1", "TARPIT=0", "TARPIT=1"}},
		{"10.9.9.9", "127.0.0.1", 587, true, "*", false, []string{"RELAYCLIENT=", "TARPIT=1"}},
		{"127.0.0.1", "127.0.0.1", 25, true, "127.0.0.1", false, []string{"RELAYCLIENT=", "RELAYCLIENT="}},
		{"127.0.0.1", "127.0.0.2", 2525, true, "127.0.0.2.2525", true, nil},
		{"127.0.0.1", "127.0.0.2", 2525, false, "127.0.0.1", false, []string{"RELAYCLIENT="}},
	} {
		v, found := db.Lookup(net.ParseIP(c.ip), net.ParseIP(c.local), c.port, c.al)
		if !found || v.Key != c.key || v.Deny != c.deny || !reflect.DeepEqual(v.Vars, c.vars) || v.Local != (c.deny && c.al) {
			t.Errorf("Lookup(%s, %s.%d, %v) = %+v found %v; want key %q deny %v vars %v", c.ip, c.local, c.port, c.al, v, found, c.key, c.deny, c.vars)
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
	// Without "*", an unknown client has no entry.
	os.Remove(filepath.Join(src, "zz"))
	testenv.WriteFile(t, filepath.Join(src, "default"), "127.0.0.1\tallow,X\n", 0o644)
	if _, err := Compile(src, dat); err != nil {
		t.Fatal(err)
	}
	if v, found := db.Lookup(lo, lo, 25, false); !found || !reflect.DeepEqual(v.Vars, []string{"X="}) {
		t.Errorf("after the rebuild: %+v %v", v, found)
	}
	if v, found := db.Lookup(net.ParseIP("10.0.0.1"), lo, 25, false); found || v.Deny || len(v.Vars) != 0 {
		t.Errorf("no entry: %+v %v", v, found)
	}
}

// gdbmRecords dumps a GDBM file with Perl's GDBM_File (Debian's perl has
// it), sorted "key\tvalue" lines.
func gdbmRecords(t *testing.T, path string) []string {
	t.Helper()
	out, errOut, code := testenv.Run(t, exec.Command("perl", "-MGDBM_File", "-e",
		`tie %h, "GDBM_File", $ARGV[0], &GDBM_READER, 0 or die "$ARGV[0]: $!"; print "$_\t$h{$_}\n" for sort keys %h`, path))
	if code != 0 {
		t.Fatalf("reading %s with perl GDBM_File: %s", path, errOut)
	}
	return strings.Split(strings.TrimSuffix(out, "\n"), "\n")
}

// ourRecords lists the records of our database, sorted like gdbmRecords.
func ourRecords(t *testing.T, dat string) []string {
	t.Helper()
	db, err := Open(dat)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out []string
	if err := db.db.ForEach(func(k, v string) error {
		out = append(out, k+"\t"+v)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// TestAgainstMakedat compiles the same sources with the original's
// makedat -cidr (as makesmtpaccess runs it) and with Compile, and compares
// the two databases record for record: Debian's own
// /etc/courier/smtpaccess/default, and a source with networks, ranges and
// the separators makedat's CIDR pattern allows.
func TestAgainstMakedat(t *testing.T) {
	testenv.NeedPackage(t, "courier-mta", "/usr/bin/makedat", "/usr/lib/courier/courier/makedatprog", "/etc/courier/smtpaccess/default")
	if _, _, code := testenv.Run(t, exec.Command("perl", "-MGDBM_File", "-MNet::CIDR", "-e", "1")); code != 0 {
		testenv.Skip(t, "perl's GDBM_File or Net::CIDR is missing")
	}
	debian, err := os.ReadFile("/etc/courier/smtpaccess/default")
	if err != nil {
		t.Fatal(err)
	}
	for name, src := range map[string]string{
		"debian-default": string(debian),
		"networks": "127.0.0.1\tallow,RELAYCLIENT\n" +
			":0000:0000:0000:0000:0000:0000:0000:0001\tallow,RELAYCLIENT\n10\tallow,RELAYCLIENT\n192.168\tallow,RELAYCLIENT\n" +
			"172.16.0.0/12\tallow,SIZELIMIT=100\n11.9.8.0/23 deny\n1.2.3.5/30\tallow,BLOCK=\"550 go, away\"\n" +
			"5.6.7.8-5.6.7.11\tallow,F\n9.9.9.9/32  \t allow,G\n2001:db8::/32\tallow,C\n2001:db9::/33\tallow,D\n" +
			"2001:db8:1::-2001:db8:1::3\tallow,E\n2001:DB8:AB::/48\tallow,H\n*\tallow,TARPIT=1\n*.587\tallow\n127.0.0.1.25\tdeny\n",
		"everything": "0.0.0.0/0\tallow,ALL\n",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			srcDir := filepath.Join(dir, "smtpaccess")
			os.Mkdir(srcDir, 0o755)
			testenv.WriteFile(t, filepath.Join(srcDir, "default"), src, 0o644)
			real := filepath.Join(dir, "real.dat")
			_, errOut, code := testenv.Run(t, exec.Command("/usr/bin/makedat", "-src="+srcDir, "-file="+real, "-tmp="+filepath.Join(dir, "real.tmp"), "-cidr"))
			if code != 0 {
				t.Fatalf("makedat: %d %s", code, errOut)
			}
			ours := filepath.Join(dir, "smtpaccess.dat")
			n, err := Compile(srcDir, ours)
			if err != nil {
				t.Fatal(err)
			}
			want, got := gdbmRecords(t, real), ourRecords(t, ours)
			if n != len(got) || !reflect.DeepEqual(got, want) {
				t.Errorf("Compile stored %d records, makedat -cidr %d; they differ:\n%s", len(got), len(want), diff(got, want))
			}
			t.Logf("%s: %d records, the same as makedat -cidr's", name, len(got))
		})
	}
}

// diff lists the records in only one of two sorted lists (at most 20).
func diff(ours, theirs []string) string {
	in := map[string]int{}
	for _, r := range ours {
		in[r] |= 1
	}
	for _, r := range theirs {
		in[r] |= 2
	}
	var out []string
	for r, w := range in {
		switch w {
		case 1:
			out = append(out, "only ours:     "+r)
		case 2:
			out = append(out, "only makedat's: "+r)
		}
	}
	sort.Strings(out)
	if len(out) > 20 {
		out = append(out[:20], fmt.Sprintf("... %d more", len(out)-20))
	}
	return strings.Join(out, "\n")
}

func BenchmarkLookup(b *testing.B) {
	dir := b.TempDir()
	src := filepath.Join(dir, "smtpaccess")
	var s strings.Builder
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&s, "10.%d.%d\tallow,RELAYCLIENT,N=%d\n", i/250, i%250, i)
	}
	s.WriteString("127.0.0.1\tallow,RELAYCLIENT\n*\tallow,TARPIT=1\n")
	if err := os.WriteFile(src, []byte(s.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	if _, err := Compile(src, src+".dat"); err != nil {
		b.Fatal(err)
	}
	db, err := Open(src + ".dat")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	lo := net.ParseIP("127.0.0.1")
	for name, ip := range map[string]net.IP{"exact": lo, "prefix": net.ParseIP("10.3.7.1"), "default": net.ParseIP("203.0.113.9"), "ipv6-default": net.ParseIP("2001:db8::1")} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, found := db.Lookup(ip, lo, 25, false); !found {
						b.Fatal("not found")
					}
				}
			})
		})
	}
}

func FuzzParseValue(f *testing.F) {
	for _, s := range []string{"allow,RELAYCLIENT", "deny", `allow,BLOCK="550 a, b",X='y'`, "allow,", ",,,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseValue(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "value ") {
				t.Fatalf("ParseValue(%q): error without the value: %v", s, err)
			}
			return
		}
		if v.Deny && len(v.Vars) > 0 {
			t.Fatalf("ParseValue(%q): deny with variables", s)
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
	for _, s := range []string{"127.0.0.1\tallow,RELAYCLIENT\n", "10.1.0.0/20\tdeny\n*\tallow\n", ":2001:0db8\tallow,X=1\n# c\n\n", "1.2.3.0-1.2.4.7 allow\n*.25\tdeny\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ents, err := ParseSource("fuzz", bytes.NewReader(data))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz:") || ents != nil {
				t.Fatalf("error without file:line, or entries with an error: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, e := range ents {
			if _, err := ParseValue(e.Value); err != nil {
				t.Fatalf("accepted value %q: %v", e.Value, err)
			}
			for _, k := range e.Keys {
				if seen[k] {
					t.Fatalf("key %q stored twice", k)
				}
				seen[k] = true
				if again, err := ExpandKey(k); err != nil || len(again) != 1 || again[0] != k {
					t.Fatalf("stored key %q does not stand for itself: %v %v", k, again, err)
				}
			}
		}
	})
}
