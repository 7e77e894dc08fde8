package config

import (
	"strconv"
	"strings"
)

// Courier's configuration files are cut into sections by marker lines
//
//	##NAME: VARIABLE:REVISION
//
// written by the maintainers and kept by sysconftool: a section is the marker,
// its comment text and its setting lines, up to the next marker. The lines
// before the first marker (with the ##VERSION: line) are the header. When a
// new release changes what a setting means, the section's REVISION goes up
// and sysconftool resets the admin's value (see Upgrade).

const markerPrefix = "##NAME:"

// Section is one "##NAME: NAME:REVISION" section of a configuration file, or
// the header before the first marker (Name "", Line 0).
type Section struct {
	Name     string
	Revision int
	File     string
	Line     int    // line of the ##NAME marker
	Marker   string // the marker line as written
	Body     []SectionLine
	// Err is set by SplitSections when the body is not valid (the shell
	// subset of ParseVarFile); Body is then classified line by line.
	Err error

	items []item
}

// SectionLine is one element of a section body: a comment or blank line, or
// a setting (a statement such as NAME=value, export, or ". file"). A setting
// continued over several lines holds all of them in Text, joined by "\n";
// Line is its first line.
type SectionLine struct {
	Line
	Setting bool
}

// Comments returns the comment and blank lines of the section.
func (s *Section) Comments() []Line { return s.lines(false) }

// Settings returns the setting statements of the section.
func (s *Section) Settings() []Line { return s.lines(true) }

func (s *Section) lines(setting bool) []Line {
	var out []Line
	for _, l := range s.Body {
		if l.Setting == setting {
			out = append(out, l.Line)
		}
	}
	return out
}

// settingsText is the section's settings as one comparable string.
func (s *Section) settingsText() string {
	var b strings.Builder
	for _, l := range s.Body {
		if !l.Setting {
			continue
		}
		for _, pl := range strings.Split(l.Text, "\n") {
			b.WriteString(strings.TrimRight(pl, " \t"))
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// splitLines cuts data into lines without their newlines; a final line
// without a newline counts.
func splitLines(data string) []string {
	if data == "" {
		return nil
	}
	lines := strings.Split(data, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// parseMarker reads "##NAME: NAME:REVISION" (spaces around either part are
// allowed: Debian's esmtpd-msa has "##NAME: BLACKLISTS: 0").
func parseMarker(file string, lineNo int, line string) (string, int, error) {
	rest := line[len(markerPrefix):]
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return "", 0, &Error{File: file, Line: lineNo, Reason: "bad section marker " + strconv.Quote(line) + ": want ##NAME: NAME:REVISION"}
	}
	name := strings.TrimSpace(rest[:i])
	revText := strings.TrimSpace(rest[i+1:])
	if name == "" || strings.ContainsAny(name, " \t:") {
		return "", 0, &Error{File: file, Line: lineNo, Reason: "bad section name in marker " + strconv.Quote(line) + ": want ##NAME: NAME:REVISION"}
	}
	rev, err := strconv.Atoi(revText)
	if err != nil || rev < 0 || revText[0] == '+' || revText[0] == '-' {
		return "", 0, &Error{File: file, Line: lineNo, Reason: "bad revision " + strconv.Quote(revText) + " in section marker: want a number"}
	}
	return name, rev, nil
}

// SplitSections cuts a configuration file into its header and its sections
// without evaluating it. A marker line always starts a section, as it does
// for Courier's sysconftool, so a quoted value cannot run across one (sh
// would read the marker as part of the value; we report the quote as
// unterminated). A malformed marker is an error; a section whose
// body is not valid has its Err set, so that sysconftool can still merge a
// file with one broken setting.
func SplitSections(name string, data []byte) (header Section, sections []Section, err error) {
	text := string(data)
	lines := splitLines(text)
	cur := &header
	header.File = name
	start := 0 // index in lines of the current body's first line
	flush := func(end int) {
		// Only the last body may lack a final newline; sh reads a
		// backslash there as itself rather than as a continuation.
		nl := end < len(lines) || strings.HasSuffix(text, "\n")
		cur.fill(lines[start:end], start+1, nl)
	}
	for i, l := range lines {
		if !strings.HasPrefix(l, markerPrefix) {
			continue
		}
		n, rev, err := parseMarker(name, i+1, l)
		if err != nil {
			return Section{}, nil, err
		}
		flush(i)
		sections = append(sections, Section{Name: n, Revision: rev, File: name, Line: i + 1, Marker: l})
		cur = &sections[len(sections)-1]
		start = i + 1
	}
	flush(len(lines))
	return header, sections, nil
}

// fill sets the body of s from its lines, the first being line firstLine;
// nl says whether the last line ended with a newline.
func (s *Section) fill(lines []string, firstLine int, nl bool) {
	if len(lines) == 0 {
		return
	}
	text := strings.Join(lines, "\n")
	if nl {
		text += "\n"
	}
	items, err := lexChunk(s.File, text, firstLine)
	if err != nil {
		s.Err = err
		for i, l := range lines {
			t := strings.TrimLeft(l, " \t")
			s.Body = append(s.Body, SectionLine{
				Line:    Line{Text: l, File: s.File, Line: firstLine + i},
				Setting: t != "" && t[0] != '#',
			})
		}
		return
	}
	s.items = items
	lastLine := firstLine + len(lines) - 1
	for i := range items {
		// A continuation on the body's last line ends at the body.
		items[i].last = min(items[i].last, lastLine)
		it := items[i]
		s.Body = append(s.Body, SectionLine{
			Line: Line{
				Text: strings.Join(lines[it.first-firstLine:it.last-firstLine+1], "\n"),
				File: s.File,
				Line: it.first,
			},
			Setting: it.setting,
		})
	}
}
