package pop3d

import (
	"bufio"
	"strings"
	"testing"
)

// FuzzCommand feeds command lines through the reader and the parser: no
// panic, no hang, and the parts are consistent with the line.
func FuzzCommand(f *testing.F) {
	for _, s := range []string{"USER a@b\r\n", "PASS  two  blanks\r\n", "top 1 5\n", "\t\r\n", "AUTH PLAIN =\r\n", strings.Repeat("x", 9000) + "\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		br := bufio.NewReaderSize(strings.NewReader(in), 16)
		for {
			line, _, err := readLine(br, 64)
			if err == errLineTooLong {
				continue
			}
			if err != nil {
				return
			}
			if len(line) > 66 {
				t.Fatalf("line of %d bytes past a limit of 64", len(line))
			}
			c := ParseCommand(line)
			if c.Verb != strings.ToUpper(c.Verb) || strings.ContainsAny(c.Verb, " \t") {
				t.Fatalf("verb %q of %q", c.Verb, line)
			}
			for _, a := range c.Args {
				if a == "" || strings.ContainsAny(a, " \t") || !strings.Contains(c.Rest, a) {
					t.Fatalf("argument %q of %q", a, line)
				}
			}
		}
	})
}
