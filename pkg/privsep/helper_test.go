package privsep

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gocourier/courier/test/testenv"
)

// The tests re-execute the test binary as a helper process: with
// PRIVSEP_TEST_HELPER set, TestMain runs the named helper instead of the
// tests, so that credentials are observed in a real separate process.
const helperEnv = "PRIVSEP_TEST_HELPER"

// preGroups are the supplementary groups the root helpers give themselves
// before a drop or a child start, which must not survive either.
var preGroups = []int{0, 4242}

// dropEnv carries the credential for the "drop" and "sandbox" helpers as
// uid:gid:g1,g2.
const dropEnv = "PRIVSEP_TEST_CRED"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode))
	}
	code := m.Run()
	if helperDir != "" {
		os.RemoveAll(helperDir)
	}
	os.Exit(code)
}

// lockThreads starts n goroutines that each keep an OS thread of their own,
// so that the helper process has several threads to inspect.
func lockThreads(n int) {
	ready := make(chan struct{})
	for i := 0; i < n; i++ {
		go func() {
			runtime.LockOSThread()
			ready <- struct{}{}
			select {}
		}()
	}
	for i := 0; i < n; i++ {
		<-ready
	}
}

func runHelper(mode string) int {
	switch mode {
	case "threads":
		// Several threads, then wait for the test to close stdin.
		lockThreads(4)
		fmt.Println("ready")
		io.Copy(io.Discard, os.Stdin)
		return 0
	case "fd3":
		data, err := io.ReadAll(os.NewFile(3, "fd3"))
		if err != nil {
			fmt.Println("error:", err)
			return 1
		}
		fmt.Printf("fd3=%q\n", data)
		return 0
	case "args":
		wd, _ := os.Getwd()
		fmt.Printf("argv0=%s args=%s env=%s wd=%s pgid=%d\n", os.Args[0], strings.Join(os.Args[1:], ","), os.Getenv("PRIVSEP_X"), wd, syscall.Getpgrp())
		return 0
	case "drop":
		// Threads exist before the drop, so that it must reach them,
		// and supplementary groups, so that it must clear them.
		if err := syscall.Setgroups(preGroups); err != nil {
			fmt.Println("error:", err)
			return 1
		}
		lockThreads(4)
		c, err := parseCred(os.Getenv(dropEnv))
		if err != nil {
			fmt.Println("error:", err)
			return 1
		}
		if err := Drop(c); err != nil {
			fmt.Println("error:", err)
			return 1
		}
		lockThreads(2)
		if err := syscall.Setuid(0); err == nil {
			fmt.Println("error: setuid(0) succeeded after the drop")
			return 1
		}
		tasks, err := ReadTasks(0)
		if err != nil {
			fmt.Println("error:", err)
			return 1
		}
		json.NewEncoder(os.Stdout).Encode(tasks)
		return 0
	case "spawn":
		// A root parent with supplementary groups starts the
		// "threads" helper with the credential, reports its pid when
		// it is ready and ends with it when stdin is closed.
		if err := syscall.Setgroups(preGroups); err != nil {
			fmt.Println("error:", err)
			return 1
		}
		c, err := parseCred(os.Getenv(dropEnv))
		if err != nil {
			fmt.Println("error:", err)
			return 1
		}
		self, _ := os.Executable()
		outR, outW, _ := os.Pipe()
		child := &Child{Path: self, Env: append(helperEnviron(), helperEnv+"=threads"), Dir: "/",
			Cred: &c, NoNewPrivs: true, Setpgid: true, Stdin: os.Stdin, Stdout: outW, Stderr: os.Stderr}
		cmd, err := child.Start()
		if err != nil {
			fmt.Println("error:", err)
			return 1
		}
		outW.Close()
		line, err := bufio.NewReader(outR).ReadString('\n')
		if err != nil || line != "ready\n" {
			fmt.Printf("error: child said %q %v\n", line, err)
			return 1
		}
		fmt.Printf("pid %d\n", cmd.Process.Pid)
		io.Copy(io.Discard, os.Stdin)
		cmd.Wait()
		return 0
	case "sandbox":
		// Become an ordinary user first when started as root, then
		// start children with credentials that must be ignored.
		slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, nil)))
		if IsRoot() {
			c, err := parseCred(os.Getenv(dropEnv))
			if err == nil {
				err = Drop(c)
			}
			if err != nil {
				fmt.Println("error:", err)
				return 1
			}
		}
		me := uint32(os.Getuid())
		if err := Drop(Credential{UID: me + 1, GID: me + 1}); err == nil {
			fmt.Println("error: Drop to another uid succeeded without root")
			return 1
		} else {
			fmt.Printf("droperr=%v\n", err)
		}
		if err := Drop(Credential{UID: me, GID: uint32(os.Getgid())}); err != nil {
			fmt.Println("error: Drop to the own uid:", err)
			return 1
		}
		if ok, err := DropIfRoot(Credential{UID: me + 2, GID: me + 2}); ok || err != nil {
			fmt.Println("error: DropIfRoot:", ok, err)
			return 1
		}
		for i := 0; i < 2; i++ {
			var out strings.Builder
			cmd, err := (&Child{Path: "/bin/sh", Args: []string{"-c", "id -u; id -g"},
				Cred: &Credential{UID: me + 1, GID: me + 1, Groups: []uint32{me + 1}}, Stdout: &out, Dir: "/"}).Start()
			if err != nil {
				fmt.Println("error:", err)
				return 1
			}
			if err := cmd.Wait(); err != nil {
				fmt.Println("error:", err)
				return 1
			}
			fmt.Printf("child=%s\n", strings.Join(strings.Fields(out.String()), ":"))
		}
		fmt.Printf("self=%d:%d\n", me, os.Getgid())
		return 0
	}
	fmt.Fprintf(os.Stderr, "unknown helper mode %q\n", mode)
	return 2
}

