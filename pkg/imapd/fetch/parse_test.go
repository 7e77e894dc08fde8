package fetch

import (
	"reflect"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/gocourier/courier/pkg/imapd/wire"
)

func TestParseItems(t *testing.T) {
	sec := func(s imap.FetchItemBodySection) Item { return Item{Kind: ItemBodySection, Section: &s} }
	bin := func(s imap.FetchItemBinarySection) Item { return Item{Kind: ItemBinary, Binary: &s} }
	tests := []struct {
		in   string
		want []Item
	}{
		{"ENVELOPE", []Item{{Kind: ItemEnvelope}}},
		{"flags", []Item{{Kind: ItemFlags}}},
		{"InternalDate", []Item{{Kind: ItemInternalDate}}},
		{"RFC822", []Item{{Kind: ItemRFC822}}},
		{"RFC822.HEADER", []Item{{Kind: ItemRFC822Header}}},
		{"RFC822.SIZE", []Item{{Kind: ItemRFC822Size}}},
		{"RFC822.TEXT", []Item{{Kind: ItemRFC822Text}}},
		{"UID", []Item{{Kind: ItemUID}}},
		{"BODY", []Item{{Kind: ItemBody}}},
		{"BODYSTRUCTURE", []Item{{Kind: ItemBodyStructure}}},
		{"MODSEQ", []Item{{Kind: ItemModSeq}}},
		{"ALL", []Item{{Kind: ItemFlags}, {Kind: ItemInternalDate}, {Kind: ItemRFC822Size}, {Kind: ItemEnvelope}}},
		{"fast", []Item{{Kind: ItemFlags}, {Kind: ItemInternalDate}, {Kind: ItemRFC822Size}}},
		{"FULL", []Item{{Kind: ItemFlags}, {Kind: ItemInternalDate}, {Kind: ItemRFC822Size}, {Kind: ItemEnvelope}, {Kind: ItemBody}}},
		{"(FLAGS UID)", []Item{{Kind: ItemFlags}, {Kind: ItemUID}}},
		{"(FLAGS flags UID)", []Item{{Kind: ItemFlags}, {Kind: ItemUID}}},
		{"BODY[]", []Item{sec(imap.FetchItemBodySection{})}},
		{"BODY.PEEK[]", []Item{sec(imap.FetchItemBodySection{Peek: true})}},
		{"body[header]", []Item{sec(imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader})}},
		{"BODY[TEXT]", []Item{sec(imap.FetchItemBodySection{Specifier: imap.PartSpecifierText})}},
		{"BODY[1.2.3]", []Item{sec(imap.FetchItemBodySection{Part: []int{1, 2, 3}})}},
		{"BODY[1.MIME]", []Item{sec(imap.FetchItemBodySection{Part: []int{1}, Specifier: imap.PartSpecifierMIME})}},
		{"BODY[4.2.HEADER]", []Item{sec(imap.FetchItemBodySection{Part: []int{4, 2}, Specifier: imap.PartSpecifierHeader})}},
		{"BODY[2.TEXT]", []Item{sec(imap.FetchItemBodySection{Part: []int{2}, Specifier: imap.PartSpecifierText})}},
		{`BODY.PEEK[HEADER.FIELDS (From "To" x-Spam)]<0.100>`, []Item{sec(imap.FetchItemBodySection{
			Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"From", "To", "x-Spam"},
			Partial: &imap.SectionPartial{Offset: 0, Size: 100}, Peek: true})}},
		{`BODY[1.HEADER.FIELDS.NOT (Received)]`, []Item{sec(imap.FetchItemBodySection{
			Part: []int{1}, Specifier: imap.PartSpecifierHeader, HeaderFieldsNot: []string{"Received"}})}},
		{`body[header.fields(content-type)]`, []Item{sec(imap.FetchItemBodySection{
			Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"content-type"}})}},
		{"BODY[]<500.100>", []Item{sec(imap.FetchItemBodySection{Partial: &imap.SectionPartial{Offset: 500, Size: 100}})}},
		{"body[3.mime]<10,50>", []Item{sec(imap.FetchItemBodySection{Part: []int{3}, Specifier: imap.PartSpecifierMIME,
			Partial: &imap.SectionPartial{Offset: 10, Size: 50}})}},
		{"BINARY[]", []Item{bin(imap.FetchItemBinarySection{})}},
		{"BINARY.PEEK[1.2]<5.10>", []Item{bin(imap.FetchItemBinarySection{Part: []int{1, 2}, Peek: true,
			Partial: &imap.SectionPartial{Offset: 5, Size: 10}})}},
		{"BINARY.SIZE[3]", []Item{{Kind: ItemBinarySize, BinarySize: &imap.FetchItemBinarySectionSize{Part: []int{3}}}}},
		// BODY.PEEK[1] then BODY[1]: one item, answered as BODY[1], that sets \Seen.
		{"(BODY.PEEK[1] BODY[1])", []Item{sec(imap.FetchItemBodySection{Part: []int{1}})}},
	}
	for _, tc := range tests {
		req := mustParse(t, tc.in)
		if !reflect.DeepEqual(req.Items, tc.want) {
			t.Errorf("%s: got %s, want %s", tc.in, dump(req.Items), dump(tc.want))
		}
	}
}

func dump(items []Item) string {
	var s []string
	for _, it := range items {
		s = append(s, responseName(it))
	}
	return strings.Join(s, " ")
}

