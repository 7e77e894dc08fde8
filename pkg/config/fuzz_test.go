package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func FuzzParseVarFile(f *testing.F) {
	for _, tc := range varCases {
		f.Add([]byte(tc.in))
	}
	// Small inputs: Go minimizes every new interesting input, which takes
	// minutes for inputs grown from a whole 13 KB Debian file.
	f.Add([]byte(oldImapd))
	f.Fuzz(func(t *testing.T, data []byte) {
		vf, err := ParseVarFile("fuzz", data, predef)
		lines := splitLines(string(data))
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is %T, want *Error", err, err)
			}
			if ce.File == "fuzz" && (ce.Line < 1 || ce.Line > len(lines)+1) {
				t.Fatalf("error line %d outside the file's %d lines: %v", ce.Line, len(lines), err)
			}
			return
		}
		names := vf.Names()
		env := vf.Environ()
		if len(env) != len(names) {
			t.Fatalf("%d names, %d environ entries", len(names), len(env))
		}
		seen := map[string]bool{}
		for i, n := range names {
			if seen[n] || !isName(n) {
				t.Fatalf("bad or repeated name %q", n)
			}
			seen[n] = true
			v, ok := vf.Get(n)
			if !ok || env[i] != n+"="+v {
				t.Fatalf("Get(%q) = %q, %v; Environ has %q", n, v, ok, env[i])
			}
		}
		// The sections put together give back the file.
		if got := rebuild(vf.Header, vf.Sections); got != strings.Join(lines, "\n") {
			t.Fatalf("sections do not rebuild the file:\n%q\n%q", got, strings.Join(lines, "\n"))
		}
		again, err := ParseVarFile("fuzz", data, predef)
		if err != nil || strings.Join(again.Environ(), "\x00") != strings.Join(env, "\x00") {
			t.Fatalf("second parse differs: %v", err)
		}
	})
}

// rebuild joins a header and sections back into lines.
func rebuild(header Section, sections []Section) string {
	var out []string
	for _, l := range header.Body {
		out = append(out, l.Text)
	}
	for _, s := range sections {
		out = append(out, s.Marker)
		for _, l := range s.Body {
			out = append(out, l.Text)
		}
	}
	return strings.Join(out, "\n")
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"0", "300", "5m", "1w2d3h4m5s", " 1 h 30 m ", "1h30", "m", "5x", "99999999999999999999", "1W2D"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("ParseDuration(%q) = %v, negative", s, d)
		}
		back, err := ParseDuration(fmt.Sprint(int64(d.Seconds())))
		if err != nil || back != d {
			t.Fatalf("ParseDuration(%q) = %v, but its seconds give %v, %v", s, d, back, err)
		}
	})
}

func FuzzMerge(f *testing.F) {
	f.Add([]byte(oldImapd), []byte(newImapd))
	f.Add([]byte("##NAME: A:0\nA=1\n"), []byte("##NAME: A:1\nA=2\n##NAME: B:0\n# B=1\n"))
	f.Add([]byte("PORT=1\n"), []byte("# h\n##NAME: PORT:1\nPORT=smtp\n"))
	f.Fuzz(func(t *testing.T, old, dist []byte) {
		out, changes, err := Merge("old", old, "new.dist", dist)
		if err != nil {
			return
		}
		_, dSecs, _ := SplitSections("new.dist", dist)
		_, oSecs, err := SplitSections("merged", out)
		if err != nil {
			t.Fatalf("merged file does not split: %v\n%s", err, out)
		}
		if len(oSecs) != len(dSecs) {
			t.Fatalf("merged file has %d sections, the .dist %d", len(oSecs), len(dSecs))
		}
		for i := range dSecs {
			if oSecs[i].Name != dSecs[i].Name || oSecs[i].Revision != dSecs[i].Revision {
				t.Fatalf("section %d is %s:%d, want %s:%d", i, oSecs[i].Name, oSecs[i].Revision, dSecs[i].Name, dSecs[i].Revision)
			}
		}
		for _, c := range changes {
			if strings.Contains(c.String(), "\n") {
				t.Fatalf("report line with a newline: %q", c.String())
			}
		}
		// Merging a valid .dist into itself changes nothing.
		same, changes, err := Merge("new", dist, "new.dist", dist)
		if err != nil {
			t.Fatalf("merging the .dist into itself: %v", err)
		}
		if len(dist) > 0 && strings.Join(splitLines(string(same)), "\n") != strings.Join(splitLines(string(dist)), "\n") {
			t.Fatalf("merging the .dist into itself changed it:\n%q\n%q", same, dist)
		}
		for _, c := range changes {
			if c.Kind != Unchanged {
				t.Fatalf("merging the .dist into itself: %q", c.String())
			}
		}
	})
}
