package aliases

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"golang.org/x/sys/unix"
)

// MakeOptions is one makealiases run.
type MakeOptions struct {
	Src   string // alias source: file or directory
	Alias string // the database to replace (ignored with Dump)
	// Lock is a file makealiases holds locked while it works, so that two
	// runs never build the same database at once (the original's -tmp
	// file); it is removed at the end.
	Lock string
	// ProgramDir is the directory of program and mailbox alias instruction
	// files (aliasdir/.courier-:xalias); ProgramTmp the directory they are
	// first written to (aliasdir/courier-:xalias.tmp).
	ProgramDir, ProgramTmp string
	Dump                   io.Writer // non-nil: print the table, change nothing
	Config                 Config
}

// Make compiles the alias source and, unless dumping, replaces the
// database and then brings the instruction files directory in line with
// it. Nothing is changed when the source has an error.
func Make(o MakeOptions) error {
	unlock, err := lockFile(o.Lock)
	if err != nil {
		return err
	}
	defer unlock()
	srcs, err := ReadSources(o.Src)
	if err != nil {
		return fmt.Errorf("cannot read the alias source: %w", err)
	}
	t, err := Parse(srcs, o.Config)
	if err != nil {
		return err
	}
	if o.Dump != nil {
		return t.Dump(o.Dump)
	}
	if err := t.writePrograms(o.ProgramTmp); err != nil {
		os.RemoveAll(o.ProgramTmp)
		return err
	}
	if err := t.WriteDB(o.Alias, 0o644); err != nil {
		os.RemoveAll(o.ProgramTmp)
		return fmt.Errorf("cannot write %s: %w", o.Alias, err)
	}
	return installPrograms(o.ProgramTmp, o.ProgramDir)
}

func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot create the lock file: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s is locked: another makealiases is running; run it again when that one is done", path)
	}
	return func() {
		os.Remove(path)
		f.Close()
	}, nil
}

// writePrograms writes the instruction files to a fresh directory tmp
// (none when there are no program aliases).
func (t *Table) writePrograms(tmp string) error {
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if len(t.programs) == 0 {
		return nil
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	for _, p := range t.programs {
		if err := os.WriteFile(filepath.Join(tmp, p.File), []byte(p.Content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// installPrograms makes dir hold exactly the files of tmp: files no longer
// wanted are removed first, then the new ones renamed in; dir itself is
// removed when empty, as the original does.
func installPrograms(tmp, dir string) error {
	want := map[string]bool{}
	ents, err := os.ReadDir(tmp)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, e := range ents {
		want[e.Name()] = true
	}
	old, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, e := range old {
		if e.Type().IsRegular() && !want[e.Name()] {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	if len(want) > 0 {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		names := make([]string, 0, len(want))
		for n := range want {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if err := os.Rename(filepath.Join(tmp, n), filepath.Join(dir, n)); err != nil {
				return err
			}
		}
		if err := os.Remove(tmp); err != nil {
			return err
		}
	}
	os.Remove(dir) // only succeeds when empty: no program aliases left
	return nil
}
