package mailbox

import (
	"bytes"
	"cmp"
	"slices"
	"strings"
	"testing"
)

// FuzzParseModSeq checks the courierimapmodseq parser: an error naming
// the file and line, or a store that is written back to the same bytes.
func FuzzParseModSeq(f *testing.F) {
	f.Add([]byte("courierimapmodseq 1 795317723 1795317723000005 1795317723000000\n1 1795317723000000 00000000000000ff\n3 1795317723000005 0123456789abcdef\nx 2 1795317723000004\n"))
	f.Add([]byte("courierimapmodseq 1 1 1 0\n"))
	f.Add([]byte("courierimapmodseq 1 1 5 0\nx 1 3\n2 4 0000000000000000\n"))
	f.Add([]byte("courierimapmodseq 2 1 1 0\n"))
	f.Add([]byte("courierimapmodseq 2 7 100 50 0f1e2d3c-aaaa-bbbb-cccc-0123456789ab\n1 90 0000000000000001\nx 2 95\n"))
	f.Add([]byte("courierimapmodseq 2 7 100 50 X\n"))
	f.Add([]byte("courierimapmodseq 2 7 100 50 0f1e2d3c-aaaa-bbbb-cccc-0123456789ab\n1 90 0000000000000001\n2 95 0000000000000002\n= 1 101 0000000000000003\n- 2 102\n= 3 102 00000000000000ff\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		db, err := parseModSeq("courierimapmodseq", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "courierimapmodseq:") {
				t.Fatalf("error without file:line: %v", err)
			}
			return
		}
		out := db.format(nil)
		again, err := parseModSeq("courierimapmodseq", out)
		if err != nil {
			t.Fatalf("written store does not parse: %v\n%s", err, out)
		}
		if !bytes.Equal(again.format(nil), out) {
			t.Fatalf("store changes when written twice:\n%s\n%s", out, again.format(nil))
		}
		// The order of a state's entries gives the same bytes; an order
		// that lacks a message or has another is not used.
		var order []*entry
		for uid := range db.Msgs {
			order = append(order, &entry{uid: uid})
		}
		slices.SortFunc(order, func(a, b *entry) int { return cmp.Compare(a.uid, b.uid) })
		if !bytes.Equal(db.format(order), out) {
			t.Fatalf("format with the order differs:\n%s\n%s", out, db.format(order))
		}
		if len(order) > 0 {
			order[len(order)-1] = &entry{uid: 0}
			if !bytes.Equal(db.format(order), out) || !bytes.Equal(db.format(order[1:]), out) {
				t.Fatalf("format used a wrong order")
			}
		}
		for _, m := range db.Msgs {
			if m.ModSeq == 0 || m.ModSeq > db.Highest {
				t.Fatalf("modseq %d outside 1..%d", m.ModSeq, db.Highest)
			}
		}
	})
}

// FuzzParseSubscriptions checks the courierimapsubscribed parser: every
// name returned is a line of the file without control characters.
func FuzzParseSubscriptions(f *testing.F) {
	f.Add([]byte("INBOX.Sent\nINBOX.Café\n"))
	f.Add([]byte("INBOX.x\n\n\xff\n"))
	f.Add([]byte("no newline"))
	f.Fuzz(func(t *testing.T, data []byte) {
		names, err := ParseSubscriptions("courierimapsubscribed", data)
		if err != nil && !strings.HasPrefix(err.Error(), "courierimapsubscribed:") {
			t.Fatalf("error without file:line: %v", err)
		}
		lines := map[string]bool{}
		for _, l := range strings.Split(string(data), "\n") {
			lines[l] = true
		}
		for _, n := range names {
			if n == "" || !lines[n] || strings.ContainsAny(n, "\x00\r\n") {
				t.Fatalf("bad name %q from %q", n, data)
			}
		}
	})
}
