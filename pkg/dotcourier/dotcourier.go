// Package dotcourier owns the .courier delivery instruction files of local
// delivery (dot-courier(5), spec dot-courier.md §2 and §3): which file of a
// home directory applies to an address extension (Find, with the -default
// fallbacks and the qmail-style names of the dotextension control file) and
// what its lines say (Parse).
//
// Callers: the courierlocal module (pkg/local) checks that an extension
// exists before it starts a delivery, and the delivery child, running as the
// recipient, finds, reads, parses and carries out the instructions; the
// output of a "||" program is parsed here too.
//
// Parse is stricter than the original in one respect: it reads the whole file
// before anything is delivered and rejects a file with a NUL byte or a
// forwarding line that is not an address list, naming file and line, so that
// a broken file defers the mail instead of half delivering it.
package dotcourier

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/gocourier/courier/pkg/address"
)

// DefaultExtension is the file name stem when the dotextension control file
// is missing or empty: ".courier", ".courier-<ext>".
const DefaultExtension = "courier"

// Kind is the kind of one instruction (spec §3).
type Kind int

const (
	// Mailbox delivers to an mbox file or a maildir: a line starting with
	// "." (relative to the home directory) or "/".
	Mailbox Kind = iota + 1
	// Program runs "$SHELL -c <command>" with the message on its standard
	// input: a line starting with "|".
	Program
	// Dynamic runs a program whose standard output holds more instructions:
	// a line starting with "||".
	Dynamic
	// Forward sends the message on to the addresses of the line: any other
	// line (a legacy "&" or "!" in front is dropped).
	Forward
)

