package supervise

import (
	"bytes"
	"os"
	"strconv"
)

// procStat is the part of /proc/<pid>/stat (proc(5)) the supervisor uses.
type procStat struct {
	pid, ppid, pgrp int
	state           byte
	start           uint64 // start time in clock ticks after boot: with pid, identifies a process
}

// parseProcStat parses a /proc/<pid>/stat line. The command name (field 2)
// is in parentheses and may itself contain spaces and parentheses, so the
// fields after it are found from the last ')'.
func parseProcStat(data []byte) (procStat, bool) {
	open := bytes.IndexByte(data, '(')
	end := bytes.LastIndexByte(data, ')')
	if open <= 0 || end < open {
		return procStat{}, false
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(data[:open])))
	if err != nil || pid <= 0 {
		return procStat{}, false
	}
	f := bytes.Fields(data[end+1:])
	// f[0] state, f[1] ppid, f[2] pgrp, ..., f[19] starttime
	if len(f) < 20 || len(f[0]) != 1 || !(f[0][0] >= 'A' && f[0][0] <= 'Z' || f[0][0] >= 'a' && f[0][0] <= 'z') {
		return procStat{}, false
	}
	ppid, err1 := strconv.Atoi(string(f[1]))
	pgrp, err2 := strconv.Atoi(string(f[2]))
	start, err3 := strconv.ParseUint(string(f[19]), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return procStat{}, false
	}
	return procStat{pid: pid, ppid: ppid, pgrp: pgrp, state: f[0][0], start: start}, true
}

// readProcStat reads one process's stat; ok is false when it is gone.
func readProcStat(pid int) (procStat, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, false
	}
	return parseProcStat(data)
}

// scanProcs calls fn for every process in /proc until fn returns false.
// Processes that vanish during the scan are skipped.
func scanProcs(fn func(procStat) bool) {
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
		if p, ok := readProcStat(pid); ok && !fn(p) {
			return
		}
	}
}

// Alive reports whether pid is a process that still runs: it exists and is
// not a zombie waiting for its parent.
func Alive(pid int) bool {
	p, ok := readProcStat(pid)
	return ok && p.state != 'Z' && p.state != 'X'
}
