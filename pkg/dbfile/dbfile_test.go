package dbfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func build(t *testing.T, path string, perm os.FileMode, pairs map[string]string) {
	t.Helper()
	w, err := Create(path, perm)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range pairs {
		if err := w.Put(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.dat")
	pairs := map[string]string{"b": "2", "a": "1", "c|d": "x\ty", "empty": ""}
	build(t, path, 0o640, pairs)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %o, want 640", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d files after Commit, want only x.dat", len(entries))
	}
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for k, v := range pairs {
		got, ok, err := db.Get(k)
		if err != nil || !ok || got != v {
			t.Errorf("Get(%q) = %q, %v, %v; want %q", k, got, ok, err, v)
		}
	}
	if _, ok, err := db.Get("missing"); ok || err != nil {
		t.Errorf("Get(missing) = %v, %v", ok, err)
	}
	var keys []string
	if err := db.ForEach(func(k, v string) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(keys, ","); got != "a,b,c|d,empty" {
		t.Errorf("ForEach order %s", got)
	}
	stop := errors.New("stop")
	n := 0
	if err := db.ForEach(func(k, v string) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("ForEach did not stop at the callback's error: %v after %d", err, n)
	}
}

func TestEmptyDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "e.dat")
	build(t, path, 0o644, nil)
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, ok, err := db.Get("x"); ok || err != nil {
		t.Errorf("Get on empty database: %v %v", ok, err)
	}
}

func TestPutErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "d.dat")
	build(t, path, 0o644, map[string]string{"old": "1"})
	w, err := Create(path, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Put("", "x"); err == nil {
		t.Error("empty key accepted")
	}
	if err := w.Put(strings.Repeat("k", 40000), "x"); err == nil {
		t.Error("oversized key accepted")
	}
	w.Abort()
	if err := w.Put("late", "x"); err == nil {
		t.Error("Put after Abort accepted")
	}
	if err := w.Commit(); err == nil {
		t.Error("Commit after Abort accepted")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("Abort left %d files", len(entries))
	}
	// A key put twice fails the Commit, naming the key, and changes nothing.
	w, err = Create(path, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"zed", "alice", "bob", "alice"} {
		if err := w.Put(k, "new"); err != nil {
			t.Fatal(err)
		}
	}
	err = w.Commit()
	var dup *DuplicateKeyError
	if !errors.As(err, &dup) || dup.Key != "alice" || err.Error() != path+`: duplicate key "alice"` {
		t.Errorf("duplicate: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("failed Commit left %d files", len(entries))
	}
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, ok, _ := db.Get("old"); !ok || v != "1" {
		t.Error("Abort damaged the old database")
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "none.dat")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	junk := filepath.Join(dir, "junk.dat")
	os.WriteFile(junk, []byte(strings.Repeat("alice\tuid=1\n", 1000)), 0o644)
	if _, err := Open(junk); err == nil || !strings.Contains(err.Error(), "junk.dat") {
		t.Errorf("garbage file: %v", err)
	}
	if _, err := Create(filepath.Join(dir, "nodir", "x.dat"), 0o644); err == nil {
		t.Error("Create in a missing directory succeeded")
	}
}

// TestReplacement: a reader that stays open sees each new version, and an
// error once the file is gone.
func TestReplacement(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.dat")
	build(t, path, 0o644, map[string]string{"k": "v1"})
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i := 2; i < 5; i++ {
		want := fmt.Sprintf("v%d", i)
		build(t, path, 0o644, map[string]string{"k": want})
		if v, _, err := db.Get("k"); err != nil || v != want {
			t.Fatalf("after rebuild %d: Get = %q, %v", i, v, err)
		}
	}
	os.Remove(path)
	if _, _, err := db.Get("k"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Get after removal: %v", err)
	}
}

// TestConcurrentReplacement: readers running while the file is rebuilt
// again and again always see one complete version.
func TestConcurrentReplacement(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.dat")
	version := func(i int) map[string]string {
		m := map[string]string{}
		for j := range 50 {
			m[fmt.Sprintf("key%02d", j)] = fmt.Sprint(i)
		}
		return m
	}
	build(t, path, 0o644, version(0))
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var stop atomic.Bool
	var wg sync.WaitGroup
	var failures atomic.Int32
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				seen := ""
				err := db.ForEach(func(k, v string) error {
					if seen == "" {
						seen = v
					}
					if v != seen {
						return fmt.Errorf("mixed versions %s and %s", seen, v)
					}
					return nil
				})
				if err != nil {
					t.Error(err)
					failures.Add(1)
					return
				}
				if _, ok, err := db.Get("key07"); !ok || err != nil {
					t.Errorf("Get during rebuild: %v %v", ok, err)
					failures.Add(1)
					return
				}
			}
		}()
	}
	for i := 1; i <= 30 && failures.Load() == 0; i++ {
		build(t, path, 0o644, version(i))
	}
	stop.Store(true)
	wg.Wait()
	if v, _, _ := db.Get("key00"); v != "30" {
		t.Errorf("final version %q, want 30", v)
	}
}
