package queue

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzParseControl: any input either parses into a consistent Control or is
// rejected with a ParseError naming a line of the input; it never panics.
// A parsed file with one more appended deferral parses the same way.
func FuzzParseControl(f *testing.F) {
	f.Add([]byte(observedControl))
	f.Add([]byte(observedControl + "I0 R Network is down\nD0 1795319713\nC1795319713\nA1795320013\n"))
	f.Add([]byte("s\nra\nNX\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseControl("C1", data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a ParseError", err)
			}
			if pe.Line < 1 || pe.Line > bytes.Count(data, []byte("\n"))+2 {
				t.Fatalf("error line %d outside the input (%d lines)", pe.Line, bytes.Count(data, []byte("\n")))
			}
			return
		}
		if len(c.Recipients) == 0 {
			t.Fatalf("parsed without recipients: %+v", c)
		}
		if id, err := ParseQueueID(c.ID.String()); err != nil || id != c.ID {
			t.Fatalf("queue id %v does not round-trip: %v", c.ID, err)
		}
		c2, err := ParseControl("C1", append(append([]byte{}, data...), "D0 5\n"...))
		if err != nil {
			t.Fatalf("appending a valid record broke parsing: %v", err)
		}
		if len(c2.Recipients) != len(c.Recipients) || c2.Sender != c.Sender || c2.ID != c.ID {
			t.Fatal("appending a record changed the envelope")
		}
		if !c.Recipients[0].Status.Done() && c2.Recipients[0].Status != StatusDeferred {
			t.Fatalf("D0 did not defer recipient 0: %v", c2.Recipients[0].Status)
		}
	})
}
