package supervise

import (
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gocourier/courier/pkg/privsep"
	"github.com/gocourier/courier/pkg/proc"
	"github.com/gocourier/courier/test/testenv"
)

func TestBackoffSequence(t *testing.T) {
	b := Backoff{Min: time.Second, Max: 60 * time.Second, ResetAfter: time.Minute}
	var got []time.Duration
	d := time.Duration(0)
	for i := 0; i < 9; i++ {
		d = b.next(d, time.Millisecond)
		got = append(got, d)
	}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60, 60}
	for i := range want {
		if got[i] != want[i]*time.Second {
			t.Fatalf("delays = %v, want %v seconds", got, want)
		}
	}
	if d := b.next(60*time.Second, time.Minute); d != time.Second {
		t.Errorf("after a run of ResetAfter the delay is %v, want Min", d)
	}
	if d := (Backoff{}).next(0, 0); d != DefaultMinDelay {
		t.Errorf("zero Backoff starts at %v, want %v", d, DefaultMinDelay)
	}
}

// A service that keeps crashing is restarted with growing delays. The
// child records each start itself; the gaps between starts must be at
// least the delays, and grow.
func TestCrashRestartBackoff(t *testing.T) {
	dir := t.TempDir()
	starts := filepath.Join(dir, "starts")
	prog := script(t, dir, "crash", `date +%s%N >> "$1"; echo "ERR: crashing on purpose"; exit 3`)
	s, rec := newTestSupervisor(t)
	b := Backoff{Min: 100 * time.Millisecond, Max: 400 * time.Millisecond, ResetAfter: time.Hour}
	if err := s.Start([]Spec{{Name: "crash", Path: prog, Args: []string{starts}, Backoff: b}}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "5 starts", func() bool { return len(lines(starts)) >= 5 })
	if z := testenv.ZombieChildren(os.Getpid(), time.Second); len(z) > 0 {
		t.Errorf("zombie children left unreaped: %+v", z)
	}
	s.Stop()

	var at []int64
	for _, l := range lines(starts)[:5] {
		n, err := strconv.ParseInt(l, 10, 64)
		if err != nil {
			t.Fatalf("bad timestamp %q", l)
		}
		at = append(at, n)
	}
	delays := []time.Duration{100, 200, 400, 400}
	var gaps []time.Duration
	for i := 1; i < len(at); i++ {
		gap := time.Duration(at[i] - at[i-1])
		gaps = append(gaps, gap)
		if gap < delays[i-1]*time.Millisecond {
			t.Errorf("gap %d between starts is %v, shorter than the backoff delay %v", i, gap, delays[i-1]*time.Millisecond)
		}
	}
	if gaps[2] <= gaps[0] {
		t.Errorf("gaps between starts do not grow: %v", gaps)
	}
	exits := rec.find("exited with status 3")
	if len(exits) < 4 {
		t.Fatalf("want 4 logged exits, got %d:\n%s", len(exits), rec.dump())
	}
	for i := 0; i < 4; i++ {
		if d := exits[i].Attrs["delay"]; d != delays[i]*time.Millisecond {
			t.Errorf("exit %d logged delay %v, want %v", i, d, delays[i]*time.Millisecond)
		}
		if !strings.Contains(exits[i].Msg, "restarting in") || exits[i].Attrs["status"] != "exited with status 3" {
			t.Errorf("exit record %d does not say why and when: %+v", i, exits[i])
		}
	}
	if out := rec.find("crashing on purpose"); len(out) == 0 || out[0].Level != slog.LevelError {
		t.Errorf("the child's ERR: line was not logged as an error:\n%s", rec.dump())
	}
}

