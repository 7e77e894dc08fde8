package dbfile

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/gocourier/courier/pkg/safeio"
)

// batchSize is the number of records written per bbolt transaction: large
// enough to be fast, small enough that a million-record build does not keep
// every dirty page in memory at once.
const batchSize = 20000

// DuplicateKeyError reports a key given twice to one Writer.
type DuplicateKeyError struct{ Path, Key string }

func (e *DuplicateKeyError) Error() string {
	return fmt.Sprintf("%s: duplicate key %q", e.Path, e.Key)
}

// Writer builds a new version of a database. Nothing is visible at the
// path until Commit; Abort (or a failed Commit) leaves the old file as it
// was and removes the temporary one.
type Writer struct {
	path  string
	tmp   string
	perm  os.FileMode
	pairs []pair
	done  bool
}

type pair struct{ key, value string }

// Create starts a new version of the database at path with permissions
// perm (applied exactly, whatever the umask). The temporary file
// "<path>.tmp<random>" is created now, so an unwritable directory is
// reported before any work is done.
func Create(path string, perm os.FileMode) (*Writer, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, base+".tmp")
	if err != nil {
		return nil, err
	}
	tmp := f.Name()
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return nil, err
	}
	if err := os.Chmod(tmp, perm); err != nil {
		os.Remove(tmp)
		return nil, err
	}
	return &Writer{path: path, tmp: tmp, perm: perm}, nil
}

// Put adds one record. An empty key or a key longer than bbolt allows is
// an error naming the key; a key put twice makes Commit fail with a
// *DuplicateKeyError naming it. (Records are kept in a slice and checked
// once sorted: a map of every key costs more than the whole build for
// million-record sources.)
func (w *Writer) Put(key, value string) error {
	if w.done {
		return fmt.Errorf("%s: Put after Commit or Abort", w.path)
	}
	switch {
	case key == "":
		return fmt.Errorf("%s: empty key", w.path)
	case len(key) > bolt.MaxKeySize:
		return fmt.Errorf("%s: key %.40q... is %d bytes long, the limit is %d", w.path, key, len(key), bolt.MaxKeySize)
	case int64(len(value)) > bolt.MaxValueSize:
		return fmt.Errorf("%s: value of key %q is too large", w.path, key)
	}
	w.pairs = append(w.pairs, pair{key, value})
	return nil
}

// Len returns the number of records put so far.
func (w *Writer) Len() int { return len(w.pairs) }

// Commit writes the records, fsyncs the file, renames it over the path and
// fsyncs the directory.
func (w *Writer) Commit() error {
	if w.done {
		return fmt.Errorf("%s: Commit after Commit or Abort", w.path)
	}
	w.done = true
	if err := w.build(); err != nil {
		os.Remove(w.tmp)
		return err
	}
	if err := os.Rename(w.tmp, w.path); err != nil {
		os.Remove(w.tmp)
		return err
	}
	return safeio.SyncDir(filepath.Dir(w.path))
}

// build writes the sorted records into the temporary file: sorted keys let
// bbolt fill its pages completely, and make the file deterministic.
func (w *Writer) build() error {
	slices.SortFunc(w.pairs, func(a, b pair) int { return strings.Compare(a.key, b.key) })
	for i := 1; i < len(w.pairs); i++ {
		if w.pairs[i].key == w.pairs[i-1].key {
			return &DuplicateKeyError{Path: w.path, Key: w.pairs[i].key}
		}
	}
	db, err := bolt.Open(w.tmp, w.perm, &bolt.Options{NoSync: true, NoGrowSync: true, Timeout: lockTimeout})
	if err != nil {
		return fmt.Errorf("%s: %w", w.tmp, err)
	}
	for start := 0; start == 0 || start < len(w.pairs); start += batchSize {
		end := min(start+batchSize, len(w.pairs))
		err := db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte(Bucket))
			if err != nil {
				return err
			}
			b.FillPercent = 1.0
			for _, p := range w.pairs[start:end] {
				if err := b.Put([]byte(p.key), []byte(p.value)); err != nil {
					return fmt.Errorf("key %q: %w", p.key, err)
				}
			}
			return nil
		})
		if err != nil {
			db.Close()
			return fmt.Errorf("%s: %w", w.tmp, err)
		}
	}
	if err := db.Sync(); err != nil {
		db.Close()
		return fmt.Errorf("%s: fsync: %w", w.tmp, err)
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("%s: %w", w.tmp, err)
	}
	// bbolt may have changed the mode when it grew the file; set it again.
	return os.Chmod(w.tmp, w.perm)
}

// Abort discards the new version.
func (w *Writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	os.Remove(w.tmp)
}
