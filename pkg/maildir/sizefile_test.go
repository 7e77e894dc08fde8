package maildir

import (
	"strings"
	"testing"
)

func TestParseQuotaSpec(t *testing.T) {
	for in, want := range map[string]QuotaSpec{
		"1000000S,500C": {1000000, 500},
		"5C":            {0, 5},
		"100S":          {100, 0},
		"100S,5C,7S":    {7, 5}, // later items win, as in Courier (observed: "7S,5C")
		" 10S , 2C ":    {10, 2},
	} {
		got, err := ParseQuotaSpec(in)
		if err != nil || got != want {
			t.Errorf("ParseQuotaSpec(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"":                      "empty quota",
		"abc":                   "not a decimal number",
		"10X":                   "neither S",
		"10B":                   "neither S",
		"0S":                    "sets no limit",
		"10S,":                  "want <number>S",
		"-5S":                   "not a decimal number",
		"1e3S":                  "not a decimal number",
		"S":                     "want <number>S",
		"99999999999999999999S": "more than 18 digits",
	} {
		_, err := ParseQuotaSpec(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseQuotaSpec(%q) = %v, want an error about %q", in, err, want)
		}
	}
	if s := (QuotaSpec{1000000, 500}).String(); s != "1000000S,500C" {
		t.Errorf("String = %q", s)
	}
	if s := (QuotaSpec{0, 5}).String(); s != "5C" {
		t.Errorf("String = %q", s)
	}
}

func TestParseSizeFile(t *testing.T) {
	// As observed after maildirmake -q and two deliveries (spec/maildir.md §3).
	data := "1000000S,500C\n           0            0\n          41            1\n          19            1\n         -19           -1\n"
	sf, err := ParseSizeFile("maildirsize", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if sf.Quota != (QuotaSpec{1000000, 500}) || sf.Usage != (Usage{41, 1}) || sf.Lines != 4 {
		t.Errorf("got %+v", sf)
	}
	if got := string(usageLine(Usage{41, 1})); got != "          41            1\n" {
		t.Errorf("usageLine = %q", got)
	}
	empty, err := ParseSizeFile("m", nil)
	if err != nil || !empty.Quota.IsZero() || empty.Lines != 0 {
		t.Errorf("empty file: %+v %v", empty, err)
	}
	noLimit, err := ParseSizeFile("m", []byte("\n  18  1\n"))
	if err != nil || !noLimit.Quota.IsZero() || noLimit.Usage != (Usage{18, 1}) {
		t.Errorf("empty quota line: %+v %v", noLimit, err)
	}
}

func TestParseSizeFileRejects(t *testing.T) {
	for in, want := range map[string]string{
		"100S":               "m:1: last line is not terminated",
		"abc\n":              "m:1: quota item",
		"100S\n  1\n":        "m:2: want two numbers",
		"100S\n  1 2 3\n":    "m:2: want two numbers",
		"100S\n 1 1\n x 1\n": "m:3: byte count",
		"100S\n 1 --1\n":     "m:2: message count",
		"100S\n 1 1\n 2 2":   "m:3: last line is not terminated",
		"100S\n\n":           "m:2: want two numbers",
		"100S\n 999999999999999999 1\n 999999999999999999 1\n 999999999999999999 1\n 999999999999999999 1\n 999999999999999999 1\n 999999999999999999 1\n 999999999999999999 1\n 999999999999999999 1\n 999999999999999999 1\n 999999999999999999 1\n": "overflows",
	} {
		_, err := ParseSizeFile("m", []byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSizeFile(%q) = %v, want an error about %q", in, err, want)
		}
	}
}

func TestParseSharedMaildirs(t *testing.T) {
	got, err := ParseSharedMaildirs("shared-maildirs", []byte("notices\t/var/shared/notices\n# comment\n\nweekly  /srv/a b # trailing\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != (SharedMaildir{"notices", "/var/shared/notices"}) || got[1] != (SharedMaildir{"weekly", "/srv/a b "}) {
		t.Errorf("got %+v", got)
	}
	for in, want := range map[string]string{
		"name\n":            "f:1: \"name\" has no path",
		"ok /a\n\tx /b\n":   "f:2: line starts with a blank",
		"a.b /x\n":          "contains '.'",
		"n relative/path\n": "not absolute",
	} {
		_, err := ParseSharedMaildirs("f", []byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSharedMaildirs(%q) = %v, want %q", in, err, want)
		}
	}
}
