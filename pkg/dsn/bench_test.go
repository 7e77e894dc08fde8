package dsn

import (
	"strings"
	"testing"
)

// BenchmarkBuild measures building a failure report with three recipients
// about a 4 KiB message (returned whole) and about a 1 MiB one (scanned for
// the boundary, headers returned).
func BenchmarkBuild(b *testing.B) {
	c := parseControl(b, caseByName(b, "mixed failed relayed delivered").ctl...)
	s := ourSettings(b)
	for _, size := range []struct {
		name  string
		bytes int
	}{{"4KiB", 4 << 10}, {"1MiB", 1 << 20}} {
		data := "From: carol@example.org\nSubject: bench\n\n" + strings.Repeat(strings.Repeat("x", 71)+"\n", size.bytes/72)
		b.Run(size.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if r := build(b, c, data, arrival, Final, s); r == nil {
					b.Fatal("no report")
				}
			}
		})
	}
}