func TestParseOptions(t *testing.T) {
	req := mustParse(t, "(FLAGS BODY.PEEK[HEADER] BODYSTRUCTURE BODY RFC822.SIZE MODSEQ BINARY.SIZE[1] BINARY[2]) (CHANGEDSINCE 12345 VANISHED)")
	o := req.Options
	if !o.Flags || !o.RFC822Size || !o.ModSeq || o.BodyStructure == nil || !o.BodyStructure.Extended ||
		len(o.BodySection) != 1 || len(o.BinarySection) != 1 || len(o.BinarySectionSize) != 1 {
		t.Errorf("options %+v", o)
	}
	if !req.HasChangedSince || o.ChangedSince != 12345 || !req.Vanished {
		t.Errorf("modifiers: %v %d %v", req.HasChangedSince, o.ChangedSince, req.Vanished)
	}
	if !req.SetsSeen() {
		t.Error("BINARY[2] should set \\Seen")
	}
	if !mustParse(t, "(BINARY[2])").SetsSeen() || mustParse(t, "(BINARY.PEEK[2] BODY.PEEK[])").SetsSeen() {
		t.Error("SetsSeen")
	}
	for _, s := range []string{"RFC822", "RFC822.TEXT", "BODY[1]", "FULL"} {
		if got := mustParse(t, s).SetsSeen(); got != (s != "FULL") {
			t.Errorf("%s: SetsSeen %v", s, got)
		}
	}
	if !mustParse(t, "FLAGS (CHANGEDSINCE 1)").CondStore() || mustParse(t, "FLAGS").CondStore() {
		t.Error("CondStore")
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ in, err string }{
		{"", "missing FETCH attributes"},
		{"FOO", "unknown FETCH attribute FOO"},
		{"(FLAGS FOO)", "unknown FETCH attribute FOO"},
		{"()", "empty FETCH attribute list"},
		{"(FLAGS ALL)", "macro ALL not allowed in a list"},
		{"BODY.PEEK", "BODY.PEEK without a section"},
		{"BINARY.SIZE", "BINARY.SIZE without a section"},
		{"FOO[1]", "unknown FETCH attribute FOO"},
		{"BODY[HEADER.FIELDS]", "bad section HEADER.FIELDS without a list"},
		{"BODY[HEADER.FIELDS.NOT]", "bad section HEADER.FIELDS.NOT without a list"},
		{"BODY[HEADER.FIELDS ()]", "bad section HEADER.FIELDS: empty header list"},
		{"BODY[HEADER.FIELDS (From]", "bad section HEADER.FIELDS: unterminated header list"},
		{"BODY[MIME]", "bad section MIME without a part number"},
		{"BODY[FOO]", "bad section FOO"},
		{"BODY[0]", "bad section part number 0"},
		{"BODY[01]", "bad section part number 01"},
		{"BODY[99999999999]", "bad section part number 99999999999"},
		{"BODY[1.FOO]", "bad section FOO"},
		{"BODY[1", "bad section"},
		{"BODY[]<5.0>", "partial <5.0> has length 0"},
		{"BODY[]<5>", "bad partial <5>"},
		{"BODY[]<a.b>", "bad partial <a.b>"},
		{"BODY[]<1.99999999999999999999>", "partial <1.99999999999999999999> is out of range"},
		{"BODY[]x", `unexpected "x" after section`},
		{"BINARY[1.TEXT]", "bad binary section .TEXT"},
		{"BINARY[HEADER]", "bad binary section HEADER"},
		{"BINARY.SIZE[1]<0.5>", `unexpected "<0.5>" after BINARY.SIZE section`},
		{"FLAGS (FOO)", "unknown FETCH modifier FOO"},
		{"FLAGS (CHANGEDSINCE)", "CHANGEDSINCE without a mod-sequence"},
		{"FLAGS (CHANGEDSINCE x)", `CHANGEDSINCE: "x" is not a number`},
		{"FLAGS (CHANGEDSINCE 99999999999999999999)", "CHANGEDSINCE: 99999999999999999999 is out of range"},
		{"FLAGS (CHANGEDSINCE 1 CHANGEDSINCE 2)", "CHANGEDSINCE given twice"},
		{"FLAGS (VANISHED)", "VANISHED without CHANGEDSINCE"},
		{"FLAGS ()", "empty FETCH modifier list"},
		{"FLAGS FLAGS", "FETCH modifiers must be a list"},
		{"FLAGS (X) (Y)", "too many FETCH arguments"},
		{`"FLAGS"`, "FETCH attributes must be an atom or a list"},
		{`("FLAGS")`, "FETCH attribute must be an atom"},
	}
	for _, tc := range tests {
		toks, err := tokenize(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Parse(toks)
		if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
			t.Errorf("%s: error %v, want %q", tc.in, err, tc.err)
		}
	}
	if _, err := Parse([]wire.Token{{Kind: wire.Atom, Text: "FLAGS"}, {Kind: wire.List, List: []wire.Token{{Kind: wire.List}}}}); err == nil {
		t.Error("a list as a modifier was accepted")
	}
}

func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		toks, err := tokenize(s)
		if err != nil {
			return
		}
		req, err := Parse(toks)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		for _, it := range req.Items {
			name := responseName(it)
			if name == "" {
				t.Fatalf("item %+v has no name", it)
			}
			// A section as the response names it parses back to itself.
			if it.Kind == ItemBodySection && it.Section.Partial == nil ||
				it.Kind == ItemBinary && it.Binary.Partial == nil || it.Kind == ItemBinarySize {
				back, err := parseItem(name)
				if err != nil || responseName(back) != name {
					t.Fatalf("%s does not parse back: %v", name, err)
				}
			}
		}
	})
}
