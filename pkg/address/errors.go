package address

import (
	"fmt"
	"strconv"
)

// Error reports malformed input: what was being parsed, the input itself,
// where the problem is and what it is. Every parser in this package returns
// its errors as *Error, so a caller can log the precise reason while
// answering the peer with a fixed text (courieresmtpd answers "513 Syntax
// error." like Courier).
type Error struct {
	Kind   string // what was parsed: "path", "address", "domain", "parameter", "address list", ...
	Input  string // the text that was parsed
	Pos    int    // byte offset of the problem in Input (0-based)
	Reason string // what is wrong
}

// maxQuoted bounds how much of the input an error message repeats, so that
// an error about a megabyte-long header stays readable in a log.
const maxQuoted = 100

func (e *Error) Error() string {
	return fmt.Sprintf("malformed %s %s: %s at column %d", e.Kind, quoteInput(e.Input), e.Reason, e.Pos+1)
}

func quoteInput(s string) string {
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:maxQuoted]) + fmt.Sprintf("... (%d bytes)", len(s))
}

func errorf(kind, input string, pos int, format string, args ...any) *Error {
	return &Error{Kind: kind, Input: input, Pos: pos, Reason: fmt.Sprintf(format, args...)}
}
