package courierlogger

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gocourier/courier/pkg/logging"
)

func TestParseArgs(t *testing.T) {
	for _, c := range []struct {
		args []string
		want Config
	}{
		{[]string{"compat"}, Config{Name: "compat", Facility: 2}},
		{[]string{"-name=x"}, Config{Name: "x", Facility: 2, Argv: []string{}}},
		{[]string{"/usr/sbin/authdaemond", "-x"}, Config{Name: "authdaemond", Facility: 2, Argv: []string{"/usr/sbin/authdaemond", "-x"}}},
		{[]string{"-pid=/run/p", "-facility=local3", "-user=daemon", "-group=mail", "-droproot", "-respawn", "/bin/prog", "-start"},
			Config{Name: "prog", Facility: 19, PIDFile: "/run/p", User: "daemon", Group: "mail", DropRoot: true, Respawn: true, Mode: Start, Argv: []string{"/bin/prog", "-start"}}},
		{[]string{"-pid=/run/p", "-stop"}, Config{Facility: 2, PIDFile: "/run/p", Mode: Stop, Argv: []string{}}},
		{[]string{"-pid=/run/p", "-restart", "ignored"}, Config{Facility: 2, PIDFile: "/run/p", Mode: Restart, Argv: []string{"ignored"}}},
		{[]string{"-start", "-stop", "-pid=p"}, Config{Facility: 2, PIDFile: "p", Mode: Stop, Argv: []string{}}},
	} {
		got, err := ParseArgs(c.args)
		if err != nil {
			t.Errorf("%q: %v", c.args, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", c.args, got, c.want)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "usage"},
		{[]string{"-bogus"}, "Unknown option '-bogus'"},
		{[]string{"-pid=", "x", "y"}, "Unknown option '-pid='"},
		{[]string{"-name=", "x", "y"}, "Unknown option '-name='"},
		{[]string{"-start", "x"}, "-pid argument required"},
		{[]string{"-pid=p"}, "-name option required for standalone logger"},
		{[]string{"-name=n", "-pid=p"}, "-start must be followed by a command to execute"},
		{[]string{"-facility=security", "-name=x"}, "Unknown facility name 'security'"},
		{[]string{"-user=", "x", "y"}, "-user= needs a user name or uid"},
		{[]string{"-group=", "x", "y"}, "-group= needs a group name or gid"},
		{[]string{"-name=x", ""}, ""},
	} {
		_, err := ParseArgs(c.args)
		if c.want == "" {
			if err != nil {
				t.Errorf("%q: %v", c.args, err)
			}
			continue
		}
		if err == nil || err.Error() != c.want {
			t.Errorf("%q: error %v, want %q", c.args, err, c.want)
		}
	}
}

func TestParseLine(t *testing.T) {
	for _, c := range []struct {
		line string
		sev  logging.Severity
		pid  int
		text string
	}{
		{"plain", logging.SevInfo, 0, "plain"},
		{"ERR: e", logging.SevErr, 0, "e"},
		{"WARN:w", logging.SevWarning, 0, "w"},
		{"ALERT:   a ", logging.SevAlert, 0, "a "},
		{"CRIT: c", logging.SevCrit, 0, "c"},
		{"DEBUG: d", logging.SevDebug, 0, "d"},
		{"INFO: i", logging.SevInfo, 0, "i"},
		{"NOTICE: n", logging.SevNotice, 0, "n"},
		{"err: lower", logging.SevInfo, 0, "err: lower"},
		{"  lead", logging.SevInfo, 0, "lead"},
		{"", logging.SevInfo, 0, ""},
		{"prog[123]: ERR: failed", logging.SevErr, 123, "failed"},
		{"prog[123]: hello", logging.SevInfo, 123, "hello"},
		{"other[123]: hello", logging.SevInfo, 0, "other[123]: hello"},
		{"prog[0]: x", logging.SevInfo, 0, "prog[0]: x"},
		{"prog[12345678901]: x", logging.SevInfo, 0, "prog[12345678901]: x"},
		{"prog[]: x", logging.SevInfo, 0, "prog[]: x"},
		{"prog[12]:x", logging.SevInfo, 0, "prog[12]:x"},
		{"ERR: prog[12]: x", logging.SevErr, 0, "prog[12]: x"},
	} {
		sev, pid, text := ParseLine("prog", c.line)
		if sev != c.sev || pid != c.pid || text != c.text {
			t.Errorf("%q: got %d %d %q, want %d %d %q", c.line, sev, pid, text, c.sev, c.pid, c.text)
		}
	}
}

func TestPieces(t *testing.T) {
	long := strings.Repeat("a", 600)
	p := pieces(long, MaxMessage)
	if len(p) != 2 || len(p[0]) != 511 || len(p[1]) != 89 {
		t.Errorf("600 bytes: %d pieces", len(p))
	}
	// A multi-byte character is not cut.
	s := strings.Repeat("a", 510) + "é" + "b"
	p = pieces(s, MaxMessage)
	if len(p) != 2 || p[0] != strings.Repeat("a", 510) || p[1] != "éb" {
		t.Errorf("utf-8 cut: %q", p)
	}
	if p := pieces("", MaxMessage); len(p) != 1 || p[0] != "" {
		t.Errorf("empty: %q", p)
	}
	if p := pieces(strings.Repeat("x", 511), MaxMessage); len(p) != 1 {
		t.Errorf("511 bytes: %d pieces", len(p))
	}
}

func FuzzParseLine(f *testing.F) {
	f.Add("prog", "prog[123]: ERR: failed")
	f.Fuzz(func(t *testing.T, ident, line string) {
		sev, pid, text := ParseLine(ident, line)
		if sev < logging.SevAlert || sev > logging.SevDebug {
			t.Fatalf("severity %d", sev)
		}
		if pid < 0 || (pid > 0 && !strings.HasPrefix(line, ident+"[")) {
			t.Fatalf("pid %d from %q", pid, line)
		}
		if !strings.HasSuffix(line, text) || strings.HasPrefix(text, " ") {
			t.Fatalf("text %q from %q", text, line)
		}
		parts := pieces(text, MaxMessage)
		if strings.Join(parts, "") != text {
			t.Fatalf("pieces lose data")
		}
		for _, p := range parts {
			if len(p) > MaxMessage {
				t.Fatalf("piece of %d bytes", len(p))
			}
			if utf8.ValidString(text) && !utf8.ValidString(p) {
				t.Fatalf("piece %q cuts a character", p)
			}
		}
	})
}
