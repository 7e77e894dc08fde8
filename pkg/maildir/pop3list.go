package maildir

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// POP3ListFile is POP3's record of the INBOX (spec/imap-pop3.md §4): the
// message sizes as POP3 counts them and the UIDL of every message.
const POP3ListFile = "courierpop3dsizelist"

// pop3ListVersion is the version Courier's pop3d writes; it also reads
// version 2, which lacks the UTF-8 field.
const pop3ListVersion = 3

// POP3List is the content of courierpop3dsizelist:
//
//	/3 <next uid> <uidvalidity>
//	<file name> <size> <uid>:<uidvalidity>:<utf8 0|1>
//	...
//
// The file name is the message's name in cur/ when the list was written
// (matched later by its part before ":2,"), the size counts CRLF line
// ends, and the UIDL is "UID<uid>-<uidvalidity>".
type POP3List struct {
	Version     int // 2 or 3 as read; written as 3
	NextUID     uint64
	UIDValidity uint64
	Entries     []POP3Entry
}

// POP3Entry is one message of the list.
type POP3Entry struct {
	File        string
	Size        int64
	UID         uint64
	UIDValidity uint64
	UTF8        bool // the message has 8-bit headers (RFC 6856 matters)
}

// UIDL returns the entry's unique id as Courier's pop3d prints it.
func (e POP3Entry) UIDL() string {
	if e.UIDValidity == 0 {
		return "UID" + strconv.FormatUint(e.UID, 10)
	}
	return "UID" + strconv.FormatUint(e.UID, 10) + "-" + strconv.FormatUint(e.UIDValidity, 10)
}

// ParsePOP3List parses a courierpop3dsizelist file. A first line that is
// not a version 2 or 3 header is an error: the list is then unusable, and
// Courier starts a new one with a new UIDVALIDITY. A data line that does
// not parse is left out and reported in skipped, as Courier skips it (the
// message gets a new UIDL).
func ParsePOP3List(file string, data []byte) (l *POP3List, skipped []error, err error) {
	head, rest, _ := bytes.Cut(data, []byte{'\n'})
	f := strings.Fields(strings.TrimPrefix(string(head), "/"))
	if len(head) == 0 || head[0] != '/' || len(f) != 3 {
		return nil, nil, &ParseError{file, 1, fmt.Sprintf("header %q is not \"/<version> <next uid> <uidvalidity>\"", head)}
	}
	l = &POP3List{}
	if l.Version, err = strconv.Atoi(f[0]); err != nil || (l.Version != pop3ListVersion && l.Version != pop3ListVersion-1) {
		return nil, nil, &ParseError{file, 1, fmt.Sprintf("version %q is not 2 or 3", f[0])}
	}
	if l.NextUID, err = strconv.ParseUint(f[1], 10, 64); err != nil {
		return nil, nil, &ParseError{file, 1, fmt.Sprintf("next uid %q is not a number", f[1])}
	}
	if l.UIDValidity, err = strconv.ParseUint(f[2], 10, 64); err != nil {
		return nil, nil, &ParseError{file, 1, fmt.Sprintf("uidvalidity %q is not a number", f[2])}
	}
	lineNo := 1
	for len(rest) > 0 {
		lineNo++
		var line []byte
		var ok bool
		line, rest, ok = bytes.Cut(rest, []byte{'\n'})
		if !ok {
			skipped = append(skipped, &ParseError{file, lineNo, "last line is not terminated by a newline (truncated file?)"})
			break
		}
		e, err := parsePOP3Entry(string(line))
		if err != nil {
			skipped = append(skipped, &ParseError{file, lineNo, err.Error()})
			continue
		}
		l.Entries = append(l.Entries, e)
	}
	return l, skipped, nil
}

// parsePOP3Entry parses "<file> <size> <uid>:<uidv>[:<utf8>]": the last
// two blank-separated fields are the numbers, the rest is the file name.
func parsePOP3Entry(line string) (POP3Entry, error) {
	i := strings.LastIndexByte(line, ' ')
	if i < 0 {
		return POP3Entry{}, fmt.Errorf("%q has no size and uid", line)
	}
	j := strings.LastIndexByte(line[:i], ' ')
	if j <= 0 {
		return POP3Entry{}, fmt.Errorf("%q has no file name or size", line)
	}
	e := POP3Entry{File: line[:j]}
	if strings.ContainsAny(e.File, "/\x00") {
		return POP3Entry{}, fmt.Errorf("file name %q holds a '/' or NUL", e.File)
	}
	var err error
	if e.Size, err = strconv.ParseInt(line[j+1:i], 10, 64); err != nil || e.Size < 0 {
		return POP3Entry{}, fmt.Errorf("size %q is not a number", line[j+1:i])
	}
	// Courier reads a missing UTF-8 field as 0, in either version.
	ids := strings.Split(line[i+1:], ":")
	if len(ids) < 2 || len(ids) > 3 {
		return POP3Entry{}, fmt.Errorf("uid field %q is not <uid>:<uidvalidity>:<utf8>", line[i+1:])
	}
	if e.UID, err = strconv.ParseUint(ids[0], 10, 64); err != nil {
		return POP3Entry{}, fmt.Errorf("uid %q is not a number", ids[0])
	}
	if e.UIDValidity, err = strconv.ParseUint(ids[1], 10, 64); err != nil {
		return POP3Entry{}, fmt.Errorf("uidvalidity %q is not a number", ids[1])
	}
	if len(ids) == 3 {
		switch ids[2] {
		case "0":
		case "1":
			e.UTF8 = true
		default:
			return POP3Entry{}, fmt.Errorf("utf8 flag %q is not 0 or 1", ids[2])
		}
	}
	return e, nil
}

// Format returns the list as Courier writes it (version 3).
func (l *POP3List) Format() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "/%d %d %d\n", pop3ListVersion, l.NextUID, l.UIDValidity)
	for _, e := range l.Entries {
		utf8 := 0
		if e.UTF8 {
			utf8 = 1
		}
		fmt.Fprintf(&b, "%s %d %d:%d:%d\n", e.File, e.Size, e.UID, e.UIDValidity, utf8)
	}
	return b.Bytes()
}

// ReadPOP3List reads d's list: nil, nil, nil when there is none.
func (d *Dir) ReadPOP3List() (*POP3List, []error, error) {
	p := filepath.Join(d.Path, POP3ListFile)
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return ParsePOP3List(p, data)
}

// WritePOP3List replaces d's list: a file in tmp/ renamed over it.
func (d *Dir) WritePOP3List(l *POP3List) error {
	p := filepath.Join(d.Path, POP3ListFile)
	if err := writeViaTmp(d.Path, "pop3", p, l.Format(), 0o644, true); err != nil {
		return fmt.Errorf("cannot write the POP3 list %s: %w", p, err)
	}
	return nil
}
