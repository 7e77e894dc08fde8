// Package testenv builds the suite's programs for tests and lays them out in
// throwaway sandbox trees, so that tests start the real binaries exactly as
// `make run` does. Programs are built once per test process with the sandbox
// layout preset (and with -race when the tests themselves run with -race);
// a sandbox built binary finds its tree from its own location, so each test
// gets an isolated tree by linking the binaries into a temporary directory.
//
// Used by the tests of every daemon package and by the end-to-end suite in
// test/.
package testenv

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gocourier/courier/pkg/layout"
)

var (
	buildMu  sync.Mutex
	buildDir string
	built    = map[string]string{}
)

// ModuleRoot returns the directory holding go.mod.
func ModuleRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("testenv: cannot find own source file")
	}
	return filepath.Dir(filepath.Dir(filepath.Dir(file))), nil
}

// Build compiles ./cmd/<name> with the sandbox preset and returns the path
// of the binary. It is built once per test process.
func Build(t testing.TB, name string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := built[name]; ok {
		return p
	}
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if buildDir == "" {
		removeStaleBuildDirs()
		d, err := os.MkdirTemp("", fmt.Sprintf("courier-testbin-%d-", os.Getpid()))
		if err != nil {
			t.Fatal(err)
		}
		buildDir = d
	}
	out := filepath.Join(buildDir, name)
	args := []string{"build", "-o", out,
		"-ldflags", "-X github.com/gocourier/courier/pkg/layout.preset=sandbox"}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/"+name)
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Env = os.Environ()
	if !raceEnabled && !strings.Contains(os.Getenv("CGO_ENABLED"), "1") && name != "authpam" {
		cmd.Env = append(cmd.Env, "CGO_ENABLED=0")
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("testenv: building %s: %v\n%s", name, err, stderr.String())
	}
	built[name] = out
	return out
}

// removeStaleBuildDirs removes the binaries that test processes no longer
// running built: a test binary cannot remove its own when it ends (no hook
// runs after the last test of a package without a TestMain), so the next
// one does. The directories are named courier-testbin-<pid>-*; those of
// live processes stay.
func removeStaleBuildDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "courier-testbin-*"))
	for _, d := range dirs {
		p, _, ok := strings.Cut(strings.TrimPrefix(filepath.Base(d), "courier-testbin-"), "-")
		if pid, err := strconv.Atoi(p); ok && err == nil && syscall.Kill(pid, 0) == syscall.ESRCH {
			os.RemoveAll(d)
		}
	}
}

// WaitFor polls cond every 10 ms until it holds. The deadline (60 s)
// only keeps a broken program from hanging the test run; nothing is
// measured against it.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// Sandbox is a throwaway installation tree with the sandbox layout.
type Sandbox struct {
	Root   string
	Layout layout.Layout
}

// NewSandbox makes an empty sandbox tree under t.TempDir() with the
// directories of the sandbox layout, and installs the named programs in it.
func NewSandbox(t testing.TB, programs ...string) *Sandbox {
	t.Helper()
	root := t.TempDir()
	l, err := layout.ForPreset("sandbox", root)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{l.SysconfDir, l.BinDir, l.SbinDir, l.LibexecDir, l.LocalstateDir, l.RunDir, l.AuthdaemonVar, l.DataDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s := &Sandbox{Root: root, Layout: l}
	for _, p := range programs {
		s.Install(t, p)
	}
	return s
}

// Install puts a built program at its place in the sandbox and returns its path.
func (s *Sandbox) Install(t testing.TB, name string) string {
	t.Helper()
	src := Build(t, name)
	dst := s.Layout.ProgramPath(name)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := linkOrCopy(src, dst); err != nil {
		t.Fatal(err)
	}
	return dst
}

// Path returns the installed path of a program in the sandbox.
func (s *Sandbox) Path(name string) string { return s.Layout.ProgramPath(name) }

// WritableDir creates the directory name under the sandbox root, writable
// by every user (mode 1777, like /tmp), and opens the way to it and to the
// installed programs (the root and its parent get mode 0755): when the
// tests run as root, the services they start run as the sandbox's mail
// user, which must reach the scripts and write its pid files there.
func (s *Sandbox) WritableDir(t testing.TB, name string) string {
	t.Helper()
	dir := filepath.Join(s.Root, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for d, mode := range map[string]os.FileMode{filepath.Dir(s.Root): 0o755, s.Root: 0o755, dir: 0o777 | os.ModeSticky} {
		if err := os.Chmod(d, mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// WriteConfig writes a file in the sandbox's configuration directory.
func (s *Sandbox) WriteConfig(t testing.TB, name, content string, mode os.FileMode) string {
	t.Helper()
	p := s.Layout.Config(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	WriteFile(t, p, content, mode)
	return p
}

// WriteFile writes content to path with exactly mode (whatever the
// umask, and also when the file already existed).
func WriteFile(t testing.TB, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func linkOrCopy(src, dst string) error {
	os.Remove(dst)
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// OpenWay makes top and every directory from it down to each of dirs
// mode 0755, so that a test's daemon that drops to the mail user reaches
// them (t.TempDir's directories are private).
func OpenWay(t testing.TB, top string, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		for p := d; strings.HasPrefix(p, top); p = filepath.Dir(p) {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
}