// A run that lasts ResetAfter starts the delays again at Min.
func TestBackoffResetAfterLongRun(t *testing.T) {
	dir := t.TempDir()
	prog := script(t, dir, "slowcrash", `sleep 0.3; exit 1`)
	s, rec := newTestSupervisor(t)
	b := Backoff{Min: 50 * time.Millisecond, Max: time.Second, ResetAfter: 200 * time.Millisecond}
	if err := s.Start([]Spec{{Name: "slowcrash", Path: prog, Backoff: b}}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "3 exits", func() bool { return len(rec.find("exited with status 1")) >= 3 })
	s.Stop()
	long := 0
	for _, r := range rec.find("exited with status 1")[:3] {
		if ran := r.Attrs["ran"].(time.Duration); ran >= b.ResetAfter {
			long++
			if r.Attrs["delay"] != b.Min {
				t.Errorf("delay after a run of %v = %v, want the minimum %v\n%s", ran, r.Attrs["delay"], b.Min, rec.dump())
			}
		}
	}
	if long < 2 {
		t.Errorf("only %d of 3 runs lasted ResetAfter:\n%s", long, rec.dump())
	}
}

// A child that ignores SIGTERM is killed with SIGKILL after the stop
// timeout, with everything in its process group.
func TestStopKillsChildIgnoringSIGTERM(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	prog := script(t, dir, "stubborn", `trap '' TERM; echo $$ > "$1"; while :; do sleep 0.05; done`)
	s, rec := newTestSupervisor(t)
	if err := s.Start([]Spec{{Name: "stubborn", Path: prog, Args: []string{pidFile}, StopTimeout: 300 * time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "the child's pid", func() bool { return readPid(pidFile) > 0 })
	pid := readPid(pidFile)
	start := time.Now()
	s.Stop()
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("Stop returned after %v, before the stop timeout: the child cannot have been SIGKILLed for ignoring SIGTERM", took)
	}
	if proc.Alive(pid) || groupAlive(pid) {
		t.Fatalf("process %d or its group survived Stop", pid)
	}
	if len(rec.find("sending SIGKILL")) == 0 || len(rec.find("was killed by signal SIGKILL")) == 0 {
		t.Errorf("the SIGKILL was not logged:\n%s", rec.dump())
	}
}

// Stop reaches the grandchildren in the service's process group.
func TestStopReachesGrandchildren(t *testing.T) {
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	prog := script(t, dir, "family", `sleep 1000 & echo $! >> "$1"; sleep 1000 & echo $! >> "$1"; wait`)
	s, _ := newTestSupervisor(t)
	if err := s.Start([]Spec{{Name: "family", Path: prog, Args: []string{pids}}}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "two grandchildren", func() bool { return len(lines(pids)) == 2 })
	s.Stop()
	for _, l := range lines(pids) {
		pid, _ := strconv.Atoi(l)
		if proc.Alive(pid) {
			t.Errorf("grandchild %d survived Stop", pid)
		}
	}
}

// Services start requirements first and stop in the reverse order.
func TestDependencyOrder(t *testing.T) {
	dir := t.TempDir()
	prog := script(t, dir, "idle", `exec sleep 1000`)
	s, rec := newTestSupervisor(t)
	specs := []Spec{
		{Name: "top", Path: prog, Requires: []string{"middle", "absent"}},
		{Name: "middle", Path: prog, Requires: []string{"base"}},
		{Name: "base", Path: prog},
		{Name: "other", Path: prog},
	}
	if err := s.Start(specs); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(specs); err == nil || !strings.Contains(err.Error(), "already started") {
		t.Errorf("second Start: %v", err)
	}
	s.Stop()
	var started, stopped []string
	for _, r := range rec.find("started ") {
		started = append(started, r.Attrs["service"].(string))
	}
	for _, r := range rec.find(") stopped") {
		stopped = append(stopped, r.Attrs["service"].(string))
	}
	if got := strings.Join(started, " "); got != "base other middle top" {
		t.Errorf("start order %q, want base other middle top", got)
	}
	if len(stopped) != 4 || stopped[0] != "top" || stopped[1] != "middle" || stopped[3] != "base" && stopped[3] != "other" {
		t.Errorf("stop order %v: want top, then middle, then base and other", stopped)
	}
}

func TestInvalidSets(t *testing.T) {
	s, _ := newTestSupervisor(t)
	for _, c := range []struct {
		specs []Spec
		want  string
	}{
		{[]Spec{{Name: "a", Path: "/bin/true"}, {Name: "a", Path: "/bin/true"}}, "defined twice"},
		{[]Spec{{Name: "a b", Path: "/bin/true"}}, "invalid service name"},
		{[]Spec{{Name: "a", Path: "true"}}, "not an absolute path"},
		{[]Spec{{Name: "a", Path: "/bin/true", Requires: []string{"b"}}, {Name: "b", Path: "/bin/true", Requires: []string{"a"}}}, "circle: a -> b -> a"},
	} {
		err := s.Start(c.specs)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Start(%+v) = %v, want an error containing %q", c.specs, err, c.want)
		}
	}
	if len(s.Status()) != 0 {
		t.Errorf("an invalid set started services: %+v", s.Status())
	}
}

