package aliases

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseAliases feeds arbitrary alias files to Parse: it must never
// panic or hang, every error must name the file and a line, and an
// accepted table must dump and lay out records that read back the same.
func FuzzParseAliases(f *testing.F) {
	for _, s := range []string{
		"root: postmaster\npostmaster:\n",
		"a: b,\n  c\n# x\n@virt: j\n",
		"a: Joe <j@x>, (c) k; g: h, \"q\"@x\n",
		"b: | cmd\nc: /x\nl1: l2\nl2: l1, y\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if strings.Contains(string(data), ":include:") {
			// Would read files of this machine; TestInclude covers it.
			return
		}
		tab, err := Parse([]Source{{"src", data}}, testConfig())
		if err != nil {
			if !strings.HasPrefix(err.Error(), "src:") && !strings.HasPrefix(err.Error(), "/") {
				t.Fatalf("error without a place: %v", err)
			}
			return
		}
		var b strings.Builder
		if err := tab.Dump(&b); err != nil {
			t.Fatal(err)
		}
		got := map[string][]string{}
		for _, r := range tab.Records() {
			name, _, _ := strings.Cut(r[0], "\n")
			got[name] = append(got[name], joinLines([]string{r[1]})...)
		}
		for _, n := range tab.Names() {
			m := tab.Members(n)
			if len(m) == 0 {
				t.Fatalf("alias %q without members", n)
			}
			if strings.Join(got[n], "\n") != strings.Join(m, "\n") {
				t.Fatalf("records of %q: %q, members %q", n, got[n], m)
			}
			if utf8.ValidString(string(data)) && strings.ContainsAny(n, "\n") {
				t.Fatalf("alias name with a newline: %q", n)
			}
		}
	})
}
