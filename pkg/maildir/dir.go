package maildir

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/gocourier/courier/pkg/safeio"
)

// Dir is one maildir directory holding tmp/, new/ and cur/: a main maildir
// (IMAP INBOX) or one of its folders. Its methods deliver, list, flag and
// remove messages, keeping the quota of the main maildir up to date.
// A Dir holds no open files; it is safe for concurrent use by many
// goroutines and processes, as maildirs are.
type Dir struct {
	// Path is the directory itself.
	Path string
	// Root is the main maildir, where maildirsize lives: Path itself, or
	// the parent of a folder.
	Root string
	// Quota is the account's quota from the account database (authlib
	// QUOTA, the MAILDIRQUOTA variable). When set and different from the
	// first line of maildirsize, the file is rewritten with it, as Courier
	// does. Zero leaves the file's own quota in force.
	Quota QuotaSpec
	// Log receives what an administrator should hear about but that does
	// not fail the operation (a quota file that could not be updated after
	// a message was already delivered). Nil means slog.Default().
	Log *slog.Logger
}

// OpenDir returns the Dir for path after checking that tmp/, new/ and cur/
// exist, and finds its main maildir.
func OpenDir(path string) (*Dir, error) {
	for _, sub := range []string{"tmp", "new", "cur"} {
		st, err := os.Stat(filepath.Join(path, sub))
		if err != nil {
			return nil, fmt.Errorf("%s is not a maildir: %w (create it with maildirmake)", path, err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("%s is not a maildir: %s is not a directory", path, filepath.Join(path, sub))
		}
	}
	return &Dir{Path: path, Root: QuotaRoot(path)}, nil
}

func (d *Dir) log() *slog.Logger {
	if d.Log != nil {
		return d.Log
	}
	return slog.Default()
}

// counted reports whether this directory's messages count towards the
// quota (every folder except Trash).
func (d *Dir) counted() bool { return countedFolder(d.Path) }

// syncDir fsyncs a directory so that a new or renamed entry in it survives
// a crash.
func syncDir(path string) error { return safeio.SyncDir(path) }
