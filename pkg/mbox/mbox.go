// Package mbox owns delivery into mbox files as Courier's local delivery
// does it (spec dot-courier.md §6; courier-libs liblock/mail.c and
// courier module.local/deliver.C): the dot-lock protocol shared with every
// other mail program on the host, a kernel record lock on the file, the
// "From " separator line, mboxrd quoting of lines matching "^>*From ", and
// truncation back to the old size when a delivery fails, so a mailbox never
// keeps half a message.
//
// Callers: the local delivery child (pkg/local), running as the recipient.
//
// The kernel lock is an open file description lock (F_OFD_SETLK). On Linux
// it conflicts with the classic fcntl(F_SETLK) locks that the original's
// ll_lockfd, procmail and mutt take, so they exclude each other, while
// belonging to the open file rather than to the process, which suits a
// multi-threaded Go program.
package mbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// StaleLockAge is how old a dot-lock written by another host (whose
// process cannot be checked) must be before it is removed (mail.c: 300 s).
const StaleLockAge = 5 * time.Minute

// DefaultRetry is how long the original waits before trying a busy lock
// again.
const DefaultRetry = 5 * time.Second

// Options tune Open.
type Options struct {
	// Retry is the pause between attempts on a busy lock; DefaultRetry
	// when zero.
	Retry time.Duration
	// Mode is the permission of a new mailbox before the umask; 0600 when
	// zero (the original creates it under umask 077).
	Mode os.FileMode
}

// Mailbox is an mbox file opened for delivery: dot-locked (when the
// directory allows it), locked against other writers, positioned at its end.
type Mailbox struct {
	path    string
	f       *os.File
	size    int64 // size before this delivery: where a failure truncates to
	dotlock string

	mu     sync.Mutex
	closed bool
}

// Open creates the mailbox if it is missing and locks it, waiting while
// another program holds the lock, until ctx ends.
func Open(ctx context.Context, path string, o Options) (*Mailbox, error) {
	if o.Retry <= 0 {
		o.Retry = DefaultRetry
	}
	if o.Mode == 0 {
		o.Mode = 0o600
	}
	// fopen(name, "a") in the original: creates a missing mailbox.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, o.Mode)
	if err != nil {
		return nil, err
	}
	f.Close()
	for {
		m, err := tryOpen(path)
		if err == nil {
			return m, nil
		}
		if !errors.Is(err, errBusy) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: mailbox still locked by another program: %w", path, ctx.Err())
		case <-time.After(o.Retry):
		}
	}
}

var errBusy = errors.New("mailbox is locked")

// tryOpen is one attempt of ll_mail_open: the dot-lock, then the kernel
// lock. A dot-lock that cannot be created for lack of permission on the
// directory falls back to the kernel lock alone.
func tryOpen(path string) (*Mailbox, error) {
	id := lockID()
	dotlock := path + ".lock"
	err := tryDotlock(dotlock, id)
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrExist):
		removeStale(dotlock, id)
		return nil, errBusy
	case errors.Is(err, fs.ErrPermission):
		dotlock = ""
	default:
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err == nil {
		lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0}
		if err = unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk); err != nil {
			f.Close()
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES) {
				err = errBusy
			} else {
				err = fmt.Errorf("%s: lock: %w", path, err)
			}
		}
	}
	if err != nil {
		if dotlock != "" {
			os.Remove(dotlock)
		}
		return nil, err
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		if dotlock != "" {
			os.Remove(dotlock)
		}
		return nil, err
	}
	return &Mailbox{path: path, f: f, size: size, dotlock: dotlock}, nil
}

// lockID is what the original writes into its lock files: "<pid>:<host>".
func lockID() string {
	host, err := os.Hostname()
	if err != nil {
		host = "localhost"
	}
	return strconv.Itoa(os.Getpid()) + ":" + host
}

