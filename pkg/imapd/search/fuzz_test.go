package search

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzParseCriteria parses arbitrary command lines (split into tokens by
// tokenize) and evaluates what parses against a small message.
func FuzzParseCriteria(f *testing.F) {
	f.Add("CHARSET UTF-8 OR (FROM joe SINCE 1-Feb-2024) NOT BODY x")
	f.Add("UID 1:*,4 MODSEQ \"/flags/\\\\seen\" priv 5 KEYWORD $x")
	f.Add("((((SEEN")
	m := &testMsg{seq: 1, uid: 7, internal: time.Unix(1e9, 0), data: []byte(
		"From: a@b\r\nSubject: =?utf-8?q?x?=\r\nDate: 1 Jan 2020 00:00 +0000\r\n\r\nbody\r\n")}
	f.Fuzz(func(t *testing.T, line string) {
		for _, utf8 := range []bool{false, true} {
			c, _, err := ParseCriteria(tokenize(line), utf8)
			if err != nil {
				if c != nil {
					t.Fatal("criteria with an error")
				}
				continue
			}
			if _, err := Match(c, m, 3, 9); err != nil && err != ErrSearchRes {
				t.Fatal(err)
			}
		}
		ParseSort(tokenize(line))
	})
}

// FuzzBaseSubject checks that base subjects are clean UTF-8 with single
// inner spaces and none at the ends.
func FuzzBaseSubject(f *testing.F) {
	f.Add("Re: [list] Fwd: [fwd: hello (fwd)]")
	f.Add("=?UTF-8?Q?Re:_Caf=C3=A9?=")
	f.Fuzz(func(t *testing.T, s string) {
		b := BaseSubject(s)
		if !utf8.ValidString(b) || strings.HasPrefix(b, " ") || strings.HasSuffix(b, " ") || strings.Contains(b, "  ") {
			t.Fatalf("BaseSubject(%q) = %q", s, b)
		}
	})
}

// FuzzMessage runs content searches, SORT and THREAD over arbitrary
// message text, split into up to eight messages at form feeds.
func FuzzMessage(f *testing.F) {
	for _, m := range matchMsgs {
		f.Add(strings.ReplaceAll(m, "\n", "\r\n"))
	}
	f.Add(sortMsgs[0] + "\f" + sortMsgs[2])
	f.Add("Message-ID: <a@b>\nReferences: <b@c>\n\n\fMessage-ID: <b@c>\nReferences: <a@b>\n\n")
	queries := []string{
		"TEXT x BODY y", "HEADER Subject re", "FROM a TO b CC c BCC d", "SENTON 1-Jan-2020", "NOT SENTSINCE 1-Jan-1970",
	}
	f.Fuzz(func(t *testing.T, data string) {
		var msgs []Message
		for i, part := range strings.SplitN(data, "\f", 8) {
			msgs = append(msgs, &testMsg{seq: uint32(i + 1), uid: uint32(i + 1), data: []byte(part)})
		}
		for _, q := range queries {
			c, _, err := ParseCriteria(tokenize(q), false)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Search(c, msgs); err != nil {
				t.Fatal(err)
			}
		}
		var all []SortCriterion
		for _, k := range sortKeys {
			all = append(all, SortCriterion{Key: k})
		}
		if _, err := Sort(all, msgs); err != nil {
			t.Fatal(err)
		}
		for _, alg := range []string{"REFERENCES", "ORDEREDSUBJECT"} {
			threads, err := Thread(alg, msgs)
			if err != nil {
				t.Fatal(err)
			}
			// Every message is in exactly one place of the threads.
			seen := map[uint32]int{}
			var walk func([]*ThreadNode)
			walk = func(ns []*ThreadNode) {
				for _, n := range ns {
					if n.Msg != nil {
						seen[n.Msg.SeqNum()]++
					} else if len(n.Children) < 2 {
						t.Fatalf("%s: dummy with %d children", alg, len(n.Children))
					}
					walk(n.Children)
				}
			}
			walk(threads)
			for _, m := range msgs {
				if seen[m.SeqNum()] != 1 {
					t.Fatalf("%s: message %d appears %d times in %s", alg, m.SeqNum(), seen[m.SeqNum()], FormatThreads(threads, false))
				}
			}
		}
	})
}
