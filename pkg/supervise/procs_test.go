package supervise

import (
	"os"
	"strconv"
	"testing"
)

func TestParseProcStat(t *testing.T) {
	line := "4242 (sh (weird) name) S 1 4242 4242 0 -1 4194560 97 0 0 0 0 0 0 0 20 0 1 0 123456 2400256 200 18446744073709551615 1 1 0 0 0 0 0 0 65536 1 0 0 17 1 0 0 0 0 0\n"
	p, ok := parseProcStat([]byte(line))
	if !ok || p.pid != 4242 || p.state != 'S' || p.ppid != 1 || p.pgrp != 4242 || p.start != 123456 {
		t.Fatalf("parseProcStat = %+v, %v", p, ok)
	}
	for _, bad := range []string{"", "12", "x (a) S 1 2", "12 (a) S 1 2 3", "12 (a) SS 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20"} {
		if _, ok := parseProcStat([]byte(bad)); ok {
			t.Errorf("parseProcStat(%q) accepted", bad)
		}
	}
	self, ok := readProcStat(os.Getpid())
	if !ok || self.pid != os.Getpid() || self.ppid != os.Getppid() || self.state != 'R' && self.state != 'S' {
		t.Errorf("own stat %+v", self)
	}
	if !Alive(os.Getpid()) {
		t.Error("this process is not alive")
	}
}

func FuzzParseProcStat(f *testing.F) {
	f.Add([]byte("1 (init) S 0 1 1 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 9 10 11\n"))
	f.Add([]byte("7 ()) Z 1 7 7"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, ok := parseProcStat(data)
		if !ok {
			return
		}
		// What was parsed survives a round trip through the format.
		line := strconv.Itoa(p.pid) + " (c) " + string([]byte{p.state}) + " " + strconv.Itoa(p.ppid) + " " + strconv.Itoa(p.pgrp) +
			" 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 " + strconv.FormatUint(p.start, 10)
		q, ok := parseProcStat([]byte(line))
		if !ok || q != p {
			t.Fatalf("%q parsed as %+v; re-parsing %q gave %+v, %v", data, p, line, q, ok)
		}
	})
}
