package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// NeedPackage skips the test unless every named file exists (or, for a bare
// name, is found on PATH). The skip names the Debian package that provides
// them, and is also appended to the file named by $COURIER_SKIPLOG so that
// `make test` can print one SKIP line per such test at the end of the run.
func NeedPackage(t testing.TB, debianPackage string, files ...string) {
	t.Helper()
	for _, f := range files {
		found := false
		if f != "" && f[0] == '/' {
			_, err := os.Stat(f)
			found = err == nil
		} else {
			_, err := exec.LookPath(f)
			found = err == nil
		}
		if !found {
			Skip(t, fmt.Sprintf("%s not found: install the Debian package %s", f, debianPackage))
		}
	}
}

// NeedRoot skips a test that exercises real privilege changes unless it runs
// as root (CI does).
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Skip(t, "needs root to change uids: run make test as root")
	}
}

// Skip records and performs a skip.
func Skip(t testing.TB, reason string) {
	t.Helper()
	if p := os.Getenv("COURIER_SKIPLOG"); p != "" {
		if f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
			fmt.Fprintf(f, "SKIP %s: %s\n", t.Name(), reason)
			f.Close()
		}
	}
	t.Skip(reason)
}
