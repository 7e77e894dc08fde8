// Package dbfile owns the compiled ".dat" key/value databases of the suite
// (userdb.dat, userdbshadow.dat, and later aliases.dat, smtpaccess.dat,
// hosteddomains.dat ...): bbolt files with one bucket whose keys and values
// are exactly those the original stored in its GDBM files, without a
// trailing NUL (DESIGN.md §4, spec/userdb.md §2).
//
// A database is never modified in place. Writer builds a new file next to
// the old one, fsyncs it, renames it over the old name and fsyncs the
// directory, so a reader sees either the old or the new database, never half
// of one. DB, the reader, opens read-only, never waits for a writer (a
// writer never touches the file being read), and notices a replacement the
// way the original's reader does: before each access it compares the file's
// inode, size and modification time with those of the file it has open and
// re-opens when they differ.
//
// Callers: pkg/userdb (makeuserdb and authdaemond's userdb module), and the
// make* tools of the other databases.
package dbfile

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Bucket is the name of the one bucket holding the records.
const Bucket = "dat"

// lockTimeout bounds the wait for bbolt's shared lock on open. Writers
// never lock a published file, so this only matters if a foreign program
// holds one.
const lockTimeout = time.Second

// fileID identifies one version of a file at a path.
type fileID struct {
	dev, ino uint64
	size     int64
	mtime    int64
}

func idOf(fi os.FileInfo) fileID {
	id := fileID{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.dev, id.ino = uint64(st.Dev), st.Ino
	}
	return id
}

// handle is one opened version of the file, shared by concurrent readers
// and closed when it has been replaced and its last reader is done.
type handle struct {
	db      *bolt.DB
	id      fileID
	refs    int
	retired bool
}

// DB is a read-only database that follows replacements of its file. It is
// safe for concurrent use.
type DB struct {
	path string
	mu   sync.Mutex
	cur  *handle
}

// open opens the file at path read-only and records which file it was.
// The file is opened here rather than by bolt, which formats a log message
// for a missing file even though nobody reads it.
func open(path string) (*handle, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	opts := &bolt.Options{
		ReadOnly: true,
		Timeout:  lockTimeout,
		OpenFile: func(string, int, os.FileMode) (*os.File, error) { return f, nil },
	}
	db, err := bolt.Open(path, 0, opts)
	if err != nil {
		var pe *os.PathError
		switch {
		case errors.As(err, &pe):
			return nil, err
		case errors.Is(err, berrors.ErrTimeout):
			return nil, fmt.Errorf("%s: another process holds an exclusive lock on it", path)
		}
		return nil, fmt.Errorf("%s: not a database built by this suite (%v); rebuild it with its make command", path, err)
	}
	return &handle{db: db, id: idOf(fi)}, nil
}

// Open opens a database read-only. It fails when the file is missing
// (errors.Is(err, fs.ErrNotExist)) or unreadable.
func Open(path string) (*DB, error) {
	h, err := open(path)
	if err != nil {
		return nil, err
	}
	return &DB{path: path, cur: h}, nil
}

// Path returns the file name the database was opened with.
func (d *DB) Path() string { return d.path }

// acquire returns the handle for the current file at the path, re-opening
// it first when the file was replaced.
func (d *DB) acquire() (*handle, error) {
	fi, err := os.Stat(d.path)
	if err != nil {
		return nil, err
	}
	id := idOf(fi)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cur == nil {
		return nil, fmt.Errorf("%s: database is closed", d.path)
	}
	if id != d.cur.id {
		h, err := open(d.path)
		if err != nil {
			return nil, err
		}
		d.retire(d.cur)
		d.cur = h
	}
	d.cur.refs++
	return d.cur, nil
}

// retire marks h replaced and closes it if nobody uses it. Called with mu held.
func (d *DB) retire(h *handle) {
	h.retired = true
	if h.refs == 0 {
		h.db.Close()
	}
}

func (d *DB) release(h *handle) {
	d.mu.Lock()
	defer d.mu.Unlock()
	h.refs--
	if h.retired && h.refs == 0 {
		h.db.Close()
	}
}

// Get returns the value stored under key.
func (d *DB) Get(key string) (string, bool, error) {
	h, err := d.acquire()
	if err != nil {
		return "", false, err
	}
	defer d.release(h)
	var value string
	var found bool
	err = h.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(Bucket))
		if b == nil {
			return fmt.Errorf("%s: no %q bucket; rebuild the file with its make command", d.path, Bucket)
		}
		if v := b.Get([]byte(key)); v != nil {
			value, found = string(v), true
		}
		return nil
	})
	return value, found, err
}

// ForEach calls fn for every record in key order, on one consistent version
// of the file, and stops at the first error fn returns.
func (d *DB) ForEach(fn func(key, value string) error) error {
	h, err := d.acquire()
	if err != nil {
		return err
	}
	defer d.release(h)
	return h.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(Bucket))
		if b == nil {
			return fmt.Errorf("%s: no %q bucket; rebuild the file with its make command", d.path, Bucket)
		}
		return b.ForEach(func(k, v []byte) error {
			return fn(string(k), string(v))
		})
	})
}

// Close releases the database. Readers still inside Get or ForEach finish
// first.
func (d *DB) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cur == nil {
		return nil
	}
	d.retire(d.cur)
	d.cur = nil
	return nil
}
