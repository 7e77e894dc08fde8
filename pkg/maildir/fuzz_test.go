package maildir

import (
	"strings"
	"testing"
)

// FuzzParseName checks that any file name either parses into parts that
// give back the name, or is refused; never a crash.
func FuzzParseName(f *testing.F) {
	f.Add("1795317716.M211586P3676V000000000000FE00I00000000009840C2.vm,S=41:2,S")
	f.Add("1.M2P3.host,S=100,W=104:2,FSab")
	f.Add("x,S=1,S=2")
	f.Add("x,W=1,W=2:2,S")
	f.Add("x,S=1,W=2,W=x:2,S")
	f.Add(",S=1:2,FS")
	f.Add("x:2,F/S")
	f.Add("x,S=1:2,SFS")
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseName(s)
		if err != nil {
			if got := NameFlags(s); got != "" {
				t.Fatalf("NameFlags(%q) = %q for a name ParseName refuses", s, got)
			}
			return
		}
		if got := NameFlags(s); got != n.Flags() {
			t.Fatalf("NameFlags(%q) = %q, ParseName's flags %q", s, got, n.Flags())
		}
		if n.String() != s {
			t.Fatalf("ParseName(%q).String() = %q", s, n.String())
		}
		if n.Unique == "" || strings.ContainsAny(n.Unique, ":/\x00") {
			t.Fatalf("ParseName(%q): bad unique part %q", s, n.Unique)
		}
		if n.Size < -1 || n.VSize < -1 {
			t.Fatalf("ParseName(%q): negative size %d/%d", s, n.Size, n.VSize)
		}
		if got := NameSize(s); got != n.Size {
			t.Fatalf("NameSize(%q) = %d, ParseName's Size %d", s, got, n.Size)
		}
		f := n.Flags()
		if g, err := ParseFlags(string(f)); err != nil || g != f {
			t.Fatalf("ParseName(%q): flags %q not normalized", s, f)
		}
		again, err := ParseName(n.WithFlags(f.With("T")))
		if err != nil || again.Unique != n.Unique || !again.Flags().Has(FlagTrashed) || again.Size != n.Size {
			t.Fatalf("ParseName(%q): re-flagged name does not parse back: %v", s, err)
		}
	})
}

// FuzzParseSizeFile checks the maildirsize parser: either an error naming
// the file and line, or totals that equal the sum of the lines.
func FuzzParseSizeFile(f *testing.F) {
	f.Add([]byte("1000000S,500C\n           0            0\n          41            1\n"))
	f.Add([]byte("5C\n  -3  -1\n"))
	f.Add([]byte("100S\n 1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sf, err := ParseSizeFile("maildirsize", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "maildirsize:") {
				t.Fatalf("error without file:line: %v", err)
			}
			return
		}
		lines := strings.Count(string(data), "\n")
		if len(data) > 0 && sf.Lines != lines-1 {
			t.Fatalf("%d data lines counted in %q", sf.Lines, data)
		}
		// What the file says must survive being written back.
		if !sf.Quota.IsZero() {
			q, err := ParseQuotaSpec(sf.Quota.String())
			if err != nil || q != sf.Quota {
				t.Fatalf("quota %+v does not round-trip: %v", sf.Quota, err)
			}
		}
		out := []byte(sf.Quota.String() + "\n")
		out = append(out, usageLine(sf.Usage)...)
		again, err := ParseSizeFile("maildirsize", out)
		if err != nil || again.Usage != sf.Usage || again.Quota != sf.Quota {
			t.Fatalf("rewritten file %q: %+v %v, want %+v", out, again, err, sf)
		}
	})
}

// FuzzParseQuotaSpec checks that a parsed spec formats to an equivalent one.
func FuzzParseQuotaSpec(f *testing.F) {
	f.Add("1000000S,500C")
	f.Add("10X")
	f.Fuzz(func(t *testing.T, s string) {
		q, err := ParseQuotaSpec(s)
		if err != nil {
			return
		}
		if q.IsZero() || q.Bytes < 0 || q.Messages < 0 {
			t.Fatalf("ParseQuotaSpec(%q) = %+v", s, q)
		}
		again, err := ParseQuotaSpec(q.String())
		if err != nil || again != q {
			t.Fatalf("ParseQuotaSpec(%q) = %+v does not round-trip: %v", s, q, err)
		}
	})
}

// FuzzParseSharedMaildirs checks the shared-maildirs parser.
func FuzzParseSharedMaildirs(f *testing.F) {
	f.Add([]byte("notices\t/var/shared/notices\n# comment\n"))
	f.Add([]byte("a.b /x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		list, err := ParseSharedMaildirs("shared-maildirs", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "shared-maildirs:") {
				t.Fatalf("error without file:line: %v", err)
			}
			return
		}
		for _, e := range list {
			if e.Name == "" || strings.ContainsAny(e.Name, "./ \t\n#") || !strings.HasPrefix(e.Path, "/") {
				t.Fatalf("bad entry %+v from %q", e, data)
			}
		}
	})
}

// FuzzParseUIDDB checks the courierimapuiddb parser: errors carry the file
// and line; a parsed map formats back to the same bytes.
func FuzzParseUIDDB(f *testing.F) {
	f.Add([]byte("1 795317723 3\n1 1795317716.M211586P3676V000000000000FE00I00000000009840C2.vm,S=41\n2 b\n"))
	f.Add([]byte("1 795317723 1\n"))
	f.Add([]byte("1 5 3\n2 a\n1 b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		db, err := ParseUIDDB("courierimapuiddb", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "courierimapuiddb:") {
				t.Fatalf("error without file:line: %v", err)
			}
			return
		}
		again, err := ParseUIDDB("courierimapuiddb", db.Format())
		if err != nil || string(again.Format()) != string(db.Format()) {
			t.Fatalf("%q does not round-trip: %v", data, err)
		}
		if !db.formats(db.Format()) || db.formats(data) != (string(data) == string(db.Format())) {
			t.Fatalf("%q: formats disagrees with Format", data)
		}
		before := db.NextUID
		added, err := db.Sync([]string{"new-message"})
		if err == nil && (len(added) != 1 || added[0].UID != before || db.NextUID != before+1) {
			t.Fatalf("Sync did not assign the next uid: %+v", added)
		}
		if err != nil && before != 1<<32-1 {
			t.Fatalf("Sync failed with uid %d: %v", before, err)
		}
	})
}

// FuzzParseKeywordList checks the courierimapkeywords/:list parser.
func FuzzParseKeywordList(f *testing.F) {
	f.Add([]byte("Custom\n$Label1\n\nm1:1 0\nm2:0\n"))
	f.Add([]byte("A\n\nm:1\n"))
	f.Add([]byte("\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		kw, err := ParseKeywordList(":list", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), ":list:") {
				t.Fatalf("error without file:line: %v", err)
			}
			return
		}
		out := FormatKeywordList(kw)
		again, err := ParseKeywordList(":list", out)
		if err != nil {
			t.Fatalf("%q formats to unparsable %q: %v", data, out, err)
		}
		for m, set := range kw {
			if len(set) > 0 && !equalKeywords(again[m], set) {
				t.Fatalf("message %s: %q became %q", m, set, again[m])
			}
		}
	})
}
