// Package access owns couriertcpd's access databases, smtpaccess.dat and
// the other *access.dat files (spec couriertcpd.md §3): the text source
// (KEY<TAB>VALUE lines in a file or a directory of files), its compilation
// into a .dat file the way the original's "makedat -cidr" builds it (the
// same keys and values, record for record, in a bbolt file through
// pkg/dbfile), the lookup of a client's address (most specific entry wins,
// one entry only) and the value syntax ("deny", or "allow" followed by
// variables).
//
// Callers: couriertcpd (pkg/tcpd) looks clients up; makesmtpaccess and
// makesmtpaccess-msa (cmd/makesmtpaccess, MakeSMTPAccess here) compile
// the source.
package access

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/gocourier/courier/pkg/config"
)

// Entry is one line of the source: the database keys it stands for (more
// than one for a CIDR network or a range) and its value, byte for byte.
type Entry struct {
	Keys  []string
	Value string
	File  string
	Line  int
}

// maxLine bounds one source line; makedat has no limit, but no sensible
// access entry comes near it.
const maxLine = 64 << 10

// ParseSource reads one source file, named name in errors, and checks
// every line as makedat -cidr reads it: empty lines and lines starting
// with '#' are skipped; a network or range key ("10.1.0.0/16 allow") is
// separated from its value by blanks, any other key by a TAB. Each key
// must be an address, an address prefix, a network, a range, "*" or one
// of the -accesslocal forms with a port, each value must parse
// (ParseValue), and no key may be given twice. Errors read "name:line:
// what". Nothing is returned unless the whole file is good.
func ParseSource(name string, r io.Reader) ([]Entry, error) {
	return parseInto(name, r, nil, map[string]string{})
}

// networkLine is makedat's pattern for the lines -cidr expands.
var networkLine = regexp.MustCompile(`^([a-fA-F0-9:.]+[-/][a-fA-F0-9:.]+)\s+(.*)$`)

func parseInto(name string, r io.Reader, out []Entry, seen map[string]string) ([]Entry, error) {
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		line, err := readLine(br)
		if err == io.EOF {
			return out, nil
		}
		fail := func(format string, a ...any) error {
			return &config.Error{File: name, Line: n, Reason: fmt.Sprintf(format, a...)}
		}
		if err != nil {
			return nil, fail("%v", err)
		}
		if line == "" || line[0] == '#' {
			continue
		}
		if line == "." {
			return nil, fail(`a line holding only "." ends makedat's input early; remove it`)
		}
		var key, value string
		if m := networkLine.FindStringSubmatch(line); m != nil {
			key, value = m[1], m[2]
		} else {
			var ok bool
			if key, value, ok = strings.Cut(line, "\t"); !ok {
				return nil, fail("%q has no value: write the address, a TAB, and allow or deny (for example 192.168.0.1<TAB>allow,RELAYCLIENT)", line)
			}
		}
		if value == "" {
			return nil, fail("%q has an empty value: write allow or deny after the TAB", key)
		}
		keys, err := ExpandKey(key)
		if err != nil {
			return nil, fail("%v", err)
		}
		if _, err := ParseValue(value); err != nil {
			return nil, fail("%v", err)
		}
		where := fmt.Sprintf("%s:%d", name, n)
		for _, k := range keys {
			if prev, dup := seen[k]; dup {
				return nil, fail("%s is also given at %s (makedat refuses a key given twice); keep one", k, prev)
			}
			seen[k] = where
		}
		out = append(out, Entry{Keys: keys, Value: value, File: name, Line: n})
	}
}

// readLine returns the next line without its newline, refusing NUL bytes
// (GDBM keys and values are C strings in couriertcpd) and very long lines.
func readLine(br *bufio.Reader) (string, error) {
	var b []byte
	for {
		frag, err := br.ReadSlice('\n')
		b = append(b, frag...)
		if len(b) > maxLine {
			return "", fmt.Errorf("line longer than %d bytes", maxLine)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF && len(b) > 0 {
			err = nil
		}
		if err != nil {
			return "", err
		}
		break
	}
	s := strings.TrimSuffix(string(b), "\n")
	if strings.IndexByte(s, 0) >= 0 {
		return "", fmt.Errorf("the line holds a NUL byte")
	}
	return s, nil
}

// dpkgLeftover matches the files dpkg leaves next to configuration files
// (default.dpkg-old, default.dpkg-dist), which Debian's makedat skips like
// editor backups ("default~").
var dpkgLeftover = regexp.MustCompile(`\.dpkg-[a-z]*$`)

// ReadSource reads the source at path: a file, or a directory whose
// regular files (links followed; editor backups "*~" and dpkg leftovers
// skipped) are read in name order, as makedat concatenates them. A key
// may appear once in the whole source.
func ReadSource(path string) ([]Entry, error) {
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
	var out []Entry
	seen := map[string]string{}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		out, err = parseInto(f, fh, out, seen)
		fh.Close()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
