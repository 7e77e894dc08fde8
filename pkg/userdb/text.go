package userdb

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/gocourier/courier/pkg/config"
)

// Field is one item of a record: "name=value", or a bare "name" flag.
type Field struct {
	Name, Value string
	Bare        bool // written without "=value"
}

// String returns the field as it is written in the text source.
func (f Field) String() string {
	if f.Bare {
		return f.Name
	}
	return f.Name + "=" + f.Value
}

// IsPassword reports whether makeuserdb puts the field into
// userdbshadow.dat: the original's test is /^[^=]*pw=/, a field with a
// value whose name ends in "pw".
func (f Field) IsPassword() bool {
	return !f.Bare && strings.HasSuffix(f.Name, "pw")
}

// Record is one account line of the text source, or a reverse uid record
// ("1000=<TAB>alice": name "1000=", one bare field "alice").
type Record struct {
	Name   string
	Fields []Field
}

// Get returns the value of the first field called name; a bare field has
// the value "".
func (r Record) Get(name string) (string, bool) {
	for _, f := range r.Fields {
		if f.Name == name {
			return f.Value, true
		}
	}
	return "", false
}

// Set replaces the field of the same name where it stands, or appends it.
func (r *Record) Set(f Field) {
	for i := range r.Fields {
		if r.Fields[i].Name == f.Name {
			r.Fields[i] = f
			return
		}
	}
	r.Fields = append(r.Fields, f)
}

// Unset removes the fields called name and reports whether there was one.
func (r *Record) Unset(name string) bool {
	kept := r.Fields[:0]
	found := false
	for _, f := range r.Fields {
		if f.Name == name {
			found = true
			continue
		}
		kept = append(kept, f)
	}
	r.Fields = kept
	return found
}

// FieldsString joins the fields with "|" as the text source and the .dat
// values write them.
func (r Record) FieldsString() string {
	parts := make([]string, len(r.Fields))
	for i, f := range r.Fields {
		parts[i] = f.String()
	}
	return strings.Join(parts, "|")
}

// Text returns the record as one line of the text source, without "\n".
func (r Record) Text() string { return r.Name + "\t" + r.FieldsString() }

// IsReverse reports whether the record is a reverse uid record ("NNN=").
func (r Record) IsReverse() bool {
	n, ok := strings.CutSuffix(r.Name, "=")
	return ok && isDecimal(n)
}

// Entry is a record with the place it was read from.
type Entry struct {
	Record
	File string
	Line int
}

// Where returns "file:line".
func (e Entry) Where() string { return fmt.Sprintf("%s:%d", e.File, e.Line) }

// LineError is one bad line of a text source: the suite's file:line
// error, config.Error (Line 0 for the whole file).
type LineError = config.Error

// maxErrors bounds the errors reported for one source, so a binary file
// given by mistake does not print a million lines.
const maxErrors = 50

// Errors is every bad line found in a source, one per line of Error().
type Errors []*LineError

func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, le := range e {
		lines[i] = le.Error()
	}
	return strings.Join(lines, "\n")
}

// add records an error unless the limit is reached; it reports whether
// more may be added.
func (e *Errors) add(err *LineError) bool {
	if len(*e) < maxErrors {
		*e = append(*e, err)
		return true
	}
	if len(*e) == maxErrors {
		*e = append(*e, &LineError{File: err.File, Reason: "too many errors, giving up"})
	}
	return false
}

