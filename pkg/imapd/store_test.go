package imapd

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gocourier/courier/pkg/maildir"
)

// pipeSession runs a session on root over a pipe; run sends one command
// and returns the lines of its answer, done is closed when Serve returned.
func pipeSession(t *testing.T, root string, env map[string]string) (run func(cmd string) []string, done chan struct{}) {
	t.Helper()
	client, server := net.Pipe()
	done = make(chan struct{})
	go func() {
		defer close(done)
		Serve(server, root, func(k string) string { return env[k] }, slog.New(slog.NewTextHandler(io.Discard, nil)))
		server.Close()
	}()
	t.Cleanup(func() { client.Close(); <-done })
	r := bufio.NewReader(client)
	if _, err := r.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	tag := 0
	run = func(cmd string) []string {
		t.Helper()
		tag++
		tg := fmt.Sprintf("s%d", tag)
		if _, err := io.WriteString(client, tg+" "+cmd+"\r\n"); err != nil {
			t.Fatal(err)
		}
		var lines []string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("%s: %v", cmd, err)
			}
			line = strings.TrimRight(line, "\r\n")
			if strings.HasPrefix(line, tg+" ") {
				if !strings.HasPrefix(line, tg+" OK") {
					t.Fatalf("%s: %s", cmd, line)
				}
				return lines
			}
			lines = append(lines, line)
		}
	}
	return run, done
}

// countLines counts the lines holding every one of parts.
func countLines(lines []string, parts ...string) int {
	n := 0
next:
	for _, l := range lines {
		for _, p := range parts {
			if !strings.Contains(l, p) {
				continue next
			}
		}
		n++
	}
	return n
}

// TestStoreBeforeRenames checks what the session sees of a STORE that
// answers before its renames: the FETCH responses, a FETCH FLAGS, SEARCH
// and EXPUNGE right after it see the new flags, another session of the
// process sees them, and the end of the session waits for the renames
// (held back here by the quota lock, which renames setting \Deleted
// take), so that every file name then carries its flags; a COPY of the
// messages meanwhile does not wait, and its copies have the new flags.
func TestStoreBeforeRenames(t *testing.T) {
	for _, locks := range []string{"1", "0"} {
		t.Run("IMAP_USELOCKS="+locks, func(t *testing.T) {
			var msgs []string
			for i := range 30 {
				msgs = append(msgs, msg(fmt.Sprintf("m%d", i), "", "body"))
			}
			root := newMaildir(t, msgs...)
			env := map[string]string{"IMAP_USELOCKS": locks}
			run, done := pipeSession(t, root, env)
			run("SELECT INBOX")
			if out := run(`STORE 1:10 +FLAGS (\Flagged)`); countLines(out, "FETCH", `\Flagged`) != 10 {
				t.Fatalf("STORE answered %q", out)
			}
			out := run("FETCH 1:* FLAGS")
			for i := 1; i <= 30; i++ {
				if got := countLines(out, fmt.Sprintf("* %d FETCH", i), `\Flagged`); got != map[bool]int{true: 1, false: 0}[i <= 10] {
					t.Fatalf("FETCH FLAGS: %q", out)
				}
			}
			if out := run("SEARCH FLAGGED"); len(out) != 1 || out[0] != "* SEARCH 1 2 3 4 5 6 7 8 9 10" {
				t.Fatalf("SEARCH FLAGGED: %q", out)
			}
			run(`STORE 1:5 +FLAGS.SILENT (\Deleted)`)
			if out := run("EXPUNGE"); countLines(out, " EXPUNGE") != 5 {
				t.Fatalf("EXPUNGE: %q", out)
			}
			run2, done2 := pipeSession(t, root, env)
			run2("SELECT INBOX")
			if out := run2("SEARCH FLAGGED"); len(out) != 1 || out[0] != "* SEARCH 1 2 3 4 5" {
				t.Fatalf("the other session's SEARCH FLAGGED: %q", out)
			}

			run("CREATE INBOX.Dest")
			fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
				t.Fatal(err)
			}
			var once sync.Once
			release := func() { once.Do(func() { unix.Flock(fd, unix.LOCK_UN) }) }
			defer release()
			timer := time.AfterFunc(10*time.Second, release)
			run(`STORE 1:5 +FLAGS.SILENT (\Deleted)`)
			if !timer.Stop() {
				t.Fatal("STORE waited for its renames")
			}
			timer = time.AfterFunc(10*time.Second, release)
			run("COPY 1:5 INBOX.Dest")
			if !timer.Stop() {
				t.Fatal("COPY waited for the renames")
			}
			copies, err := os.ReadDir(filepath.Join(root, ".Dest", "cur"))
			if err != nil || len(copies) != 5 {
				t.Fatalf("copies %v, %v", copies, err)
			}
			for _, e := range copies {
				if n, err := maildir.ParseName(e.Name()); err != nil || n.Flags() != "FT" {
					t.Fatalf("copy %s: flags %q, %v", e.Name(), n.Flags(), err)
				}
			}
			run("LOGOUT")
			select {
			case <-done:
				t.Fatal("the session ended before its renames")
			case <-time.After(100 * time.Millisecond):
			}
			release()
			<-done
			names, err := os.ReadDir(filepath.Join(root, "cur"))
			if err != nil {
				t.Fatal(err)
			}
			count := map[maildir.Flags]int{}
			for _, e := range names {
				n, err := maildir.ParseName(e.Name())
				if err != nil {
					t.Fatal(err)
				}
				count[n.Flags()]++
			}
			if len(count) != 2 || count["FT"] != 5 || count[""] != 20 {
				t.Fatalf("flags of the files: %v", count)
			}
			if out := run2("NOOP"); countLines(out, "FETCH", `\Deleted`) != 5 {
				t.Fatalf("the other session's NOOP: %q", out)
			}
			if out := run2("SEARCH DELETED"); len(out) != 1 || out[0] != "* SEARCH 1 2 3 4 5" {
				t.Fatalf("the other session's SEARCH DELETED: %q", out)
			}
			run2("LOGOUT")
			<-done2
		})
	}
}
