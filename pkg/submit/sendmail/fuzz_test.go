package sendmail

import (
	"bufio"
	"strings"
	"testing"

	"github.com/gocourier/courier/pkg/submit"
)

// FuzzParseArgs: any command line either parses, with the recipients being
// the arguments after the options, or is refused with a message.
func FuzzParseArgs(f *testing.F) {
	f.Add("-f\x00a@b\x00-N\x00success,delay\x00-oi\x00x@y", false)
	f.Add("-t\x00--\x00-x", true)
	f.Fuzz(func(t *testing.T, line string, rmail bool) {
		args := strings.Split(line, "\x00")
		a, err := ParseArgs(args, rmail)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		n := len(a.Recipients)
		if n > len(args) || strings.Join(a.Recipients, "\x00") != strings.Join(args[len(args)-n:], "\x00") {
			t.Fatalf("recipients %q are not the tail of %q", a.Recipients, args)
		}
		if rmail && n == 0 {
			t.Fatal("rmail without recipients accepted")
		}
	})
}

// FuzzRewriteFrom: whatever the From: fields and the environment, the
// rewrite leaves exactly one From: field, one line long unless it was kept
// as written.
func FuzzRewriteFrom(f *testing.F) {
	f.Add("From: Joe <joe@x>\nFrom: b@c\n", "mu", "mh.example", "Name, Jr.")
	f.Add("Subject: x\n", "", "", "")
	f.Fuzz(func(t *testing.T, header, mailuser, mailhost, name string) {
		h, err := submit.ReadHeader(bufioReader(header), submit.DefaultLimits)
		if err != nil {
			return
		}
		env := map[string]string{"MAILUSER": mailuser, "MAILHOST": mailhost}
		id := identity{getenv: func(k string) string { return env[k] }, passwd: func() (string, string) { return "acct", "G" }}
		before := 0
		orig := map[string]bool{}
		for _, fl := range h.Fields {
			orig[string(fl.Raw)] = true
			if fl.Is("From") {
				before++
			}
		}
		id.rewriteFrom(h, &Args{FullName: name, HasName: name != ""})
		n := 0
		for _, fl := range h.Fields {
			if fl.Is("From") {
				n++
				if !orig[string(fl.Raw)] && strings.Count(string(fl.Raw), "\n") != 1 {
					t.Fatalf("rewritten From: is not one line: %q", fl.Raw)
				}
			}
		}
		if n != 1 {
			t.Fatalf("%d From: fields after the rewrite (%d before)", n, before)
		}
	})
}

func bufioReader(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }
