package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gocourier/courier/pkg/logging/pidfile"
	"github.com/gocourier/courier/pkg/privsep"
	"github.com/gocourier/courier/pkg/proc"
	"github.com/gocourier/courier/pkg/supervise"
	"github.com/gocourier/courier/test/testenv"
)

// Test services, as shell scripts installed in the sandbox and declared in
// supervise.d. Each records its pid (and its children's) in files named by
// its arguments.
var scripts = map[string]string{
	"idle":     `echo $$ > "$1"; exec sleep 1000`,
	"stubborn": `trap '' TERM; echo $$ > "$1"; while :; do sleep 0.1; done`,
	"family":   `echo $$ > "$1"; sleep 1000 & echo $! >> "$2"; sleep 1000 & echo $! >> "$2"; wait`,
	// setsid moves the sleep out of the service's process group: only
	// the subreaper courierd can still find it when the sh is gone.
	"escaper": `echo $$ > "$1"; setsid sleep 1000 & echo $! > "$2"; wait`,
	// Crashes, each time leaving an orphan that exits a moment later
	// and must be reaped by courierd.
	"crasher": `(sleep 0.2 &); echo $$ >> "$1"; exit 1`,
}

type daemon struct {
	t     *testing.T
	sb    *testenv.Sandbox
	cmd   *exec.Cmd
	tmp   string // where the test services write their pid files
	log   testenv.SyncBuffer
	ended chan struct{}
}

func newSandbox(t *testing.T) (*testenv.Sandbox, string) {
	t.Helper()
	sb := testenv.NewSandbox(t, "courierd")
	for name, body := range scripts {
		p := filepath.Join(sb.Layout.LibexecDir, name+".sh")
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return sb, sb.WritableDir(t, "pids")
}

// service declares a supervise.d service running one of the scripts with
// pid files under tmp.
func service(t *testing.T, sb *testenv.Sandbox, tmp, name, script string, extra ...string) {
	t.Helper()
	body := fmt.Sprintf("PROGRAM=%s\nARGS=\"%s %s\"\n%s\n",
		filepath.Join(sb.Layout.LibexecDir, script+".sh"),
		filepath.Join(tmp, name+".pid"), filepath.Join(tmp, name+".kids"), strings.Join(extra, "\n"))
	sb.WriteConfig(t, "supervise.d/"+name, body, 0o644)
}

func start(t *testing.T, sb *testenv.Sandbox, tmp string, args ...string) *daemon {
	t.Helper()
	d := &daemon{t: t, sb: sb, tmp: tmp, ended: make(chan struct{})}
	d.cmd = exec.Command(sb.Path("courierd"), args...)
	d.cmd.Env = append(os.Environ(), "PATH=/usr/bin:/bin")
	d.cmd.Stderr = &d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		d.cmd.Wait()
		close(d.ended)
	}()
	t.Cleanup(func() {
		select {
		case <-d.ended:
		default:
			syscall.Kill(d.cmd.Process.Pid, syscall.SIGKILL)
			<-d.ended
		}
		if t.Failed() {
			t.Logf("courierd log:\n%s", d.log.String())
		}
	})
	pidPath := supervise.PidPath(sb.Layout.RunDir)
	for _, a := range args {
		if name, ok := strings.CutPrefix(a, "-only="); ok {
			pidPath = supervise.OnlyPidPath(sb.Layout.RunDir, name)
		}
	}
	d.waitFor("courierd to hold its pid file", func() bool {
		pid, running, _ := pidfile.Status(pidPath)
		return running && pid == d.cmd.Process.Pid
	})
	return d
}

