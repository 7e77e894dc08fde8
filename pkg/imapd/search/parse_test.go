package search

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/gocourier/courier/pkg/imapd/wire"
)

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func TestParseCriteria(t *testing.T) {
	hdr := func(k, v string) []imap.SearchCriteriaHeaderField {
		return []imap.SearchCriteriaHeaderField{{Key: k, Value: v}}
	}
	tests := []struct {
		in      string
		want    imap.SearchCriteria
		charset string
	}{
		{in: "ALL", want: imap.SearchCriteria{}},
		{in: "all", want: imap.SearchCriteria{}},
		{in: "ANSWERED DELETED DRAFT FLAGGED SEEN RECENT", want: imap.SearchCriteria{Flag: []imap.Flag{
			imap.FlagAnswered, imap.FlagDeleted, imap.FlagDraft, imap.FlagFlagged, imap.FlagSeen, flagRecent}}},
		{in: "UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNSEEN UNRECENT", want: imap.SearchCriteria{NotFlag: []imap.Flag{
			imap.FlagAnswered, imap.FlagDeleted, imap.FlagDraft, imap.FlagFlagged, imap.FlagSeen, flagRecent}}},
		{in: "NEW", want: imap.SearchCriteria{Flag: []imap.Flag{flagRecent}, NotFlag: []imap.Flag{imap.FlagSeen}}},
		{in: "OLD", want: imap.SearchCriteria{NotFlag: []imap.Flag{flagRecent}}},
		{in: "KEYWORD $Junk UNKEYWORD work", want: imap.SearchCriteria{Flag: []imap.Flag{"$Junk"}, NotFlag: []imap.Flag{"work"}}},
		{in: `FROM joe`, want: imap.SearchCriteria{Header: hdr("From", "joe")}},
		{in: `to "a b"`, want: imap.SearchCriteria{Header: hdr("To", "a b")}},
		{in: `CC x`, want: imap.SearchCriteria{Header: hdr("Cc", "x")}},
		{in: `BCC x`, want: imap.SearchCriteria{Header: hdr("Bcc", "x")}},
		{in: `SUBJECT NIL`, want: imap.SearchCriteria{Header: hdr("Subject", "NIL")}},
		{in: `HEADER X-Spam ""`, want: imap.SearchCriteria{Header: hdr("X-Spam", "")}},
		{in: `BODY hello TEXT "wor ld"`, want: imap.SearchCriteria{Body: []string{"hello"}, Text: []string{"wor ld"}}},
		{in: "SINCE 1-Feb-2024 BEFORE 10-mar-2024", want: imap.SearchCriteria{Since: date(2024, 2, 1), Before: date(2024, 3, 10)}},
		{in: `ON "29-Feb-2024"`, want: imap.SearchCriteria{Since: date(2024, 2, 29), Before: date(2024, 3, 1)}},
		{in: "SENTSINCE 1-Jan-2020 SENTBEFORE 2-Jan-2020", want: imap.SearchCriteria{SentSince: date(2020, 1, 1), SentBefore: date(2020, 1, 2)}},
		{in: "SENTON 31-Dec-1999", want: imap.SearchCriteria{SentSince: date(1999, 12, 31), SentBefore: date(2000, 1, 1)}},
		{in: "SINCE 1-Jan-2020 SINCE 5-Jan-2020 BEFORE 9-Jan-2020 BEFORE 7-Jan-2020",
			want: imap.SearchCriteria{Since: date(2020, 1, 5), Before: date(2020, 1, 7)}},
		{in: "LARGER 100 SMALLER 2000 SMALLER 1000 LARGER 50", want: imap.SearchCriteria{Larger: 100, Smaller: 1000}},
		{in: "SMALLER 0", want: imap.SearchCriteria{Not: []imap.SearchCriteria{{}}}},
		{in: "1:3,5,7:*", want: imap.SearchCriteria{SeqNum: []imap.SeqSet{{{Start: 1, Stop: 3}, {Start: 5, Stop: 5}, {Start: 7, Stop: 0}}}}},
		{in: "*", want: imap.SearchCriteria{SeqNum: []imap.SeqSet{{{Start: 0, Stop: 0}}}}},
		{in: "UID 4:2", want: imap.SearchCriteria{UID: []imap.UIDSet{{{Start: 2, Stop: 4}}}}},
		{in: "UID $", want: imap.SearchCriteria{UID: []imap.UIDSet{imap.SearchRes()}}},
		{in: "$", want: imap.SearchCriteria{UID: []imap.UIDSet{imap.SearchRes()}}},
		{in: "NOT SEEN", want: imap.SearchCriteria{Not: []imap.SearchCriteria{{Flag: []imap.Flag{imap.FlagSeen}}}}},
		{in: "NOT (SEEN FROM x)", want: imap.SearchCriteria{Not: []imap.SearchCriteria{{Flag: []imap.Flag{imap.FlagSeen}, Header: hdr("From", "x")}}}},
		{in: "OR SEEN (DELETED NOT DRAFT)", want: imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{
			{Flag: []imap.Flag{imap.FlagSeen}},
			{Flag: []imap.Flag{imap.FlagDeleted}, Not: []imap.SearchCriteria{{Flag: []imap.Flag{imap.FlagDraft}}}},
		}}}},
		{in: "OR OR SEEN DRAFT DELETED", want: imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{
			{Or: [][2]imap.SearchCriteria{{{Flag: []imap.Flag{imap.FlagSeen}}, {Flag: []imap.Flag{imap.FlagDraft}}}}},
			{Flag: []imap.Flag{imap.FlagDeleted}},
		}}}},
		{in: "(SEEN (SMALLER 10)) LARGER 5", want: imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}, Smaller: 10, Larger: 5}},
		{in: "MODSEQ 620162338", want: imap.SearchCriteria{ModSeq: &imap.SearchCriteriaModSeq{ModSeq: 620162338}}},
		{in: `MODSEQ "/flags/\\draft" all 620162338`, want: imap.SearchCriteria{ModSeq: &imap.SearchCriteriaModSeq{
			ModSeq: 620162338, MetadataName: `/flags/\draft`, MetadataType: imap.SearchCriteriaMetadataAll}}},
		{in: "CHARSET UTF-8 SEEN", charset: "UTF-8", want: imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}}},
		{in: `CHARSET "us-ascii" ALL`, charset: "US-ASCII", want: imap.SearchCriteria{}},
	}
	for _, tt := range tests {
		c, cs, err := ParseCriteria(tokenize(tt.in), false)
		if err != nil {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(*c, tt.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.in, *c, tt.want)
		}
		if cs != tt.charset {
			t.Errorf("%s: charset %q, want %q", tt.in, cs, tt.charset)
		}
	}
}

