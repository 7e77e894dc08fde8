package userdb

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/gocourier/courier/pkg/safeio"
)

// newFileMode is the mode of a text file the userdb command creates (the
// original ran under umask 066).
const newFileMode = 0o600

// Target resolves the userdb command's "[path/.../]name" argument: the
// part before the last "/" names a file (or a link to one) inside the
// source directory, relative to it.
func (s Source) Target(arg string) (file, name string) {
	if i := strings.LastIndexByte(arg, '/'); i >= 0 {
		return s.Path + "/" + arg[:i], arg[i+1:]
	}
	return s.Path, arg
}

// recordName is the account name a text line defines for the userdb
// command: the text before the first TAB (the whole line if there is
// none). Comments and empty lines define none.
func recordName(line string) string {
	if line == "" || line[0] == '#' {
		return ""
	}
	name, _, _ := strings.Cut(line, "\t")
	return name
}

// splitLines splits a text file into lines without their "\n"; a last
// line without "\n" is kept (and gets one when the file is written back).
func splitLines(data []byte) []string {
	if len(data) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

// editFile rewrites one text file of the source the way the userdb command
// does: under an flock on ".lock.<file>" in the file's directory, a new
// ".tmp.<file>" is written, fsynced, given the old file's mode and owner
// (0600 for a new file) and renamed over the file. Symbolic links to the
// file are followed. edit gets the current lines and returns the new ones
// and whether anything changed; a missing file is edited as an empty one
// when create is set and left alone otherwise.
func editFile(path string, create bool, edit func(lines []string) ([]string, bool, error)) error {
	real, err := filepath.EvalSymlinks(path)
	if errors.Is(err, fs.ErrNotExist) {
		real = path
	} else if err != nil {
		return err
	}
	dir, base := filepath.Split(real)
	if dir == "" {
		dir = "."
	}
	lock, err := lockFile(filepath.Join(dir, ".lock."+base), newFileMode)
	if err != nil {
		return err
	}
	defer lock.Close()
	fi, err := os.Stat(real)
	exists := err == nil
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if !create {
			return nil
		}
	case err != nil:
		return err
	case !fi.Mode().IsRegular():
		return toolError(path + ": not a file.")
	}
	var data []byte
	if exists {
		if data, err = os.ReadFile(real); err != nil {
			return err
		}
	}
	lines, changed, err := edit(splitLines(data))
	if err != nil || !changed {
		return err
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	mode := os.FileMode(newFileMode)
	if exists {
		mode = fi.Mode().Perm()
	}
	tmp := filepath.Join(dir, ".tmp."+base)
	if err := writeSynced(tmp, b.String(), mode); err != nil {
		os.Remove(tmp)
		return err
	}
	if exists && os.Geteuid() == 0 {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			if err := os.Chown(tmp, int(st.Uid), int(st.Gid)); err != nil {
				os.Remove(tmp)
				return err
			}
		}
	}
	if err := os.Rename(tmp, real); err != nil {
		os.Remove(tmp)
		return err
	}
	return safeio.SyncDir(dir)
}

func writeSynced(path, content string, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// findRecord returns the index of the first line defining name, or -1.
func findRecord(lines []string, name string) int {
	for i, l := range lines {
		if recordName(l) == name {
			return i
		}
	}
	return -1
}

// parseForEdit parses the line of the record being edited. A line holding
// only the name (no TAB) is a record without fields, as the original
// treated it.
func parseForEdit(file string, lines []string, i int) (Record, error) {
	if !strings.Contains(lines[i], "\t") {
		return Record{Name: lines[i]}, nil
	}
	rec, err := ParseLine(lines[i])
	if err != nil {
		return Record{}, &LineError{File: file, Line: i + 1, Reason: err.Error()}
	}
	return rec, nil
}

// Set sets fields of the record called name in file (created, mode 0600,
// if missing): listed fields replace those of the same name where they
// stand, others are appended; a new record is appended at the end of the
// file. Names and fields are checked first (CheckName, CheckField).
func Set(file, name string, fields []Field) error {
	if reason := CheckName(name); reason != "" {
		return errors.New(reason)
	}
	for _, f := range fields {
		if reason := CheckField(f); reason != "" {
			return errors.New(reason)
		}
	}
	return editFile(file, true, func(lines []string) ([]string, bool, error) {
		i := findRecord(lines, name)
		if i < 0 {
			rec := Record{Name: name}
			for _, f := range fields {
				rec.Set(f)
			}
			return append(lines, rec.Text()), true, nil
		}
		rec, err := parseForEdit(file, lines, i)
		if err != nil {
			return nil, false, err
		}
		for _, f := range fields {
			rec.Set(f)
		}
		lines[i] = rec.Text()
		return lines, true, nil
	})
}

// editRecord edits file (never creating it) when it holds a record called
// name: edit gets the lines and the index of the record's line, and
// returns the new lines and whether they changed. It reports whether the
// record exists.
func editRecord(file, name string, edit func(lines []string, i int) ([]string, bool, error)) (bool, error) {
	found := false
	err := editFile(file, false, func(lines []string) ([]string, bool, error) {
		i := findRecord(lines, name)
		if i < 0 {
			return nil, false, nil
		}
		found = true
		return edit(lines, i)
	})
	return found, err
}

// Unset removes the named fields from the record called name in file. It
// reports whether the record exists.
func Unset(file, name string, fieldNames []string) (bool, error) {
	return editRecord(file, name, func(lines []string, i int) ([]string, bool, error) {
		rec, err := parseForEdit(file, lines, i)
		if err != nil {
			return nil, false, err
		}
		changed := false
		for _, n := range fieldNames {
			changed = rec.Unset(n) || changed
		}
		lines[i] = rec.Text()
		return lines, changed, nil
	})
}

// Delete removes the record called name from file and reports whether it
// was there.
func Delete(file, name string) (bool, error) {
	return editRecord(file, name, func(lines []string, i int) ([]string, bool, error) {
		return append(lines[:i], lines[i+1:]...), true, nil
	})
}

// readForShow reads file for `userdb -show`; a missing file reads as empty.
func readForShow(file string) ([]string, error) {
	fi, err := os.Stat(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, toolError(file + ": not a file.")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return splitLines(data), nil
}

// Names lists the record names of file in file order (`userdb -show`).
func Names(file string) ([]string, error) {
	lines, err := readForShow(file)
	var names []string
	for _, l := range lines {
		if n := recordName(l); n != "" {
			names = append(names, n)
		}
	}
	return names, err
}

// Show returns the record called name in file as written there (`userdb
// -show file name`), without checking it.
func Show(file, name string) (Record, bool, error) {
	lines, err := readForShow(file)
	if err != nil {
		return Record{}, false, err
	}
	i := findRecord(lines, name)
	if i < 0 {
		return Record{}, false, nil
	}
	_, rest, _ := strings.Cut(lines[i], "\t")
	return Record{Name: name, Fields: parseValue(rest)}, true, nil
}
