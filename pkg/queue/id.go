package queue

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// QueueID names a queued message the way Courier does (spec §1):
// "<inode 16 hex>.<start time 16 hex>.<pid 8 hex>", upper-case. mailq shows
// it, the M record holds it and the Received: header quotes it.
type QueueID struct {
	Inode uint64    // inode of the control file; the file names use it in decimal
	Time  time.Time // submission start, whole seconds
	PID   int       // submitting process
}

// String formats the id, e.g. 00000000000C2166.000000006B025E89.000060DB.
func (id QueueID) String() string {
	return fmt.Sprintf("%016X.%016X.%08X", id.Inode, uint64(id.Time.Unix()), uint32(id.PID))
}

// Short is the part the SMTP reply after DATA carries: "<time>.<pid>"
// (spec §1: "250 Ok. 000000006B0267A0.000075E6").
func (id QueueID) Short() string {
	s := id.String()
	return s[17:]
}

// ParseQueueID parses the string form of a queue id. Lower-case hex digits
// are accepted, as cancelmsg and courier flush arguments are typed by hand.
func ParseQueueID(s string) (QueueID, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || len(parts[0]) != 16 || len(parts[1]) != 16 || len(parts[2]) != 8 {
		return QueueID{}, fmt.Errorf("queue id %q: want <16 hex digits>.<16 hex digits>.<8 hex digits>", s)
	}
	var v [3]uint64
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 16, 64)
		if err != nil {
			return QueueID{}, fmt.Errorf("queue id %q: %q is not hexadecimal", s, p)
		}
		v[i] = n
	}
	if v[1] > 1<<62 {
		return QueueID{}, fmt.Errorf("queue id %q: time field out of range", s)
	}
	return QueueID{Inode: v[0], Time: time.Unix(int64(v[1]), 0), PID: int(v[2])}, nil
}
