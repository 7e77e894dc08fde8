package pop3d

import (
	"bufio"
	"errors"
	"strings"
)

// errLineTooLong is a command line longer than the limit; the rest of the
// line has been read and dropped.
var errLineTooLong = errors.New("command line too long")

// readLine reads one command line of at most max bytes, without its line
// end. A longer line is consumed to its end and reported as
// errLineTooLong, so the next command reads cleanly.
func readLine(br *bufio.Reader, max int) (string, int, error) {
	var line []byte
	n := 0
	long := false
	for {
		chunk, err := br.ReadSlice('\n')
		n += len(chunk)
		if !long {
			if len(line)+len(chunk) > max+2 {
				long = true
				line = nil
			} else {
				line = append(line, chunk...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return "", n, err
		}
		break
	}
	if long {
		return "", n, errLineTooLong
	}
	return strings.TrimRight(string(line), "\r\n"), n, nil
}

// Command is one POP3 command line split as the original splits it: the
// verb (upper-cased), its blank-separated arguments, and the text after
// the verb and one separator (PASS and USER take that whole text, so a
// password may hold blanks).
type Command struct {
	Verb string
	Args []string
	Rest string
}

// ParseCommand splits a command line (RFC 1939 §3: keyword, then
// arguments separated by single spaces; like Courier, tabs and repeated
// blanks are accepted too). An empty line has the verb "".
func ParseCommand(line string) Command {
	s := strings.TrimLeft(strings.TrimRight(line, "\r"), " \t")
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return Command{Verb: strings.ToUpper(s)}
	}
	c := Command{Verb: strings.ToUpper(s[:i]), Rest: s[i+1:]}
	c.Args = strings.FieldsFunc(c.Rest, func(r rune) bool { return r == ' ' || r == '\t' })
	return c
}