// waitFor polls cond. The deadline only keeps a broken courierd from
// hanging the run.
func (d *daemon) waitFor(what string, cond func() bool) {
	d.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		select {
		case <-d.ended:
			d.t.Fatalf("courierd exited while waiting for %s (%v)", what, d.cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (d *daemon) pidOf(name string) int {
	pid, _ := pidfile.ReadPID(filepath.Join(d.tmp, name+".pid"))
	return pid
}

func (d *daemon) kids(name string) []int {
	data, _ := os.ReadFile(filepath.Join(d.tmp, name+".kids"))
	var out []int
	for _, f := range strings.Fields(string(data)) {
		n, _ := strconv.Atoi(f)
		out = append(out, n)
	}
	return out
}

// lingeringZombies watches pid's children for a while and returns those
// that stayed zombies for longer than grace: a zombie exists briefly
// between a child's exit and its reaping; one that stays is a leak.
func lingeringZombies(pid int, watch, grace time.Duration) []proc.Stat {
	var out []proc.Stat
	for end := time.Now().Add(watch); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		out = append(out, testenv.ZombieChildren(pid, grace)...)
	}
	return out
}

// TestStopLeavesNothing: on SIGINT and on SIGTERM courierd stops every
// service — one ignoring SIGTERM, one with children, one whose child left
// the process group with setsid, one crashing and orphaning children —
// and exits within 5 s, leaving no process of its tree.
func TestStopLeavesNothing(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			sb, tmp := newSandbox(t)
			service(t, sb, tmp, "idle", "idle")
			service(t, sb, tmp, "stubborn", "stubborn", "STOPTIMEOUT=1")
			service(t, sb, tmp, "family", "family")
			service(t, sb, tmp, "escaper", "escaper")
			service(t, sb, tmp, "crasher", "crasher")
			d := start(t, sb, tmp)
			self := d.cmd.Process.Pid
			d.waitFor("the services to start", func() bool {
				return d.pidOf("idle") > 0 && d.pidOf("stubborn") > 0 && len(d.kids("family")) == 2 && len(d.kids("escaper")) == 1
			})
			d.waitFor("the crasher's second start", func() bool {
				data, _ := os.ReadFile(filepath.Join(tmp, "crasher.pid"))
				return strings.Count(string(data), "\n") >= 2
			})
			if sig == syscall.SIGTERM {
				if z := lingeringZombies(self, 2*time.Second, 500*time.Millisecond); len(z) > 0 {
					t.Errorf("courierd leaves zombie children: %+v", z)
				}
			}
			var tree []proc.Stat
			for _, p := range testenv.Descendants(self) {
				if !p.Exited() {
					tree = append(tree, p)
				}
			}
			escaped := d.kids("escaper")[0]
			found := false
			for _, p := range tree {
				found = found || p.PID == escaped
			}
			if !found || len(tree) < 7 {
				t.Fatalf("process tree of courierd is incomplete (%d processes, escaped sleep %d found: %v): %+v", len(tree), escaped, found, tree)
			}

			sent := time.Now()
			if err := d.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-d.ended:
			case <-time.After(5 * time.Second):
				t.Fatalf("courierd still runs 5 s after %v", sig)
			}
			if !d.cmd.ProcessState.Success() {
				t.Errorf("courierd exited with %v", d.cmd.ProcessState)
			}
			for time.Since(sent) < 5*time.Second {
				left := 0
				for _, p := range tree {
					if p.StillRuns() {
						left++
					}
				}
				if left == 0 {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			for _, p := range tree {
				if p.StillRuns() {
					t.Errorf("process %d (child of %d) of courierd's tree still runs 5 s after %v", p.PID, p.PPID, sig)
					syscall.Kill(p.PID, syscall.SIGKILL)
				}
			}
			if _, err := os.Stat(supervise.PidPath(sb.Layout.RunDir)); !os.IsNotExist(err) {
				t.Errorf("pid file left behind: %v", err)
			}
			log := d.log.String()
			for _, want := range []string{"started idle", "did not stop within 1s of SIGTERM; sending SIGKILL",
				"stopping process " + strconv.Itoa(escaped) + ", left behind by a service", "courierd stopped"} {
				if !strings.Contains(log, want) {
					t.Errorf("log lacks %q", want)
				}
			}
		})
	}
}

