package wire

import (
	"bytes"
	"io"
	"os"
	"strconv"
	"strings"
)

// Kind is the syntactic kind of a Token.
type Kind int

// The kinds of tokens in a command (RFC 9051 §4).
const (
	Atom    Kind = iota // an atom, a number, or a fetch attribute with its section: BODY.PEEK[HEADER.FIELDS (From)]<0.10>
	Quoted              // a quoted string, unescaped
	Literal             // a literal {n} or {n+}
	NIL                 // the atom NIL
	List                // a parenthesised list
)

// Token is one argument of a command.
type Token struct {
	Kind Kind
	Text string  // Atom, Quoted, NIL: the text (Atom and NIL as sent, not case-folded)
	Lit  *Lit    // Literal
	List []Token // List
}

// Lit is the content of a literal: in memory when small, in a temporary
// file (already unlinked) when large.
type Lit struct {
	Size   int64
	Binary bool // ~{n}: a literal8 (RFC 3516)
	data   []byte
	file   *os.File
}

// Open returns the literal's content from its start.
func (l *Lit) Open() io.Reader {
	if l.file != nil {
		return io.NewSectionReader(l.file, 0, l.Size)
	}
	return bytes.NewReader(l.data)
}

// Close releases a literal kept in a temporary file.
func (l *Lit) Close() error {
	if l.file != nil {
		return l.file.Close()
	}
	return nil
}

// String returns the text of an atom, a quoted string, or a literal
// (read into memory), and whether t is one of these (an IMAP astring or
// string; NIL and lists are not).
func (t Token) String() (string, bool) {
	switch t.Kind {
	case Atom, Quoted:
		return t.Text, true
	case Literal:
		b, err := io.ReadAll(t.Lit.Open())
		if err != nil {
			return "", false
		}
		return string(b), true
	}
	return "", false
}

// AString returns the value of t as an astring (RFC 9051 §9): like
// String, but the atom NIL is the text "NIL" as sent (a user or mailbox
// may be called "nil").
func (t Token) AString() (string, bool) {
	if t.Kind == NIL {
		return t.Text, true
	}
	return t.String()
}

// Is reports whether t is the atom name, compared without regard to case.
func (t Token) Is(name string) bool { return t.Kind == Atom && strings.EqualFold(t.Text, name) }

// Number returns the value of an atom that is a number (RFC 9051 number,
// 0 to 2^32-1).
func (t Token) Number() (uint32, bool) {
	if t.Kind != Atom || t.Text == "" || t.Text[0] == '+' {
		return 0, false
	}
	n, err := strconv.ParseUint(t.Text, 10, 32)
	return uint32(n), err == nil
}

// Command is one client command with all of its arguments, literals
// included.
type Command struct {
	Tag  string
	Name string  // upper-cased: "FETCH", "UID", "AUTHENTICATE", ...
	Args []Token // after the command name; for UID the first is FETCH, STORE, ...
}

// Close releases the command's literals kept in temporary files.
func (c *Command) Close() {
	var walk func([]Token)
	walk = func(ts []Token) {
		for _, t := range ts {
			if t.Lit != nil {
				t.Lit.Close()
			}
			walk(t.List)
		}
	}
	walk(c.Args)
}
