package submit

import (
	"strings"
	"testing"
)

// BenchmarkSubmit queues a 2 KB message to five recipients (one of them an
// alias of two addresses) through the whole path: header reading and
// completion, canonical recipients, alias lookups, data, fsyncs and links.
func BenchmarkSubmit(b *testing.B) {
	s, _ := newTestSubmitter(b, nil)
	msg := "From: someone@example.test\nTo: user1, user2\nSubject: benchmark\n\n" + strings.Repeat("a line of body text, about sixty characters long......\n", 36)
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	for b.Loop() {
		m := localMessage("user1", "user2@example.test", "r1@remote.example", "r2@remote.example", "list")
		if _, err := s.Submit(m, strings.NewReader(msg)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
