package aliases

import (
	"path/filepath"
	"strings"
	"testing"
)

// benchSource is n aliases of ten addresses each, every tenth alias also
// listing the one before it.
func benchSource(n int) []byte {
	var b strings.Builder
	for i := range n {
		b.WriteString("alias" + itoa(i) + ":")
		for j := range 10 {
			b.WriteString(" user" + itoa(i*10+j) + "@example.org,")
		}
		if i%10 == 9 {
			b.WriteString(" alias" + itoa(i-1))
		}
		b.WriteString("\n")
	}
	return []byte(b.String())
}

func BenchmarkParse10k(b *testing.B) {
	src := []Source{{"aliases", benchSource(10000)}}
	b.SetBytes(int64(len(src[0].Data)))
	for b.Loop() {
		if _, err := Parse(src, testConfig()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteDB10k(b *testing.B) {
	tab, err := Parse([]Source{{"aliases", benchSource(10000)}}, testConfig())
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "aliases.dat")
	for b.Loop() {
		if err := tab.WriteDB(path, 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkExpand(b *testing.B) {
	tab, err := Parse([]Source{{"aliases", benchSource(10000)}}, testConfig())
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	if err := tab.WriteDB(filepath.Join(dir, "aliases.dat"), 0o644); err != nil {
		b.Fatal(err)
	}
	s, err := OpenSearcher(dir, "", "example.test", "example.test", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for b.Loop() {
		if m, ok, err := s.Expand("alias5009"); err != nil || !ok || len(m) != 20 {
			b.Fatal(m, ok, err)
		}
	}
}
