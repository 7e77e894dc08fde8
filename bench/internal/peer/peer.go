// Package peer is the real Courier and Dovecot for the load tools in
// bench/: it runs the scripts in /work/shared/peers that set them up,
// start and stop them, and knows where their accounts' maildirs are.
package peer

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// Script runs one of the peers' scripts. Its output goes to a file, not a
// pipe: the daemons it starts keep their standard output open, and a pipe
// would not end.
func Script(path string) error {
	f, err := os.CreateTemp("", "peer-script-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	cmd := exec.Command(path)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Run(); err != nil {
		out, _ := os.ReadFile(f.Name())
		return fmt.Errorf("%s: %v\n%s", path, err, out)
	}
	return nil
}

// Start runs the peer's (courier or dovecot) setup script when setup is
// set, then its start script, from the directory dir; it returns what
// stops it again.
func Start(dir, name string, setup bool) (stop func() error, err error) {
	if name != "courier" && name != "dovecot" {
		return nil, fmt.Errorf("unknown peer %q (courier, dovecot)", name)
	}
	if setup {
		if err := Script(filepath.Join(dir, "setup-"+name+".sh")); err != nil {
			return nil, err
		}
	}
	if err := Script(filepath.Join(dir, "start-"+name+".sh")); err != nil {
		return nil, err
	}
	return func() error { return Script(filepath.Join(dir, "stop-"+name+".sh")) }, nil
}

// Maildir is the maildir of the peers' account user (its local part) on
// the peer name.
func Maildir(name, user string) string {
	base := "/srv/peer-mail"
	if name == "dovecot" {
		base = "/srv/peer-mail-dovecot"
	}
	return filepath.Join(base, user, "Maildir")
}

// EmptyMaildir removes every message of a maildir and everything else in
// it (folders, the servers' index and UID files), and returns the uid and
// gid that own it, for the messages a benchmark then writes.
func EmptyMaildir(dir string) (uid, gid int, err error) {
	st, err := os.Stat(dir)
	if err != nil {
		return 0, 0, err
	}
	sys := st.Sys().(*syscall.Stat_t)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0, err
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if e.Name() != "cur" && e.Name() != "new" && e.Name() != "tmp" {
			os.RemoveAll(p)
			continue
		}
		files, _ := os.ReadDir(p)
		for _, f := range files {
			os.RemoveAll(filepath.Join(p, f.Name()))
		}
	}
	return int(sys.Uid), int(sys.Gid), nil
}
