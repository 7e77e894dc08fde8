package layout

import (
	_ "embed"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
)

//go:embed programs.tab
var programsTab string

// Program describes where one program of the suite is installed.
type Program struct {
	Name  string
	Dir   string // "bin", "sbin" or "libexec"
	Mode  uint32
	Group string   // "" for root, "mail" for the layout's mail group
	Links []string // extra names
}

// Programs returns the embedded program table, parsed once.
func Programs() ([]Program, error) { return programs() }

var programs = sync.OnceValues(parsePrograms)

func parsePrograms() ([]Program, error) {
	var out []Program
	for i, line := range strings.Split(programsTab, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 5 {
			return nil, fmt.Errorf("programs.tab:%d: want 5 fields, have %d", i+1, len(f))
		}
		p := Program{Name: f[0], Dir: f[1]}
		if _, err := fmt.Sscanf(f[2], "%o", &p.Mode); err != nil {
			return nil, fmt.Errorf("programs.tab:%d: bad mode %q", i+1, f[2])
		}
		switch f[1] {
		case "bin", "sbin", "libexec":
		default:
			return nil, fmt.Errorf("programs.tab:%d: unknown directory kind %q", i+1, f[1])
		}
		if f[3] != "-" {
			p.Group = f[3]
		}
		if f[4] != "-" {
			p.Links = strings.Split(f[4], ",")
		}
		out = append(out, p)
	}
	return out, nil
}

// Dir returns the directory of a directory kind ("bin", "sbin", "libexec").
func (l Layout) Dir(kind string) string {
	switch kind {
	case "bin":
		return l.BinDir
	case "libexec":
		return l.LibexecDir
	}
	return l.SbinDir
}

// ProgramPath returns the installed path of the named program (or of one of
// its link names). Programs missing from the table are looked for in SbinDir.
// The table is checked by this package's tests, so a parse error cannot
// reach an installed program.
func (l Layout) ProgramPath(name string) string {
	progs, _ := Programs()
	for _, p := range progs {
		if p.Name == name {
			return filepath.Join(l.Dir(p.Dir), name)
		}
		for _, a := range p.Links {
			if a == name {
				return filepath.Join(l.Dir(p.Dir), name)
			}
		}
	}
	return filepath.Join(l.SbinDir, name)
}