// Reload restarts only what changed, starts what is new and stops what was
// removed; an invalid set changes nothing.
func TestReloadRestartsOnlyChanged(t *testing.T) {
	s, _ := newTestSupervisor(t)
	mk := func(name, version string) Spec {
		return Spec{Name: name, Path: "/bin/sleep", Args: []string{"1000"}, Env: []string{"VERSION=" + version}}
	}
	if err := s.Start([]Spec{mk("a", "1"), mk("b", "1"), mk("c", "1")}); err != nil {
		t.Fatal(err)
	}
	before := pids(s)
	if err := s.Reload([]Spec{mk("a", "1"), mk("b", "2"), mk("d", "1")}); err != nil {
		t.Fatal(err)
	}
	after := pids(s)
	if after["a"] != before["a"] {
		t.Errorf("unchanged service a was restarted: pid %d -> %d", before["a"], after["a"])
	}
	if after["b"] == before["b"] || after["b"] == 0 {
		t.Errorf("changed service b was not restarted: pid %d -> %d", before["b"], after["b"])
	}
	if _, ok := after["c"]; ok || proc.Alive(before["c"]) {
		t.Errorf("removed service c still runs (pid %d)", before["c"])
	}
	if after["d"] == 0 {
		t.Errorf("new service d was not started")
	}
	env, _ := os.ReadFile("/proc/" + strconv.Itoa(after["b"]) + "/environ")
	if string(env) != "VERSION=2\x00" {
		t.Errorf("restarted b has environment %q, want exactly VERSION=2", env)
	}
	if err := s.Reload([]Spec{mk("a", "1"), mk("a", "2")}); err == nil {
		t.Fatal("Reload accepted a set with a duplicate")
	}
	if now := pids(s); len(now) != 3 || now["a"] != after["a"] || now["b"] != after["b"] || now["d"] != after["d"] {
		t.Errorf("an invalid set changed the running services: %v -> %v", after, now)
	}
}

// TestReloadUnchanged: a reload restarts an unchanged service whose
// OnReload says so (the scheduler), sends SIGHUP to one that re-reads its
// files itself (couriertcpd), and leaves the others alone.
func TestReloadUnchanged(t *testing.T) {
	dir := t.TempDir()
	hups := filepath.Join(dir, "hups")
	ready := filepath.Join(dir, "ready")
	hupper := script(t, dir, "hupper", `trap 'echo hup >> `+hups+`' HUP; touch `+ready+`; while :; do sleep 0.05; done`)
	s, _ := newTestSupervisor(t)
	specs := []Spec{
		{Name: "restart", Path: "/bin/sleep", Args: []string{"1000"}, OnReload: ReloadRestart},
		{Name: "hup", Path: hupper, OnReload: ReloadSIGHUP},
		{Name: "keep", Path: "/bin/sleep", Args: []string{"1000"}},
	}
	if err := s.Start(specs); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "service hup to set its trap", func() bool { _, err := os.Stat(ready); return err == nil })
	before := pids(s)
	if err := s.Reload(specs); err != nil {
		t.Fatal(err)
	}
	after := pids(s)
	if after["restart"] == before["restart"] || after["restart"] == 0 {
		t.Errorf("service restart was not restarted: pid %d -> %d", before["restart"], after["restart"])
	}
	if after["hup"] != before["hup"] || after["keep"] != before["keep"] {
		t.Errorf("services hup and keep must keep running: %v -> %v", before, after)
	}
	testenv.WaitFor(t, "service hup to get SIGHUP", func() bool {
		b, _ := os.ReadFile(hups)
		return string(b) == "hup\n"
	})
}