func TestParseCriteriaListForString(t *testing.T) {
	_, _, err := ParseCriteria([]wire.Token{{Kind: wire.Atom, Text: "FROM"}, {Kind: wire.List}}, false)
	if err == nil || !strings.Contains(err.Error(), "FROM") {
		t.Errorf("got %v", err)
	}
}

func TestParseCriteriaErrors(t *testing.T) {
	tests := []struct{ in, err string }{
		{"", "missing search key"},
		{"FOO", `unknown search key "FOO"`},
		{"FROM", "missing argument to FROM"},
		{"HEADER X", "missing argument to HEADER"},
		{`HEADER "a:b" c`, "invalid header field name"},
		{"SINCE 1-Foo-2020", `invalid month "Foo"`},
		{"SINCE 31-Feb-2020", "invalid day 31"},
		{"SINCE 2020-01-01", "want d-Mon-yyyy"},
		{"SINCE 001-Jan-2020", "want d-Mon-yyyy"},
		{"BEFORE (x)", "argument to BEFORE must be a date"},
		{"LARGER x", "LARGER must be a number"},
		{"LARGER 99999999999999999999", "out of range"},
		{"UID x", `invalid sequence set "x"`},
		{"UID", "missing argument to UID"},
		{"0:3", `invalid sequence set "0:3"`},
		{"1,,2", `invalid sequence set "1,,2"`},
		{"1:", `invalid sequence set "1:"`},
		{"4294967296", "not a number from 1 to 4294967295"},
		{"NOT", "missing search key after NOT"},
		{"OR SEEN", "missing search key after OR"},
		{"()", "empty parenthesised"},
		{`"SEEN"`, "expected a search key"},
		{"KEYWORD \\Seen", "invalid keyword"},
		{`KEYWORD "a"`, "invalid keyword"},
		{"MODSEQ x", "mod-sequence value"},
		{`MODSEQ "/flags/x" bad 1`, "invalid MODSEQ entry type"},
		{`MODSEQ "x" all 1`, "invalid MODSEQ entry name"},
		{"CHARSET", "missing charset"},
		{"CHARSET UTF-8", "missing search key"},
		{strings.Repeat("NOT ", 200) + "SEEN", "nested too deeply"},
		{strings.Repeat("(", 200) + "SEEN", "nested too deeply"},
	}
	for _, tt := range tests {
		_, _, err := ParseCriteria(tokenize(tt.in), false)
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%q: error %v, want %q", tt.in, err, tt.err)
		}
	}
}

