package config

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Line is one line of a configuration file, with where it came from.
type Line struct {
	Text string
	File string
	Line int
}

// ReadValue reads a one-value control file (me, defaultdomain, dsnfrom,
// batchsize, ...): its first line with surrounding blanks removed, "" for an
// empty file. Courier reads only the first line of these files (spec §2).
// A missing file gives an error satisfying errors.Is(err, fs.ErrNotExist),
// for which callers use their default.
func ReadValue(path string) (string, error) {
	data, err := readLimited(path)
	if err != nil {
		return "", err
	}
	first, _, _ := strings.Cut(string(data), "\n")
	return strings.TrimSpace(first), nil
}

// ReadLines reads a list control file (locals, esmtpacceptmailfor, ...), or
// the directory variant of one (hosteddomains/, esmtpacceptmailfor.dir/,
// aliases/, smtpaccess/, userdb/): then the non-hidden regular files in it
// are read in name order, as if concatenated. Blank lines and lines whose
// first non-blank character is '#' are dropped; trailing blanks are removed
// and leading ones kept (an aliases continuation line starts with blanks).
// Each line carries its own file and line number for messages.
func ReadLines(path string) ([]Line, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return readListFile(path, nil)
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var out []Line
	for _, n := range names {
		p := filepath.Join(path, n)
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if !st.Mode().IsRegular() {
			// Subdirectories (and devices) are not part of the list.
			continue
		}
		if out, err = readListFile(p, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func readListFile(path string, out []Line) ([]Line, error) {
	data, err := readLimited(path)
	if err != nil {
		return nil, err
	}
	for i, l := range splitLines(string(data)) {
		l = strings.TrimRight(l, " \t\r")
		t := strings.TrimLeft(l, " \t")
		if t == "" || t[0] == '#' {
			continue
		}
		out = append(out, Line{Text: l, File: path, Line: i + 1})
	}
	return out, nil
}
