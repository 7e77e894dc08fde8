package passwd

import (
	"bytes"
	"errors"
	"io"
	"os"

	"golang.org/x/term"
)

// ReadNew reads a new password the way userdbpw does (spec/userdb.md §4).
// When in is a terminal it prompts "Password: " and "Reenter password: "
// on prompts with echo off, and asks again after "Passwords don't match.";
// otherwise it reads one line (the "\n" removed, a last line without one
// accepted). It returns io.EOF when no password was given.
func ReadNew(in *os.File, prompts io.Writer) (string, error) {
	fd := int(in.Fd())
	if !term.IsTerminal(fd) {
		return readLine(in)
	}
	for {
		io.WriteString(prompts, "Password: ")
		first, err := term.ReadPassword(fd)
		io.WriteString(prompts, "\n")
		if err != nil {
			return "", eofIfEmpty(err)
		}
		io.WriteString(prompts, "Reenter password: ")
		second, err := term.ReadPassword(fd)
		io.WriteString(prompts, "\n")
		if err != nil {
			return "", eofIfEmpty(err)
		}
		if bytes.Equal(first, second) {
			return string(first), nil
		}
		io.WriteString(prompts, "Passwords don't match.\n\n")
	}
}

func eofIfEmpty(err error) error {
	if errors.Is(err, io.EOF) {
		return io.EOF
	}
	return err
}

// readLine reads up to the first "\n", one byte at a time so that nothing
// after the line is consumed from a shared input.
func readLine(r io.Reader) (string, error) {
	var line []byte
	b := make([]byte, 1)
	for {
		n, err := r.Read(b)
		if n == 1 {
			if b[0] == '\n' {
				return string(line), nil
			}
			line = append(line, b[0])
		}
		if err == io.EOF {
			if len(line) == 0 {
				return "", io.EOF
			}
			return string(line), nil
		}
		if err != nil {
			return "", err
		}
	}
}