func TestParseCriteriaCharset(t *testing.T) {
	_, _, err := ParseCriteria(tokenize("CHARSET ISO-8859-1 FROM x"), false)
	var bad *BadCharsetError
	if !errors.As(err, &bad) || bad.Charset != "ISO-8859-1" {
		t.Errorf("got %v, want a BadCharsetError", err)
	}
	// RFC 6855 §3: no CHARSET after ENABLE UTF8=ACCEPT.
	_, _, err = ParseCriteria(tokenize("CHARSET UTF-8 ALL"), true)
	if err == nil || errors.As(err, &bad) {
		t.Errorf("got %v, want a plain error", err)
	}
	if c, err := CheckCharset("utf-8"); err != nil || c != "UTF-8" {
		t.Errorf("CheckCharset: %q %v", c, err)
	}
}

func TestResolveSearchRes(t *testing.T) {
	c, _, err := ParseCriteria(tokenize("$ OR UID $ NOT $"), false)
	if err != nil {
		t.Fatal(err)
	}
	saved := imap.UIDSetNum(3, 5)
	ResolveSearchRes(c, saved)
	want := imap.SearchCriteria{
		UID: []imap.UIDSet{saved},
		Or: [][2]imap.SearchCriteria{{
			{UID: []imap.UIDSet{saved}},
			{Not: []imap.SearchCriteria{{UID: []imap.UIDSet{saved}}}},
		}},
	}
	if !reflect.DeepEqual(*c, want) {
		t.Errorf("got %+v", *c)
	}
}

func TestParseSort(t *testing.T) {
	got, err := ParseSort(tokenize("(REVERSE date subject REVERSE Size ARRIVAL CC FROM TO DISPLAYFROM DISPLAYTO)"))
	if err != nil {
		t.Fatal(err)
	}
	want := []SortCriterion{{SortDate, true}, {SortSubject, false}, {SortSize, true}, {SortArrival, false},
		{SortCc, false}, {SortFrom, false}, {SortTo, false}, {SortDisplayFrom, false}, {SortDisplayTo, false}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v", got)
	}
	for in, e := range map[string]string{
		"()":                  "empty sort criteria",
		"(REVERSE)":           "REVERSE must be followed",
		"(REVERSE REVERSE x)": "REVERSE given twice",
		"(BOGUS)":             `unknown sort key "BOGUS"`,
		`("DATE")`:            "invalid sort key",
	} {
		if _, err := ParseSort(tokenize(in)); err == nil || !strings.Contains(err.Error(), e) {
			t.Errorf("%s: %v, want %q", in, err, e)
		}
	}
}
