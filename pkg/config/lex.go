package config

import (
	"fmt"
	"strings"
)

// The lexer reads the POSIX shell subset that Courier's VAR files are
// written in (the start scripts source them with /bin/sh, Debian's dash):
// words made of unquoted text, backslash escapes, '...', "..." and $NAME or
// ${NAME} references; commands separated by newlines or ';'; '#' comments at
// the start of a word; backslash-newline continuation. Anything else a shell
// would run (command substitution, pipes, redirections, ${x:-...} forms) is
// rejected with the line it starts on, because evaluating it would mean
// running a shell.

type segKind uint8

const (
	segLit    segKind = iota // unquoted literal text
	segQuoted                // quoted or backslash-escaped literal text
	segVar                   // $NAME or ${NAME}
)

type segment struct {
	kind segKind
	text string // literal text, or the variable name
}

type word struct{ segs []segment }

func (w *word) add(k segKind, s string) {
	if s == "" {
		return
	}
	if n := len(w.segs); n > 0 && k != segVar && w.segs[n-1].kind == k {
		w.segs[n-1].text += s
		return
	}
	w.segs = append(w.segs, segment{k, s})
}

// assignment splits NAME=value words. ok is false for words that are not
// assignments to sh; bad is set for NAME parts that are not valid names
// ("1A=x", "A-B=x"), which sh would try to run as commands.
func (w word) assignment() (name string, value word, ok bool, bad string) {
	if len(w.segs) == 0 || w.segs[0].kind != segLit {
		return "", word{}, false, ""
	}
	first := w.segs[0].text
	i := strings.IndexByte(first, '=')
	if i <= 0 {
		return "", word{}, false, ""
	}
	name = first[:i]
	if !isName(name) {
		return "", word{}, false, name
	}
	value.add(segLit, first[i+1:])
	for _, s := range w.segs[1:] {
		value.add(s.kind, s.text)
	}
	return name, value, true, ""
}

type command struct {
	words []word
	line  int    // line the command starts on
	raw   string // source text, for messages
}

// item is one element of a section body: a blank line, a comment line, or a
// statement (one or more commands) covering lines first..last.
type item struct {
	first, last int
	setting     bool
	cmds        []command
}

type lexer struct {
	file string
	s    string
	pos  int
	line int
}

func (lx *lexer) errf(line int, format string, args ...any) error {
	return &Error{File: lx.file, Line: line, Reason: fmt.Sprintf(format, args...)}
}

// lexChunk splits text (whole lines, starting at line firstLine of file) into
// items.
func lexChunk(file, text string, firstLine int) ([]item, error) {
	lx := &lexer{file: file, s: text, line: firstLine}
	var items []item
	for lx.pos < len(lx.s) {
		i := lx.pos
		for i < len(lx.s) && (lx.s[i] == ' ' || lx.s[i] == '\t') {
			i++
		}
		if i == len(lx.s) || lx.s[i] == '\n' || lx.s[i] == '#' {
			items = append(items, item{first: lx.line, last: lx.line})
			lx.skipLine()
			continue
		}
		first := lx.line
		cmds, last, err := lx.statement()
		if err != nil {
			return nil, err
		}
		items = append(items, item{first: first, last: last, setting: true, cmds: cmds})
	}
	return items, nil
}

func (lx *lexer) skipLine() {
	if j := strings.IndexByte(lx.s[lx.pos:], '\n'); j >= 0 {
		lx.pos += j + 1
	} else {
		lx.pos = len(lx.s)
	}
	lx.line++
}

// statement reads commands up to an unquoted newline; last is the line of
// that newline.
func (lx *lexer) statement() (cmds []command, last int, err error) {
	cur := command{line: lx.line}
	start := lx.pos
	finish := func() {
		if len(cur.words) > 0 {
			cur.raw = strings.TrimSpace(lx.s[start:lx.pos])
			cmds = append(cmds, cur)
		}
	}
	for {
		lx.skipBlanks()
		if lx.pos >= len(lx.s) {
			finish()
			return cmds, lx.line, nil
		}
		switch c := lx.s[lx.pos]; c {
		case '\n':
			finish()
			last = lx.line
			lx.pos++
			lx.line++
			return cmds, last, nil
		case ';':
			if len(cur.words) == 0 {
				return nil, 0, lx.errf(lx.line, "syntax error: unexpected ';'")
			}
			finish()
			lx.pos++
			cur = command{line: lx.line}
			start = lx.pos
		case '#':
			j := strings.IndexByte(lx.s[lx.pos:], '\n')
			if j < 0 {
				j = len(lx.s) - lx.pos
			}
			// The comment is not part of the command's text.
			if len(cur.words) > 0 {
				cur.raw = strings.TrimSpace(lx.s[start:lx.pos])
				cmds = append(cmds, cur)
				cur = command{}
			}
			lx.pos += j
			start = lx.pos
		case '|', '&', '<', '>', '(', ')':
			return nil, 0, lx.errf(lx.line, "unsupported shell syntax %q: a configuration file may only set variables (NAME=value)", c)
		default:
			if len(cur.words) == 0 {
				cur.line = lx.line
			}
			w, err := lx.word()
			if err != nil {
				return nil, 0, err
			}
			cur.words = append(cur.words, w)
		}
	}
}

// skipBlanks skips spaces, tabs and backslash-newline continuations.
func (lx *lexer) skipBlanks() {
	for lx.pos < len(lx.s) {
		switch {
		case lx.s[lx.pos] == ' ' || lx.s[lx.pos] == '\t':
			lx.pos++
		case lx.s[lx.pos] == '\\' && lx.pos+1 < len(lx.s) && lx.s[lx.pos+1] == '\n':
			lx.pos += 2
			lx.line++
		default:
			return
		}
	}
}

