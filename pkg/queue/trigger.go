package queue

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// Wake tells the scheduler a new message is waiting by writing "\n" to the
// trigger FIFO (spec §3). It never blocks and never fails the caller: with
// no scheduler reading, or a full FIFO, the wake-up is lost and the
// scheduler's startup and periodic rescans find the message anyway.
func (q *Queue) Wake() { _ = q.Trigger("\n") }

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
func (q *Queue) ListenTrigger() (*os.File, error) {
	path := q.path("tmp", "trigger")
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("queue: cannot open trigger %s for reading: %w", path, err)
	}
	return f, nil
}
