package pop3d

import (
	"bufio"
	"strings"
	"testing"
)

func TestParseCommand(t *testing.T) {
	for _, tc := range []struct {
		line, verb, rest string
		args             int
	}{
		{"quit", "QUIT", "", 0},
		{"PASS  pass word ", "PASS", " pass word ", 2},
		{"  top\t1 \t2", "TOP", "1 \t2", 2},
		{"", "", "", 0},
		{"USER a\r", "USER", "a", 1},
	} {
		c := ParseCommand(tc.line)
		if c.Verb != tc.verb || c.Rest != tc.rest || len(c.Args) != tc.args {
			t.Errorf("ParseCommand(%q) = %+v", tc.line, c)
		}
	}
}

func TestReadLine(t *testing.T) {
	br := bufio.NewReaderSize(strings.NewReader("short\r\n"+strings.Repeat("y", 100)+"\r\nnext\n"), 16)
	if l, _, err := readLine(br, 20); l != "short" || err != nil {
		t.Fatalf("%q %v", l, err)
	}
	if _, n, err := readLine(br, 20); err != errLineTooLong || n != 102 {
		t.Fatalf("long line: %d %v", n, err)
	}
	if l, _, err := readLine(br, 20); l != "next" || err != nil {
		t.Fatalf("after a long line: %q %v", l, err)
	}
}
