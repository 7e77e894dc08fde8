package dsn

import (
	"bytes"
	"io"
	"strings"
	"testing"

	message "github.com/emersion/go-message"
)

func TestSubstitute(t *testing.T) {
	vars := map[string]string{"ME": "mx.example.test", "FROMTIME": "Sun, 22 Nov 2026", "FROMMTA": "client.example"}
	cases := map[string]string{
		"from [#ME#] at [#FROMTIME#] via [#FROMMTA#]": "from mx.example.test at Sun, 22 Nov 2026 via client.example",
		"[#me#][#UNKNOWN#]x":                          "x",
		"[#ME":                                        "[#ME",
		"[#ME#":                                       "[#ME#",
		"[#ME#x":                                      "[#ME#x",
		"[#ME-#]":                                     "[#ME-#]",
		"[[#ME#]]":                                    "[mx.example.test]",
		"[# #]":                                       "[# #]",
		"a\x00[#ME#]":                                 "a",
		"[#" + strings.Repeat("A", 70) + "\n":         "[#" + strings.Repeat("A", 63) + "\n",
		"[#":                                          "[#",
		"[":                                           "[",
	}
	for in, want := range cases {
		if got := Substitute(in, vars); got != want {
			t.Errorf("Substitute(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestExpandDelayed(t *testing.T) {
	for in, want := range map[string]string{
		"plain":              "plain",
		"%s waits, 100%% ok": "mx waits, 100% ok",
		"%d %":               "%d %",
	} {
		if got := expandDelayed(in, "mx"); got != want {
			t.Errorf("expandDelayed(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzSubstitute: any template expands without a panic; text without "[#" is
// kept as it is; with no variables the result never grows.
func FuzzSubstitute(f *testing.F) {
	f.Add("This is [#ME#] at [#FROMTIME#]\nfrom [#FROMMTA#]\n")
	f.Add("[#ME [#ME#x [# [[#X#]] #]")
	f.Fuzz(func(t *testing.T, tmpl string) {
		vars := map[string]string{"ME": "m", "FROMTIME": "t", "FROMMTA": "f"}
		out := Substitute(tmpl, vars)
		clean, _, _ := strings.Cut(tmpl, "\x00")
		if !strings.Contains(clean, "[#") && out != clean {
			t.Fatalf("text without placeholders changed: %q -> %q", tmpl, out)
		}
		if n := Substitute(tmpl, nil); len(n) > len(clean) {
			t.Fatalf("expansion without variables grew: %q -> %q", tmpl, n)
		}
	})
}

// FuzzBuild builds reports about arbitrary message data and control file
// tails: Build never fails on readable data, the boundary never occurs in the
// message, and go-message reads the report as three parts.
func FuzzBuild(f *testing.F) {
	f.Add("From: a@b\n\n--=_courier_0\nbody\n", "I0 P [127.0.0.1]\nI0 T smtp\nI0 R 550 no\nF0 1795319713\n", false)
	f.Add("Subject: caf\xc3\xa9\n\n\xff\n--=_COURIER_12\n", "I0 C refused\nD0 1795319713\nC1795319713\n", true)
	f.Add("no newline", "S0 1795319713 l\n", false)
	s := Settings{Me: "mx.example.test", DSNFrom: "<@>", Limit: DefaultLimit, ToAuthAddr: true, DefaultNotifyDelay: true,
		Texts: Texts{Header: "Content-Type: text/plain\n\n[#ME#]\n", Footer: "\n--\n", Delivered: "\nD:\n", Relayed: "\nR:\n",
			Failed: "\nF:\n", Delayed: "\n%s:\n", SubjectNotice: "n", SubjectWarn: "w"}}
	f.Fuzz(func(t *testing.T, data, records string, delay bool) {
		ctl := strings.Join(join(ctlHead("a@x", "dns; x", "", ""), []string{"rr@remote.example", "R", "NSFD"}, ctlTail("smtp")), "\n") + "\n" + records
		c, err := parseCtl(ctl)
		if err != nil {
			return
		}
		k := Final
		if delay {
			k = Delay
		}
		r, err := Build(c, strings.NewReader(data), int64(len(data)), arrival, k, s)
		if err != nil {
			t.Fatalf("Build: %v", err)
		}
		if r == nil {
			if Needed(c, k, s) {
				t.Fatal("Needed is true but Build found nothing to report")
			}
			return
		}
		e, err := message.Read(bytes.NewReader(r.Message))
		if err != nil {
			t.Fatalf("report unreadable: %v", err)
		}
		_, params, _ := e.Header.ContentType()
		for _, line := range strings.Split(data, "\n") {
			if strings.HasPrefix(strings.ToLower(line), "--"+params["boundary"]) {
				t.Fatalf("boundary %q occurs in the message", params["boundary"])
			}
		}
		mr := e.MultipartReader()
		n := 0
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("part %d: %v", n+1, err)
			}
			if _, err := io.Copy(io.Discard, p.Body); err != nil {
				t.Fatalf("part %d: %v", n+1, err)
			}
			n++
		}
		if n != 3 {
			t.Fatalf("%d parts", n)
		}
	})
}
