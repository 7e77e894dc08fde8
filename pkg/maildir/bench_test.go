package maildir

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkDeliver measures deliveries per second of a 4 KiB message,
// including both fsyncs; "quota" adds the maildirsize check and append.
func BenchmarkDeliver(b *testing.B) {
	msg := "Subject: bench\n\n" + strings.Repeat("0123456789abcdef\n", 240)
	for _, tc := range []struct {
		name  string
		quota bool
	}{{"plain", false}, {"quota", true}} {
		b.Run(tc.name, func(b *testing.B) {
			d := newMaildir(b)
			if tc.quota {
				if err := SetQuota(d.Path, QuotaSpec{Bytes: 1 << 40}); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(msg)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := d.Deliver(strings.NewReader(msg), DeliverOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}

// BenchmarkDeliverParallel is the same with one goroutine per CPU into one
// maildir, the case of a busy mailbox.
func BenchmarkDeliverParallel(b *testing.B) {
	msg := "Subject: bench\n\n" + strings.Repeat("0123456789abcdef\n", 240)
	d := newMaildir(b)
	if err := SetQuota(d.Path, QuotaSpec{Bytes: 1 << 40}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := d.Deliver(strings.NewReader(msg), DeliverOptions{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
}

// BenchmarkSetFlags1000 gives 1,000 messages of a 10,000-message cur/ a
// flag and takes it away again, as IMAP STORE does: "batch" with
// SetFlagsBatch, "each" with one SetFlags a message.
func BenchmarkSetFlags1000(b *testing.B) {
	for _, batch := range []bool{true, false} {
		name := "each"
		if batch {
			name = "batch"
		}
		b.Run(name, func(b *testing.B) {
			d := newMaildir(b)
			files := make([]string, 10000)
			for i := range files {
				files[i] = fmt.Sprintf("%d.M%06dP1.bench,S=%d:2,", 1700000000+i, i, 100)
				if err := os.WriteFile(filepath.Join(d.Path, "cur", files[i]), nil, 0o600); err != nil {
					b.Fatal(err)
				}
			}
			files = files[:1000]
			flags := make([]Flags, len(files))
			i := 0
			for b.Loop() {
				for j := range flags {
					flags[j] = Flags([]string{"F", ""}[i%2])
				}
				var err error
				if batch {
					files, err = d.SetFlagsBatch(files, flags, nil)
				} else {
					for j, f := range files {
						if files[j], err = d.SetFlags(f, flags[j]); err != nil {
							break
						}
					}
				}
				if err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