func (k Kind) String() string {
	switch k {
	case Mailbox:
		return "mailbox"
	case Program:
		return "program"
	case Dynamic:
		return "dynamic"
	case Forward:
		return "forward"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Instruction is one delivery instruction.
type Instruction struct {
	Kind Kind
	// Path is the mailbox of a Mailbox instruction, one trailing "/"
	// removed (but "/" alone stays).
	Path string
	// Command is the shell command of a Program or Dynamic instruction,
	// leading blanks removed, continuation lines kept as written (the shell
	// joins a backslash-newline).
	Command string
	// Addresses are the recipients of a Forward instruction, each as
	// "local@domain" (or "local" without a domain, which submission
	// completes).
	Addresses []string
	// Line is the line number the instruction starts on.
	Line int
}

// Parse reads delivery instructions: the contents of a .courier file, or the
// output of a "||" program. name appears in errors ("file:line: reason").
// Empty lines and lines starting with "#" are ignored; a file with nothing else
// has no instructions (the mail is discarded, spec §2).
func Parse(name string, data []byte) ([]Instruction, error) {
	var out []Instruction
	line := 1
	for len(data) > 0 {
		start := line
		var text string
		switch data[0] {
		case '\n':
			data = data[1:]
			line++
			continue
		case '#':
			_, data, line = plainLine(data, line)
			continue
		case '.', '/':
			text, data, line = plainLine(data, line)
			if err := noNUL(name, start, text); err != nil {
				return nil, err
			}
			if len(text) > 1 && strings.HasSuffix(text, "/") {
				text = text[:len(text)-1]
			}
			out = append(out, Instruction{Kind: Mailbox, Path: text, Line: start})
		case '|':
			text, data, line = continuedLine(data[1:], line, false)
			if err := noNUL(name, start, text); err != nil {
				return nil, err
			}
			kind := Program
			if strings.HasPrefix(text, "|") {
				kind = Dynamic
				text = text[1:]
			}
			text = strings.TrimLeft(text, " \t")
			if strings.TrimSpace(text) == "" {
				return nil, &Error{File: name, Line: start, Reason: "program delivery without a command"}
			}
			out = append(out, Instruction{Kind: kind, Command: text, Line: start})
		default:
			if data[0] == '&' || data[0] == '!' {
				data = data[1:]
			}
			text, data, line = continuedLine(data, line, true)
			if err := noNUL(name, start, text); err != nil {
				return nil, err
			}
			addrs, err := forwardList(text)
			if err != nil {
				return nil, &Error{File: name, Line: start, Reason: err.Error()}
			}
			if len(addrs) > 0 {
				out = append(out, Instruction{Kind: Forward, Addresses: addrs, Line: start})
			}
		}
	}
	return out, nil
}

// plainLine takes one line without continuation.
func plainLine(data []byte, line int) (string, []byte, int) {
	i := bytes.IndexByte(data, '\n')
	if i < 0 {
		return string(data), nil, line
	}
	return string(data[:i]), data[i+1:], line + 1
}

// continuedLine takes a line that may continue: a backslash followed by
// optional blanks and a newline joins the next line (deliver.C skip_eol).
// For forwarding lines (zap) the backslash and the newline become spaces.
func continuedLine(data []byte, line int, zap bool) (string, []byte, int) {
	var b strings.Builder
	i := 0
	for i < len(data) {
		c := data[i]
		if c == '\n' {
			return b.String(), data[i+1:], line + 1
		}
		i++
		if c != '\\' || i >= len(data) {
			b.WriteByte(c)
			continue
		}
		j := i
		for j < len(data) && (data[j] == ' ' || data[j] == '\t') {
			j++
		}
		if j >= len(data) || data[j] != '\n' {
			b.WriteByte(c)
			continue
		}
		if zap {
			b.WriteByte(' ')
			b.Write(data[i:j])
			b.WriteByte(' ')
		} else {
			b.WriteByte(c)
			b.Write(data[i : j+1])
		}
		i = j + 1
		line++
	}
	return b.String(), nil, line
}

func noNUL(name string, line int, text string) error {
	if strings.IndexByte(text, 0) >= 0 {
		return &Error{File: name, Line: line, Reason: "NUL byte in the line"}
	}
	return nil
}

// forwardList parses a forwarding line as an RFC 5322 address list and
// returns its addresses in the form submission takes (the original prints
// each with rfc822 display_address).
func forwardList(text string) ([]string, error) {
	if strings.TrimSpace(text) == "" {
		return nil, nil
	}
	list, err := address.ParseHeaderList(text)
	if err != nil {
		return nil, fmt.Errorf("forwarding line is not an address list: %v", err)
	}
	var out []string
	for _, m := range list {
		if m.Null || m.Local == "" && m.Domain == "" {
			continue
		}
		s := address.FormatLocal(m.Local)
		if m.Domain != "" {
			s += "@" + m.Domain
		}
		out = append(out, s)
	}
	return out, nil
}

// Error is a malformed instruction, with its file and line.
type Error struct {
	File   string
	Line   int
	Reason string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Reason)
}

// File is the instruction file that applies to an address.
type File struct {
	// Name is the file name relative to the home directory: ".courier",
	// ".courier-foo-bar", ".courier-foo-default", ...
	Name string
	// Default is the part of the extension a "-default" file matched (the
	// DEFAULT variable of programs), "" for an exact match.
	Default string
}

// Find finds the instruction file of extension ext in the home directory
// home (spec §2; dotcourier.c local_dotcourier). stem is the dotextension
// control file's value ("" for DefaultExtension). Every "." of the extension
// becomes ":" in the file name. For ext "foo-bar" it tries, with lstat,
// .courier-foo-bar, .courier-foo-default, .courier-default.
//
// An empty ext gives .courier without looking (a missing .courier means the
// default delivery). When no file exists the error matches fs.ErrNotExist:
// the address does not exist. Any other lstat error is returned as it is;
// the original then presumes the address valid, and the delivery, which reads
// the file, fails temporarily.
func Find(home, ext, stem string) (File, error) {
	if stem == "" {
		stem = DefaultExtension
	}
	base := "." + stem
	if ext == "" {
		return File{Name: base}, nil
	}
	name := strings.ReplaceAll(ext, ".", ":")
	if _, err := os.Lstat(filepath.Join(home, base+"-"+name)); err == nil {
		return File{Name: base + "-" + name}, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return File{}, err
	}
	// Drop one "-part" at a time and try "<rest>-default".
	prefix := name
	for {
		i := strings.LastIndexByte(prefix, '-')
		var cand string
		var def string
		if i < 0 {
			if prefix == "" {
				break
			}
			cand, def, prefix = base+"-default", ext, ""
		} else {
			prefix = prefix[:i]
			cand, def = base+"-"+prefix+"-default", ext[i+1:]
		}
		if _, err := os.Lstat(filepath.Join(home, cand)); err == nil {
			return File{Name: cand, Default: def}, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return File{}, err
		}
	}
	return File{}, fmt.Errorf("%s: no %s file for extension %q: %w", home, base, ext, fs.ErrNotExist)
}
