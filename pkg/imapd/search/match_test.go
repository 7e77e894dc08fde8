package search

import (
	"bufio"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

var matchMsgs = []string{
	// 1: encoded words in headers, Date late in its own zone (already
	// the next day in UTC).
	`From: =?UTF-8?Q?Ren=C3=A9_Dupont?= <rene@example.com>
To: Alice <alice@example.org>, bob@example.net
Cc: Carol <carol@example.org>
Subject: =?ISO-8859-1?Q?Caf=E9?= menu for
 the week
Date: Mon, 2 Jan 2023 23:30:00 -0500
Message-ID: <1@example.com>
X-Spam: yes

Plain body with UNIQUEWORD1.
`,
	// 2: quoted-printable UTF-8 body with a soft line break.
	`From: bob@example.net
To: rene@example.com
Subject: Re: =?UTF-8?B?Q2Fmw6k=?= menu
Date: Tue, 3 Jan 2023 08:00:00 +0000
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Le caf=C3=A9 est fer=
m=C3=A9 le lundi.
`,
	// 3: base64 body.
	`From: carol@example.org
Subject: base64
Date: Wed, 4 Jan 2023 10:00:00 +0100
Content-Type: text/plain; charset=us-ascii
Content-Transfer-Encoding: base64

VGhlIHF1aWNrIGJyb3duIGZveCBqdW1wcyBvdmVyIHRoZSBsYXp5IGRvZy4K
`,
	// 4: multipart with a latin1 part, an attachment that is not text
	// and an attached message.
	`From: dave@example.com
Subject: multipart
Date: garbage
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="XX"

preamble
--XX
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Gr=FC=DFe aus K=F6ln
--XX
Content-Type: application/octet-stream
Content-Transfer-Encoding: base64

c2VjcmV0d29yZA==
--XX
Content-Type: message/rfc822

Subject: =?UTF-8?Q?inner_subj=C3=A9ct?=
Content-Type: text/html; charset=utf-8

<p>Inner HTML body</p>
--XX--
`,
}

func TestMatch(t *testing.T) {
	msgs := writeMsgs(t, matchMsgs...)
	msgs[0].(*testMsg).flags = []imap.Flag{imap.FlagSeen, flagRecent, "$Work"}
	msgs[1].(*testMsg).flags = []imap.Flag{imap.FlagAnswered}
	msgs[2].(*testMsg).flags = []imap.Flag{flagRecent}
	// 4 has an internal date of 11-Mar-2024 in the local zone.
	msgs[3].(*testMsg).internal = time.Date(2024, 3, 11, 0, 30, 0, 0, time.Local)
	tests := []struct {
		in   string
		want []uint32
	}{
		{"ALL", []uint32{1, 2, 3, 4}},
		{"SEEN", []uint32{1}},
		{"UNSEEN", []uint32{2, 3, 4}},
		{"RECENT", []uint32{1, 3}},
		{"NEW", []uint32{3}},
		{"OLD", []uint32{2, 4}},
		{"KEYWORD $work", []uint32{1}},
		{"UNKEYWORD $Work", []uint32{2, 3, 4}},
		{"ANSWERED", []uint32{2}},
		{"2:3", []uint32{2, 3}},
		{"*", []uint32{4}},
		{"5:*", []uint32{4}},
		{"3:1", []uint32{1, 2, 3}},
		{"UID 102,104", []uint32{2, 4}},
		{"UID 103:*", []uint32{3, 4}},
		{"UID 900:*", []uint32{4}},
		{"FROM rené", []uint32{1}},
		{"FROM RENÉ", []uint32{1}},
		{"FROM dupont", []uint32{1}},
		{"TO bob", []uint32{1}},
		{"CC carol", []uint32{1}},
		{"SUBJECT café", []uint32{1, 2}},
		{`SUBJECT "menu for the week"`, []uint32{1}},
		{"SUBJECT inner", nil},
		{`HEADER X-Spam ""`, []uint32{1}},
		{`HEADER x-spam YES`, []uint32{1}},
		{`HEADER Message-ID "<1@"`, []uint32{1}},
		{"BODY uniqueword1", []uint32{1}},
		{"BODY fermé", []uint32{2}},
		{"BODY CAFÉ", []uint32{2}},
		{`BODY "quick brown fox"`, []uint32{3}},
		{"BODY köln", []uint32{4}},
		{"BODY grüsse", []uint32{4}}, // ß folds to ss
		{"BODY secretword", nil},
		{"BODY inner", []uint32{4}},
		{"BODY menu", nil},
		{"TEXT menu", []uint32{1, 2}},
		{`TEXT "subject: inner"`, []uint32{4}},
		{"TEXT subjéct", []uint32{4}},
		{"TEXT uniqueword1", []uint32{1}},
		{`TEXT ""`, []uint32{1, 2, 3, 4}},
		{"SENTON 2-Jan-2023", []uint32{1}},
		{"SENTSINCE 3-Jan-2023", []uint32{2, 3}},
		{"SENTBEFORE 3-Jan-2023", []uint32{1}},
		{"NOT SENTBEFORE 3-Jan-2023", []uint32{2, 3, 4}},
		{"ON 10-Mar-2024", []uint32{1, 2, 3}},
		{"SINCE 11-Mar-2024", []uint32{4}},
		{"BEFORE 11-Mar-2024", []uint32{1, 2, 3}},
		{"LARGER 400", []uint32{4}},
		{"SMALLER 400", []uint32{1, 2, 3}},
		{"SMALLER 0", nil},
		{"MODSEQ 30", []uint32{3, 4}},
		{"OR SEEN ANSWERED", []uint32{1, 2}},
		{"NOT (SEEN OR ANSWERED RECENT)", []uint32{2, 3, 4}},
		{"NOT (UNSEEN OR ANSWERED RECENT)", []uint32{1, 4}},
		{"OR BODY fox FROM dave", []uint32{3, 4}},
		{"FROM example BODY le", []uint32{2}},
	}
	for _, tt := range tests {
		c, _, err := ParseCriteria(tokenize(tt.in), false)
		if err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		got, err := Search(c, msgs)
		if err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		if !slices.Equal(nums(got), tt.want) {
			t.Errorf("%s: got %v, want %v", tt.in, nums(got), tt.want)
		}
	}
}

// TestMatchLazy checks that a message is opened only when a key needs
// its content.
func TestMatchLazy(t *testing.T) {
	msgs := writeMsgs(t, matchMsgs[0])
	m := msgs[0].(*testMsg)
	opens := 0
	m.opens = &opens
	for _, q := range []string{"ALL", "SEEN", "1:*", "LARGER 1 SINCE 1-Jan-2000 UID 101", "NOT DRAFT"} {
		c, _, _ := ParseCriteria(tokenize(q), false)
		if _, err := Match(c, m, 1, 101); err != nil {
			t.Fatal(err)
		}
	}
	if opens != 0 {
		t.Errorf("opened %d times for flag/set/size/date keys", opens)
	}
	// SEEN fails first: the content is not needed.
	c, _, _ := ParseCriteria(tokenize("SEEN BODY x"), false)
	Match(c, m, 1, 101)
	if opens != 0 {
		t.Errorf("opened for a failed flag key")
	}
	c, _, _ = ParseCriteria(tokenize("FROM rene SUBJECT x OR TEXT y BODY z"), false)
	if _, err := Match(c, m, 1, 101); err != nil {
		t.Fatal(err)
	}
	if opens != 1 {
		t.Errorf("opened %d times, want once for all content keys", opens)
	}
}

func TestMatchUnresolvedSearchRes(t *testing.T) {
	msgs := writeMsgs(t, matchMsgs[0])
	c, _, _ := ParseCriteria(tokenize("$"), false)
	if _, err := Match(c, msgs[0], 1, 101); !errors.Is(err, ErrSearchRes) {
		t.Errorf("got %v", err)
	}
}

// TestParseHeaderAsReadHeader checks that a cached header parses as the
// file's does.
func TestParseHeaderAsReadHeader(t *testing.T) {
	cases := []string{"", "\n", "a: b\n\nbody", "a: b\r\n c\r\n\r\nx", "a: b", "bad line\nx : y\n\tz\n\n", ": v\n", "a:b\r\r\nc: d\n"}
	for _, c := range cases {
		want, _ := readHeader(bufio.NewReader(strings.NewReader(c)))
		got := ParseHeader([]byte(c)).fields
		if len(want) != len(got) || len(want) > 0 && !reflect.DeepEqual(want, got) {
			t.Errorf("%q: %v, want %v", c, got, want)
		}
	}
}
