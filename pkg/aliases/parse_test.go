package aliases

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// testConfig is a host "example.test" with locals example.test and
// localhost.
func testConfig() Config {
	return Config{
		DefaultDomain: "example.test",
		IsLocal: func(d string) bool {
			d = strings.ToLower(d)
			return d == "example.test" || d == "localhost"
		},
		ProgramPrefix: ".xalias/",
	}
}

func dumpOf(t *testing.T, src string, cfg Config) (string, error) {
	t.Helper()
	tab, err := Parse([]Source{{"aliases", []byte(src)}}, cfg)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := tab.Dump(&b); err != nil {
		t.Fatal(err)
	}
	return b.String(), nil
}

func TestParseDump(t *testing.T) {
	long := "big: someone-with-a-long-name1@example.org, someone-with-a-long-name2@example.org,\n  someone-with-a-long-name3@example.org, x\n"
	tests := []struct{ name, src, want string }{
		{"debian default", "# comment\nroot: postmaster\n\nmailer-daemon: postmaster\nMAILER-DAEMON: postmaster\npostmaster:\n",
			"root@example.test: postmaster@example.test\n\nmailer-daemon@example.test: postmaster@example.test\n\nMAILER-DAEMON@example.test: postmaster@example.test\n\n"},
		{"continuation", "a: b,\n  c\n\td # tail comment\n", "a@example.test: b@example.test, c@example.test, d@example.test\n\n"},
		{"first line indented", "  a: b\n", "a@example.test: b@example.test\n\n"},
		{"domains lower-cased, local parts kept", "a: C@EXAMPLE.TEST, D@Other.COM, x@Localhost\n",
			"a@example.test: C@example.test, D@other.com, x@localhost\n\n"},
		{"postmaster always lower-cased", "postmaster: x\nPostMaster: y\n", "postmaster@example.test: x@example.test, y@example.test\n\n"},
		{"non-local name keeps its domain", "a@other.com: b\n", "a@other.com: b@example.test\n\n"},
		{"rfc822 forms", "a: Joe <joe@x>, (cmt) k, @x, b@x.com@y, b;c, grp:e, foo bar\n",
			"a@example.test: joe@x, k@example.test, @x, b@x.com@y, b@example.test,\n        c@example.test, e@example.test, foo@example.test, bar@example.test\n\n"},
		{"duplicates removed", "a: b, b, c\na: c, d\n", "a@example.test: b@example.test, c@example.test, d@example.test\n\n"},
		{"empty alias is no alias", "a:\nb: a\n", "b@example.test: a@example.test\n\n"},
		{"sub-alias expanded", "a: b, x\nb: y, z\n", "a@example.test: y@example.test, z@example.test, x@example.test\n\nb@example.test: y@example.test, z@example.test\n\n"},
		{"self member kept", "self: self, z\n", "self@example.test: self@example.test, z@example.test\n\n"},
		{"loop", "l1: l2, y\nl2: l1, w\n", "l1@example.test: w@example.test, y@example.test\n\nl2@example.test: y@example.test, w@example.test\n\n"},
		{"pure loop vanishes", "l1: l2\nl2: l1\n", ""},
		{"virtual domain", "@Virt.Example: John, k@L\n@uucp.example: uucp!path!\n", "@virt.example: John, k@L\n\n@uucp.example: uucp!path!\n\n"},
		{"program and mailbox", "b: /var/mail/info\nc: | /usr/bin/logger -t x\n",
			"b@example.test: \".xalias/b@example+2etest\"@example.test\n\nc@example.test: \".xalias/c@example+2etest\"@example.test\n\n"},
		{"wrapping", long, "big@example.test: someone-with-a-long-name1@example.org,\n        someone-with-a-long-name2@example.org,\n        someone-with-a-long-name3@example.org, x@example.test\n\n"},
		{"idna", "a: c@xn--mller-kva.de, b@M\u00dcLLER.de\n", "a@example.test: c@m\u00fcller.de, b@m\u00fcller.de\n\n"},
		{"quoted", "a: \"q\"@x\n", "a@example.test: \"q\"@x\n\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := dumpOf(t, tc.src, testConfig())
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("dump:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"no colon", "a: b\nnocolon\nc: d\n", `aliases:2: syntax error: "nocolon" is not "alias: address, ..."`},
		{"comment ends a continued list", "a: b,\n # cmt\n  c\n", `aliases:3: syntax error: "c" is not "alias: address, ..."`},
		{"relative include", "a: b\nx: :include:rel\n", `aliases:2: :include: needs an absolute pathname, not "rel"`},
		{"missing include", "a: :include:/nonexistent/inc\n", "aliases:1: alias a@example.test: open /nonexistent/inc: no such file or directory"},
		{"double dot", "x: y\n\na: b,\n  b..c\n", "aliases:3: alias a@example.test: syntax error in address b..c (b..c@example.test)"},
		{"blank in quotes", `a: "q r"@x` + "\n", `aliases:1: alias a@example.test: syntax error in address "q r"@x`},
		{"trailing dot", "a: d@EXAMPLE.TEST.\n", "aliases:1: alias a@example.test: syntax error in address d@EXAMPLE.TEST."},
		{"empty domain", "a: b@\n", "aliases:1: alias a@example.test: syntax error in address b@"},
		{"bad name", "a..b: c\n", "aliases:1: alias name: syntax error in address a..b (a..b@example.test)"},
		{"empty name", ": b\n", "aliases:1: syntax error: empty alias name before ':'"},
		{"null address", "a: <>\n", "aliases:1: alias a@example.test: syntax error: empty address <>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dumpOf(t, tc.src, testConfig())
			if err == nil || err.Error() != tc.want {
				t.Errorf("error %v, want %s", err, tc.want)
			}
		})
	}
}

func TestInclude(t *testing.T) {
	dir := t.TempDir()
	inc := filepath.Join(dir, "inc")
	if err := os.WriteFile(inc, []byte("one, two # comment\nthree\n\nfour@X.ORG\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := dumpOf(t, "inc: :include:"+inc+"\n", testConfig())
	if err != nil {
		t.Fatal(err)
	}
	want := "inc@example.test: one@example.test, two@example.test, three@example.test,\n        four@x.org\n\n"
	if got != want {
		t.Errorf("dump:\n%s\nwant:\n%s", got, want)
	}
	if err := os.WriteFile(inc, []byte("ok\nbad..addr\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = dumpOf(t, "\ninc: :include:"+inc+"\n", testConfig())
	want = inc + ":2: syntax error in address bad..addr (bad..addr@example.test) (included for alias inc@example.test from aliases:2)"
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
}

func TestLocalLowercaseAndModules(t *testing.T) {
	cfg := testConfig()
	cfg.LocalLowercase = true
	got, err := dumpOf(t, "Ab: Cd, Ef@Other.COM, Gh@LocalHost\n", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := "ab@example.test: cd@example.test, Ef@other.com, gh@localhost\n\n"; got != want {
		t.Errorf("locallowercase dump %q, want %q", got, want)
	}
	cfg = testConfig()
	rw, ok := ModuleRewrite("esmtp")
	if !ok {
		t.Fatal("esmtp has no rewrite")
	}
	cfg.Rewrite = rw
	got, err = dumpOf(t, "a: b, u!v, PostMaster\n", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := "a: b, u!v, postmaster\n\n"; got != want {
		t.Errorf("esmtp dump %q, want %q", got, want)
	}
	for _, m := range []string{"uucp", "bogus"} {
		if _, ok := ModuleRewrite(m); ok {
			t.Errorf("ModuleRewrite(%q) accepted", m)
		}
	}
}

func TestPrograms(t *testing.T) {
	tab, err := Parse([]Source{{"a", []byte("b: /var/mail/info\nb: | /usr/bin/logger -t x\nmix-ed.x: |cmd\n")}}, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	want := []Program{
		{"b@example+2etest", "/var/mail/info\n| /usr/bin/logger -t x\n"},
		{"mix+2ded+2ex@example+2etest", "|cmd\n"},
	}
	if got := tab.Programs(); !reflect.DeepEqual(got, want) {
		t.Errorf("programs %q, want %q", got, want)
	}
	cfg := testConfig()
	cfg.ProgramPrefix = ""
	tab, err = Parse([]Source{{"a", []byte("b: /var/mail/info\n")}}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.Names()) != 0 || len(tab.Programs()) != 0 {
		t.Errorf("without a prefix: names %q programs %q", tab.Names(), tab.Programs())
	}
}

func TestDumpChunks(t *testing.T) {
	var b strings.Builder
	b.WriteString("a:")
	for i := range 150 {
		b.WriteString(" m" + strings.Repeat("x", i%3) + string(rune('a'+i%26)) + itoa(i) + ",")
	}
	got, err := dumpOf(t, b.String()+" last\n", testConfig())
	if err != nil {
		t.Fatal(err)
	}
	paras := strings.Split(strings.TrimSuffix(got, "\n\n"), "\n\n")
	if len(paras) != 2 || !strings.HasPrefix(paras[1], "a@example.test: ") {
		t.Fatalf("want two paragraphs, the second starting with the alias name:\n%s", got)
	}
	n := 0
	for _, p := range paras {
		_, list, _ := strings.Cut(p, ": ")
		n += len(strings.Split(list, ","))
	}
	if n != 151 {
		t.Errorf("%d members dumped, want 151", n)
	}
	if c := strings.Count(paras[0], ",") + 1; c != 99 {
		t.Errorf("first paragraph has %d members, want 99", c)
	}
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

func TestRecords(t *testing.T) {
	var src strings.Builder
	src.WriteString("big:")
	var want []string
	for i := range 60 {
		a := "member" + itoa(i) + "@example.org"
		want = append(want, a)
		src.WriteString(" " + a + ",")
	}
	src.WriteString("\nsmall: x\n")
	tab, err := Parse([]Source{{"s", []byte(src.String())}}, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	recs := tab.Records()
	var keys []string
	var all []string
	for _, r := range recs {
		keys = append(keys, r[0])
		if r[0] == "small@example.test" {
			if r[1] != "x@example.test\n" {
				t.Errorf("small = %q", r[1])
			}
			continue
		}
		if len(r[1]) >= maxRecord+len("member00@example.org\n") {
			t.Errorf("record %q is %d bytes", r[0], len(r[1]))
		}
		all = append(all, r[1])
	}
	if wantKeys := []string{"big@example.test", "big@example.test\n1", "big@example.test\n2", "small@example.test"}; !reflect.DeepEqual(keys, wantKeys) {
		t.Errorf("keys %q, want %q", keys, wantKeys)
	}
	if got := joinLines(all); !reflect.DeepEqual(got, want) {
		t.Errorf("members %q, want %q", got, want)
	}
	if k := recordKey("a", 17); k != "a\n11" {
		t.Errorf("recordKey 17 = %q", k)
	}
	if k := recordKey("a", 26); k != "a\nA1" {
		t.Errorf("recordKey 26 = %q", k)
	}
}

func TestEscapeName(t *testing.T) {
	if got := EscapeName(`a.b-c+d/e"f\g@x.y`); got != "a+2eb+2dc+2bd+2fe+22f+5cg@x+2ey" {
		t.Errorf("EscapeName = %q", got)
	}
}
