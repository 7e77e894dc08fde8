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
	cases = append(cases, randomStrings(1, "ab:\r\n ")...)
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
	cases := []string{"", "\n", "\r", "\r\n", "\n\n", "\r\r\n", "a\nb\r\nc\rd\n", "\n\r\n\r"}
	cases = append(cases, randomStrings(5, "a\r\n")...)
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

// randomStrings is 2000 strings of up to 39 bytes drawn from alphabet, the
// same for the same seed.
func randomStrings(seed uint64, alphabet string) []string {
	r := rand.New(rand.NewPCG(seed, seed+1))
	out := make([]string, 2000)
	for i := range out {
		b := make([]byte, r.IntN(40))
		for j := range b {
			b[j] = alphabet[r.IntN(len(alphabet))]
		}
		out[i] = string(b)
	}
	return out
}
