package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Limits that keep a hostile or broken file from exhausting memory: real
// configuration files are a few kilobytes.
const (
	maxFileSize  = 8 << 20  // bytes read from one file
	maxExpansion = 16 << 20 // bytes produced by $VAR expansions in one parse
	maxDepth     = 8        // nested ". file" sourcing
)

// VarFile is a shell-sourcable configuration file (esmtpd, imapd, courierd,
// authdaemonrc, module.*) evaluated as Courier's start scripts evaluate it
// with `set -a; . file`: every assignment becomes an environment variable of
// the daemon.
type VarFile struct {
	Path string
	// Files lists every file read, in order: the file(s) given, and the
	// files they sourced with ". file".
	Files []string
	// Header is the part before the first ##NAME marker, and Sections the
	// ##NAME sections, of the file(s) given (not of sourced files).
	Header   Section
	Sections []Section

	vals   map[string]string
	origin map[string]Line
	order  []string
}

// ReadVarFile reads and evaluates one VAR file. predefined holds variables
// visible to $NAME expansion (such as "sysconfdir") that are not settings.
// A missing file gives an error satisfying errors.Is(err, fs.ErrNotExist).
func ReadVarFile(path string, predefined map[string]string) (*VarFile, error) {
	return ReadVarFiles([]string{path}, predefined)
}

// ReadVarFiles evaluates files in order as if sourced one after the other by
// the same shell (esmtpd then esmtpd-msa): later assignments win and each
// file sees the settings of the ones before.
func ReadVarFiles(paths []string, predefined map[string]string) (*VarFile, error) {
	vf := newVarFile()
	if len(paths) > 0 {
		vf.Path = paths[0]
	}
	ev := &evaluator{vf: vf, predefined: predefined}
	for i, p := range paths {
		data, err := readLimited(p)
		if err != nil {
			return nil, err
		}
		vf.Files = append(vf.Files, p)
		header, sections, err := ev.run(p, data)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			vf.Header = header
		}
		vf.Sections = append(vf.Sections, sections...)
	}
	return vf, nil
}

// ParseVarFile evaluates data as the VAR file called name (for messages).
// ". /path" lines read the named files.
func ParseVarFile(name string, data []byte, predefined map[string]string) (*VarFile, error) {
	vf := newVarFile()
	vf.Path = name
	vf.Files = []string{name}
	ev := &evaluator{vf: vf, predefined: predefined}
	header, sections, err := ev.run(name, data)
	if err != nil {
		return nil, err
	}
	vf.Header, vf.Sections = header, sections
	return vf, nil
}

func newVarFile() *VarFile {
	return &VarFile{vals: map[string]string{}, origin: map[string]Line{}}
}

// Get returns the final value of a setting.
func (f *VarFile) Get(name string) (string, bool) {
	v, ok := f.vals[name]
	return v, ok
}

// Value returns the final value of a setting, or def when it is not set.
func (f *VarFile) Value(name, def string) string {
	if v, ok := f.vals[name]; ok {
		return v
	}
	return def
}

// Names returns the names set, in the order of their first assignment.
func (f *VarFile) Names() []string { return append([]string(nil), f.order...) }

// Environ returns "NAME=value" for every setting, in Names order.
func (f *VarFile) Environ() []string {
	out := make([]string, 0, len(f.order))
	for _, n := range f.order {
		out = append(out, n+"="+f.vals[n])
	}
	return out
}

// Origin returns where a setting got its final value: the file, line and
// text of the statement.
func (f *VarFile) Origin(name string) (Line, bool) {
	l, ok := f.origin[name]
	return l, ok
}

// Int returns a setting as a decimal integer, def when it is unset or
// empty. A value that is not a number is an *Error at its assignment.
func (f *VarFile) Int(name string, def int) (int, error) {
	v, ok := f.vals[name]
	if !ok || strings.TrimSpace(v) == "" {
		return def, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return def, f.valueError(name, "is not a whole number")
	}
	return n, nil
}

