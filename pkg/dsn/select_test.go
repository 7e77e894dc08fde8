package dsn

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/test/testenv"
)

// TestNeeded walks the selection rules of spec §3 and §7 one recipient at a
// time: status, NOTIFY, sender and kind.
func TestNeeded(t *testing.T) {
	cases := []struct {
		sender, notify, result string // result: the records after the submitted ones
		auth                   string
		final, delay           bool
	}{
		{"a@x", "", "F0 1", "", true, false},
		{"a@x", "F", "F0 1", "", true, false},
		{"a@x", "SD", "F0 1", "", false, false},
		{"a@x", "N", "F0 1", "", false, false},
		{"a@x", "", "D0 1", "", true, true}, // a final report counts a deferred recipient as failed
		{"a@x", "D", "D0 1", "", false, true},
		{"a@x", "F", "D0 1", "", true, false},
		{"a@x", "N", "D0 1", "", false, false},
		{"a@x", "", "", "", true, true}, // never attempted: pending counts as deferred
		{"a@x", "", "S0 1 l", "", false, false},
		{"a@x", "S", "S0 1 l", "", true, false},
		{"a@x", "S", "S0 1 r", "", true, false},
		{"a@x", "S", "S0 1", "", false, false}, // relayed to a DSN-capable peer: it reports
		{"", "", "F0 1", "", true, false},
		{"", "F", "F0 1", "", true, false},
		{"", "N", "F0 1", "", false, false},
		{"", "", "D0 1", "", true, false}, // no delay warnings to <>
		{"", "S", "S0 1 l", "", false, false},
		{TripleBounce, "", "F0 1", "", false, false},
		{"a@x", "", "F0 1", TripleBounce, false, false}, // DSNTOAUTHADDR replaces the sender before the check
		{"", "", "F0 1", "u@auth.example", true, false},
	}
	s := Settings{ToAuthAddr: true, DefaultNotifyDelay: true}
	for _, tc := range cases {
		lines := join(ctlHead(tc.sender, "dns; x", "", ""), []string{"rr@remote.example", "R", "N" + tc.notify})
		if tc.auth != "" {
			lines = append(lines, "i"+tc.auth)
		}
		lines = append(lines, ctlTail("smtp")...)
		if tc.result != "" {
			lines = append(lines, tc.result)
		}
		c := parseControl(t, lines...)
		if got := Needed(c, Final, s); got != tc.final {
			t.Errorf("sender %q NOTIFY %q auth %q %q: Needed(Final) = %v", tc.sender, tc.notify, tc.auth, tc.result, got)
		}
		if got := Needed(c, Delay, s); got != tc.delay {
			t.Errorf("sender %q NOTIFY %q auth %q %q: Needed(Delay) = %v", tc.sender, tc.notify, tc.auth, tc.result, got)
		}
	}
	c := parseControl(t, join(ctlHead("a@x", "dns; x", "", ""), []string{"rr@remote.example", "R", "N"}, ctlTail("smtp"), []string{"D0 1"})...)
	if Needed(c, Delay, Settings{}) {
		t.Error("DSNDEFAULTNOTIFYDELAY off still warns a recipient without NOTIFY")
	}
}

func TestParseKind(t *testing.T) {
	for host, want := range map[string]Kind{"final": Final, "delay": Delay, "deferred": Delay} {
		if k, ok := ParseKind(host); !ok || k != want {
			t.Errorf("ParseKind(%q) = %v, %v", host, k, ok)
		}
		if k, _ := ParseKind(host); host != "deferred" && k.String() != host {
			t.Errorf("%v.String() = %q", k, k.String())
		}
	}
	if _, ok := ParseKind("example.com"); ok {
		t.Error("ParseKind accepts a domain")
	}
}

func TestLoadSettings(t *testing.T) {
	dir := configDir(t, "../../etc/dsn", "mx.example.test")
	s, err := LoadSettings(layout.Layout{SysconfDir: dir}, []string{"DSNTOAUTHADDR=0", "DSNDEFAULTNOTIFYDELAY=1", "OTHER=0"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Me != "mx.example.test" || s.Limit != DefaultLimit || s.ToAuthAddr || !s.DefaultNotifyDelay {
		t.Errorf("settings %+v", s)
	}
	if s.DSNFrom != "Mail Delivery System at mx.example.test <@>" || s.DSNFrom != DefaultFrom("mx.example.test") {
		t.Errorf("without dsnfrom, From: is %q", s.DSNFrom)
	}
	if s.Texts.SubjectNotice != "Delivery status report" || !strings.HasPrefix(s.Texts.Header, "Content-Type: text/plain") {
		t.Errorf("texts %+v", s.Texts)
	}
	if got := DefaultFrom("bücher.example"); got != "Mail Delivery System at =?utf-8?q?b=C3=BCcher.example?= <@>" {
		t.Errorf("DefaultFrom of a non-ASCII name: %q", got)
	}

	testenv.WriteFile(t, filepath.Join(dir, "dsnlimit"), "12x\n", 0o644)
	if _, err := LoadSettings(layout.Layout{SysconfDir: dir}, nil); err == nil || !strings.Contains(err.Error(), "dsnlimit") {
		t.Errorf("a bad dsnlimit: %v", err)
	}
	testenv.WriteFile(t, filepath.Join(dir, "dsnlimit"), "1000\n", 0o644)
	if err := os.Remove(filepath.Join(dir, "dsnfailed.txt")); err != nil {
		t.Fatal(err)
	}
	_, err = LoadSettings(layout.Layout{SysconfDir: dir}, nil)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "dsnfailed.txt")+": missing") {
		t.Errorf("a missing dsnfailed.txt: %v", err)
	}
}

// TestDebianFilesUnchanged loads Debian's own configuration directory as it
// is installed.
func TestDebianFilesUnchanged(t *testing.T) {
	testenv.NeedPackage(t, "courier-mta", debianConfig+"/dsnheader.txt")
	s, err := LoadSettings(layout.Layout{SysconfDir: debianConfig}, nil)
	if err != nil {
		t.Fatalf("Debian's %s: %v", debianConfig, err)
	}
	if !strings.Contains(s.Texts.Header, "[#ME#]") || s.Texts.SubjectWarn == "" || s.DSNFrom == "" {
		t.Errorf("Debian settings %+v", s)
	}
}

func TestScanMessage(t *testing.T) {
	cases := []struct {
		data     string
		boundary uint64
		eight    bool
	}{
		{"", 0, false},
		{"a\n--=_courier_0\n", 1, false},
		{"--=_COURIER_0\n--=_Courier_1--\n", 2, false},
		{"--=_courier_12\n--=_courier_0\n", 2, false},  // 12 rules out 1 and 12
		{"--=_courier_05\n", 1, false},                 // "0" is a prefix of "05"
		{"x--=_courier_0\n --=_courier_1\n", 0, false}, // only at a line start
		{"--=_courier_0", 1, false},                    // last line without a newline
		{"\x7f\n", 0, true},                            // the original counts DEL as 8-bit
		{"caf\xc3\xa9\n", 0, true},
		{strings.Repeat("x", 70000) + "--=_courier_0\n", 0, false}, // not at a line start
		{strings.Repeat("x", 70000) + "\n--=_courier_0\n", 1, false},
	}
	for _, tc := range cases {
		got, err := scanMessage(strings.NewReader(tc.data), int64(len(tc.data)))
		if err != nil || got.boundary != tc.boundary || got.eightBit != tc.eight {
			t.Errorf("scan %.40q: %+v %v, want boundary %d eight-bit %v", tc.data, got, err, tc.boundary, tc.eight)
		}
	}
}
