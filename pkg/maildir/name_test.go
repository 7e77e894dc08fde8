package maildir

import (
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseName(t *testing.T) {
	tests := []struct {
		in      string
		unique  string
		size    int64
		vsize   int64
		flags   Flags
		hasInfo bool
	}{
		// Observed on Debian (spec/maildir.md §2).
		{"1795317716.M211586P3676V000000000000FE00I00000000009840C2.vm,S=41", "1795317716.M211586P3676V000000000000FE00I00000000009840C2.vm,S=41", 41, -1, "", false},
		{"1795317716.M211586P3676V000000000000FE00I00000000009840C2.vm,S=41:2,S", "1795317716.M211586P3676V000000000000FE00I00000000009840C2.vm,S=41", 41, -1, "S", true},
		{"1795317716.M2P3V0I0_1.vm,S=1354:2,", "1795317716.M2P3V0I0_1.vm,S=1354", 1354, -1, "", true},
		// Dovecot style with ,W= and lower-case keyword letters.
		{"1.M2P3.host,S=100,W=104:2,FSab", "1.M2P3.host,S=100,W=104", 100, 104, "FSab", true},
		// qmail style: no sizes.
		{"1234.5678.host", "1234.5678.host", -1, -1, "", false},
		// Flags out of order are normalized.
		{"x,S=1:2,TSD", "x,S=1", 1, -1, "DST", true},
		// Experimental info: kept, no flags.
		{"x:1,whatever", "x", -1, -1, "", true},
		// Unknown fields are ignored.
		{"x,X=abc,S=5", "x,X=abc,S=5", 5, -1, "", false},
	}
	for _, tt := range tests {
		n, err := ParseName(tt.in)
		if err != nil {
			t.Errorf("ParseName(%q): %v", tt.in, err)
			continue
		}
		if n.Unique != tt.unique || n.Size != tt.size || n.VSize != tt.vsize || n.Flags() != tt.flags || n.HasInfo != tt.hasInfo {
			t.Errorf("ParseName(%q) = %+v flags %q, want unique %q size %d vsize %d flags %q info %v",
				tt.in, n, n.Flags(), tt.unique, tt.size, tt.vsize, tt.flags, tt.hasInfo)
		}
		if n.String() != tt.in {
			t.Errorf("ParseName(%q).String() = %q", tt.in, n.String())
		}
	}
}

func TestParseNameRejects(t *testing.T) {
	for in, want := range map[string]string{
		"":                          "empty",
		"a/b":                       "'/'",
		"a\x00b":                    "'\\x00'",
		":2,S":                      "nothing before the colon",
		"x,S=:2,":                   "bad S= value: no digits",
		"x,S=12a":                   "not a decimal number",
		"x,S=1,S=2":                 "appears twice",
		"x,W=-5":                    "bad W= value",
		"x,S=1:2,S1":                "not a letter",
		"x,S=1:2,S,":                "not a letter",
		"x,S=123456789012345678901": "more than 18 digits",
	} {
		_, err := ParseName(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseName(%q) = %v, want an error about %q", in, err, want)
		}
	}
}

func TestFlags(t *testing.T) {
	f, err := ParseFlags("TSSD")
	if err != nil || f != "DST" {
		t.Fatalf("ParseFlags = %q, %v", f, err)
	}
	if !f.Has(FlagSeen) || f.Has(FlagFlagged) {
		t.Errorf("Has wrong on %q", f)
	}
	if g := f.With("FR").Without("T"); g != "DFRS" {
		t.Errorf("With/Without = %q, want DFRS", g)
	}
	if _, err := ParseFlags("S*"); err == nil {
		t.Error("ParseFlags accepted '*'")
	}
	n, _ := ParseName("abc,S=3:2,S")
	if got := n.WithFlags("TS"); got != "abc,S=3:2,ST" {
		t.Errorf("WithFlags = %q", got)
	}
	if n.Counted() != true {
		t.Error("a message without T should count")
	}
	if n, _ := ParseName("abc:2,ST"); n.Counted() {
		t.Error("a message flagged T must not count")
	}
}

// TestNormalizeFlags compares normalizeFlags with its definition: the
// bytes below 128, sorted, without repetitions.
func TestNormalizeFlags(t *testing.T) {
	want := func(s string) string {
		var b []byte
		for i := 0; i < len(s); i++ {
			if s[i] < 128 && !strings.Contains(string(b), s[i:i+1]) {
				b = append(b, s[i])
			}
		}
		slices.Sort(b)
		return string(b)
	}
	for _, s := range []string{"", "S", "DFRST", "TSSD", "SD", "aZ", "Za", "SS", "S\x80R", "\xffS", "abcabc", "FS2,x"} {
		if got := normalizeFlags(s); string(got) != want(s) {
			t.Errorf("normalizeFlags(%q) = %q, want %q", s, got, want(s))
		}
	}
	for _, s := range []string{"DFRST", "", "S,", "FS2"} {
		if got := onlyLetters(s); got != strings.Map(func(r rune) rune {
			if r < 128 && isFlagLetter(byte(r)) {
				return r
			}
			return -1
		}, s) {
			t.Errorf("onlyLetters(%q) = %q", s, got)
		}
	}
}

// courierName matches a final name exactly as Courier's maildircreate.c
// builds it, as observed on Debian (spec/maildir.md §2).
var courierName = regexp.MustCompile(`^(\d+)\.M(\d+)P(\d+)V([0-9A-F]{16})I([0-9A-F]{16})(_[^.]+)?\.([^,:/]+),S=(\d+)$`)

func TestNameFormat(t *testing.T) {
	p := nameParts{sec: 1795317716, usec: 211586, pid: 3676, host: "vm"}
	if got, want := p.finalName(0xFE00, 0x9840C2, 41, -1), "1795317716.M211586P3676V000000000000FE00I00000000009840C2.vm,S=41"; got != want {
		t.Errorf("finalName = %q, want %q (observed)", got, want)
	}
	if got, want := p.tmpName(0), "1795317716.M211586P3676.vm"; got != want {
		t.Errorf("tmpName = %q, want %q", got, want)
	}
	p.uniq = "1"
	if got, want := p.tmpName(1354), "1795317716.M211586P3676_1.vm,S=1354"; got != want {
		t.Errorf("tmpName = %q, want %q", got, want)
	}
	if got, want := p.finalName(1, 2, 1354, 1380), "1795317716.M211586P3676V0000000000000001I0000000000000002_1.vm,S=1354,W=1380"; got != want {
		t.Errorf("finalName = %q, want %q", got, want)
	}

	now := time.Now()
	live := newNameParts(now, "")
	m := courierName.FindStringSubmatch(live.finalName(7, 8, 9, -1))
	if m == nil {
		t.Fatalf("generated name %q does not have Courier's form", live.finalName(7, 8, 9, -1))
	}
	if m[3] != strconv.Itoa(os.Getpid()) || m[7] != hostname() {
		t.Errorf("pid/host parts %q %q", m[3], m[7])
	}
}

func TestHostnameEscaped(t *testing.T) {
	h := hostname()
	if strings.ContainsAny(h, "/:") {
		t.Errorf("hostname part %q contains '/' or ':'", h)
	}
}
