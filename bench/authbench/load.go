package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/gocourier/courier/pkg/proc"
)

// The load generator shares the machine's cores with the daemon it
// measures, so every microsecond it spends is one the daemon cannot use.
// It therefore talks to the socket with plain blocking system calls (one
// thread per client, no poller, no allocation per request) rather than
// through pkg/authlib's client, which is built for daemons that must never
// block. The bytes it sends are the protocol's (spec §2), the same for
// both daemons.

// rawRequest sends req on a new connection to socket and reads the whole
// reply into buf. It fails unless the reply is a success (KEY=value lines
// ending in ".\n") that contains want.
func rawRequest(socket string, req, buf, want []byte) error {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	// A daemon that stops answering must not hang the benchmark.
	tv := syscall.Timeval{Sec: 30}
	syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
	syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_SNDTIMEO, &tv)
	if err := syscall.Connect(fd, &syscall.SockaddrUnix{Name: socket}); err != nil {
		return err
	}
	for off := 0; off < len(req); {
		n, err := syscall.Write(fd, req[off:])
		if err != nil {
			return err
		}
		off += n
	}
	n := 0
	for {
		if n == len(buf) {
			return errors.New("reply longer than the read buffer")
		}
		m, err := syscall.Read(fd, buf[n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if m == 0 {
			break
		}
		n += m
	}
	reply := buf[:n]
	switch {
	case n == 0:
		return errors.New("connection closed without a reply (temporary failure)")
	case bytes.Equal(reply, []byte("FAIL\n")):
		return errors.New("FAIL")
	case !bytes.HasSuffix(reply, []byte("\n.\n")) || !bytes.Contains(reply, want):
		return fmt.Errorf("unexpected reply %q", reply)
	}
	return nil
}

// loginRequest is AUTH login (spec §2) for user and password.
func loginRequest(service, user, password string) []byte {
	body := service + "\nlogin\n" + user + "\n" + password + "\n"
	return []byte("TCPREMOTEIP=127.0.0.1\nAUTH " + strconv.Itoa(len(body)) + "\n" + body)
}

// preRequest is a PRE lookup through all modules (spec §2).
func preRequest(service, user string) []byte {
	return []byte("TCPREMOTEIP=127.0.0.1\nPRE . " + service + " " + user + "\n")
}

// treeCPU returns the CPU time used so far by pid and its live descendants:
// the real authdaemond answers in forked children, ours in one process.
func treeCPU(pid int) time.Duration {
	children := map[int][]int{}
	stats := map[int]proc.Stat{}
	proc.Scan(func(p proc.Stat) bool {
		children[p.PPID] = append(children[p.PPID], p.PID)
		stats[p.PID] = p
		return true
	})
	var ticks uint64
	todo := []int{pid}
	for len(todo) > 0 {
		p := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		ticks += stats[p].UTime + stats[p].STime
		todo = append(todo, children[p]...)
	}
	return time.Duration(ticks) * time.Second / clockTicks
}

// clockTicks is USER_HZ, the unit of the CPU times in /proc/<pid>/stat. It
// is 100 on every Linux architecture Go supports; the auxiliary vector
// says so for certain.
var clockTicks = func() time.Duration {
	data, err := os.ReadFile("/proc/self/auxv")
	if err == nil {
		const atClktck = 17
		for i := 0; i+16 <= len(data); i += 16 {
			key := uint64(0)
			val := uint64(0)
			for j := 7; j >= 0; j-- {
				key = key<<8 | uint64(data[i+j])
				val = val<<8 | uint64(data[i+8+j])
			}
			if key == atClktck && val > 0 {
				return time.Duration(val)
			}
		}
	}
	return 100
}()
