package search

import (
	"slices"
	"strings"
	"testing"
)

func TestBaseSubject(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"foo", "foo"},
		{"Re: foo", "foo"},
		{"RE:   Re:  FOO  ", "foo"},
		{"Fwd: foo", "foo"},
		{"fw: foo", "foo"},
		{"Re : foo", "foo"},
		{"Fw [list]: foo", "foo"},
		{"[list] Re: foo", "foo"},
		{"[list] foo", "foo"},
		{"[a][b] foo", "foo"},
		{"[list]", "[list]"},
		{"Re: [list]", "[list]"},
		{"foo (fwd)", "foo"},
		{"foo (fwd) (FWD)  ", "foo"},
		{"[fwd: foo]", "foo"},
		{"[Fwd: Re: foo (fwd)]", "foo"},
		{"Re: [fwd: [list] foo]", "foo"},
		{"[fwd: foo] (fwd)", "foo"},
		{"Re:", ""},
		{"re: re: ", ""},
		{"\t foo \t\r\n bar ", "foo bar"},
		{"reply", "reply"},
		{"Refwd: foo", "refwd: foo"},
		{"[unclosed foo", "[unclosed foo"},
		{"=?UTF-8?Q?Re:_Caf=C3=A9?=", casemap("café")},
		{"Re: =?ISO-8859-1?Q?=C4pfel?= (fwd)", casemap("äpfel")},
		{"Straße", "strasse"},
	}
	for _, tt := range tests {
		if got := BaseSubject(tt.in); got != tt.want {
			t.Errorf("BaseSubject(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for in, want := range map[string]bool{"foo": false, "Re: foo": true, "foo (fwd)": true, "[fwd: foo]": true, "[x] foo": false} {
		if _, reply := baseSubject(in); reply != want {
			t.Errorf("baseSubject(%q) reply = %v", in, reply)
		}
	}
}

var sortMsgs = []string{
	`From: "Zed" <alice@x.example>
To: bob@x.example
Subject: Re: banana
Date: Wed, 3 Jan 2024 10:00:00 +0000

` + strings.Repeat("padding ", 40) + `
`,
	`From: Alice <zed@x.example>
To: "Aaron" <carl@x.example>
Cc: dan@x.example
Subject: apple

`,
	`From: <Mike@x.example>
To: amy@x.example
Cc: Bea <bea@x.example>, dan@x.example
Subject: [list] Cherry (fwd)
Date: Tue, 2 Jan 2024 09:00:00 +1400

` + strings.Repeat("padding ", 10) + `
`,
	`From: Alice <zed@x.example>
To: "Aaron" <carl@x.example>
Cc: dan@x.example
Subject: apple

`,
}

// TestSort: ties come in descending sequence number order and messages
// without a Date: sort first, as in Courier's imapd (see Sort).
func TestSort(t *testing.T) {
	msgs := writeMsgs(t, sortMsgs...)
	tests := []struct {
		in   string
		want []uint32
	}{
		{"(ARRIVAL)", []uint32{1, 2, 3, 4}},
		{"(REVERSE ARRIVAL)", []uint32{4, 3, 2, 1}},
		{"(FROM)", []uint32{1, 3, 4, 2}},
		{"(REVERSE FROM)", []uint32{4, 2, 3, 1}},
		{"(DISPLAYFROM)", []uint32{4, 2, 3, 1}},
		{"(TO)", []uint32{3, 1, 4, 2}},
		{"(DISPLAYTO)", []uint32{4, 2, 3, 1}},
		{"(CC)", []uint32{1, 3, 4, 2}},
		{"(SUBJECT)", []uint32{4, 2, 1, 3}},
		{"(REVERSE SUBJECT)", []uint32{3, 1, 4, 2}},
		{"(DATE)", []uint32{4, 2, 3, 1}},
		{"(SIZE)", []uint32{4, 2, 3, 1}},
		{"(SUBJECT REVERSE ARRIVAL)", []uint32{4, 2, 1, 3}},
	}
	for _, tt := range tests {
		crit, err := ParseSort(tokenize(tt.in))
		if err != nil {
			t.Fatal(err)
		}
		got, err := Sort(crit, msgs)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(nums(got), tt.want) {
			t.Errorf("%s: got %v, want %v", tt.in, nums(got), tt.want)
		}
	}
}

func TestSortWithoutHeaderDoesNotOpen(t *testing.T) {
	msgs := writeMsgs(t, sortMsgs...)
	opens := 0
	for _, m := range msgs {
		m.(*testMsg).opens = &opens
	}
	if _, err := Sort([]SortCriterion{{Key: SortSize}, {Key: SortArrival}}, msgs); err != nil {
		t.Fatal(err)
	}
	if opens != 0 {
		t.Errorf("opened %d messages", opens)
	}
}
