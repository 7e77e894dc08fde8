package userdb

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/gocourier/courier/pkg/layout"
)

// Source is a userdb installation: the text source (one file, or a
// directory whose files are all read) and the files makeuserdb builds from
// it (spec/userdb.md §1-2).
type Source struct {
	Path   string // text source: SysconfDir/userdb, a file or a directory
	Dat    string // userdb.dat: every record without its *pw fields
	Shadow string // userdbshadow.dat: the *pw fields, mode 0600
	Lock   string // userdb.lock: makeuserdb's flock
}

// DefaultSource is the layout's /etc/courier/userdb and its .dat files.
func DefaultSource() Source {
	return FileSource(filepath.Join(layout.Current().SysconfDir, "userdb"))
}

// FileSource is the source of `makeuserdb -f path`: path.dat,
// pathshadow.dat and path.lock next to it. A trailing "/" is dropped, as
// the original does.
func FileSource(path string) Source {
	if len(path) > 1 {
		path = strings.TrimRight(path, "/")
	}
	return Source{Path: path, Dat: path + ".dat", Shadow: path + "shadow.dat", Lock: path + ".lock"}
}

// toolError is an error whose text is the original tool's message,
// verbatim (some end with "." or "!!").
type toolError string

func (e toolError) Error() string { return string(e) }

// notFoundError is makeuserdb's message for a missing source.
type notFoundError struct{ path string }

func (e notFoundError) Error() string { return e.path + ": not found." }
func (e notFoundError) Unwrap() error { return fs.ErrNotExist }

// CheckSafe applies makeuserdb's refusals, in its order and with its
// messages: the source must exist, must have no group or world permission
// bits (it holds password hashes), and neither it nor the two .dat files
// may be symbolic links.
func (s Source) CheckSafe() error {
	fi, err := os.Stat(s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return notFoundError{s.Path}
	}
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return toolError(s.Path + ": MAY NOT HAVE GROUP OR WORLD PERMISSIONS!!")
	}
	for _, p := range []string{s.Path, s.Dat, s.Shadow} {
		if li, err := os.Lstat(p); err == nil && li.Mode()&fs.ModeSymlink != 0 {
			return toolError("ERROR: Wrong makeuserdb command.\n       (" + p + " is a symbolic link)")
		}
	}
	return nil
}

// Files lists the text files of the source in the order makeuserdb reads
// them: the file itself, or a breadth-first walk of the directory (names
// sorted within each directory) skipping every name that starts with "."
// (so the userdb command's .lock.* and .tmp.* files are never read).
// Symbolic links inside the directory are followed, as the original's
// `-d` test did, but a directory reached twice is an error rather than a
// loop.
func (s Source) Files() ([]string, error) {
	fi, err := os.Stat(s.Path)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("%s: not a regular file or directory", s.Path)
		}
		return []string{s.Path}, nil
	}
	type devIno struct{ dev, ino uint64 }
	key := func(fi os.FileInfo) devIno {
		st, _ := fi.Sys().(*syscall.Stat_t)
		if st == nil {
			return devIno{}
		}
		return devIno{uint64(st.Dev), st.Ino}
	}
	seen := map[devIno]string{key(fi): s.Path}
	var files []string
	queue := []string{s.Path}
	for len(queue) > 0 {
		dir := queue[0]
		queue = queue[1:]
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		names := make([]string, 0, len(entries))
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), ".") {
				names = append(names, e.Name())
			}
		}
		slices.Sort(names)
		for _, n := range names {
			p := filepath.Join(dir, n)
			fi, err := os.Stat(p)
			if err != nil {
				return nil, err
			}
			switch {
			case fi.IsDir():
				if prev, loop := seen[key(fi)]; loop {
					return nil, fmt.Errorf("%s: directory already read as %s (symbolic link loop?)", p, prev)
				}
				seen[key(fi)] = p
				queue = append(queue, p)
			case fi.Mode().IsRegular():
				files = append(files, p)
			default:
				return nil, fmt.Errorf("%s: not a regular file or directory", p)
			}
		}
	}
	return files, nil
}

// Location returns the "_" field makeuserdb stores for records of file:
// its path inside the source directory followed by "/" ("users/" for
// userdb/users), or "" when the source is a single file. A password change
// uses it to find the file again.
func (s Source) Location(file string) string {
	rel, err := filepath.Rel(s.Path, file)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return ""
	}
	return filepath.ToSlash(rel) + "/"
}

// Read parses every file of the source. It returns all records, or nil and
// an Errors value listing each bad line as file:line: reason, including an
// account name defined twice (in one file or in two).
func (s Source) Read() ([]Entry, error) {
	files, err := s.Files()
	if err != nil {
		return nil, err
	}
	return readFiles(files)
}

func readFiles(files []string) ([]Entry, error) {
	texts := make([]string, len(files))
	lines := 0
	for i, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		texts[i] = string(data)
		lines += strings.Count(texts[i], "\n")
	}
	p := newParser(lines)
	for i, f := range files {
		if !p.parse(f, texts[i]) {
			break
		}
	}
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return p.entries, nil
}
