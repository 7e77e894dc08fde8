package search

import (
	"fmt"
	"strings"
	"testing"
)

// threadMsgs builds the messages of TestThread: seq, header lines, and
// the minute (and second) of its Date: on 1-Jan-2024.
func threadMsgs(t *testing.T) []Message {
	specs := []struct {
		hdr  string
		date string
	}{
		{"Message-ID: <1@x>\nSubject: Thread A", "00:01:00"},
		{"Message-ID: <2@x>\nReferences: <1@x>\nSubject: Re: Thread A", "00:02:00"},
		{"Message-ID: <3@x>\nReferences: <1@x>\n <2@x>\nSubject: Re: Thread A", "00:03:00"},
		{"Message-ID: <4@x>\nIn-Reply-To: <1@x>\nSubject: Re: Thread A", "00:01:30"},
		{"Message-ID: <5@x>\nIn-Reply-To: Your message <missing@x>\nSubject: Lost", "00:05:00"},
		{"Message-ID: <6@x>\nReferences: <missing@x>\nSubject: Re: Lost", "00:06:00"},
		{"Message-ID: <7@x>\nSubject: Re: Topic B", "00:07:00"},
		{"Message-ID: <8@x>\nSubject: Topic B", "00:08:00"},
		{"Message-ID: <9@x>\nSubject: Same", "00:09:00"},
		{"Message-ID: <10@x>\nSubject: Same", "00:10:00"},
		{"Message-ID: <1@x>\nSubject: Dup", "00:11:00"},
		{"Message-ID: <12@x>\nReferences: <12@x>\nSubject: Self", "00:12:00"},
		{"Message-ID: <13@x>\nReferences: <14@x>\nSubject: Loop", "00:13:00"},
		{"Message-ID: <14@x>\nReferences: <13@x>\nSubject: Re: Loop", "00:14:00"},
	}
	var texts []string
	for _, s := range specs {
		texts = append(texts, fmt.Sprintf("From: a@x\n%s\nDate: Mon, 1 Jan 2024 %s +0000\n\nbody\n", s.hdr, s.date))
	}
	return writeMsgs(t, texts...)
}

func TestThreadReferences(t *testing.T) {
	msgs := threadMsgs(t)
	threads, err := Thread("REFERENCES", msgs)
	if err != nil {
		t.Fatal(err)
	}
	want := "(1 (4)(2 3))((5)(6))(8 7)((9)(10))(11)(12)(14 13)"
	if got := FormatThreads(threads, false); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	wantUID := "(101 (104)(102 103))((105)(106))(108 107)((109)(110))(111)(112)(114 113)"
	if got := FormatThreads(threads, true); got != wantUID {
		t.Errorf("got  %s\nwant %s", got, wantUID)
	}
	// Threading a subset: the missing parent of 2 and 4 becomes a dummy
	// kept at the top; 3 still hangs under 2.
	threads, err = Thread("references", []Message{msgs[3], msgs[1], msgs[2]})
	if err != nil {
		t.Fatal(err)
	}
	if got := FormatThreads(threads, false); got != "((4)(2 3))" {
		t.Errorf("subset: got %s", got)
	}
}

func TestThreadOrderedSubject(t *testing.T) {
	threads, err := Thread("ORDEREDSUBJECT", threadMsgs(t))
	if err != nil {
		t.Fatal(err)
	}
	want := "(1 4 2 3)(5 6)(7 8)(9 10)(11)(12)(13 14)" // Courier's chains
	if got := FormatThreads(threads, false); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if _, err := Thread("BOGUS", nil); err == nil || !strings.Contains(err.Error(), "BOGUS") {
		t.Errorf("unknown algorithm: %v", err)
	}
}

// TestFormatThreads checks the RFC 5256 §4 example.
func TestFormatThreads(t *testing.T) {
	n := func(seq uint32, children ...*ThreadNode) *ThreadNode {
		return &ThreadNode{Msg: &testMsg{seq: seq, uid: seq * 10}, Children: children}
	}
	threads := []*ThreadNode{
		n(2),
		n(3, n(6, n(4, n(23)), n(44, n(7, n(96))))),
		{Children: []*ThreadNode{n(8), n(9, n(10), n(11))}},
	}
	want := "(2)(3 6 (4 23)(44 7 96))((8)(9 (10)(11)))"
	if got := FormatThreads(threads, false); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := FormatThreads(threads[:1], true); got != "(20)" {
		t.Errorf("uid: got %s", got)
	}
	if got := FormatThreads(nil, false); got != "" {
		t.Errorf("empty: got %q", got)
	}
}

func TestMsgIDs(t *testing.T) {
	got := msgIDs("junk <a@b> <c\r\n @d> <> <x <y@z>")
	if strings.Join(got, ",") != "a@b,c@d,y@z" {
		t.Errorf("got %q", got)
	}
}
