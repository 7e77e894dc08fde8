package maildir

import (
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
