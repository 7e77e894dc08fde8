package config

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

var predef = map[string]string{"sysconfdir": "/etc/courier", "prefix": "/usr"}

// varCases are valid inputs and the settings sh gives them.
var varCases = []struct {
	name string
	in   string
	want map[string]string
}{
	{"plain", "A=1\nB=two\n", map[string]string{"A": "1", "B": "two"}},
	{"no final newline", "A=1", map[string]string{"A": "1"}},
	{"empty value", "A=\nB=''\nC=\"\"\n", map[string]string{"A": "", "B": "", "C": ""}},
	{"double quotes", `A="x y  z"`, map[string]string{"A": "x y  z"}},
	{"double quote escapes", `A="a\"b\\c\$d\` + "`" + `e\nf"`, map[string]string{"A": `a"b\c$d` + "`" + `e\nf`}},
	{"single quotes literal", `A='$B \ "x" ${C}'`, map[string]string{"A": `$B \ "x" ${C}`}},
	{"concatenation", `A="x"'y'z"$B"w`, map[string]string{"A": "xyzw"}},
	{"concatenation with var", "B=1\nA=\"x\"'y'z$B\n", map[string]string{"A": "xyz1", "B": "1"}},
	{"unquoted escapes", `A=a\ b\$c\\d\'e`, map[string]string{"A": `a b$c\d'e`}},
	{"expansion", "A=1\nB=$A\nC=${A}x\nD=\"$A-${A}\"\n", map[string]string{"A": "1", "B": "1", "C": "1x", "D": "1-1"}},
	{"predefined", "A=${sysconfdir}/smtpaccess\nB=$prefix/lib\n", map[string]string{"A": "/etc/courier/smtpaccess", "B": "/usr/lib"}},
	{"file wins over predefined", "sysconfdir=/x\nA=$sysconfdir\n", map[string]string{"sysconfdir": "/x", "A": "/x"}},
	{"unset variable", "A=$NOPE.${NOPE2}x\n", map[string]string{"A": ".x"}},
	{"lone dollar", "A=$\nB=\"$\"\nC=$.x\nD=a$\n", map[string]string{"A": "$", "B": "$", "C": "$.x", "D": "a$"}},
	{"no re-expansion", "A='$B'\nB=1\nC=$A\n", map[string]string{"A": "$B", "B": "1", "C": "$B"}},
	{"comments", "# c\n  # indented\nA=1 # trailing\nB=x#y\nC='#'\n", map[string]string{"A": "1", "B": "x#y", "C": "#"}},
	{"blank lines", "\n\n  \t\nA=1\n\n", map[string]string{"A": "1"}},
	{"continuation", "A=a\\\nb\nB=\"x\\\ny\"\n", map[string]string{"A": "ab", "B": "xy"}},
	{"backslash ending the file", "A=1\\", map[string]string{"A": "1\\"}},
	{"continuation ending the file", "A=1\\\n", map[string]string{"A": "1"}},
	{"continuation between words", "A=1 \\\n  B=2\n", map[string]string{"A": "1", "B": "2"}},
	{"multi-line quote", "A=\"|| dotforward\n./Maildir\"\nB='x\ny'\n", map[string]string{"A": "|| dotforward\n./Maildir", "B": "x\ny"}},
	{"several assignments", "A=1 B=$A C=\"$B$B\"\n", map[string]string{"A": "1", "B": "1", "C": "11"}},
	{"semicolons", "A=1; B=2;C=3;\n", map[string]string{"A": "1", "B": "2", "C": "3"}},
	{"later wins", "A=1\nA=2\n", map[string]string{"A": "2"}},
	{"export", "export A=1\nexport B\nB=2\nexport C=x D=$C\n", map[string]string{"A": "1", "B": "2", "C": "x", "D": ""}},
	{"export keeps spaces", "C=\"x y\"\nexport D=$C\n", map[string]string{"C": "x y", "D": "x y"}},
	{"unset", "A=1\nB=2\nunset A\n", map[string]string{"B": "2"}},
	{"quoted export word", "'export' A=1\n", map[string]string{"A": "1"}},
	{"glob characters literal", "A=*.x\nB=[a]?\n", map[string]string{"A": "*.x", "B": "[a]?"}},
	{"equals in value", "A=a=b\nB=\"-x=1\"\n", map[string]string{"A": "a=b", "B": "-x=1"}},
	{"utf8", "A=héllo\nB=\"日本\"\n", map[string]string{"A": "héllo", "B": "日本"}},
	{"quoted tilde", "A=\"~/x\"\nB=x~\nC=\\~\n", map[string]string{"A": "~/x", "B": "x~", "C": "~"}},
	{"braces literal", "A={x}\nB=}\n", map[string]string{"A": "{x}", "B": "}"}},
	{"backslash in dquote keeps other chars", `A="a\b\'"`, map[string]string{"A": `a\b\'`}},
	{"underscore names", "_A=1\na_9=2\n", map[string]string{"_A": "1", "a_9": "2"}},
}

func TestParseVarFile(t *testing.T) {
	for _, tc := range varCases {
		t.Run(tc.name, func(t *testing.T) {
			vf, err := ParseVarFile("test", []byte(tc.in), predef)
			if err != nil {
				t.Fatalf("ParseVarFile(%q): %v", tc.in, err)
			}
			got := map[string]string{}
			for _, n := range vf.Names() {
				got[n], _ = vf.Get(n)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseVarFile(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestParseVarFileAgainstSh evaluates every valid case with the real
// /bin/sh the way Courier's start scripts do (set -a; . file) and checks we
// agree with it.
func TestParseVarFileAgainstSh(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	dir := t.TempDir()
	for i, tc := range varCases {
		path := filepath.Join(dir, "case"+string(rune('a'+i%26))+strings.Repeat("x", i/26))
		if err := os.WriteFile(path, []byte(tc.in), 0o644); err != nil {
			t.Fatal(err)
		}
		names := []string{}
		for n := range tc.want {
			names = append(names, n)
		}
		// Names that a case unsets or leaves unset must be unset in sh too.
		for _, n := range []string{"A", "B", "C", "D"} {
			if _, ok := tc.want[n]; !ok {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		script := `sysconfdir=/etc/courier; prefix=/usr; set -a; . "$1"; shift
for n do eval "v=\${$n-@UNSET@}"; printf '%s=%s\0' "$n" "$v"; done`
		out, err := exec.Command("/usr/bin/env", append([]string{"-i", "/bin/sh", "-c", script, "sh", path}, names...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: sh: %v\n%s", tc.name, err, out)
		}
		sh := map[string]string{}
		for _, kv := range strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00") {
			k, v, _ := strings.Cut(kv, "=")
			if v != "@UNSET@" {
				sh[k] = v
			}
		}
		if !reflect.DeepEqual(sh, tc.want) {
			t.Errorf("%s: sh gives %q, the table wants %q", tc.name, sh, tc.want)
		}
	}
}

func TestParseVarFileErrors(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"command substitution", "A=1\nB=$(hostname)\n", "f:2: command substitution $(...) is not supported"},
		{"backticks", "A=`hostname`\n", "f:1: command substitution (`...`)"},
		{"backticks in dquote", "A=\"`hostname`\"\n", "f:1: command substitution (`...`)"},
		{"arithmetic", "A=$((1+2))\n", "f:1: command substitution $(...)"},
		{"unterminated double", "A=1\nB=\"abc\nC=2\n", "f:2: unterminated double quote"},
		{"unterminated single", "\nA='abc\n", "f:2: unterminated single quote"},
		{"not an assignment", "A=1\nfoo bar\n", `f:2: not an assignment: "foo bar"`},
		{"command with env", "A=1 foo\n", `f:1: not an assignment: "A=1 foo"`},
		{"invalid name", "1A=x\n", `f:1: invalid variable name "1A"`},
		{"invalid name dash", "A-B=x\n", `f:1: invalid variable name "A-B"`},
		{"default expansion", "A=${B:-x}\n", "f:1: unsupported parameter expansion ${B:-x}"},
		{"length expansion", "A=${#B}\n", "f:1: unsupported parameter expansion ${#B}"},
		{"empty braces", "A=${}\n", "f:1: bad substitution ${}"},
		{"unterminated brace", "A=${B\n", "f:1: unterminated ${"},
		{"positional", "A=$1\n", "f:1: special parameter $1"},
		{"pid", "A=\"$$\"\n", "f:1: special parameter $$"},
		{"pipe", "A=1 | cat\n", `f:1: unsupported shell syntax '|'`},
		{"redirection", "A=1 >/tmp/x\n", `f:1: unsupported shell syntax '>'`},
		{"subshell", "(A=1)\n", `f:1: unsupported shell syntax '('`},
		{"and", "A=1 && B=2\n", `f:1: unsupported shell syntax '&'`},
		{"lone semicolon", "; A=1\n", "f:1: syntax error: unexpected ';'"},
		{"double semicolon", "A=1;;\n", "f:1: syntax error: unexpected ';'"},
		{"tilde", "A=~/x\n", "f:1: A: tilde expansion"},
		{"tilde after colon", "PATH=/bin:~/bin\n", "f:1: PATH: tilde expansion"},
		{"crlf", "A=1\r\n", "f:1: carriage return"},
		{"nul", "A=a\x00b\n", "f:1: NUL byte"},
		{"export option", "export -p\n", `f:1: export: options such as "-p"`},
		{"export bad name", "export 1x\n", `f:1: export: invalid variable name "1x"`},
		{"source relative", ". environment\n", `f:1: cannot source "environment": only absolute paths`},
		{"source two args", ". /a /b\n", "f:1: . takes exactly one file name"},
		{"source missing", "A=1\n. /nonexistent/courier-test-file\n", "f:2: cannot source /nonexistent/courier-test-file: no such file or directory"},
		{"if", "if true; then A=1; fi\n", `f:1: not an assignment: "if true"`},
		{"quoted name", "\"A\"=1\n", `f:1: not an assignment: "\"A\"=1"`},
		{"bad marker", "##NAME: FOO\nA=1\n", `f:1: bad section marker`},
		{"bad revision", "##NAME: FOO:x\n", `f:1: bad revision "x"`},
		{"error after marker", "# h\n##NAME: A:0\n\nA=\"x\n", "f:4: unterminated double quote"},
		{"line counted through continuation", "A=1\\\n2\nB=$(x)\n", "f:3: command substitution"},
		{"line counted through quotes", "A='1\n2'\nB=\"\n\"\nfoo\n", "f:5: not an assignment"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vf, err := ParseVarFile("f", []byte(tc.in), nil)
			if err == nil {
				t.Fatalf("ParseVarFile(%q) accepted it: %q", tc.in, vf.Environ())
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is %T, want *Error", err, err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("ParseVarFile(%q) error\n got %q\nwant prefix %q", tc.in, err.Error(), tc.want)
			}
		})
	}
}

func TestSections(t *testing.T) {
	in := `##VERSION: $Id: x$
# header comment

##NAME: PORT:1
#
#  Port numbers.

PORT=143

##NAME: MAILUSERGROUP:0
# two settings
MAILUSER=courier
MAILGROUP="courier"   # trailing comment
##NAME: BLACKLISTS: 0

BLACKLISTS="a \
b"
##NAME: EMPTY:2
`
	vf, err := ParseVarFile("imapd", []byte(in), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(vf.Header.Body); got != 3 || vf.Header.Name != "" || len(vf.Header.Settings()) != 0 {
		t.Errorf("header = %+v", vf.Header)
	}
	type sec struct {
		Name      string
		Rev, Line int
		Comments  []Line
		Settings  []Line
	}
	var got []sec
	for _, s := range vf.Sections {
		got = append(got, sec{s.Name, s.Revision, s.Line, s.Comments(), s.Settings()})
	}
	want := []sec{
		{"PORT", 1, 4, []Line{{"#", "imapd", 5}, {"#  Port numbers.", "imapd", 6}, {"", "imapd", 7}, {"", "imapd", 9}},
			[]Line{{"PORT=143", "imapd", 8}}},
		{"MAILUSERGROUP", 0, 10, []Line{{"# two settings", "imapd", 11}},
			[]Line{{"MAILUSER=courier", "imapd", 12}, {`MAILGROUP="courier"   # trailing comment`, "imapd", 13}}},
		{"BLACKLISTS", 0, 14, []Line{{"", "imapd", 15}},
			[]Line{{"BLACKLISTS=\"a \\\nb\"", "imapd", 16}}},
		{"EMPTY", 2, 18, nil, nil},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("sections\n got %+v\nwant %+v", got, want)
	}
	if v, _ := vf.Get("BLACKLISTS"); v != "a b" {
		t.Errorf("BLACKLISTS = %q", v)
	}
	if o, _ := vf.Origin("MAILGROUP"); o.Line != 13 || o.File != "imapd" {
		t.Errorf("Origin(MAILGROUP) = %+v", o)
	}
	if vf.Sections[1].Marker != "##NAME: MAILUSERGROUP:0" {
		t.Errorf("marker = %q", vf.Sections[1].Marker)
	}
}

func TestSplitSectionsKeepsBrokenSection(t *testing.T) {
	in := "##NAME: A:0\nA=\"x\n##NAME: B:0\nB=1\n"
	_, secs, err := SplitSections("f", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(secs) != 2 || secs[0].Err == nil || secs[1].Err != nil {
		t.Fatalf("sections = %+v", secs)
	}
	if s := secs[0].Settings(); len(s) != 1 || s[0].Text != `A="x` || s[0].Line != 2 {
		t.Errorf("broken section settings = %+v", s)
	}
	if !strings.Contains(secs[0].Err.Error(), "f:2: unterminated double quote") {
		t.Errorf("Err = %v", secs[0].Err)
	}
	// ParseVarFile refuses the whole file, and names the place.
	if _, err := ParseVarFile("f", []byte(in), nil); err == nil || !strings.HasPrefix(err.Error(), "f:2:") {
		t.Errorf("ParseVarFile error = %v", err)
	}
}

func TestReadVarFilesAndSourcing(t *testing.T) {
	dir := t.TempDir()
	env := filepath.Join(dir, "environment")
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("environment", "LANG=C.UTF-8\nFROMENV=$BASE/x\n")
	esmtpd := write("esmtpd", "##NAME: A:0\nBASE=/b\n. "+env+"\nPORT=smtp\nMAXDAEMONS=40\nACCESSFILE=${sysconfdir}/smtpaccess\n")
	msa := write("esmtpd-msa", "##NAME: PORT:1\nPORT=587\nX=$MAXDAEMONS\n")
	vf, err := ReadVarFiles([]string{esmtpd, msa}, predef)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"BASE=/b", "LANG=C.UTF-8", "FROMENV=/b/x", "PORT=587", "MAXDAEMONS=40", "ACCESSFILE=/etc/courier/smtpaccess", "X=40"}
	if got := vf.Environ(); !reflect.DeepEqual(got, want) {
		t.Errorf("Environ\n got %q\nwant %q", got, want)
	}
	if want := []string{esmtpd, env, msa}; !reflect.DeepEqual(vf.Files, want) {
		t.Errorf("Files = %q, want %q", vf.Files, want)
	}
	if len(vf.Sections) != 2 || vf.Sections[1].File != msa {
		t.Errorf("sections of both files expected, got %d", len(vf.Sections))
	}
	if o, _ := vf.Origin("LANG"); o.File != env || o.Line != 1 {
		t.Errorf("Origin(LANG) = %+v", o)
	}
	if o, _ := vf.Origin("PORT"); o.File != msa || o.Line != 2 {
		t.Errorf("Origin(PORT) = %+v", o)
	}

	// "source" is bash's name for ".", and the path may use variables.
	p0 := write("viasource", "DIR="+dir+"\nsource $DIR/environment\n")
	if vf, err := ReadVarFile(p0, nil); err != nil || vf.Value("LANG", "") != "C.UTF-8" {
		t.Errorf("source: %v", err)
	}

	// An error inside a sourced file names that file.
	write("bad", "OK=1\nfoo\n")
	p := write("top", ". "+filepath.Join(dir, "bad")+"\n")
	if _, err := ReadVarFile(p, nil); err == nil || err.Error() != filepath.Join(dir, "bad")+`:2: not an assignment: "foo" (a configuration file may only set variables: NAME=value)` {
		t.Errorf("error in sourced file: %v", err)
	}
	// A file sourcing itself stops.
	loop := filepath.Join(dir, "loop")
	write("loop", ". "+loop+"\n")
	if _, err := ReadVarFile(loop, nil); err == nil || !strings.Contains(err.Error(), "sourced more than 8 deep") {
		t.Errorf("self-sourcing file: %v", err)
	}
	// Sourcing something that is not a regular file is refused.
	p = write("dev", ". /dev/zero\n")
	if _, err := ReadVarFile(p, nil); err == nil || !strings.Contains(err.Error(), "cannot source /dev/zero: not a regular file") {
		t.Errorf("sourcing /dev/zero: %v", err)
	}
	// A missing file is fs.ErrNotExist.
	if _, err := ReadVarFile(filepath.Join(dir, "missing"), nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestGetters(t *testing.T) {
	vf, err := ParseVarFile("imapd", []byte("MAXDAEMONS=40\nBAD=4x\nEMPTY=\nT=1h30m\nBADT=soon\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := vf.Value("MAXDAEMONS", "1"); v != "40" {
		t.Errorf("Value = %q", v)
	}
	if v := vf.Value("NOPE", "dflt"); v != "dflt" {
		t.Errorf("Value(unset) = %q", v)
	}
	if _, ok := vf.Get("NOPE"); ok {
		t.Error("Get(unset) ok")
	}
	if n, err := vf.Int("MAXDAEMONS", 1); n != 40 || err != nil {
		t.Errorf("Int = %d, %v", n, err)
	}
	if n, err := vf.Int("EMPTY", 7); n != 7 || err != nil {
		t.Errorf("Int(empty) = %d, %v", n, err)
	}
	if _, err := vf.Int("BAD", 1); err == nil || err.Error() != `imapd:2: BAD="4x": is not a whole number` {
		t.Errorf("Int(bad) error = %v", err)
	}
	if d, err := vf.Duration("T", 0); d != 90*time.Minute || err != nil {
		t.Errorf("Duration = %v, %v", d, err)
	}
	if d, err := vf.Duration("NOPE", time.Second); d != time.Second || err != nil {
		t.Errorf("Duration(unset) = %v, %v", d, err)
	}
	if _, err := vf.Duration("BADT", 0); err == nil || !strings.HasPrefix(err.Error(), `imapd:5: BADT="soon": bad time interval`) {
		t.Errorf("Duration(bad) error = %v", err)
	}
}

func TestExpansionLimit(t *testing.T) {
	var b strings.Builder
	b.WriteString("A=xxxxxxxxxxxxxxxx\n")
	for range 40 {
		b.WriteString("A=$A$A\n")
	}
	_, err := ParseVarFile("f", []byte(b.String()), nil)
	if err == nil || !strings.Contains(err.Error(), "variable expansions produce more than") {
		t.Fatalf("doubling file: %v", err)
	}
}

func TestErrorFormat(t *testing.T) {
	if s := (&Error{File: "f", Line: 3, Reason: "r"}).Error(); s != "f:3: r" {
		t.Errorf("got %q", s)
	}
	if s := (&Error{File: "f", Reason: "r"}).Error(); s != "f: r" {
		t.Errorf("got %q", s)
	}
}

func BenchmarkParseImapd(b *testing.B) {
	data, err := os.ReadFile("/etc/courier/imapd")
	if err != nil {
		b.Skip("no /etc/courier/imapd: install the Debian package courier-imap")
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParseVarFile("imapd", data, nil); err != nil {
			b.Fatal(err)
		}
	}
}