// TestReload: SIGHUP restarts only the service whose configuration
// changed; a configuration error changes nothing; a removed service stops.
func TestReload(t *testing.T) {
	sb, tmp := newSandbox(t)
	for _, n := range []string{"a", "b", "c"} {
		service(t, sb, tmp, n, "idle", "VERSION=1")
	}
	d := start(t, sb, tmp)
	d.waitFor("three services", func() bool { return d.pidOf("a") > 0 && d.pidOf("b") > 0 && d.pidOf("c") > 0 })
	a, b, c := d.pidOf("a"), d.pidOf("b"), d.pidOf("c")
	if os.Geteuid() == 0 {
		// supervise.d services run as the mail user by default.
		u, err := privsep.LookupUser(sb.Layout.MailUser)
		if err != nil {
			t.Fatal(err)
		}
		cred, err := privsep.CredentialFor(u)
		if err != nil {
			t.Fatal(err)
		}
		if err := privsep.VerifyProcess(a, cred); err != nil {
			t.Error(err)
		}
	}
	pa, _ := proc.Read(a)
	pc, _ := proc.Read(c)

	service(t, sb, tmp, "b", "idle", "VERSION=2")
	d.cmd.Process.Signal(syscall.SIGHUP)
	d.waitFor("b to restart", func() bool { n := d.pidOf("b"); return n != b && n > 0 })
	if d.pidOf("a") != a || d.pidOf("c") != c || !pa.StillRuns() || !pc.StillRuns() {
		t.Errorf("unchanged services were restarted: a %d -> %d, c %d -> %d", a, d.pidOf("a"), c, d.pidOf("c"))
	}
	env, _ := os.ReadFile("/proc/" + strconv.Itoa(d.pidOf("b")) + "/environ")
	if !bytes.Contains(env, []byte("VERSION=2\x00")) {
		t.Errorf("restarted b has environment %q", env)
	}
	b = d.pidOf("b")
	pb, _ := proc.Read(b)

	sb.WriteConfig(t, "supervise.d/broken", "PROGRAM=relative/path\n", 0o644)
	d.cmd.Process.Signal(syscall.SIGHUP)
	d.waitFor("the configuration error", func() bool { return strings.Contains(d.log.String(), "configuration not reloaded") })
	if !strings.Contains(d.log.String(), `supervise.d/broken:1: PROGRAM="relative/path": not an absolute path`) {
		t.Errorf("the configuration error does not say where:\n%s", d.log.String())
	}
	if !pa.StillRuns() || !pb.StillRuns() || !pc.StillRuns() {
		t.Error("a configuration error stopped services")
	}

	os.Remove(sb.Layout.Config("supervise.d/broken"))
	os.Remove(sb.Layout.Config("supervise.d/c"))
	d.cmd.Process.Signal(syscall.SIGHUP)
	d.waitFor("c to stop", func() bool { return !pc.StillRuns() })
	if !pa.StillRuns() || !pb.StillRuns() {
		t.Error("removing c restarted other services")
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	<-d.ended
}

// TestRealAuthdaemond: courierd runs the suite's authdaemond from the
// table, which answers on its socket, and says so at start.
func TestRealAuthdaemond(t *testing.T) {
	sb, tmp := newSandbox(t)
	sb.Install(t, "authdaemond")
	sb.WriteConfig(t, "authdaemonrc", "authmodulelist=\"authuserdb\"\nauthdaemonvar="+sb.Layout.AuthdaemonVar+"\n", 0o644)
	d := start(t, sb, tmp)
	sock := filepath.Join(sb.Layout.AuthdaemonVar, "socket")
	d.waitFor("the authdaemond socket", func() bool {
		st, err := os.Stat(sock)
		return err == nil && st.Mode()&os.ModeSocket != 0
	})
	log := d.log.String()
	if !strings.Contains(log, "started authdaemond") || !strings.Contains(log, "listen=\"socket "+sock+"\"") {
		t.Errorf("the start of authdaemond is not logged with its socket:\n%s", log)
	}
	if !strings.Contains(log, "service esmtpd not started: not configured") {
		t.Errorf("unconfigured services are not reported:\n%s", log)
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	<-d.ended
	if !d.cmd.ProcessState.Success() {
		t.Errorf("courierd exited with %v", d.cmd.ProcessState)
	}
}

func TestSecondInstanceRefused(t *testing.T) {
	sb, tmp := newSandbox(t)
	d := start(t, sb, tmp)
	out, err := exec.Command(sb.Path("courierd")).CombinedOutput()
	want := fmt.Sprintf("courierd is already running (pid %d, pid file %s)", d.cmd.Process.Pid, supervise.PidPath(sb.Layout.RunDir))
	if err == nil || !strings.Contains(string(out), want) {
		t.Errorf("second courierd: %v, %q; want exit 1 with %q", err, out, want)
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	<-d.ended
}

func TestUsage(t *testing.T) {
	bin := testenv.Build(t, "courierd")
	out, err := exec.Command(bin, "--help").Output()
	if err != nil || !bytes.HasPrefix(out, []byte("Usage: courierd")) {
		t.Errorf("--help: %v, %q", err, out)
	}
	cmd := exec.Command(bin, "-scheduler")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil || !strings.Contains(stderr.String(), "Usage: courierd") {
		t.Errorf("unknown option: %v, %q", err, stderr.String())
	}
}

// TestOnly runs courierd for one service, as the systemd units do: only that
// service starts, under its own pid file, and the original's wrapper for it
// (which Debian's init scripts call) leaves it alone. A disabled service
// makes courierd exit at once, successfully; an unknown one is an error.
func TestOnly(t *testing.T) {
	sb, tmp := newSandbox(t)
	sb.Install(t, "authdaemond")
	sb.WriteConfig(t, "authdaemonrc", "authmodulelist=\"authuserdb\"\nauthdaemonvar="+sb.Layout.AuthdaemonVar+"\n", 0o644)
	service(t, sb, tmp, "other", "idle")
	d := start(t, sb, tmp, "-only=authdaemond")
	sock := filepath.Join(sb.Layout.AuthdaemonVar, "socket")
	d.waitFor("the authdaemond socket", func() bool {
		st, err := os.Stat(sock)
		return err == nil && st.Mode()&os.ModeSocket != 0
	})
	if _, err := os.Stat(filepath.Join(tmp, "other.pid")); err == nil {
		t.Error("courierd -only=authdaemond started the supervise.d service too")
	}
	if _, running, _ := pidfile.Status(supervise.PidPath(sb.Layout.RunDir)); running {
		t.Error("courierd -only=authdaemond holds the whole suite's pid file")
	}
	out, err := exec.Command(sb.Path("authdaemond"), "start").CombinedOutput()
	want := "authdaemond: courierd (" + supervise.OnlyPidPath(sb.Layout.RunDir, "authdaemond") + ") runs authdaemond, so authdaemond start does nothing"
	if err != nil || !strings.Contains(string(out), want) {
		t.Errorf("authdaemond start beside courierd -only: %v, %q; want %q", err, out, want)
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	<-d.ended
	if !d.cmd.ProcessState.Success() {
		t.Errorf("courierd exited with %v", d.cmd.ProcessState)
	}

	sb.WriteConfig(t, "esmtpd", "ESMTPDSTART=NO\n", 0o644)
	cmd := exec.Command(sb.Path("courierd"), "-only=esmtpd")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil || !strings.Contains(stderr.String(), "service esmtpd not started: ESMTPDSTART=NO") {
		t.Errorf("courierd -only=esmtpd with ESMTPDSTART=NO: %v, %q", err, stderr.String())
	}
	stderr.Reset()
	cmd = exec.Command(sb.Path("courierd"), "-only=nosuch")
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil || !strings.Contains(stderr.String(), `there is no service "nosuch"`) {
		t.Errorf("courierd -only=nosuch: %v, %q", err, stderr.String())
	}
}
