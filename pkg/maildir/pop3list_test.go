package maildir

import (
	"bytes"
	"errors"
	"testing"
)

// Observed in a Debian courier-pop 1.0.16 maildir (spec imap-pop3.md §4).
const realPOP3List = "/3 3 1795317730\n" +
	"1795317716.M211586P3676V0000000000000803I00000000000A1B2C.vm,S=41:2,S 46 1:1795317730:0\n" +
	"1795317716.M213180P3678V0000000000000803I00000000000A1B2D.vm,S=19:2, 22 2:1795317730:0\n"

func TestPOP3List(t *testing.T) {
	l, skipped, err := ParsePOP3List("f", []byte(realPOP3List))
	if err != nil || len(skipped) > 0 {
		t.Fatal(err, skipped)
	}
	if l.NextUID != 3 || l.UIDValidity != 1795317730 || len(l.Entries) != 2 || l.Entries[0].Size != 46 || l.Entries[1].UIDL() != "UID2-1795317730" {
		t.Fatalf("%+v", l)
	}
	if got := l.Format(); !bytes.Equal(got, []byte(realPOP3List)) {
		t.Fatalf("Format:\n%s", got)
	}
	// Version 2 (no UTF-8 field) reads; it is written as 3.
	l, _, err = ParsePOP3List("f", []byte("/2 2 5\nname:2,S 10 1:5\n"))
	if err != nil || l.Version != 2 || len(l.Entries) != 1 || l.Entries[0].UTF8 {
		t.Fatalf("%+v %v", l, err)
	}
	// Bad lines are skipped and reported with their line numbers.
	l, skipped, err = ParsePOP3List("f", []byte("/3 9 5\nbad\nok 1 2:5:1\nx -1 3:5:0\nname 1 2:5:7\ntrunc 1 1:1:0"))
	if err != nil || len(l.Entries) != 1 || !l.Entries[0].UTF8 || len(skipped) != 4 {
		t.Fatalf("%+v %v %v", l, skipped, err)
	}
	var pe *ParseError
	if !errors.As(skipped[0], &pe) || pe.Line != 2 {
		t.Fatalf("%v", skipped[0])
	}
	for _, bad := range []string{"", "3 1 1\n", "/4 1 1\n", "/3 x 1\n", "/3 1\n"} {
		if _, _, err := ParsePOP3List("f", []byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func FuzzParsePOP3List(f *testing.F) {
	f.Add([]byte(realPOP3List))
	f.Add([]byte("/2 2 5\nname:2,S 10 1:5\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, _, err := ParsePOP3List("f", data)
		if err != nil {
			return
		}
		again, skipped, err := ParsePOP3List("f", l.Format())
		if err != nil || len(skipped) > 0 || len(again.Entries) != len(l.Entries) {
			t.Fatalf("a formatted list does not read back: %v %v", err, skipped)
		}
	})
}
