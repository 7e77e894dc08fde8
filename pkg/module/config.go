package module

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/gocourier/courier/pkg/config"
)

// Config is one module.<name> file: a VAR file with NAME, PRIORITY, PROG,
// MAXDELS, MAXHOST and MAXRCPT (Debian's /etc/courier/module.local and
// friends).
type Config struct {
	Name     string // NAME: the module's name ("local", "esmtp", "dsn")
	Prog     string // PROG: the original's program path ("./courierlocal")
	File     string // the file it was read from
	Priority int    // PRIORITY: lower numbers are asked first to route an address
	MaxDels  int    // MAXDELS: concurrent deliveries
	MaxHost  int    // MAXHOST: concurrent deliveries to one host
	MaxRcpt  int    // MAXRCPT: recipients in one delivery
}

// Defaults of the original's courierd for values a module file leaves out.
const (
	DefaultMaxDels = 4
	DefaultMaxRcpt = 1
)

// Program is the name of the suite's program that implements the module:
// "courier" + NAME, the base name of the original's PROG.
func (c Config) Program() string { return "courier" + c.Name }

// ReadConfig reads one module file. NAME defaults to the file name's
// suffix; MAXHOST defaults to MAXDELS.
func ReadConfig(path string) (Config, error) {
	vf, err := config.ReadVarFile(path, nil)
	if err != nil {
		return Config{}, err
	}
	c := Config{File: path, Name: vf.Value("NAME", strings.TrimPrefix(filepath.Base(path), "module.")), Prog: vf.Value("PROG", "")}
	if c.Name == "" || strings.ContainsAny(c.Name, "/ \t") {
		return c, &config.Error{File: path, Reason: fmt.Sprintf("NAME=%q is not a module name", c.Name)}
	}
	if c.Prog != "" && filepath.Base(c.Prog) != c.Program() {
		return c, &config.Error{File: path, Reason: fmt.Sprintf("PROG=%s: this suite's %s module is the program %s", c.Prog, c.Name, c.Program())}
	}
	num := func(name string, def int) (int, error) {
		v, ok := vf.Get(name)
		if !ok || v == "" {
			return def, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || (n == 0 && name != "PRIORITY") {
			return 0, &config.Error{File: path, Reason: fmt.Sprintf("%s=%q is not a positive number", name, v)}
		}
		return n, nil
	}
	if c.Priority, err = num("PRIORITY", 50); err != nil {
		return c, err
	}
	if c.MaxDels, err = num("MAXDELS", DefaultMaxDels); err != nil {
		return c, err
	}
	if c.MaxHost, err = num("MAXHOST", c.MaxDels); err != nil {
		return c, err
	}
	if c.MaxRcpt, err = num("MAXRCPT", DefaultMaxRcpt); err != nil {
		return c, err
	}
	return c, nil
}

// ReadConfigs reads every module.<name> file of sysconfdir, ordered by
// PRIORITY and then name. Backup and packaging leftovers (names with a dot
// or tilde after the module name, such as module.local.dist) are skipped.
func ReadConfigs(sysconfdir string) ([]Config, error) {
	names, err := filepath.Glob(filepath.Join(sysconfdir, "module.*"))
	if err != nil {
		return nil, err
	}
	var cs []Config
	seen := map[string]string{}
	for _, p := range names {
		suffix := strings.TrimPrefix(filepath.Base(p), "module.")
		if suffix == "" || strings.ContainsAny(suffix, ".~#") {
			continue
		}
		if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
			continue
		}
		c, err := ReadConfig(p)
		if err != nil {
			return nil, err
		}
		if prev, ok := seen[c.Name]; ok {
			return nil, &config.Error{File: p, Reason: fmt.Sprintf("module %s is already declared in %s", c.Name, prev)}
		}
		seen[c.Name] = p
		cs = append(cs, c)
	}
	slices.SortStableFunc(cs, func(a, b Config) int {
		if a.Priority != b.Priority {
			return a.Priority - b.Priority
		}
		return strings.Compare(a.Name, b.Name)
	})
	return cs, nil
}
