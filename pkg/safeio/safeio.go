// Package safeio owns the file system calls behind the suite's durability
// promises, done with bare system calls because they sit on the mail
// paths: os.Open and os.OpenFile first try to register every descriptor
// with the runtime's poller (and then set it blocking again, since a
// regular file or directory cannot be polled), four system calls more for
// every queued message and every delivery.
//
// Callers: pkg/queue (submission), pkg/maildir (delivery, IMAP), pkg/local
// (the data file handed to a delivery worker), pkg/userdb and pkg/dbfile
// (replacing a file by rename).
package safeio

import (
	"os"

	"golang.org/x/sys/unix"
)

// Open opens path with open(2) (O_CLOEXEC added, EINTR retried) and
// returns it as an *os.File.
func Open(path string, flag int, perm uint32) (*os.File, error) {
	for {
		fd, err := unix.Open(path, flag|unix.O_CLOEXEC, perm)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return os.NewFile(uintptr(fd), path), nil
	}
}

// SyncDir fsyncs the directory dir, so that the entries made, renamed or
// removed in it survive a crash. A file system that cannot fsync a
// directory (EINVAL) does not need to, and that is no error.
func SyncDir(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	for err == unix.EINTR {
		fd, err = unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	for {
		err = unix.Fsync(fd)
		if err != unix.EINTR {
			break
		}
	}
	if err == nil || err == unix.EINVAL {
		return nil
	}
	return &os.PathError{Op: "fsync", Path: dir, Err: err}
}
