package supervise

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/gocourier/courier/pkg/privsep"
)

// Defaults applied to the zero values of a Spec.
const (
	DefaultStopTimeout = 2 * time.Second
	DefaultMinDelay    = time.Second
	DefaultMaxDelay    = 60 * time.Second
	DefaultResetAfter  = 60 * time.Second
)

// Spec describes one supervised service: what to run, as whom, and how to
// restart and stop it. Two specs that are equal (Equal) describe the same
// running service, which is what Reload compares.
type Spec struct {
	Name string   // unique service name, used in every log line
	Path string   // absolute path of the program
	Args []string // argv[1:]
	Env  []string // the complete environment ("NAME=value"); nil means empty
	Dir  string   // working directory; "/" when empty

	// Cred is the identity the program runs as; nil keeps the
	// supervisor's (root for daemons that drop privileges themselves,
	// such as couriertcpd with -user/-group).
	Cred *privsep.Credential

	// ExtraFiles become fd 3, 4, ... of every instance (listening
	// sockets bound by the supervisor). They are compared by identity.
	ExtraFiles []*os.File

	// Needs lists further programs the service cannot work without
	// (couriertcpd's protocol server). The service is skipped, with one
	// log line, while Path or any of these is not installed.
	Needs []string

	// Requires names services started before this one and stopped after
	// it. Names that are not in the supervised set are ignored: the
	// relation only orders services that run.
	Requires []string

	StopTimeout time.Duration // SIGTERM to SIGKILL; DefaultStopTimeout when 0
	Backoff     Backoff

	// PidFile, when set, holds the pid of the running instance, for init
	// scripts and admins looking for it. It is a plain pid file: the
	// original control commands ("couriertcpd -pid=FILE -restart", as
	// makesmtpaccess runs it) act only on a daemon holding FILE.lock, so
	// they do not reach a supervised service.
	PidFile string

	// Listen describes where the service accepts connections, for the
	// start-up log ("all addresses, port smtp").
	Listen string

	// OnReload is what a reload (courierd's SIGHUP, courier restart) does
	// to the service when its spec has not changed. A changed spec always
	// restarts it.
	OnReload Reload
}

// Reload is what a reload does to an unchanged service.
type Reload int

const (
	// ReloadNothing leaves it running: it reads its files per connection
	// or watches them itself.
	ReloadNothing Reload = iota
	// ReloadRestart stops and starts it, as the original courier restart
	// does to courierd and its modules, which read the control files
	// once.
	ReloadRestart
	// ReloadSIGHUP sends its running instance SIGHUP: it re-reads its
	// files itself (couriertcpd and a pass-mode server).
	ReloadSIGHUP
)

// Backoff is the restart policy of a service that exits on its own: the
// first restart waits Min, each further one twice as long up to Max, and a
// run that lasted at least ResetAfter starts the sequence again at Min.
type Backoff struct {
	Min, Max, ResetAfter time.Duration
}

func (b Backoff) withDefaults() Backoff {
	if b.Min <= 0 {
		b.Min = DefaultMinDelay
	}
	if b.Max <= 0 {
		b.Max = DefaultMaxDelay
	}
	if b.Max < b.Min {
		b.Max = b.Min
	}
	if b.ResetAfter <= 0 {
		b.ResetAfter = DefaultResetAfter
	}
	return b
}

// next returns the delay before the next start, given the previous delay
// (0 before the first restart) and how long the instance ran.
func (b Backoff) next(prev, ran time.Duration) time.Duration {
	b = b.withDefaults()
	if prev == 0 || ran >= b.ResetAfter {
		return b.Min
	}
	if prev >= b.Max/2 {
		return b.Max
	}
	return prev * 2
}

func (s *Spec) stopTimeout() time.Duration {
	if s.StopTimeout <= 0 {
		return DefaultStopTimeout
	}
	return s.StopTimeout
}

func (s *Spec) dir() string {
	if s.Dir == "" {
		return "/"
	}
	return s.Dir
}

// Equal reports whether a and b describe the same service instance, so that
// a reload need not restart it.
func Equal(a, b Spec) bool {
	if len(a.ExtraFiles) != len(b.ExtraFiles) {
		return false
	}
	for i := range a.ExtraFiles {
		if a.ExtraFiles[i] != b.ExtraFiles[i] {
			return false
		}
	}
	a.ExtraFiles, b.ExtraFiles = nil, nil
	return reflect.DeepEqual(a, b)
}

// missing returns the first program of the spec that is not installed (not
// an executable regular file), or "".
func (s *Spec) missing() string {
	for _, p := range append([]string{s.Path}, s.Needs...) {
		st, err := os.Stat(p)
		if err != nil || !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
			return p
		}
	}
	return ""
}

// validName accepts the names run-parts(8) accepts, which also keeps them
// safe in file names and log lines.
func validName(n string) bool {
	if n == "" || len(n) > 64 {
		return false
	}
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// order validates a set of specs and returns them grouped in start layers:
// every service of a layer requires only services of earlier layers. Within
// a layer services keep the order they were given in (pkg/services's table
// order), so that runs are reproducible.
func order(specs []Spec) ([][]Spec, error) {
	byName := map[string]int{}
	for i, s := range specs {
		if !validName(s.Name) {
			return nil, fmt.Errorf("invalid service name %q: use letters, digits, - and _ (at most 64)", s.Name)
		}
		if _, dup := byName[s.Name]; dup {
			return nil, fmt.Errorf("service %s is defined twice", s.Name)
		}
		if !filepath.IsAbs(s.Path) {
			return nil, fmt.Errorf("service %s: program %q is not an absolute path", s.Name, s.Path)
		}
		if s.Dir != "" && !filepath.IsAbs(s.Dir) {
			return nil, fmt.Errorf("service %s: working directory %q is not an absolute path", s.Name, s.Dir)
		}
		byName[s.Name] = i
	}
	depth := make([]int, len(specs))
	state := make([]int, len(specs)) // 0 new, 1 visiting, 2 done
	var visit func(i int, path []string) error
	visit = func(i int, path []string) error {
		switch state[i] {
		case 1:
			return fmt.Errorf("services require each other in a circle: %s", strings.Join(append(path, specs[i].Name), " -> "))
		case 2:
			return nil
		}
		state[i] = 1
		d := 0
		for _, r := range specs[i].Requires {
			j, ok := byName[r]
			if !ok {
				continue
			}
			if err := visit(j, append(path, specs[i].Name)); err != nil {
				return err
			}
			if depth[j]+1 > d {
				d = depth[j] + 1
			}
		}
		depth[i], state[i] = d, 2
		return nil
	}
	max := 0
	for i := range specs {
		if err := visit(i, nil); err != nil {
			return nil, err
		}
		if depth[i] > max {
			max = depth[i]
		}
	}
	if len(specs) == 0 {
		return nil, nil
	}
	layers := make([][]Spec, max+1)
	for i, s := range specs {
		layers[depth[i]] = append(layers[depth[i]], s)
	}
	return layers, nil
}
