package proc

import (
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	line := "4242 (sh (weird) name) S 1 4242 4242 0 -1 4194560 97 0 0 0 0 0 0 0 20 0 1 0 123456 2400256 200 18446744073709551615 1 1 0 0 0 0 0 0 65536 1 0 0 17 1 0 0 0 0 0\n"
	p, ok := Parse([]byte(line))
	if !ok || p.PID != 4242 || p.State != 'S' || p.PPID != 1 || p.Pgrp != 4242 || p.Start != 123456 {
		t.Fatalf("Parse = %+v, %v", p, ok)
	}
	for _, bad := range []string{"", "12", "x (a) S 1 2", "12 (a) S 1 2 3", "12 (a) SS 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20"} {
		if _, ok := Parse([]byte(bad)); ok {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
	self, ok := Read(os.Getpid())
	if !ok || self.PID != os.Getpid() || self.PPID != os.Getppid() || self.State != 'R' && self.State != 'S' {
		t.Errorf("own stat %+v", self)
	}
	if !Alive(os.Getpid()) || !self.StillRuns() {
		t.Error("this process is not alive")
	}
}

// TestChildren follows a real child from running to zombie to reaped.
func TestChildren(t *testing.T) {
	cmd := exec.Command("sleep", "1000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	found := false
	for _, c := range Children(os.Getpid()) {
		found = found || c.PID == pid
	}
	st, ok := Read(pid)
	if !found || !ok || !Alive(pid) || !st.StillRuns() {
		t.Fatalf("running child %d: listed %v, stat %+v %v", pid, found, st, ok)
	}
	cmd.Process.Kill()
	for z, ok := Read(pid); ok && !z.Exited(); z, ok = Read(pid) {
		time.Sleep(time.Millisecond)
	}
	for _, c := range Children(os.Getpid()) {
		if c.PID == pid {
			t.Errorf("zombie %d listed as a live child", pid)
		}
	}
	if Alive(pid) || st.StillRuns() {
		t.Errorf("zombie %d reported alive", pid)
	}
	cmd.Wait()
	if st.StillRuns() {
		t.Errorf("reaped %d still reported", pid)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("1 (init) S 0 1 1 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 9 10 11\n"))
	f.Add([]byte("7 ()) Z 1 7 7"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, ok := Parse(data)
		if !ok {
			return
		}
		// What was parsed survives a round trip through the format.
		line := strconv.Itoa(p.PID) + " (c) " + string([]byte{p.State}) + " " + strconv.Itoa(p.PPID) + " " + strconv.Itoa(p.Pgrp) +
			" 0 0 0 0 0 0 0 0 " + strconv.FormatUint(p.UTime, 10) + " " + strconv.FormatUint(p.STime, 10) +
			" 0 0 0 0 0 0 " + strconv.FormatUint(p.Start, 10)
		q, ok := Parse([]byte(line))
		if !ok || q != p {
			t.Fatalf("%q parsed as %+v; re-parsing %q gave %+v, %v", data, p, line, q, ok)
		}
	})
}

func TestParseCPUTimes(t *testing.T) {
	p, ok := Parse([]byte("42 (auth daemon) S 1 42 42 0 -1 4194560 1 2 3 4 15 16 7 8 20 0 1 0 900 10 11\n"))
	if !ok {
		t.Fatal("not parsed")
	}
	want := Stat{PID: 42, PPID: 1, Pgrp: 42, State: 'S', Start: 900, UTime: 15, STime: 16}
	if p != want {
		t.Errorf("parsed %+v, want %+v", p, want)
	}
}