// isDecimal reports whether s is a non-empty run of ASCII digits.
func isDecimal(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseID parses a uid or gid field: decimal, at most 32 bits. (The
// original used atol(), which turns "abc" into uid 0: refusing is safer.)
func parseID(s string) (uint32, bool) {
	if !isDecimal(s) {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err == nil
}

// controlChar describes the first control character in s, or "".
func controlChar(s string) string {
	for i := range len(s) {
		c := s[i]
		switch {
		case c == '\r':
			return "a carriage return (DOS line ending?)"
		case c == '\t':
			return "a TAB"
		case c < 0x20 || c == 0x7f:
			return fmt.Sprintf("control character 0x%02x", c)
		}
	}
	return ""
}

// CheckName returns why name cannot be an account name, or "".
func CheckName(name string) string {
	switch {
	case name == "":
		return "empty account name"
	case name[0] == '#':
		return fmt.Sprintf("account name %q starts with #, which makes the line a comment", name)
	case strings.Contains(name, "|"):
		return fmt.Sprintf("account name %q contains |", name)
	}
	if c := controlChar(name); c != "" {
		return fmt.Sprintf("account name %q contains %s", name, c)
	}
	return ""
}

// CheckField returns why f cannot be written into a record, or "".
func CheckField(f Field) string {
	switch {
	case f.Name == "":
		return fmt.Sprintf("field %q has no name", f.String())
	case strings.ContainsAny(f.Name, "=|"):
		return fmt.Sprintf("field name %q contains = or |", f.Name)
	case strings.Contains(f.Value, "|"):
		return fmt.Sprintf("value of field %s contains |, which separates fields", f.Name)
	}
	if c := controlChar(f.Name + f.Value); c != "" {
		return fmt.Sprintf("field %s contains %s", f.Name, c)
	}
	if f.Name == "uid" || f.Name == "gid" {
		if _, ok := parseID(f.Value); !ok || f.Bare {
			return fmt.Sprintf("%s %q is not a decimal number below 2^32", f.Name, f.Value)
		}
	}
	return ""
}

// splitField splits one "name=value" or bare "name" item at its first "=".
func splitField(item string) Field {
	if name, value, ok := strings.Cut(item, "="); ok {
		return Field{Name: name, Value: value}
	}
	return Field{Name: item, Bare: true}
}

// ParseLine parses one non-comment, non-blank line of a text source. The
// error is the reason only; the caller adds file:line.
//
// A line is "name<TAB>field|field|...". Bad: no TAB, an empty name, a name
// starting with "#" or containing "|", a control character anywhere
// (including a second TAB or a carriage return), an empty field between
// two "|", a field without a name, a field given twice, a uid or gid that
// is not a decimal number. Trailing "|" are ignored, as the original's
// split() did.
func ParseLine(line string) (Record, error) {
	name, rest, ok := strings.Cut(line, "\t")
	if !ok {
		if c := controlChar(line); c != "" {
			return Record{}, fmt.Errorf("line contains %s", c)
		}
		return Record{}, fmt.Errorf("no TAB after the account name %q (a record is name<TAB>field=value|...)", line)
	}
	if reason := CheckName(name); reason != "" {
		return Record{}, fmt.Errorf("%s", reason)
	}
	if c := controlChar(rest); c != "" {
		if c == "a TAB" {
			return Record{}, fmt.Errorf("a second TAB in the fields of %s (only one TAB separates the name from the fields)", name)
		}
		return Record{}, fmt.Errorf("the fields of %s contain %s", name, c)
	}
	items := strings.Split(rest, "|")
	for len(items) > 0 && items[len(items)-1] == "" {
		items = items[:len(items)-1]
	}
	rec := Record{Name: name, Fields: make([]Field, 0, len(items))}
	for _, item := range items {
		if item == "" {
			return Record{}, fmt.Errorf("empty field (two | in a row) in the record of %s", name)
		}
		f := splitField(item)
		if reason := CheckField(f); reason != "" {
			return Record{}, fmt.Errorf("%s: %s", name, reason)
		}
		// Records have a handful of fields: a scan beats a map.
		for _, prev := range rec.Fields {
			if prev.Name == f.Name {
				return Record{}, fmt.Errorf("%s: field %s given twice", name, f.Name)
			}
		}
		rec.Fields = append(rec.Fields, f)
	}
	return rec, nil
}

// skipLine reports lines that carry no record: empty, blank (spaces and
// TABs only) and comments starting with "#".
func skipLine(line string) bool {
	return strings.TrimLeft(line, " \t") == "" || line[0] == '#'
}

// ParseText parses one text source file; name is used in the messages. It
// returns every record, or, if any line is bad, nil and an Errors listing
// each bad line as name:line: reason. Two records with the same account
// name are an error naming both lines.
func ParseText(name string, data []byte) ([]Entry, error) {
	p := newParser(bytes.Count(data, []byte("\n")))
	p.parse(name, string(data))
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return p.entries, nil
}

// parser accumulates the records of one or more files, with one map of
// names for the duplicate check across all of them.
type parser struct {
	entries []Entry
	first   map[string]int // name → index in entries
	errs    Errors
}

func newParser(sizeHint int) *parser {
	return &parser{entries: make([]Entry, 0, sizeHint), first: make(map[string]int, sizeHint)}
}

// parse adds the records of one file; it returns false once too many
// errors were seen.
func (p *parser) parse(name, text string) bool {
	for n := 1; text != ""; n++ {
		line, rest, _ := strings.Cut(text, "\n")
		text = rest
		if skipLine(line) {
			continue
		}
		rec, err := ParseLine(line)
		if err != nil {
			if !p.errs.add(&LineError{File: name, Line: n, Reason: err.Error()}) {
				return false
			}
			continue
		}
		if i, dup := p.first[rec.Name]; dup {
			prev := p.entries[i]
			where := fmt.Sprintf("line %d", prev.Line)
			if prev.File != name {
				where = prev.Where()
			}
			if !p.errs.add(&LineError{File: name, Line: n, Reason: fmt.Sprintf("duplicate account %s (first at %s)", rec.Name, where)}) {
				return false
			}
			continue
		}
		p.first[rec.Name] = len(p.entries)
		p.entries = append(p.entries, Entry{Record: rec, File: name, Line: n})
	}
	return true
}

// parseValue splits a stored .dat value into fields. It is lenient: the
// file may have been written by the original makeuserdb, so empty items
// are skipped rather than refused.
func parseValue(v string) []Field {
	var fields []Field
	for item := range strings.SplitSeq(v, "|") {
		if item != "" {
			fields = append(fields, splitField(item))
		}
	}
	return fields
}
