package address

import (
	"fmt"
	"strings"
	"testing"
)

// Pathological inputs of a quarter megabyte: each parser must finish them in
// linear time (the benchmarks below print the figures) and say what is
// wrong, or accept them.
func TestLongInputs(t *testing.T) {
	const n = 1 << 18
	inputs := map[string]string{
		"nested comments":   strings.Repeat("(", n/2) + strings.Repeat(")", n/2) + "a@b",
		"unclosed comments": strings.Repeat("(", n),
		"many addresses":    strings.Repeat("a@b.example, ", n/13),
		"empty elements":    strings.Repeat(",", n) + "a@b",
		"long phrase":       strings.Repeat("word ", n/5) + "<a@b>",
		"phrase no address": strings.Repeat("word ", n/5),
		"dots":              strings.Repeat("a.", n/2) + "a@b",
		"quoted":            `"` + strings.Repeat(`\"`, n/2) + `"@b`,
		"folds":             "a@b" + strings.Repeat("\r\n ", n/3),
		"group members":     "g:" + strings.Repeat("a@b,", n/4) + ";",
		"domain labels":     "a@" + strings.Repeat("b.", n/2) + "c",
	}
	for name, in := range inputs {
		_, err := ParseHeaderList(in)
		if err != nil && len(err.Error()) > 300 {
			t.Errorf("%s: error message is %d bytes long", name, len(err.Error()))
		}
		_, _, _ = ParseMailFrom("<a@b> " + in)
		_, _, _ = ParseRcptTo("<"+in+">", true)
		_, _ = ParseDomain(in)
		_, _ = XtextDecode(in)
	}
	if _, _, err := ParseMailFrom("<a@b> " + strings.Repeat("X=1 ", n/4)); err == nil || !strings.Contains(err.Error(), "parameter X given twice") {
		t.Errorf("repeated parameters: %v", err)
	}
	many := make([]string, 0, n/8)
	for i := 0; i < n/8; i++ {
		many = append(many, fmt.Sprintf("P%d=1", i))
	}
	if _, err := ParseMailParams(strings.Join(many, " ")); err != nil {
		t.Errorf("many parameters: %v", err)
	}
}

func BenchmarkParseForwardPath(b *testing.B) {
	for b.Loop() {
		if _, err := ParseForwardPath("<some.user+tag@mail.example.com>", false); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseForwardPathIDN(b *testing.B) {
	for b.Loop() {
		if _, err := ParseForwardPath("<jörg@bücher.example>", true); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseRcptTo(b *testing.B) {
	for b.Loop() {
		if _, _, err := ParseRcptTo("<user1@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;user1@example.test", false); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseHeaderList(b *testing.B) {
	const h = `"Joe Q. Public" <john.q.public@example.com>, Mary Smith <mary@x.test>, jdoe@example.org (John), A Group:Ed <c@a.test>;`
	b.SetBytes(int64(len(h)))
	for b.Loop() {
		if _, err := ParseHeaderList(h); err != nil {
			b.Fatal(err)
		}
	}
}

// The same list at growing sizes: time per byte stays flat if parsing is
// linear.
func BenchmarkParseHeaderListSize(b *testing.B) {
	for _, n := range []int{10, 1000, 100000} {
		h := strings.Repeat("Some Name <some.user@example.com>, ", n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.SetBytes(int64(len(h)))
			for b.Loop() {
				if _, err := ParseHeaderList(h); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAddDefaultDomain(b *testing.B) {
	d, _ := ParseDomain("example.test")
	const h = `joe, Ann <ann>, "x y", bob@example.org`
	for b.Loop() {
		if _, err := AddDefaultDomain(h, d); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkResolve(b *testing.B) {
	locals, _ := ParseDomainList([]string{"localhost", "vm", "example.test"}, "vm")
	hosted, _ := NewDomainDB(map[string]string{"hosted.example": "1"}, "vm")
	r := &Rules{Locals: locals, Hosted: hosted, Separators: "+"}
	a := Address{Local: "user-foo-bar", Domain: Domain{ascii: "hosted.example", unicode: "hosted.example"}}
	for b.Loop() {
		if _, ok := r.Resolve(a); !ok {
			b.Fatal("not local")
		}
	}
}

// A locals file with many lines is scanned line by line, as Courier does;
// big sites put their domains in the databases instead.
func BenchmarkDomainListContains(b *testing.B) {
	lines := make([]string, 1000)
	for i := range lines {
		lines[i] = fmt.Sprintf("domain%d.example", i)
	}
	l, err := ParseDomainList(lines, "")
	if err != nil {
		b.Fatal(err)
	}
	d, _ := ParseDomain("other.example")
	for b.Loop() {
		if l.Contains(d) {
			b.Fatal("found")
		}
	}
}
