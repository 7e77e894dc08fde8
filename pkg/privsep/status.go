package privsep

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// TaskStatus is the identity of one thread as the kernel reports it in
// /proc/<pid>/task/<tid>/status (proc(5)). Credentials are per thread in
// Linux, so a drop is only complete when every thread shows it.
type TaskStatus struct {
	TID        int
	UID        [4]uint32 // real, effective, saved, filesystem
	GID        [4]uint32 // real, effective, saved, filesystem
	Groups     []uint32  // supplementary groups, sorted by the kernel
	NoNewPrivs bool
	CapPrm     uint64 // permitted capabilities
	CapEff     uint64 // effective capabilities
}

// ParseStatus parses the contents of a /proc/.../status file. It requires
// the Uid, Gid, Groups, NoNewPrivs, CapPrm and CapEff lines; TID is taken
// from the Pid line (which is the thread id in a task's own status file).
func ParseStatus(data []byte) (TaskStatus, error) {
	var s TaskStatus
	seen := map[string]bool{}
	for i, line := range strings.Split(string(data), "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			if strings.TrimSpace(line) == "" {
				continue
			}
			return TaskStatus{}, fmt.Errorf("line %d: no colon in %q", i+1, line)
		}
		val = strings.TrimSpace(val)
		var err error
		switch key {
		case "Pid":
			s.TID, err = strconv.Atoi(val)
			if err == nil && s.TID <= 0 {
				err = fmt.Errorf("not a positive number")
			}
		case "Uid":
			s.UID, err = parseIDQuad(val)
		case "Gid":
			s.GID, err = parseIDQuad(val)
		case "Groups":
			s.Groups, err = parseIDList(val)
		case "NoNewPrivs":
			switch val {
			case "0":
			case "1":
				s.NoNewPrivs = true
			default:
				err = fmt.Errorf("want 0 or 1")
			}
		case "CapPrm":
			s.CapPrm, err = strconv.ParseUint(val, 16, 64)
		case "CapEff":
			s.CapEff, err = strconv.ParseUint(val, 16, 64)
		default:
			continue
		}
		if err != nil {
			return TaskStatus{}, fmt.Errorf("line %d: %s %q: %v", i+1, key, val, err)
		}
		if seen[key] {
			return TaskStatus{}, fmt.Errorf("line %d: %s appears twice", i+1, key)
		}
		seen[key] = true
	}
	for _, k := range []string{"Pid", "Uid", "Gid", "Groups", "NoNewPrivs", "CapPrm", "CapEff"} {
		if !seen[k] {
			return TaskStatus{}, fmt.Errorf("no %s line", k)
		}
	}
	return s, nil
}

func parseIDQuad(val string) ([4]uint32, error) {
	var q [4]uint32
	f := strings.Fields(val)
	if len(f) != 4 {
		return q, fmt.Errorf("has %d fields, want 4", len(f))
	}
	for i, x := range f {
		n, err := strconv.ParseUint(x, 10, 32)
		if err != nil {
			return q, err
		}
		q[i] = uint32(n)
	}
	return q, nil
}

func parseIDList(val string) ([]uint32, error) {
	f := strings.Fields(val)
	list := make([]uint32, 0, len(f))
	for _, x := range f {
		n, err := strconv.ParseUint(x, 10, 32)
		if err != nil {
			return nil, err
		}
		list = append(list, uint32(n))
	}
	return list, nil
}

// ReadTasks returns the status of every thread of process pid (0: this
// process). Threads that exit while the directory is read are left out.
func ReadTasks(pid int) ([]TaskStatus, error) {
	dir := "/proc/self/task"
	if pid != 0 {
		dir = fmt.Sprintf("/proc/%d/task", pid)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing the threads of process %s: %w", pidName(pid), err)
	}
	var out []TaskStatus
	for _, e := range ents {
		p := dir + "/" + e.Name() + "/status"
		data, err := os.ReadFile(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
				continue
			}
			return nil, err
		}
		s, err := ParseStatus(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", p, err)
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("process %s has no threads left (it exited)", pidName(pid))
	}
	return out, nil
}

func pidName(pid int) string {
	if pid == 0 {
		return "self"
	}
	return strconv.Itoa(pid)
}

// Check reports how the thread's identity differs from c: all four uids
// must be c.UID, all four gids c.GID, the supplementary groups exactly
// c.Groups (in any order), and, for a non-root uid, no capabilities left.
func (s TaskStatus) Check(c Credential) error {
	var wrong []string
	for _, u := range s.UID {
		if u != c.UID {
			wrong = append(wrong, fmt.Sprintf("Uid %s (want %d in all four: real, effective, saved, filesystem)", fmtQuad(s.UID), c.UID))
			break
		}
	}
	for _, g := range s.GID {
		if g != c.GID {
			wrong = append(wrong, fmt.Sprintf("Gid %s (want %d in all four)", fmtQuad(s.GID), c.GID))
			break
		}
	}
	if !sameSet(s.Groups, c.Groups) {
		wrong = append(wrong, fmt.Sprintf("Groups %v (want %v)", s.Groups, c.Groups))
	}
	if c.UID != 0 && (s.CapPrm != 0 || s.CapEff != 0) {
		wrong = append(wrong, fmt.Sprintf("capabilities left: CapPrm %016x CapEff %016x", s.CapPrm, s.CapEff))
	}
	if len(wrong) == 0 {
		return nil
	}
	return fmt.Errorf("thread %d has %s", s.TID, strings.Join(wrong, ", "))
}

// VerifyProcess checks every thread of process pid (0: this process)
// against c and returns an error naming the first thread that differs.
func VerifyProcess(pid int, c Credential) error {
	tasks, err := ReadTasks(pid)
	if err != nil {
		return err
	}
	for _, t := range tasks {
		if err := t.Check(c); err != nil {
			return fmt.Errorf("process %s: %v", pidName(pid), err)
		}
	}
	return nil
}

func fmtQuad(q [4]uint32) string {
	return fmt.Sprintf("%d %d %d %d", q[0], q[1], q[2], q[3])
}

func sameSet(a, b []uint32) bool {
	x := slices.Compact(slices.Sorted(slices.Values(a)))
	y := slices.Compact(slices.Sorted(slices.Values(b)))
	return slices.Equal(x, y)
}