// Duration returns a setting as a Courier interval (ParseDuration), def when
// it is unset or empty.
func (f *VarFile) Duration(name string, def time.Duration) (time.Duration, error) {
	v, ok := f.vals[name]
	if !ok || strings.TrimSpace(v) == "" {
		return def, nil
	}
	d, err := ParseDuration(v)
	if err != nil {
		return def, f.valueError(name, err.Error())
	}
	return d, nil
}

func (f *VarFile) valueError(name, why string) error {
	o := f.origin[name]
	file := o.File
	if file == "" {
		file = f.Path
	}
	return &Error{File: file, Line: o.Line, Reason: fmt.Sprintf("%s=%q: %s", name, f.vals[name], why)}
}

// readLimited reads a regular file of reasonable size.
func readLimited(path string) ([]byte, error) {
	// O_NONBLOCK: opening a FIFO must not wait for a writer; the file is
	// refused below anyway.
	fh, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "read", Path: path, Err: errors.New("not a regular file")}
	}
	data, err := io.ReadAll(io.LimitReader(fh, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("larger than %d MiB, not a configuration file", maxFileSize>>20)}
	}
	return data, nil
}

// evaluator runs the statements of VAR files against one set of variables.
type evaluator struct {
	vf         *VarFile
	predefined map[string]string
	expanded   int
	depth      int
	// syntaxOnly checks statements without reading sourced files; used to
	// validate an admin's settings during an upgrade.
	syntaxOnly bool
}

// run splits data into sections and evaluates them in order.
func (ev *evaluator) run(file string, data []byte) (Section, []Section, error) {
	header, sections, err := SplitSections(file, data)
	if err != nil {
		return Section{}, nil, err
	}
	if err := ev.section(&header); err != nil {
		return Section{}, nil, err
	}
	for i := range sections {
		if err := ev.section(&sections[i]); err != nil {
			return Section{}, nil, err
		}
	}
	return header, sections, nil
}

func (ev *evaluator) section(s *Section) error {
	if s.Err != nil {
		return s.Err
	}
	// Without a lexing error, s.Body[i] is the text of s.items[i].
	for i, it := range s.items {
		for _, c := range it.cmds {
			if err := ev.exec(s.File, c, s.Body[i].Line); err != nil {
				return err
			}
		}
	}
	return nil
}

func (ev *evaluator) errf(file string, line int, format string, args ...any) error {
	return &Error{File: file, Line: line, Reason: fmt.Sprintf(format, args...)}
}