func (lx *lexer) word() (word, error) {
	var w word
	for lx.pos < len(lx.s) {
		c := lx.s[lx.pos]
		switch c {
		case ' ', '\t', '\n', ';', '|', '&', '<', '>', '(', ')':
			return w, nil
		case '\\':
			if lx.pos+1 >= len(lx.s) {
				// dash keeps a backslash that ends the file.
				w.add(segQuoted, `\`)
				lx.pos++
				continue
			}
			if lx.s[lx.pos+1] == '\n' {
				lx.pos += 2
				lx.line++
				continue
			}
			w.add(segQuoted, lx.s[lx.pos+1:lx.pos+2])
			lx.pos += 2
		case '\'':
			j := strings.IndexByte(lx.s[lx.pos+1:], '\'')
			if j < 0 {
				return w, lx.errf(lx.line, "unterminated single quote")
			}
			text := lx.s[lx.pos+1 : lx.pos+1+j]
			if strings.IndexByte(text, 0) >= 0 {
				return w, lx.errf(lx.line, "NUL byte inside quotes")
			}
			w.add(segQuoted, text)
			lx.line += strings.Count(text, "\n")
			lx.pos += j + 2
		case '"':
			if err := lx.dquote(&w); err != nil {
				return w, err
			}
		case '$':
			if err := lx.dollar(&w, segLit); err != nil {
				return w, err
			}
		case '`':
			return w, lx.errf(lx.line, "command substitution (`...`) is not supported: write the value itself")
		case '\r':
			return w, lx.errf(lx.line, "carriage return: the file has DOS line endings; convert it to Unix (LF) line endings")
		case 0:
			return w, lx.errf(lx.line, "NUL byte")
		default:
			j := lx.pos + 1
			for j < len(lx.s) && isPlain(lx.s[j]) {
				j++
			}
			w.add(segLit, lx.s[lx.pos:j])
			lx.pos = j
		}
	}
	return w, nil
}

// isPlain reports bytes that stand for themselves in an unquoted word.
func isPlain(c byte) bool {
	switch c {
	case ' ', '\t', '\n', ';', '|', '&', '<', '>', '(', ')', '\\', '\'', '"', '$', '`', '\r', 0:
		return false
	}
	return true
}

func (lx *lexer) dquote(w *word) error {
	startLine := lx.line
	lx.pos++
	for {
		if lx.pos >= len(lx.s) {
			return lx.errf(startLine, "unterminated double quote")
		}
		c := lx.s[lx.pos]
		switch c {
		case '"':
			lx.pos++
			return nil
		case '\\':
			if lx.pos+1 >= len(lx.s) {
				return lx.errf(startLine, "unterminated double quote")
			}
			switch n := lx.s[lx.pos+1]; n {
			case '$', '`', '"', '\\':
				w.add(segQuoted, lx.s[lx.pos+1:lx.pos+2])
				lx.pos += 2
			case '\n':
				lx.pos += 2
				lx.line++
			default:
				w.add(segQuoted, `\`)
				lx.pos++
			}
		case '$':
			if err := lx.dollar(w, segQuoted); err != nil {
				return err
			}
		case '`':
			return lx.errf(lx.line, "command substitution (`...`) is not supported: write the value itself")
		case 0:
			return lx.errf(lx.line, "NUL byte inside quotes")
		case '\n':
			w.add(segQuoted, "\n")
			lx.pos++
			lx.line++
		default:
			j := lx.pos + 1
			for j < len(lx.s) && !strings.ContainsRune("\"\\$`\n\x00", rune(lx.s[j])) {
				j++
			}
			w.add(segQuoted, lx.s[lx.pos:j])
			lx.pos = j
		}
	}
}

// dollar reads a $ expansion; a '$' that starts none stands for itself.
func (lx *lexer) dollar(w *word, lit segKind) error {
	lx.pos++
	if lx.pos >= len(lx.s) {
		w.add(lit, "$")
		return nil
	}
	c := lx.s[lx.pos]
	switch {
	case c == '{':
		rest := lx.s[lx.pos+1:]
		j := strings.IndexAny(rest, "}\n")
		if j < 0 || rest[j] != '}' {
			return lx.errf(lx.line, "unterminated ${")
		}
		name := rest[:j]
		if !isName(name) {
			if name == "" {
				return lx.errf(lx.line, "bad substitution ${}")
			}
			if len(name) > 40 {
				name = name[:40] + "..."
			}
			return lx.errf(lx.line, "unsupported parameter expansion ${%s}: only $NAME and ${NAME} are supported", name)
		}
		w.add(segVar, name)
		lx.pos += j + 2
	case c == '(':
		return lx.errf(lx.line, "command substitution $(...) is not supported: write the value itself")
	case isNameStart(c):
		j := lx.pos + 1
		for j < len(lx.s) && isNameChar(lx.s[j]) {
			j++
		}
		w.add(segVar, lx.s[lx.pos:j])
		lx.pos = j
	case c >= '0' && c <= '9' || strings.IndexByte("@*#?$!-", c) >= 0:
		return lx.errf(lx.line, "special parameter $%c is not supported in a configuration file", c)
	default:
		w.add(lit, "$")
	}
	return nil
}

func isNameStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isNameChar(c byte) bool { return isNameStart(c) || c >= '0' && c <= '9' }

// isName reports a valid shell variable name.
func isName(s string) bool {
	if s == "" || !isNameStart(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isNameChar(s[i]) {
			return false
		}
	}
	return true
}
