package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gocourier/courier/pkg/maildir"
	"github.com/gocourier/courier/test/testenv"
)

// TestSignalWaitsForRenames checks that a server ended by SIGTERM first
// makes the renames of a STORE it answered before them (held back here by
// the quota lock, which renames setting \Deleted take), and then dies of
// the signal, its folder lock let go.
func TestSignalWaitsForRenames(t *testing.T) {
	bin := testenv.Build(t, "imapd")
	root := filepath.Join(t.TempDir(), "Maildir")
	if err := maildir.Make(root, 0o700, 0o700, false); err != nil {
		t.Fatal(err)
	}
	d, err := maildir.OpenDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := d.Deliver(strings.NewReader(fmt.Sprintf("Subject: %d\n\n%d\n", i, i)), maildir.DeliverOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, root)
	cmd.Env = []string{"AUTHENTICATED=tester", "PATH=/usr/bin:/bin"}
	// A socket pair for the session (with pipes, see handoff.Stdio).
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	theirs := os.NewFile(uintptr(fds[1]), "session")
	in := os.NewFile(uintptr(fds[0]), "client")
	defer in.Close()
	cmd.Stdin, cmd.Stdout = theirs, theirs
	var stderr testenv.SyncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	theirs.Close()
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	out := bufio.NewReader(in)
	answer := func(cmdline string) {
		t.Helper()
		if cmdline != "" {
			io.WriteString(in, cmdline+"\r\n")
		}
		for {
			line, err := out.ReadString('\n')
			if err != nil {
				t.Fatalf("%q: %v\n%s", cmdline, err, stderr.String())
			}
			if !strings.HasPrefix(line, "* ") || cmdline == "" {
				if cmdline != "" && !strings.Contains(line, " OK ") {
					t.Fatalf("%q: %s", cmdline, line)
				}
				return
			}
		}
	}
	answer("")
	answer("a SELECT INBOX")

	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(10*time.Second, func() { unix.Flock(fd, unix.LOCK_UN) })
	answer("b STORE 1:5 +FLAGS.SILENT (\\Deleted)")
	if !timer.Stop() {
		t.Fatal("STORE waited for its renames")
	}
	go io.Copy(io.Discard, out)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		t.Fatalf("the server ended before its renames: %v", waitErr)
	case <-time.After(200 * time.Millisecond):
	}
	unix.Flock(fd, unix.LOCK_UN)
	<-exited
	var ee *exec.ExitError
	if err := waitErr; !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Fatalf("the server ended with %v, not killed by SIGTERM\n%s", waitErr, stderr.String())
	}
	names, err := os.ReadDir(filepath.Join(root, "cur"))
	if err != nil || len(names) != 5 {
		t.Fatalf("cur/: %v %v", names, err)
	}
	for _, e := range names {
		if !strings.HasSuffix(e.Name(), ":2,T") {
			t.Fatalf("%s not renamed", e.Name())
		}
	}
	if _, err := os.Stat(filepath.Join(root, "tmp", "courier.lock")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("folder lock left: %v", err)
	}
}
