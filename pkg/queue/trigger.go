package queue

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Wake tells the scheduler a new message is waiting by writing "\n" to the
// trigger FIFO (spec §3). It never blocks and never fails the caller: with
// no scheduler reading, or a full FIFO, the wake-up is lost and the
// scheduler's startup and periodic rescans find the message anyway. The
// FIFO stays open for the next message (courieresmtpd submits thousands a
// minute; opening it each time was 3 % of its CPU) until a write fails
// otherwise than for a full FIFO: the scheduler that read it has gone. The
// descriptor is written directly: an os.File of a FIFO would wait in Go's
// poller while the FIFO is full.
func (q *Queue) Wake() {
	q.wakeMu.Lock()
	defer q.wakeMu.Unlock()
	if q.waker < 0 {
		fd, err := unix.Open(q.path("tmp", "trigger"), unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			return
		}
		q.waker = fd
	}
	if _, err := unix.Write(q.waker, []byte("\n")); err != nil && err != unix.EAGAIN {
		unix.Close(q.waker)
		q.waker = -1
	}
}

// Trigger writes one command line to tmp/trigger without blocking: "\n",
// "STOP\n", "RESTART\n", "FLUSH\n", "FLUSH<qid>\n" (spec §3). It returns
// ErrNoScheduler when nothing has the FIFO open for reading.
func (q *Queue) Trigger(line string) error {
	path := q.path("tmp", "trigger")
	f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, syscall.ENXIO) {
			return ErrNoScheduler
		}
		return fmt.Errorf("queue: cannot open trigger %s: %w", path, err)
	}
	defer f.Close()
	if _, err := f.Write([]byte(line)); err != nil {
		return fmt.Errorf("queue: writing trigger %s: %w", path, err)
	}
	return nil
}

// ErrNoScheduler: the trigger FIFO has no reader (courierd is not running).
var ErrNoScheduler = errors.New("queue: no scheduler is reading the trigger FIFO")

// ListenTrigger opens the trigger FIFO for the scheduler. It is opened
// read-write so that the reader never sees end-of-file when the last writer
// closes, and so that opening does not wait for a writer.
// What the FIFO holds from before is dropped: a submitter's Wake keeps it
// open, and with it what a stopped scheduler left unread (a STOP would stop
// this one); the scheduler's first scan finds the mail those lines were
// about.
func (q *Queue) ListenTrigger() (*os.File, error) {
	path := q.path("tmp", "trigger")
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("queue: cannot open trigger %s for reading: %w", path, err)
	}
	if rc, err := f.SyscallConn(); err == nil {
		buf := make([]byte, 4096)
		rc.Read(func(fd uintptr) bool {
			for {
				if n, err := unix.Read(int(fd), buf); n <= 0 || err != nil {
					return true // empty (EAGAIN: the descriptor is non-blocking)
				}
			}
		})
	}
	return f, nil
}
