package authdaemon

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"

	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/pkg/privsep"
)

// Socket is a listening authdaemon socket.
type Socket struct {
	Path string
	ln   *net.UnixListener
	ino  uint64
}

// Listen creates the socket the way the original does (spec §1): bind
// socket.tmp, make it mode 0777 (access is controlled by the directory),
// then rename it over socket, so that clients never find the path missing
// while a daemon restarts. The directory is created if needed; as root it
// is made 0750 root:<mail group>, so only root and the mail group's
// daemons can reach the socket.
func Listen(dir string, l layout.Layout) (*Socket, error) {
	if err := prepareDir(dir, l); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "socket")
	tmp := path + ".tmp"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("removing the stale %s: %w", tmp, err)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("creating the authdaemon socket: %w", err)
	}
	// The path changes by the rename below; removal is done by Close.
	ln.SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o777); err != nil {
		ln.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("chmod 0777 %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		ln.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("installing the authdaemon socket %s: %w", path, err)
	}
	s := &Socket{Path: path, ln: ln}
	if fi, err := os.Stat(path); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			s.ino = st.Ino
		}
	}
	return s, nil
}

// Listener is the socket's listener.
func (s *Socket) Listener() net.Listener { return s.ln }

// Close stops listening and removes the socket, unless another daemon has
// already replaced it with its own.
func (s *Socket) Close() error {
	err := s.ln.Close()
	if fi, serr := os.Stat(s.Path); serr == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Ino == s.ino {
			os.Remove(s.Path)
		}
	}
	return err
}

func prepareDir(dir string, l layout.Layout) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("creating the authdaemon directory: %w", err)
	}
	if !privsep.IsRoot() {
		return nil
	}
	gid := uint32(0)
	if l.MailGroup != "" {
		g, err := privsep.LookupGroup(l.MailGroup)
		if err != nil {
			return fmt.Errorf("the mail group %q of the socket directory %s: %w (create the group, or install with the right layout)", l.MailGroup, dir, err)
		}
		gid = g
	}
	if err := os.Chown(dir, 0, int(gid)); err != nil {
		return fmt.Errorf("chown root:%s %s: %w", l.MailGroup, dir, err)
	}
	if err := os.Chmod(dir, 0o750); err != nil {
		return fmt.Errorf("chmod 0750 %s: %w", dir, err)
	}
	return nil
}
