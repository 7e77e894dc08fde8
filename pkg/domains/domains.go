// Package domains owns the compiled domain lists of the mail server,
// hosteddomains.dat and esmtpacceptmailfor.dat, and the programs that
// build them, makehosteddomains and makeacceptmailfor (spec
// aliases-and-control-files.md §2). Both are built the way the original's
// makedat builds them from a text file or a directory of files: one record
// a line, "key<TAB>value" or "key" alone (value "1"), lines that are empty
// or start with '#' skipped, everything else stored byte for byte.
//
// Callers: cmd/makehosteddomains and cmd/makeacceptmailfor; the daemons
// read the .dat files through pkg/dbfile.
package domains

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/gocourier/courier/pkg/config"
	"github.com/gocourier/courier/pkg/dbfile"
)

// Record is one line of a source, with where it came from.
type Record struct {
	Key, Value string
	File       string
	Line       int
}

// dpkgLeftover matches the backup files dpkg leaves next to configuration
// files (foo.dpkg-old, foo.dpkg-dist), which makedat skips like "foo~".
var dpkgLeftover = regexp.MustCompile(`\.dpkg-[a-z]*$`)

// ReadSource reads a makedat source: a file, or a directory whose regular
// files (hidden ones included, editor backups "*~" and dpkg leftovers
// excluded, links followed) are read in name order. A key given twice is
// an error naming both places, as the original refuses duplicates; so is a
// line holding only ".", where the original silently stops reading.
func ReadSource(path string) ([]Record, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	files := []string{path}
	if st.IsDir() {
		ents, err := os.ReadDir(path)
		if err != nil {
			return nil, err
		}
		files = files[:0]
		for _, e := range ents {
			n := e.Name()
			if strings.HasSuffix(n, "~") || dpkgLeftover.MatchString(n) {
				continue
			}
			p := filepath.Join(path, n)
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
				files = append(files, p)
			}
		}
		sort.Strings(files)
	}
	var out []Record
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if out, err = parse(f, data, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Parse reads the records of one source file: data, named file in errors.
func Parse(file string, data []byte) ([]Record, error) {
	return parse(file, data, nil)
}

// parse appends the records of one file to out, refusing keys already in
// out or earlier in the file.
func parse(file string, data []byte, out []Record) ([]Record, error) {
	seen := make(map[string]int, len(out))
	for i, r := range out {
		seen[r.Key] = i
	}
	lines := strings.Split(string(data), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	for i, l := range lines {
		if l == "" || l[0] == '#' {
			continue
		}
		if l == "." {
			return nil, &config.Error{File: file, Line: i + 1, Reason: `a line holding only "." is not a domain; remove it`}
		}
		key, val, _ := strings.Cut(l, "\t")
		if key == "" {
			continue
		}
		if val == "" {
			val = "1"
		}
		if j, dup := seen[key]; dup {
			return nil, &config.Error{File: file, Line: i + 1,
				Reason: fmt.Sprintf("%q is already listed at %s:%d; list each domain once", key, out[j].File, out[j].Line)}
		}
		seen[key] = len(out)
		out = append(out, Record{key, val, file, i + 1})
	}
	return out, nil
}

// Build replaces the database dat with the records of the source src,
// holding the lock file lock (the original's temporary file name) while it
// works so that two runs never build the same file at once. Nothing is
// changed when the source has an error.
func Build(src, dat, lock string) error {
	f, err := os.OpenFile(lock, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("cannot create the lock file: %w", err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return fmt.Errorf("%s is locked: another run is building %s; try again when it is done", lock, dat)
	}
	defer os.Remove(lock)
	recs, err := ReadSource(src)
	if err != nil {
		return err
	}
	w, err := dbfile.Create(dat, 0o644)
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", dat, err)
	}
	for _, r := range recs {
		if err := w.Put(r.Key, r.Value); err != nil {
			w.Abort()
			return &config.Error{File: r.File, Line: r.Line, Reason: err.Error()}
		}
	}
	if err := w.Commit(); err != nil {
		return fmt.Errorf("cannot write %s: %w", dat, err)
	}
	return nil
}

// Tool describes one of the programs: its name and the file names, under
// the configuration directory, of its source, database and lock file.
type Tool struct {
	Name, Src, Dat, Tmp string
	What                string // one line for --help
}

var (
	// Hosted is makehosteddomains: hosteddomains -> hosteddomains.dat.
	Hosted = Tool{"makehosteddomains", "hosteddomains", "hosteddomains.dat", "hosteddomains.tmp",
		"the hosted domains (\"domain\" or \"alias<TAB>domain\" lines)"}
	// AcceptMailFor is makeacceptmailfor: esmtpacceptmailfor.dir ->
	// esmtpacceptmailfor.dat.
	AcceptMailFor = Tool{"makeacceptmailfor", "esmtpacceptmailfor.dir", "esmtpacceptmailfor.dat", "esmtpacceptmailfor.tmp",
		"the domains the SMTP server accepts mail for"}
	// PercentRelay is makepercentrelay: esmtppercentrelay.dir ->
	// esmtppercentrelay.dat.
	PercentRelay = Tool{"makepercentrelay", "esmtppercentrelay.dir", "esmtppercentrelay.dat", "esmtppercentrelay.tmp",
		"the domains that user%domain@this-host addresses may be relayed to"}
)

// Main runs the tool with its arguments and returns the exit code. Like
// the original's, the programs take no options: other arguments are
// ignored.
func (t Tool) Main(args []string, sysconfdir string, stdout, stderr io.Writer) int {
	src, dat := filepath.Join(sysconfdir, t.Src), filepath.Join(sysconfdir, t.Dat)
	for _, a := range args {
		if a == "--help" || a == "-help" || a == "-h" {
			fmt.Fprintf(stdout, "Usage: %s\n\nCompiles %s, %s\n(a file or a directory of files), into %s.\n",
				t.Name, t.What, src, dat)
			return 0
		}
	}
	if err := Build(src, dat, filepath.Join(sysconfdir, t.Tmp)); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", t.Name, err)
		return 1
	}
	return 0
}
