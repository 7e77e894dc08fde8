package mailbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Courier's imapd serializes the scans of one folder (imapscanclient.c,
// under IMAP_USELOCKS=1, the default) with a dot-lock "tmp/courier.lock"
// made by maildirlock.c: a file holding "<pid>:<hostname>" written in tmp/
// and hard-linked to that name. A lock whose process is gone (same host),
// or that is older than lockStale (another host), is broken. Every update
// of courierimapuiddb and of our courierimapmodseq happens under it, so
// that Courier's imapd and ours never hand out the same UID twice.
//
// Courier breaks a lock that carries its own pid, taking it for a
// leftover of a recycled pid. All sessions of one of our worker processes
// share a pid, so they first serialize on a mutex per folder, and only one
// of them at a time holds (or waits for) the dot-lock.

const (
	lockFile  = "courier.lock"    // in tmp/
	lockStale = 120 * time.Second // maildirlock.c LOCK_TIMEOUT
	lockWait  = 5 * time.Minute   // give up after this long
	lockPoll  = 20 * time.Millisecond
)

var (
	folderMutexes sync.Map // cleaned folder path → *sync.Mutex
	lockSeq       atomic.Uint64
)

// ErrLocked is matched (errors.Is) when a folder stayed locked by another
// process for longer than we wait.
var ErrLocked = errors.New("the folder is locked by another process")

// lockFolder locks the maildir directory dir against other scans and
// returns the function that unlocks it. useDotLock false (IMAP_USELOCKS
// other than 1) keeps only the in-process lock, as Courier then takes none.
func lockFolder(dir string, useDotLock bool) (func(), error) {
	v, _ := folderMutexes.LoadOrStore(filepath.Clean(dir), &sync.Mutex{})
	mu := v.(*sync.Mutex)
	mu.Lock()
	if !useDotLock {
		return mu.Unlock, nil
	}
	release, err := dotLock(dir)
	if err != nil {
		mu.Unlock()
		return nil, err
	}
	return func() { release(); mu.Unlock() }, nil
}

func lockID() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "localhost"
	}
	return strconv.Itoa(os.Getpid()) + ":" + h
}

func dotLock(dir string) (func(), error) {
	id := lockID()
	lock := filepath.Join(dir, "tmp", lockFile)
	deadline := time.Now().Add(lockWait)
	for {
		tmp := filepath.Join(dir, "tmp", fmt.Sprintf("%d.%d_%d_courierlock", time.Now().Unix(), os.Getpid(), lockSeq.Add(1)))
		if err := os.WriteFile(tmp, []byte(id), 0o644); err != nil {
			return nil, fmt.Errorf("cannot lock %s: %w", dir, err)
		}
		err := os.Link(tmp, lock)
		if err == nil {
			// NFS may report a failed link as done: the link count of
			// the temporary file tells (liblock try_dotlock).
			var st unix.Stat_t
			if serr := unix.Stat(tmp, &st); serr != nil || st.Nlink != 2 {
				err = fmt.Errorf("link of %s to %s did not take", tmp, lock)
			}
		}
		os.Remove(tmp)
		if err == nil {
			return func() { os.Remove(lock) }, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("cannot lock %s: %w", dir, err)
		}
		if breakStaleLock(lock, id) {
			continue
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s: %w (%s)", dir, ErrLocked, lock)
		}
		time.Sleep(lockPoll)
	}
}

// breakStaleLock removes the lock file if its owner is gone, as
// liblock's dotlock_exists does, and reports whether it did.
func breakStaleLock(lock, myID string) bool {
	data, err := os.ReadFile(lock)
	if err != nil {
		return errors.Is(err, os.ErrNotExist) // released meanwhile: try again
	}
	pidText, host, ok := strings.Cut(string(data), ":")
	_, myHost, _ := strings.Cut(myID, ":")
	if ok && host == myHost {
		pid, err := strconv.Atoi(pidText)
		if err == nil && pid > 0 && unix.Kill(pid, 0) == unix.ESRCH {
			return os.Remove(lock) == nil
		}
		return false
	}
	if st, err := os.Stat(lock); err == nil && time.Since(st.ModTime()) > lockStale {
		return os.Remove(lock) == nil
	}
	return false
}
