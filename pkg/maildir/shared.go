package maildir

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Filesystem-shared folders (maildirmake(1) "SHARED FOLDERS",
// spec/maildir.md §7): a maildir lists the sharable maildirs it reads in
// its shared-maildirs file, and the system lists defaults in
// /etc/courier/maildirshared; both hold "<name><TAB><path>" lines.

// SharedMaildirsFile is the per-maildir list of sharable maildirs.
const SharedMaildirsFile = "shared-maildirs"

// SharedMaildir is one entry of shared-maildirs or maildirshared.
type SharedMaildir struct {
	Name string // nickname: no '.' or '/'
	Path string // absolute path of the sharable maildir
}

// Errors of AddShared and DelShared that maildirmake reports as such.
var (
	ErrSharedExists   = errors.New("already defined as a sharable maildir")
	ErrSharedName     = errors.New("invalid name")
	ErrSharedNotFound = errors.New("not found")
)

// ParseSharedMaildirs parses a shared-maildirs or maildirshared file: one
// entry a line, the name, blanks, then the path up to the end of the line;
// '#' starts a comment; blank lines are ignored. file names the file in
// errors.
func ParseSharedMaildirs(file string, data []byte) ([]SharedMaildir, error) {
	var out []SharedMaildir
	for i, line := range strings.Split(string(data), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			return nil, &ParseError{file, i + 1, "line starts with a blank; want <name><TAB><path>"}
		}
		j := strings.IndexAny(line, " \t")
		if j < 0 {
			return nil, &ParseError{file, i + 1, fmt.Sprintf("%q has no path; want <name><TAB><path>", line)}
		}
		e := SharedMaildir{Name: line[:j], Path: strings.TrimLeft(line[j:], " \t")}
		if strings.ContainsAny(e.Name, "./") {
			return nil, &ParseError{file, i + 1, fmt.Sprintf("name %q contains '.' or '/'", e.Name)}
		}
		if !strings.HasPrefix(e.Path, "/") {
			return nil, &ParseError{file, i + 1, fmt.Sprintf("path %q is not absolute", e.Path)}
		}
		out = append(out, e)
	}
	return out, nil
}

func readShared(file string) ([]SharedMaildir, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return ParseSharedMaildirs(file, data)
}

// AddShared adds a sharable maildir to the maildir root's shared-maildirs
// (maildirmake --add name=path). The name must be free both there and in
// the system list globalFile (maildirshared; a missing file is empty);
// the path must be absolute and readable.
func AddShared(root, name, path, globalFile string) error {
	if name == "" || strings.ContainsAny(name, "./ \t\n#") {
		return fmt.Errorf("%s: %w", name, ErrSharedName)
	}
	if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, "\n#") {
		return fmt.Errorf("%s: the path of a sharable maildir must be absolute", path)
	}
	if err := unix.Access(path, unix.R_OK); err != nil {
		return &os.PathError{Op: "access", Path: path, Err: err}
	}
	global, err := readShared(globalFile)
	if err != nil {
		return err
	}
	for _, e := range global {
		if e.Name == name {
			return fmt.Errorf("%s: %w in %s", name, ErrSharedExists, globalFile)
		}
	}
	file := filepath.Join(root, SharedMaildirsFile)
	own, err := readShared(file)
	if err != nil {
		return err
	}
	for _, e := range own {
		if e.Name == name {
			return fmt.Errorf("%s: %w", name, ErrSharedExists)
		}
	}
	f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(f, "%s\t%s\n", name, path); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// DelShared removes a sharable maildir from root's shared-maildirs
// (maildirmake --del name), rewriting the file through tmp/ and rename().
// Other lines, comments included, are kept as they were.
func DelShared(root, name string) error {
	file := filepath.Join(root, SharedMaildirsFile)
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if _, err := ParseSharedMaildirs(file, data); err != nil {
		return err
	}
	var keep bytes.Buffer
	found := false
	for _, line := range strings.SplitAfter(string(data), "\n") {
		entry := line
		if i := strings.IndexByte(entry, '#'); i >= 0 {
			entry = entry[:i]
		}
		if f := strings.Fields(entry); len(f) > 0 && f[0] == name {
			found = true
			continue
		}
		keep.WriteString(line)
	}
	if !found {
		return fmt.Errorf("%s: %w", name, ErrSharedNotFound)
	}
	parts := newNameParts(time.Now(), "shared")
	tmp := filepath.Join(root, "tmp", parts.tmpName(0))
	if err := os.WriteFile(tmp, keep.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, file); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
