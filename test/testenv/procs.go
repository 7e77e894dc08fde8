package testenv

import (
	"time"

	"github.com/gocourier/courier/pkg/proc"
)

// Descendants returns every process below pid (its children, their
// children, ...), zombies included: a zombie is a process whose parent has
// not reaped it (yet). Callers that want only running processes drop the
// ones whose Exited reports true; a zombie has no children of its own.
func Descendants(pid int) []proc.Stat {
	var all []proc.Stat
	proc.Scan(func(p proc.Stat) bool {
		all = append(all, p)
		return true
	})
	below := map[int]bool{pid: true}
	var out []proc.Stat
	for changed := true; changed; {
		changed = false
		for _, p := range all {
			if below[p.PPID] && !below[p.PID] {
				below[p.PID] = true
				out = append(out, p)
				changed = true
			}
		}
	}
	return out
}

// ZombieChildren returns the zombie children of pid that are still zombies
// after grace: a zombie exists briefly between a child's exit and its
// reaping, so only one that stays is a leak of the parent.
func ZombieChildren(pid int, grace time.Duration) []proc.Stat {
	var zombies []proc.Stat
	proc.Scan(func(p proc.Stat) bool {
		if p.PPID == pid && p.State == 'Z' {
			zombies = append(zombies, p)
		}
		return true
	})
	if len(zombies) == 0 {
		return nil
	}
	time.Sleep(grace)
	var out []proc.Stat
	for _, z := range zombies {
		if q, ok := proc.Read(z.PID); ok && q.State == 'Z' && q.Start == z.Start && q.PPID == pid {
			out = append(out, q)
		}
	}
	return out
}