func shorten(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

func (ev *evaluator) exec(file string, c command, where Line) error {
	if _, _, ok, _ := c.words[0].assignment(); ok {
		for _, w := range c.words {
			if err := ev.assignWord(file, c, w, where); err != nil {
				return err
			}
		}
		return nil
	}
	if _, _, _, bad := c.words[0].assignment(); bad != "" {
		return ev.errf(file, c.line, "invalid variable name %q: a name is letters, digits and _, not starting with a digit", bad)
	}
	verb, err := ev.expand(file, c.line, c.words[0])
	if err != nil {
		return err
	}
	args := c.words[1:]
	switch verb {
	case "export":
		// export is an ordinary command to sh: all its arguments are
		// expanded before any is assigned ("export A=1 B=$A" leaves B
		// empty when A was unset).
		type pending struct {
			name, value string
		}
		var todo []pending
		for _, w := range args {
			name, value, ok, bad := w.assignment()
			if bad != "" {
				return ev.errf(file, c.line, "export: invalid variable name %q", bad)
			}
			if ok {
				if err := checkTilde(file, c.line, name, value); err != nil {
					return err
				}
				v, err := ev.expand(file, c.line, value)
				if err != nil {
					return err
				}
				todo = append(todo, pending{name, v})
				continue
			}
			n, err := ev.expand(file, c.line, w)
			if err != nil {
				return err
			}
			if strings.HasPrefix(n, "-") {
				return ev.errf(file, c.line, "export: options such as %q are not supported", n)
			}
			if !isName(n) {
				return ev.errf(file, c.line, "export: invalid variable name %q", n)
			}
			// Every setting is exported already (set -a): nothing to do.
		}
		for _, p := range todo {
			ev.set(p.name, p.value, where)
		}
		return nil
	case "unset":
		for _, w := range args {
			n, err := ev.expand(file, c.line, w)
			if err != nil {
				return err
			}
			if !isName(n) {
				return ev.errf(file, c.line, "unset: invalid variable name %q", n)
			}
			ev.unset(n)
		}
		return nil
	case ".", "source":
		if len(args) != 1 {
			return ev.errf(file, c.line, "%s takes exactly one file name", verb)
		}
		p, err := ev.expand(file, c.line, args[0])
		if err != nil {
			return err
		}
		return ev.source(file, c.line, p)
	}
	return ev.errf(file, c.line, "not an assignment: %q (a configuration file may only set variables: NAME=value)", shorten(c.raw))
}

func (ev *evaluator) assignWord(file string, c command, w word, where Line) error {
	name, value, ok, bad := w.assignment()
	if !ok {
		if bad != "" {
			return ev.errf(file, c.line, "invalid variable name %q: a name is letters, digits and _, not starting with a digit", bad)
		}
		return ev.errf(file, c.line, "not an assignment: %q (running a command with variables set is not supported)", shorten(c.raw))
	}
	if err := checkTilde(file, c.line, name, value); err != nil {
		return err
	}
	v, err := ev.expand(file, c.line, value)
	if err != nil {
		return err
	}
	ev.set(name, v, where)
	return nil
}

// checkTilde rejects values sh would tilde-expand (an unquoted ~ at the
// start or after a ':').
func checkTilde(file string, line int, name string, value word) error {
	for i, s := range value.segs {
		if s.kind == segLit && (i == 0 && strings.HasPrefix(s.text, "~") || strings.Contains(s.text, ":~")) {
			return &Error{File: file, Line: line, Reason: name + ": tilde expansion (~) is not supported: write the full path, or quote the ~"}
		}
	}
	return nil
}

// expand evaluates a word: $NAME looks in the settings so far, then in
// predefined, then is empty (as sh with an unset variable).
func (ev *evaluator) expand(file string, line int, w word) (string, error) {
	if len(w.segs) == 1 && w.segs[0].kind != segVar {
		return w.segs[0].text, nil
	}
	var b strings.Builder
	for _, s := range w.segs {
		if s.kind != segVar {
			b.WriteString(s.text)
			continue
		}
		v, ok := ev.vf.vals[s.text]
		if !ok {
			v = ev.predefined[s.text]
		}
		ev.expanded += len(v)
		if ev.expanded > maxExpansion {
			return "", ev.errf(file, line, "variable expansions produce more than %d MiB (a setting that keeps doubling itself?)", maxExpansion>>20)
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

func (ev *evaluator) set(name, value string, where Line) {
	vf := ev.vf
	if _, ok := vf.vals[name]; !ok {
		vf.order = append(vf.order, name)
	}
	vf.vals[name] = value
	vf.origin[name] = where
}

func (ev *evaluator) unset(name string) {
	vf := ev.vf
	if _, ok := vf.vals[name]; !ok {
		return
	}
	delete(vf.vals, name)
	delete(vf.origin, name)
	for i, n := range vf.order {
		if n == name {
			vf.order = append(vf.order[:i], vf.order[i+1:]...)
			break
		}
	}
}

// source evaluates ". path" as sh does: the file's statements run in the
// same variables. Debian's courierd sources /etc/environment this way.
func (ev *evaluator) source(file string, line int, path string) error {
	if !filepath.IsAbs(path) {
		return ev.errf(file, line, "cannot source %q: only absolute paths are supported (sh would search $PATH)", path)
	}
	if ev.syntaxOnly {
		return nil
	}
	if ev.depth >= maxDepth {
		return ev.errf(file, line, "cannot source %s: files sourced more than %d deep (does a file source itself?)", path, maxDepth)
	}
	data, err := readLimited(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return ev.errf(file, line, "cannot source %s: %v", path, err)
	}
	ev.vf.Files = append(ev.vf.Files, path)
	ev.depth++
	defer func() { ev.depth-- }()
	_, _, err = ev.run(path, data)
	return err
}
