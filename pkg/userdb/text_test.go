package userdb

import (
	"errors"
	"strings"
	"testing"
)

func TestParseText(t *testing.T) {
	data := "# comment\n\n  \t \nalice\tuid=1|gid=2|home=/h|options=a=1,b=2|flag|\n999=\talice\nempty\t\nlast\tuid=3"
	entries, err := ParseText("src", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 4 {
		t.Fatalf("%d entries: %+v", len(entries), entries)
	}
	a := entries[0]
	if a.Name != "alice" || a.Line != 4 || a.File != "src" || a.Where() != "src:4" {
		t.Errorf("alice entry %+v", a)
	}
	if v, ok := a.Get("options"); !ok || v != "a=1,b=2" {
		t.Errorf("options = %q (first = splits)", v)
	}
	if v, ok := a.Get("flag"); !ok || v != "" || !a.Fields[4].Bare {
		t.Errorf("bare flag: %q %v %+v", v, ok, a.Fields)
	}
	if a.FieldsString() != "uid=1|gid=2|home=/h|options=a=1,b=2|flag" {
		t.Errorf("trailing | not dropped: %s", a.FieldsString())
	}
	if !entries[1].IsReverse() || entries[1].Fields[0] != (Field{Name: "alice", Bare: true}) {
		t.Errorf("reverse record %+v", entries[1])
	}
	if entries[2].Name != "empty" || len(entries[2].Fields) != 0 || entries[3].Line != 7 {
		t.Errorf("entries %+v", entries[2:])
	}
}

func TestParseTextErrors(t *testing.T) {
	cases := []struct{ line, want string }{
		{"alice uid=1", `src:2: no TAB after the account name "alice uid=1"`},
		{".", `src:2: no TAB after the account name "."`},
		{"\tuid=1", "src:2: empty account name"},
		{"a|b\tuid=1", `src:2: account name "a|b" contains |`},
		{"al\x01ice\tuid=1", `src:2: account name "al\x01ice" contains control character 0x01`},
		{"alice\tuid=1\r", "src:2: the fields of alice contain a carriage return (DOS line ending?)"},
		{"alice\tuid=1\thome=/h", "src:2: a second TAB in the fields of alice"},
		{"alice\tuid=1||gid=2", "src:2: empty field (two | in a row) in the record of alice"},
		{"alice\t|uid=1", "src:2: empty field"},
		{"alice\t=x", `src:2: alice: field "=x" has no name`},
		{"alice\tuid=1|uid=2", "src:2: alice: field uid given twice"},
		{"alice\tuid=x1", `src:2: alice: uid "x1" is not a decimal number`},
		{"alice\tgid=-1", `src:2: alice: gid "-1" is not a decimal number`},
		{"alice\tuid=4294967296", `src:2: alice: uid "4294967296" is not a decimal number below 2^32`},
		{"alice\tuid", `src:2: alice: uid "" is not a decimal number`},
		{"alice\tx=\x7f", "src:2: the fields of alice contain control character 0x7f"},
		{"bob\tuid=2", "src:2: duplicate account bob (first at line 1)"},
	}
	for _, c := range cases {
		_, err := ParseText("src", []byte("bob\tuid=1\n"+c.line+"\n"))
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("line %q: error %v\nwant prefix %s", c.line, err, c.want)
		}
		var errs Errors
		if !errors.As(err, &errs) || len(errs) != 1 || errs[0].Line != 2 {
			t.Errorf("line %q: not one LineError at line 2: %#v", c.line, err)
		}
	}
}

func TestParseTextManyErrors(t *testing.T) {
	data := strings.Repeat("ok\tuid=1\nbad\n", 1) + strings.Repeat("bad line\n", 200)
	_, err := ParseText("f", []byte(data))
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatal(err)
	}
	if len(errs) != maxErrors+1 || !strings.Contains(errs[maxErrors].Error(), "too many errors") {
		t.Errorf("%d errors reported, last %v", len(errs), errs[len(errs)-1])
	}
	if errs[0].Line != 2 || errs[1].Line != 3 {
		t.Errorf("line numbers %d %d", errs[0].Line, errs[1].Line)
	}
}

func TestRecordEdit(t *testing.T) {
	r := Record{Name: "a", Fields: []Field{{Name: "uid", Value: "1"}, {Name: "x", Bare: true}, {Name: "home", Value: "/h"}}}
	r.Set(Field{Name: "x", Value: "2"})
	r.Set(Field{Name: "gid", Value: "3"})
	if r.Text() != "a\tuid=1|x=2|home=/h|gid=3" {
		t.Errorf("after Set: %s", r.Text())
	}
	if !r.Unset("uid") || r.Unset("uid") || r.Text() != "a\tx=2|home=/h|gid=3" {
		t.Errorf("after Unset: %s", r.Text())
	}
	if (Field{Name: "systempw", Bare: true}).IsPassword() || !(Field{Name: "imap-hmac-md5pw", Value: "x"}).IsPassword() || (Field{Name: "pwd", Value: "x"}).IsPassword() {
		t.Error("IsPassword does not follow /^[^=]*pw=/")
	}
}

// FuzzParseText: any input either parses, and then every record written
// back with Line() parses to the same records, or fails with file:line
// errors; it never panics.
func FuzzParseText(f *testing.F) {
	f.Add([]byte(aliceLine + "999=\talice@example.com\n"))
	f.Add([]byte("# c\n\nbob\tuid=1|gid=1|home=/b|flag|\n"))
	f.Add([]byte("a\tb\tc\n\tx\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := ParseText("fuzz", data)
		if err != nil {
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error is not an Errors list: %v", err)
			}
			for _, e := range errs {
				if e.File != "fuzz" || (e.Line < 1 && !strings.Contains(e.Reason, "too many")) {
					t.Fatalf("error without file:line: %v", e)
				}
			}
			return
		}
		var b strings.Builder
		for _, e := range entries {
			b.WriteString(e.Text() + "\n")
		}
		again, err := ParseText("fuzz", []byte(b.String()))
		if err != nil {
			t.Fatalf("re-parsing %q: %v", b.String(), err)
		}
		if len(again) != len(entries) {
			t.Fatalf("%d records became %d", len(entries), len(again))
		}
		for i := range again {
			if again[i].Text() != entries[i].Text() {
				t.Fatalf("record %q became %q", entries[i].Text(), again[i].Text())
			}
		}
	})
}
