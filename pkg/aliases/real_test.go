package aliases

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/gocourier/courier/test/testenv"
)

const realBin = "/usr/lib/courier/courier/"

// realCompile runs the original's pipeline (aliasexp | aliascombine |
// aliascreate) on src with the installed /etc/courier configuration,
// program files going to a temporary directory. It returns the -dump
// output, the program files, the raw GDBM aliases.dat, and whether
// aliasexp accepted the source.
func realCompile(t *testing.T, src string) (dump string, progs map[string]string, gdbm []byte, ok bool) {
	t.Helper()
	dir := t.TempDir()
	srcFile := filepath.Join(dir, "aliases")
	if err := os.WriteFile(srcFile, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	xdir := filepath.Join(dir, "x")
	exp, _, code := testenv.Run(t, exec.Command(realBin+"aliasexp", "-xaliaspfix=.xalias/", "-xaliastmpdir="+xdir, "-src="+srcFile, "local"))
	if code != 0 {
		return "", nil, nil, false
	}
	run := func(args ...string) string {
		comb := exec.Command(realBin + "aliascombine")
		comb.Stdin = strings.NewReader(exp)
		combined, errOut, code := testenv.Run(t, comb)
		if code != 0 {
			t.Fatalf("aliascombine: %d %s", code, errOut)
		}
		create := exec.Command(realBin+"aliascreate", append([]string{"-tmp=" + filepath.Join(dir, "t.tmp")}, args...)...)
		create.Stdin = strings.NewReader(combined)
		out, errOut, code := testenv.Run(t, create)
		if code != 0 {
			t.Fatalf("aliascreate %q: %d %s", args, code, errOut)
		}
		return out
	}
	dump = run("-dump")
	run("-alias=" + filepath.Join(dir, "aliases.dat"))
	gdbm, err := os.ReadFile(filepath.Join(dir, "aliases.dat"))
	if err != nil {
		t.Fatal(err)
	}
	progs = map[string]string{}
	ents, _ := os.ReadDir(xdir)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(xdir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		progs[e.Name()] = string(b)
	}
	return dump, progs, gdbm, true
}

// parseDump turns -dump output into alias -> members.
func parseDump(t *testing.T, dump string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, para := range strings.Split(strings.TrimSuffix(dump, "\n\n"), "\n\n") {
		if para == "" {
			continue
		}
		name, list, ok := strings.Cut(para, ":")
		if !ok {
			t.Fatalf("bad paragraph %q", para)
		}
		for _, m := range strings.Split(list, ",") {
			out[name] = append(out[name], strings.TrimSpace(m))
		}
	}
	return out
}

// paragraphs returns the dump's paragraphs sorted: the original prints
// aliases in GDBM hash order.
func paragraphs(dump string) []string {
	p := strings.Split(strings.TrimSuffix(dump, "\n\n"), "\n\n")
	sort.Strings(p)
	return p
}

// TestAgainstRealMakealiases compiles the same sources with the installed
// Courier and with Parse, under the installed /etc/courier (read only), and
// compares acceptance, the -dump output, the program files and the records
// of aliases.dat.
func TestAgainstRealMakealiases(t *testing.T) {
	testenv.NeedPackage(t, "courier-mta", realBin+"aliasexp", realBin+"aliascombine", realBin+"aliascreate", "/etc/courier")
	hosts, err := LoadHosts("/etc/courier")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultOptions("/etc/courier", "", hosts, AppendDefaultDomain).Config

	incDir := t.TempDir()
	inc := filepath.Join(incDir, "inc")
	if err := os.WriteFile(inc, []byte("one, two # comment\nthree\n\nfour@X.ORG\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	debian, err := os.ReadFile("/etc/courier/aliases/system")
	if err != nil {
		debian = []byte("root: postmaster\nmailer-daemon: postmaster\nMAILER-DAEMON: postmaster\nuucp: postmaster\npostmaster:\n")
	}
	var big strings.Builder
	big.WriteString("big:")
	for i := range 230 {
		big.WriteString(" member-number-" + itoa(i) + "@Example.ORG,")
	}
	big.WriteString("\n")

	flat := []string{
		string(debian),
		"a: b, C@EXAMPLE.TEST, D@Other.COM, PostMaster, x@localhost\n  , e\n",
		"b: /var/mail/info\nc: | /usr/bin/logger -t x\nb: |second\n",
		"@virt.example: john\n@Uucp.Example: uucp!path!, Jo Hn\n",
		"inc: :include:" + inc + "\n",
		"ab: foo bar, Joe <joe@x>, (cmt) k, @x, b@x.com@y, b;c, grp:e\n",
		"self: self, z\n",
		"a: b, b, c\na: c, d\n",
		"a: b@m\u00fcller.de, xn--mller-kva.de@x, c@xn--mller-kva.de, \"q\"@x\n",
		"a b: c\nA.B: c\n",
		big.String(),
		"  a: b\n\tc: d\n",
	}
	nested := []string{
		"l1: l2, y\nl2: l1, w\n",
		"a: b, x\nb: c, y\nc: a, z, c\nd: b\n",
		"a: b\nb:\nc: a, b\n",
		"l1: l2\nl2: l1\nl3: l1, q\n",
	}
	bad := []string{
		"a: b\nnocolon\nc: d\n",
		"a: b,\n # cmt\n  c\n",
		"x: :include:rel\n",
		"a: :include:/nonexistent/inc\n",
		"a: b..c\n",
		"a: \"q r\"@x\n",
		"a: d@EXAMPLE.TEST.\n",
		"a: b@\n",
		"a..b: c\n",
	}
	check := func(t *testing.T, src string, exact bool) {
		realDump, realProgs, gdbm, ok := realCompile(t, src)
		if !ok {
			t.Fatalf("the original rejects %q", src)
		}
		tab, err := Parse([]Source{{"aliases", []byte(src)}}, cfg)
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		var b strings.Builder
		if err := tab.Dump(&b); err != nil {
			t.Fatal(err)
		}
		if exact {
			if got, want := paragraphs(b.String()), paragraphs(realDump); !reflect.DeepEqual(got, want) {
				t.Errorf("dump:\n%s\noriginal:\n%s", b.String(), realDump)
			}
			for _, r := range tab.Records() {
				if !bytes.Contains(gdbm, []byte(r[0]+r[1])) {
					t.Errorf("record %q = %q not in the original's aliases.dat", r[0], r[1])
				}
			}
		} else {
			got, want := parseDump(t, b.String()), parseDump(t, realDump)
			// Compared as sets: the order depends on GDBM's hash
			// order, and the original can list an address twice when
			// an alias in a loop lists itself ("c: a, z, c").
			for _, m := range []map[string][]string{got, want} {
				for k, l := range m {
					sort.Strings(l)
					m[k] = slices.Compact(l)
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("aliases %q, original %q", got, want)
			}
		}
		progs := map[string]string{}
		for _, p := range tab.Programs() {
			progs[p.File] = p.Content
		}
		if !reflect.DeepEqual(progs, realProgs) {
			t.Errorf("program files %q, original %q", progs, realProgs)
		}
	}
	for i, src := range flat {
		t.Run("flat"+itoa(i), func(t *testing.T) { check(t, src, true) })
	}
	for i, src := range nested {
		t.Run("nested"+itoa(i), func(t *testing.T) { check(t, src, false) })
	}
	for i, src := range bad {
		t.Run("bad"+itoa(i), func(t *testing.T) {
			if _, _, _, ok := realCompile(t, src); ok {
				t.Fatalf("the original accepts %q", src)
			}
			if _, err := Parse([]Source{{"aliases", []byte(src)}}, cfg); err == nil {
				t.Errorf("Parse accepts %q", src)
			}
		})
	}
}
