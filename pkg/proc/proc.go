// Package proc owns reading Linux's process table, /proc (proc(5)): the
// stat line of one process, a scan of every process, and the questions the
// suite asks of them (does a process still run, which are its live
// children). The supervisor (pkg/supervise) uses it to find the processes
// of a service's group and the orphans it adopted, pkg/logging/pidfile to
// see a stopped daemon gone, and tests (through test/testenv) to inspect
// the process trees they start.
package proc

import (
	"bytes"
	"os"
	"strconv"
)

// Stat is the part of /proc/<pid>/stat the suite uses. PID and Start
// together identify a process for good: a pid is reused, the pair is not.
type Stat struct {
	PID, PPID, Pgrp int
	State           byte   // R, S, D, ..., Z (zombie), X (dead)
	Start           uint64 // start time in clock ticks after boot
	UTime, STime    uint64 // CPU time used in user and kernel mode, in clock ticks
}

// Exited reports whether the process has ended: a zombie waiting for its
// parent to reap it runs nothing any more.
func (p Stat) Exited() bool { return p.State == 'Z' || p.State == 'X' }

// StillRuns reports whether the very process p (same pid, same start time)
// still runs.
func (p Stat) StillRuns() bool {
	q, ok := Read(p.PID)
	return ok && q.Start == p.Start && !q.Exited()
}

// Parse parses a /proc/<pid>/stat line. The command name (field 2) is in
// parentheses and may itself contain spaces and parentheses, so the fields
// after it are found from the last ')'.
func Parse(data []byte) (Stat, bool) {
	open := bytes.IndexByte(data, '(')
	end := bytes.LastIndexByte(data, ')')
	if open <= 0 || end < open {
		return Stat{}, false
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(data[:open])))
	if err != nil || pid <= 0 {
		return Stat{}, false
	}
	f := bytes.Fields(data[end+1:])
	// f[0] state, f[1] ppid, f[2] pgrp, ..., f[11] utime, f[12] stime,
	// ..., f[19] starttime
	if len(f) < 20 || len(f[0]) != 1 || !(f[0][0] >= 'A' && f[0][0] <= 'Z' || f[0][0] >= 'a' && f[0][0] <= 'z') {
		return Stat{}, false
	}
	ppid, err1 := strconv.Atoi(string(f[1]))
	pgrp, err2 := strconv.Atoi(string(f[2]))
	start, err3 := strconv.ParseUint(string(f[19]), 10, 64)
	utime, err4 := strconv.ParseUint(string(f[11]), 10, 64)
	stime, err5 := strconv.ParseUint(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || err5 != nil {
		return Stat{}, false
	}
	return Stat{PID: pid, PPID: ppid, Pgrp: pgrp, State: f[0][0], Start: start, UTime: utime, STime: stime}, true
}

// Read reads one process's stat; ok is false when it is gone.
func Read(pid int) (Stat, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Stat{}, false
	}
	return Parse(data)
}

// Scan calls fn for every process in /proc until fn returns false.
// Processes that vanish during the scan are skipped.
func Scan(fn func(Stat) bool) {
	d, err := os.Open("/proc")
	if err != nil {
		return
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	for _, n := range names {
		if n[0] < '0' || n[0] > '9' {
			continue
		}
		pid, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		if p, ok := Read(pid); ok && !fn(p) {
			return
		}
	}
}

// Alive reports whether pid is a process that still runs: it exists and is
// not a zombie waiting for its parent.
func Alive(pid int) bool {
	p, ok := Read(pid)
	return ok && !p.Exited()
}

// Children returns the live processes whose parent is pid.
func Children(pid int) []Stat {
	var out []Stat
	Scan(func(p Stat) bool {
		if p.PPID == pid && !p.Exited() {
			out = append(out, p)
		}
		return true
	})
	return out
}
