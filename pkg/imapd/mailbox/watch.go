package mailbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gocourier/courier/pkg/maildir"
)

// watchSettle is how long Watch waits after a change for more of the same
// burst (a delivery is a link and an unlink; a STORE renames many files).
const watchSettle = 50 * time.Millisecond

// Watch reports changes to a mailbox for IDLE (RFC 2177): deliveries into
// new/, renames and removals in cur/, keyword updates. Each burst of
// changes sends one value on the channel (which holds one pending
// signal); the channel closes when ctx ends or the watch fails. It uses
// inotify, as Courier's IMAP_ENHANCEDIDLE does.
func (s *Store) Watch(ctx context.Context, name string) (<-chan struct{}, error) {
	f, d, err := s.open(name)
	if err != nil {
		return nil, err
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	file := os.NewFile(uintptr(fd), "inotify")
	kwDir := filepath.Join(f.path, maildir.KeywordsDir)
	if err := d.MakeKeywordsDir(); err != nil {
		file.Close()
		return nil, err
	}
	const mask = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO | unix.IN_CLOSE_WRITE
	for _, dir := range []string{filepath.Join(f.path, "new"), filepath.Join(f.path, "cur"), kwDir} {
		if _, err := unix.InotifyAddWatch(fd, dir, mask); err != nil {
			file.Close()
			return nil, fmt.Errorf("inotify on %s: %w", dir, err)
		}
	}
	ch := make(chan struct{}, 1)
	go func() {
		<-ctx.Done()
		file.Close() // ends the blocked Read below
	}()
	go func() {
		defer close(ch)
		buf := make([]byte, 64*1024)
		for {
			if _, err := file.Read(buf); err != nil {
				return
			}
			// Let the burst settle, then drain what came meanwhile.
			file.SetReadDeadline(time.Now().Add(watchSettle))
			for {
				if _, err := file.Read(buf); err != nil {
					break
				}
			}
			if ctx.Err() != nil {
				return
			}
			file.SetReadDeadline(time.Time{})
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}()
	return ch, nil
}
