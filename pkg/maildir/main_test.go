package maildir

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// The test binary doubles as a delivering process for the tests that need
// several processes or one to kill: with MAILDIR_TEST_HELPER set it
// delivers and exits instead of running tests.
func TestMain(m *testing.M) {
	switch os.Getenv("MAILDIR_TEST_HELPER") {
	case "":
		os.Exit(m.Run())
	case "deliver-n":
		// Deliver $N small messages into $DIR, one name per line on stdout.
		d, err := OpenDir(os.Getenv("MAILDIR_TEST_DIR"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		n, _ := strconv.Atoi(os.Getenv("MAILDIR_TEST_N"))
		for i := 0; i < n; i++ {
			p, err := d.Deliver(strings.NewReader(fmt.Sprintf("Subject: %d from %d\n\nbody\n", i, os.Getpid())), DeliverOptions{})
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			fmt.Println(filepath.Base(p))
		}
		os.Exit(0)
	case "deliver-stdin":
		d, err := OpenDir(os.Getenv("MAILDIR_TEST_DIR"))
		if err == nil {
			_, err = d.Deliver(os.Stdin, DeliverOptions{})
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	fmt.Fprintln(os.Stderr, "unknown MAILDIR_TEST_HELPER")
	os.Exit(2)
}

// helper returns a command running this test binary as a delivering
// process.
func helper(t *testing.T, mode, dir string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "MAILDIR_TEST_HELPER="+mode, "MAILDIR_TEST_DIR="+dir)
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

// deliverInProcesses runs procs "deliver-n" helper processes that each
// deliver each messages into the maildir at dir, all at the same time, and
// returns the names they reported, in no particular order.
func deliverInProcesses(t *testing.T, dir string, procs, each int) []string {
	t.Helper()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		names []string
	)
	for i := 0; i < procs; i++ {
		c := helper(t, "deliver-n", dir, "MAILDIR_TEST_N="+strconv.Itoa(each))
		out, err := c.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				mu.Lock()
				names = append(names, sc.Text())
				mu.Unlock()
			}
			if err := c.Wait(); err != nil {
				t.Errorf("delivering process: %v", err)
			}
		}()
	}
	wg.Wait()
	return names
}

// newMaildir makes a fresh main maildir as maildirmake does.
func newMaildir(t testing.TB) *Dir {
	t.Helper()
	root := filepath.Join(t.TempDir(), "Maildir")
	if err := Make(root, 0o700, 0o700, false); err != nil {
		t.Fatal(err)
	}
	d, err := OpenDir(root)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func deliver(t testing.TB, d *Dir, msg string) string {
	t.Helper()
	p, err := d.Deliver(strings.NewReader(msg), DeliverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// ls lists a directory's entries, sorted.
func ls(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

// readSizeFile parses root's maildirsize.
func readSizeFile(t testing.TB, root string) *SizeFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "maildirsize"))
	if err != nil {
		t.Fatal(err)
	}
	sf, err := ParseSizeFile("maildirsize", data)
	if err != nil {
		t.Fatal(err)
	}
	return sf
}

// recount counts root's messages the way the recount does, without
// touching maildirsize.
func recount(t testing.TB, root string) Usage {
	t.Helper()
	u, _, err := countMaildir(root)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