func pids(s *Supervisor) map[string]int {
	m := map[string]int{}
	for _, st := range s.Status() {
		m[st.Name] = st.PID
	}
	return m
}

// A service whose program is missing is skipped with one log line, and
// started by a reload once it is installed.
func TestSkipMissingProgram(t *testing.T) {
	dir := t.TempDir()
	prog := filepath.Join(dir, "later")
	s, rec := newTestSupervisor(t)
	spec := Spec{Name: "later", Path: prog}
	needy := Spec{Name: "needy", Path: "/bin/sleep", Args: []string{"1000"}, Needs: []string{filepath.Join(dir, "helper")}}
	if err := s.Start([]Spec{spec, needy}); err != nil {
		t.Fatal(err)
	}
	for _, st := range s.Status() {
		if st.State != Skipped {
			t.Errorf("%s is %s, want skipped", st.Name, st.State)
		}
	}
	if err := s.Reload([]Spec{spec, needy}); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.find("not started: ")); n != 2 {
		t.Errorf("%d skip lines, want one per service:\n%s", n, rec.dump())
	}
	if r := rec.find("service later not started"); len(r) == 0 || !strings.Contains(r[0].Msg, prog+" is not installed") {
		t.Errorf("skip line does not name the missing program:\n%s", rec.dump())
	}
	script(t, dir, "later", `exec sleep 1000`)
	if err := s.Reload([]Spec{spec, needy}); err != nil {
		t.Fatal(err)
	}
	st := s.Status()
	if st[0].Name != "later" || st[0].State != Running || st[1].State != Skipped {
		t.Errorf("after installing later: %+v", st)
	}
}

// Output lines of a child become log records with the courierlogger
// levels, debug lines too while the supervisor itself logs at Info (the
// child wrote them because DEBUG_LOGIN asked for them); the pid file of a
// service names its running instance.
func TestOutputAndPidFile(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "run", "svc.pid")
	prog := script(t, dir, "talk", `echo "hello from stdout"; echo "WARN: careful" >&2; echo "svc[4242]: DEBUG: detail" >&2; exec sleep 1000`)
	s, rec := newTestSupervisor(t)
	rec.infoUp = true
	if err := s.Start([]Spec{{Name: "talk", Path: prog, PidFile: pidFile}}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "three output lines", func() bool { return len(rec.find("detail")) == 1 })
	pid := s.Status()[0].PID
	if readPid(pidFile) != pid {
		t.Errorf("pid file holds %d, want %d", readPid(pidFile), pid)
	}
	check := func(msg string, level any, pid int) {
		r := rec.find(msg)
		if len(r) != 1 || r[0].Msg != msg || r[0].Level != level || r[0].Attrs["service"] != "talk" || r[0].Attrs["pid"] != int64(pid) {
			t.Errorf("line %q logged as %+v", msg, r)
		}
	}
	check("hello from stdout", slog.LevelInfo, pid)
	check("careful", slog.LevelWarn, pid)
	check("detail", slog.LevelDebug, 4242)
	s.Stop()
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("pid file left after stop: %v", err)
	}
}

// As root, a service runs with its credential.
func TestCredential(t *testing.T) {
	testenv.NeedRoot(t)
	u, err := privsep.LookupUser("nobody")
	if err != nil {
		t.Skip("no nobody account")
	}
	s, _ := newTestSupervisor(t)
	cred := &privsep.Credential{UID: u.UID, GID: u.GID}
	if err := s.Start([]Spec{{Name: "unpriv", Path: "/bin/sleep", Args: []string{"1000"}, Cred: cred}}); err != nil {
		t.Fatal(err)
	}
	pid := s.Status()[0].PID
	if err := privsep.VerifyProcess(pid, *cred); err != nil {
		t.Error(err)
	}
}

func TestGroupAlive(t *testing.T) {
	data, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		t.Fatal(err)
	}
	max, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	if groupAlive(max + 1) {
		t.Error("a group that cannot exist is alive")
	}
	if !groupAlive(syscall.Getpgrp()) {
		t.Error("the test's own process group is not alive")
	}
}
