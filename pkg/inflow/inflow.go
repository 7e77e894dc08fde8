// Package inflow holds new mail back while the scheduler is full, as
// Postfix's in_flow_delay does: the scheduler (pkg/scheduler) sets a flag
// while it has as many messages in progress as it takes (QueueHi) and more
// are due, and courieresmtpd (pkg/smtpd) holds each MAIL FROM for up to
// ESMTP_INFLOWDELAY while the flag is set. When mail arrives faster than
// the machine can deliver it, senders are slowed to the delivery rate
// instead of the queue growing without bound, so mail accepted under load
// is delivered minutes sooner. Nothing is refused, and a flag left set by a
// scheduler that died costs each message at most the delay.
//
// The flag is the first byte of tmp/inflow in the queue directory: '1'
// full, anything else, or no file, not full. The original Courier has no
// such flag (its courierd has queuehi, which only bounds what it loads);
// no library offers a cross-process flag this cheap to read, so it is a
// file read with pread.
package inflow

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Name is the flag file, in the queue directory's tmp/ (recovery ignores
// names there that are not time buckets).
const Name = "inflow"

// Path is the flag file of the queue directory queueDir.
func Path(queueDir string) string { return filepath.Join(queueDir, "tmp", Name) }

// Flag is the scheduler's side.
type Flag struct {
	f    *os.File
	full bool
}

// Create opens the flag of queueDir, creating it, and clears it.
func Create(queueDir string) (*Flag, error) {
	p := Path(queueDir)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("inflow: cannot open the scheduler's flag %s: %w", p, err)
	}
	fl := &Flag{f: f, full: true}
	if err := fl.Set(false); err != nil {
		f.Close()
		return nil, err
	}
	return fl, nil
}

// Set records whether the scheduler is full; it writes only changes.
func (fl *Flag) Set(full bool) error {
	if full == fl.full {
		return nil
	}
	b := []byte{'0'}
	if full {
		b[0] = '1'
	}
	if _, err := fl.f.WriteAt(b, 0); err != nil {
		return fmt.Errorf("inflow: cannot write the scheduler's flag %s: %w", fl.f.Name(), err)
	}
	fl.full = full
	return nil
}

// Close clears the flag (a stopped scheduler holds nothing back) and
// closes it.
func (fl *Flag) Close() error {
	return errors.Join(fl.Set(false), fl.f.Close())
}

// pollEvery is how often a waiting Gate reads the flag again.
const pollEvery = 5 * time.Millisecond

// Gate is courieresmtpd's side, shared by its sessions: one goroutine reads
// the flag while any of them waits.
type Gate struct {
	path    string
	mu      sync.Mutex
	cleared chan struct{} // closed when the flag clears; nil: no poller
}

// NewGate is the gate on the flag of queueDir.
func NewGate(queueDir string) *Gate { return &Gate{path: Path(queueDir)} }

// Wait returns at once when the scheduler is not full, else when it no
// longer is or after max, and reports how long it waited.
func (g *Gate) Wait(max time.Duration) time.Duration {
	if max <= 0 || !g.full() {
		return 0
	}
	start := time.Now()
	t := time.NewTimer(max)
	defer t.Stop()
	select {
	case <-g.waitClear():
	case <-t.C:
	}
	return time.Since(start)
}

// full reads the flag; an unreadable flag is not full. The file is opened
// each time (three system calls per message): a flag removed and made
// again must not be read through a stale descriptor.
func (g *Gate) full() bool {
	f, err := os.Open(g.path)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [1]byte
	n, _ := f.ReadAt(b[:], 0)
	return n == 1 && b[0] == '1'
}

// waitClear is closed when the flag clears: the first waiter starts the
// goroutine that reads it every pollEvery.
func (g *Gate) waitClear() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cleared == nil {
		ch := make(chan struct{})
		g.cleared = ch
		go func() {
			for g.full() {
				time.Sleep(pollEvery)
			}
			g.mu.Lock()
			g.cleared = nil
			g.mu.Unlock()
			close(ch)
		}()
	}
	return g.cleared
}