// tryDotlock creates <mbox>.lock the NFS-safe way: write the id into a
// unique file <mbox>.lock.<time>.<pid>.<host>, link it to the lock name,
// and count the links (mail.c try_mail_dotlock).
func tryDotlock(dotlock, id string) error {
	host := id[strings.IndexByte(id, ':')+1:]
	tmp := fmt.Sprintf("%s.%d.%d.%s", dotlock, time.Now().Unix(), os.Getpid(), host)
	if err := os.WriteFile(tmp, []byte(id), 0o644); err != nil {
		os.Remove(tmp)
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, dotlock); err != nil {
		if errors.Is(err, fs.ErrExist) || errors.Is(err, fs.ErrPermission) {
			return err
		}
		return fmt.Errorf("%s: %w", dotlock, err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(tmp, &st); err != nil || st.Nlink != 2 {
		return fmt.Errorf("%s: %w", dotlock, fs.ErrExist)
	}
	return nil
}

// removeStale removes a dot-lock left by a process of this host that no
// longer exists, or one of another host older than StaleLockAge
// (mail.c dotlock_exists).
func removeStale(dotlock, myID string) {
	data, err := os.ReadFile(dotlock)
	if err != nil {
		return
	}
	id := string(data)
	pidText, host, ok := strings.Cut(id, ":")
	_, myHost, _ := strings.Cut(myID, ":")
	if ok && host == myHost {
		pid, err := strconv.Atoi(pidText)
		if err == nil && pid > 0 && (pid == os.Getpid() || syscall.Kill(pid, 0) == syscall.ESRCH) {
			os.Remove(dotlock)
		}
		return
	}
	if st, err := os.Stat(dotlock); err == nil && time.Since(st.ModTime()) > StaleLockAge {
		os.Remove(dotlock)
	}
}

// Size is the mailbox's size before this delivery.
func (m *Mailbox) Size() int64 { return m.size }

// Append writes one message: the "From " line and the header lines given
// (each without its newline), then the message with every line matching
// "^>*From " quoted by one more ">" (mboxrd). Like the original it adds no
// blank line after the message. The file is fsynced. On any error the
// mailbox is truncated back to its old size.
func (m *Mailbox) Append(fromLine string, headers []string, msg io.Reader) error {
	w := bufio.NewWriterSize(m.f, 64*1024)
	err := writeMessage(w, fromLine, headers, msg)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = m.f.Sync()
	}
	if err != nil {
		m.Rollback()
		return fmt.Errorf("%s: %w", m.path, err)
	}
	return nil
}

func writeMessage(w *bufio.Writer, fromLine string, headers []string, msg io.Reader) error {
	w.WriteString(fromLine)
	w.WriteByte('\n')
	for _, h := range headers {
		w.WriteString(h)
		w.WriteByte('\n')
	}
	r := bufio.NewReaderSize(msg, 64*1024)
	atStart := true
	for {
		chunk, err := r.ReadSlice('\n')
		if len(chunk) > 0 {
			if atStart && needsQuote(chunk, r) {
				w.WriteByte('>')
			}
			if _, werr := w.Write(chunk); werr != nil {
				return werr
			}
			atStart = chunk[len(chunk)-1] == '\n'
		}
		switch {
		case err == nil, errors.Is(err, bufio.ErrBufferFull):
		case err == io.EOF:
			return nil
		default:
			return err
		}
	}
}

// needsQuote reports whether a line starting with chunk matches ^>*From .
// A run of '>' longer than the buffer is followed through the reader.
func needsQuote(chunk []byte, r *bufio.Reader) bool {
	i := 0
	for i < len(chunk) && chunk[i] == '>' {
		i++
	}
	rest := chunk[i:]
	if len(rest) >= 5 {
		return string(rest[:5]) == "From "
	}
	if len(chunk) < r.Size() || chunk[len(chunk)-1] == '\n' {
		return false
	}
	// The buffer was full of '>' (or ended inside "From "): look ahead.
	ahead, _ := r.Peek(5 - len(rest))
	return string(append(append([]byte(nil), rest...), ahead...)) == "From "[:len(rest)+len(ahead)] && len(rest)+len(ahead) == 5
}

// Rollback truncates the mailbox back to its size before this delivery.
// It is safe to call from a signal handler goroutine while Append runs.
func (m *Mailbox) Rollback() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.f.Truncate(m.size)
	}
}

// Close releases the locks.
func (m *Mailbox) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	err := m.f.Close()
	if m.dotlock != "" {
		os.Remove(m.dotlock)
	}
	return err
}
