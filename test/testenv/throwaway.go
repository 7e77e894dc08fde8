package testenv

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Throwaway is a root file system the test may change as it likes, for
// tests that install the suite over a real Courier: an overlay of this
// machine's root (its changes on a tmpfs), chrooted, in its own mount,
// network (loopback only, so the standard ports are free), PID and UTS
// namespaces. When the test ends its first process is killed, which ends
// every process in it, and the overlay goes with the mount namespace: the
// machine is left as it was.
type Throwaway struct {
	t      testing.TB
	holder *exec.Cmd
	pid    int // the namespaces' first process, as this machine sees it
}

// NewThrowaway starts a throwaway root. It needs root.
func NewThrowaway(t testing.TB) *Throwaway {
	t.Helper()
	NeedRoot(t)
	dir := t.TempDir()
	// The first process reaps every orphan, as init does, so that
	// finished daemons do not linger as zombies.
	script := `set -e
mount --make-rprivate /
mount -t tmpfs throwaway "$1"
mkdir "$1/upper" "$1/work" "$1/root"
mount -t overlay throwaway -o "lowerdir=/,upperdir=$1/upper,workdir=$1/work" "$1/root"
mount -t proc proc "$1/root/proc"
mount --rbind /dev "$1/root/dev"
mount -t tmpfs run "$1/root/run"
mkdir -p "$1/root/run/lock"
ip link set lo up
hostname throwaway
cd "$1/root"
exec chroot "$1/root" perl -e 'while (1) { sleep 1 if waitpid(-1, 0) < 0 }'`
	cmd := exec.Command("unshare", "--mount", "--net", "--pid", "--uts", "--fork", "--kill-child", "sh", "-c", script, "sh", dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// No Pdeathsig: it fires when the thread that started unshare ends,
	// and Dial ends the threads it locks.
	cmd.SysProcAttr = &unix.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("unshare: %v", err)
	}
	r := &Throwaway{t: t, holder: cmd}
	t.Cleanup(func() {
		if r.pid > 0 {
			unix.Kill(r.pid, unix.SIGKILL)
		}
		unix.Kill(-cmd.Process.Pid, unix.SIGKILL)
		cmd.Wait()
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid)); err == nil {
			if f := strings.Fields(string(kids)); len(f) == 1 {
				pid, _ := strconv.Atoi(f[0])
				if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil && strings.Contains(exe, "perl") {
					r.pid = pid
					break
				}
			}
		}
		if time.Now().After(deadline) || cmd.ProcessState != nil {
			t.Fatalf("the throwaway root did not come up:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return r
}

// Command returns a command that runs inside the throwaway root (as root,
// in its namespaces, in /), with a plain environment plus env.
func (r *Throwaway) Command(env []string, name string, args ...string) *exec.Cmd {
	return r.command([]string{"-m", "-n", "-p", "-u", "-r", "-w"}, env, name, args...)
}

// HostNetCommand is Command on this machine's network instead of the
// throwaway root's loopback: for apt-get, which fetches packages.
func (r *Throwaway) HostNetCommand(env []string, name string, args ...string) *exec.Cmd {
	return r.command([]string{"-m", "-p", "-u", "-r", "-w"}, env, name, args...)
}

func (r *Throwaway) command(ns, env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.Command("nsenter", append(append(append([]string{"-t", strconv.Itoa(r.pid)}, ns...), "--", name), args...)...)
	cmd.Env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C.UTF-8"}, env...)
	return cmd
}

// Sh runs a shell script inside the throwaway root and returns its output;
// the test fails if it fails.
func (r *Throwaway) Sh(what, script string, env ...string) string {
	r.t.Helper()
	out, err := r.Command(env, "sh", "-ec", script).CombinedOutput()
	if err != nil {
		r.t.Fatalf("%s: %v\n%s", what, err, out)
	}
	return string(out)
}

// Path is where a path of the throwaway root is seen from this machine
// (through its first process's root), for reading its files.
func (r *Throwaway) Path(p string) string {
	return filepath.Join(fmt.Sprintf("/proc/%d/root", r.pid), p)
}

// Dial connects to a TCP address of the throwaway root's network: the
// socket is made on a thread that has joined that network namespace.
func (r *Throwaway) Dial(addr string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// The thread stays locked: it ends with this goroutine and
		// takes the namespace change with it.
		runtime.LockOSThread()
		f, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", r.pid))
		if err != nil {
			ch <- result{nil, err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{nil, fmt.Errorf("setns: %w", err)}
			return
		}
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		ch <- result{c, err}
	}()
	res := <-ch
	return res.c, res.err
}

// Processes lists the live processes of the throwaway root (not its first
// process, not zombies), as "pid user command" lines.
func (r *Throwaway) Processes() []string {
	r.t.Helper()
	out, err := r.Command(nil, "ps", "-e", "-o", "pid=,stat=,user:12=,args=").Output()
	if err != nil {
		r.t.Fatalf("ps: %v", err)
	}
	var procs []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		if len(f) < 4 || f[0] == "1" || strings.HasPrefix(f[1], "Z") || strings.HasPrefix(f[3], "ps") {
			continue
		}
		procs = append(procs, strings.Join(append([]string{f[0], f[2]}, f[3:]...), " "))
	}
	return procs
}
