package wire

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

func TestParseSeqSet(t *testing.T) {
	for in, want := range map[string]string{
		"1":                     "1",
		"*":                     "*",
		"1:*":                   "1:*",
		"*:4":                   "4:*",
		"5:2":                   "2:5",
		"1,3:5,2":               "1:5",
		"7,1:3,9:*,*":           "1:3,7,9:*",
		"4294967295":            "4294967295",
		"1:4294967295":          "1:4294967295",
		"4294967295:*":          "4294967295:*",
		"10,9,8,7,6,5,4,3,2,1":  "1:10",
		"100:200,150:300,50:60": "50:60,100:300",
	} {
		s, err := ParseSeqSet(in)
		if err != nil || s.String() != want {
			t.Errorf("ParseSeqSet(%q) = %v, %v, want %s", in, s, err, want)
		}
		u, err := ParseUIDSet(in)
		if err != nil || u.String() != want {
			t.Errorf("ParseUIDSet(%q) = %v, %v, want %s", in, u, err, want)
		}
	}
	s, _ := ParseSeqSet("2:4,9:*")
	if !s.Contains(3) || s.Contains(5) || !s.Contains(100) || !s.Dynamic() {
		t.Errorf("Contains/Dynamic wrong for %v", s)
	}
	u, _ := ParseUIDSet("2:4")
	if nums, ok := u.Nums(); !ok || len(nums) != 3 || nums[0] != imap.UID(2) {
		t.Errorf("Nums = %v, %v", nums, ok)
	}
}

func TestParseSeqSetErrors(t *testing.T) {
	for in, want := range map[string]string{
		"":           "empty sequence set",
		"0":          `"0" is not a number from 1 to 4294967295`,
		"4294967296": `"4294967296" is not a number from 1 to 4294967295`,
		"01":         `"01" is not a number from 1 to 4294967295`,
		"1,":         "empty number",
		",1":         "empty number",
		"1:":         "empty number",
		"1:2:3":      `"2:3" is not a number`,
		"a":          `"a" is not a number`,
		"-1":         `"-1" is not a number`,
		"+1":         `"+1" is not a number`,
		"1 2":        `"1 2" is not a number`,
		"$,1":        `"$" is not a number`,
		"**":         `"**" is not a number`,
	} {
		_, err := ParseSeqSet(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSeqSet(%q) error %v, want %q", in, err, want)
		}
	}
	if _, err := ParseSeqSet("$"); !errors.Is(err, ErrSearchRes) {
		t.Errorf("$: %v", err)
	}
	if _, err := ParseUIDSet("$"); !errors.Is(err, ErrSearchRes) {
		t.Errorf("$: %v", err)
	}
}

func TestParseSeqSetManyRanges(t *testing.T) {
	// A whole command line of descending single numbers must not cost
	// quadratic time.
	var b strings.Builder
	for n := 40000; n > 0; n -= 2 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(n))
	}
	start := time.Now()
	s, err := ParseSeqSet(b.String())
	if err != nil || len(s) != 20000 {
		t.Fatalf("%d ranges, %v", len(s), err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
}

func FuzzParseSeqSet(f *testing.F) {
	for _, s := range []string{"1", "*", "1:*", "*:4", "1,3:5,2", "$", "4294967295:1", "0", "1,,2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseSeqSet(in)
		if err != nil {
			return
		}
		if len(s) == 0 {
			t.Fatalf("%q: empty set without error", in)
		}
		again, err := ParseSeqSet(s.String())
		if err != nil || again.String() != s.String() {
			t.Fatalf("%q: %q re-parsed as %q, %v", in, s.String(), again.String(), err)
		}
		for _, r := range s {
			if r.Start == 0 && r.Stop != 0 {
				t.Fatalf("%q: range %v starts at *", in, r)
			}
		}
	})
}
