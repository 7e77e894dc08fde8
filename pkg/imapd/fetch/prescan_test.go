package fetch

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestScanMessageAsScan checks that ScanMessage finds what scan finds.
func TestScanMessageAsScan(t *testing.T) {
	cases := []string{
		"", "\n", "\r\n", "\n\nbody", "a: b\n\nbody\n", "a: b\r\n\r\nbody\r\n", "a: b\r\n\nx",
		"a: b\n\r\nx", "a: b\r\r\n\r\nx", "a: b", "a: b\r", "a: b\n c\n\n\n", "\r\r\n\n",
		"a: b\n" + strings.Repeat("x", 70000) + "\n\nbody",
		strings.Repeat("h: v\n", 20000) + "\nbody",
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		var b []byte
		for range r.IntN(40) {
			b = append(b, "ab:\r\n "[r.IntN(6)])
		}
		cases = append(cases, string(b))
	}
	for _, c := range cases {
		sc, err := scan(strings.NewReader(c), true)
		if err != nil {
			t.Fatal(err)
		}
		p, err := ScanMessage(strings.NewReader(c), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if p == nil {
			if int64(len(sc.header)) == sc.headerEnd && len(sc.header) <= 1<<20 {
				t.Errorf("%q: no prescan", c)
			}
			continue
		}
		if p.Size != sc.total || !bytes.Equal(p.Header, sc.header) || int64(len(p.Header)) != sc.headerEnd {
			t.Errorf("%q: prescan %d %q, scan %d %q (end %d)", c, p.Size, p.Header, sc.total, sc.header, sc.headerEnd)
		}
	}
}

// TestAppendCRLFAsReader checks that appendCRLF converts as crlfReader
// does.
func TestAppendCRLFAsReader(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	cases := []string{"", "\n", "\r", "\r\n", "\n\n", "\r\r\n", "a\nb\r\nc\rd\n", "\n\r\n\r"}
	for range 2000 {
		var b []byte
		for range r.IntN(40) {
			b = append(b, "a\r\n"[r.IntN(3)])
		}
		cases = append(cases, string(b))
	}
	for _, c := range cases {
		var want bytes.Buffer
		if _, err := want.ReadFrom(newCRLFReader(strings.NewReader(c))); err != nil {
			t.Fatal(err)
		}
		if got := appendCRLF([]byte("x"), []byte(c)); string(got) != "x"+want.String() {
			t.Errorf("%q: got %q, want %q", c, got[1:], want.Bytes())
		}
	}
}
