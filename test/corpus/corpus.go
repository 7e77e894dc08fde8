// Package corpus makes the messages of the IMAP benchmarks, so that
// bench/imapbench (against the real servers) and pkg/imapd's Go benchmarks
// measure the same work: eight subjects in turn, 50 senders, a body of
// about 1.5 KB, and the word "xylophone" in every hundredth message (from
// the eighth on) for the body SEARCH.
package corpus

import (
	"fmt"
	"strings"
)

var words = []string{"invoice", "meeting", "report", "holiday", "budget", "release", "party", "lunch"}

// Message is the i-th benchmark message, with LF line ends.
func Message(i int) []byte {
	w := words[i%len(words)]
	body := fmt.Sprintf("Hello,\n\nthis is message %d about the %s.\n%s", i, w, strings.Repeat("Some filler text for the body of the message.\n", 30))
	if i%100 == 7 {
		body += "The secret word is xylophone.\n"
	}
	return fmt.Appendf(nil, "From: Sender %d <sender%d@example.test>\nTo: imapbench@example.test\nSubject: %s number %d\nDate: Mon, 2 Nov 2026 10:00:00 +0000\nMessage-ID: <bench%d@example.test>\n\n%s", i%50, i%50, w, i, i, body)
}
