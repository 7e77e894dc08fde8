package queue

import (
	"bytes"
	"testing"
)

// BenchmarkSubmit measures durable submissions (two files written and
// fsynced, three links, two directory fsyncs) of a 4 KiB message.
func BenchmarkSubmit(b *testing.B) {
	q := openTest(b, b.TempDir())
	env := testEnvelope("bench@example.test")
	data := bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n"), 64)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := q.Submit(env, bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkSubmitParallel is the same from several goroutines, as
// courieresmtpd sessions submit concurrently.
func BenchmarkSubmitParallel(b *testing.B) {
	q := openTest(b, b.TempDir())
	env := testEnvelope("bench@example.test")
	data := bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n"), 64)
	b.SetBytes(int64(len(data)))
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := q.Submit(env, bytes.NewReader(data)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkParseControl parses a control file of a message after a few
// delivery passes.
func BenchmarkParseControl(b *testing.B) {
	data := []byte(observedControl + "I3 R Message delivered.\nS3 1795319713 l\nI0 R Network is down\nD0 1795319713\nC1795319713\nA1795320013\n")
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParseControl("C", data); err != nil {
			b.Fatal(err)
		}
	}
}