func formatCred(c Credential) string {
	g := make([]string, len(c.Groups))
	for i, x := range c.Groups {
		g[i] = strconv.FormatUint(uint64(x), 10)
	}
	return fmt.Sprintf("%d:%d:%s", c.UID, c.GID, strings.Join(g, ","))
}

func parseCred(s string) (Credential, error) {
	f := strings.Split(s, ":")
	if len(f) != 3 {
		return Credential{}, fmt.Errorf("bad credential %q", s)
	}
	uid, ok1 := ParseID(f[0])
	gid, ok2 := ParseID(f[1])
	if !ok1 || !ok2 {
		return Credential{}, fmt.Errorf("bad credential %q", s)
	}
	c := Credential{UID: uid, GID: gid, Groups: []uint32{}}
	if f[2] != "" {
		for _, x := range strings.Split(f[2], ",") {
			g, ok := ParseID(x)
			if !ok {
				return Credential{}, fmt.Errorf("bad credential %q", s)
			}
			c.Groups = append(c.Groups, g)
		}
	}
	return c, nil
}

var (
	helperOnce sync.Once
	helperPath string
	helperErr  error
	helperDir  string
)

// helperBinary returns a copy of the test binary that any user can execute
// (the go tool's build directory is private to root), made once per run
// and removed by TestMain.
func helperBinary(t *testing.T) string {
	t.Helper()
	helperOnce.Do(func() {
		self, err := os.Executable()
		if err != nil {
			helperErr = err
			return
		}
		if helperDir, err = os.MkdirTemp("", "privsep-test-"); err != nil {
			helperErr = err
			return
		}
		data, err := os.ReadFile(self)
		if err == nil {
			err = os.Chmod(helperDir, 0o755)
		}
		p := filepath.Join(helperDir, "privsep.test")
		if err == nil {
			err = os.WriteFile(p, data, 0o755)
		}
		helperPath, helperErr = p, err
	})
	if helperErr != nil {
		t.Fatal(helperErr)
	}
	return helperPath
}

// helperEnviron is the environment of helper processes: without the race
// detector's default one-second pause at exit.
func helperEnviron() []string {
	return append(os.Environ(), "GORACE=atexit_sleep_ms=0")
}

// helperChild returns a Child running the helper in the given mode.
func helperChild(t *testing.T, bin, mode string, extraEnv ...string) *Child {
	t.Helper()
	env := append(helperEnviron(), helperEnv+"="+mode)
	return &Child{Path: bin, Env: append(env, extraEnv...), Dir: "/"}
}

// startHelper starts a helper that writes one line when it is ready
// ("threads": "ready", "spawn": "pid N") and runs until its stdin is
// closed, which the returned writer does.
func startHelper(t *testing.T, c *Child) (*exec.Cmd, string, io.WriteCloser) {
	t.Helper()
	pr, pw := io.Pipe()
	outR, outW := io.Pipe()
	c.Stdin, c.Stdout, c.Stderr = pr, outW, os.Stderr
	cmd, err := c.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Closing stdin ends the helper, and a "spawn" helper ends
		// its child before it exits: the test account can only be
		// removed when none of its processes is left.
		pw.Close()
		done := make(chan struct{})
		go func() {
			cmd.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Errorf("helper %d did not end when its input was closed", cmd.Process.Pid)
			cmd.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(outR).ReadString('\n')
	if err != nil || strings.HasPrefix(line, "error") {
		t.Fatalf("helper did not get ready: %q %v", line, err)
	}
	go io.Copy(io.Discard, outR)
	return cmd, strings.TrimSuffix(line, "\n"), pw
}

// startThreadsHelper starts the "threads" helper through c and waits until
// its threads exist.
func startThreadsHelper(t *testing.T, c *Child) (*exec.Cmd, io.WriteCloser) {
	t.Helper()
	cmd, line, w := startHelper(t, c)
	if line != "ready" {
		t.Fatalf("threads helper said %q", line)
	}
	return cmd, w
}

// account is a throwaway system account created with useradd.
type account struct {
	User
	SuppGID uint32 // a supplementary group the user is a member of
}

// newAccount creates the system account cgtest-privsep (no home) with a
// membership in the group cgtest-privsep-g, removed when the test ends. It
// is privseptest.NewAccount, which this package's tests cannot import.
func newAccount(t *testing.T) account {
	t.Helper()
	const name = "cgtest-privsep"
	group := testenv.NewSystemAccount(t, name)
	u, err := LookupUser(name)
	if err != nil {
		t.Fatal(err)
	}
	g, err := LookupGroup(group)
	if err != nil {
		t.Fatal(err)
	}
	return account{User: u, SuppGID: g}
}
