package safeio

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	f, err := Open(p, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("data\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	flags, err := unix.FcntlInt(f.Fd(), unix.F_GETFD, 0)
	if err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("descriptor flags %#x %v: want close-on-exec", flags, err)
	}
	f.Close()
	if data, err := os.ReadFile(p); err != nil || string(data) != "data\n" {
		t.Errorf("read back %q %v", data, err)
	}
	if _, err := Open(p, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o640); !errors.Is(err, fs.ErrExist) {
		t.Errorf("O_EXCL on an existing file: %v", err)
	}
	var pe *os.PathError
	if _, err := Open(filepath.Join(dir, "missing"), unix.O_RDONLY, 0); !errors.As(err, &pe) || pe.Path != filepath.Join(dir, "missing") || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestSyncDir(t *testing.T) {
	dir := t.TempDir()
	if err := SyncDir(dir); err != nil {
		t.Fatal(err)
	}
	if err := SyncDir(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing directory: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "file"), nil, 0o600)
	if err := SyncDir(filepath.Join(dir, "file")); err == nil {
		t.Error("a file was taken for a directory")
	}
}
