package local

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gocourier/courier/pkg/privsep"
)

// Delivery workers. Starting a program for every delivery costs more than
// the delivery itself (the runtime's start-up, page faults, exec), so the
// parent keeps delivery processes per identity: "courierlocal
// --deliver-worker" runs with one recipient's uid, gid and groups and
// performs that identity's deliveries one after another, each exactly as
// the one-shot child would (the same code, RunChild), in the job's home
// directory. The boundary is the one the original draws: what runs as a uid
// can touch that uid's mail and nothing else. Several virtual accounts that
// share a uid share its workers, as their deliveries shared the uid before.
//
// The parent talks to a worker over a SOCK_SEQPACKET socket pair: a request
// is the job's arguments, NUL-separated, with three descriptors attached
// (the message, the forward pipe, the message pipe); the reply is
// "C<exit status>" or "E<errno>" when the home directory cannot be entered.
// A worker idle for workerIdle is closed; one that is killed (the time
// limit) is discarded.

const (
	workerFlag = "--deliver-worker"
	workerIdle = 10 * time.Second
	maxRequest = 64 * 1024
)

// worker is a running delivery worker as the parent sees it.
type worker struct {
	key  string
	conn *net.UnixConn
	pid  int
	done chan struct{} // closed when the process has been reaped
	last time.Time
}

// pool holds the idle workers per identity.
type pool struct {
	mu     sync.Mutex
	idle   map[string][]*worker
	reaper bool
	closed bool
}

func credKey(c privsep.Credential) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d:%d", c.UID, c.GID)
	for _, g := range c.Groups {
		fmt.Fprintf(&b, ",%d", g)
	}
	return b.String()
}

// getWorker returns an idle worker for cred or starts one.
func (m *Module) getWorker(cred privsep.Credential) (*worker, error) {
	key := credKey(cred)
	p := &m.workers
	p.mu.Lock()
	if ws := p.idle[key]; len(ws) > 0 {
		w := ws[len(ws)-1]
		p.idle[key] = ws[:len(ws)-1]
		p.mu.Unlock()
		return w, nil
	}
	if !p.reaper {
		p.reaper = true
		go m.reapIdle()
	}
	p.mu.Unlock()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair for a delivery worker: %w", err)
	}
	parent, child := os.NewFile(uintptr(fds[0]), "worker"), os.NewFile(uintptr(fds[1]), "worker")
	defer child.Close()
	ch := &privsep.Child{Path: m.Self, Argv0: "courierlocal", Args: []string{workerFlag}, Env: m.Env, Dir: "/",
		Cred: &cred, Setpgid: true, ExtraFiles: []*os.File{child}, Stderr: os.Stderr}
	cmd, err := ch.Start()
	if err != nil {
		parent.Close()
		return nil, err
	}
	fc, err := net.FileConn(parent)
	parent.Close()
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, err
	}
	w := &worker{key: key, conn: fc.(*net.UnixConn), pid: cmd.Process.Pid, done: make(chan struct{})}
	go func() { cmd.Wait(); close(w.done) }()
	return w, nil
}

// putWorker returns a worker that finished a job to the idle pool.
func (m *Module) putWorker(w *worker) {
	p := &m.workers
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		w.close()
		return
	}
	if p.idle == nil {
		p.idle = map[string][]*worker{}
	}
	w.last = time.Now()
	p.idle[w.key] = append(p.idle[w.key], w)
}

// reapIdle closes workers that have been idle for workerIdle.
func (m *Module) reapIdle() {
	p := &m.workers
	for {
		time.Sleep(workerIdle / 2)
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return
		}
		for k, ws := range p.idle {
			keep := ws[:0]
			for _, w := range ws {
				if time.Since(w.last) > workerIdle {
					w.close()
				} else {
					keep = append(keep, w)
				}
			}
			p.idle[k] = keep
		}
		p.mu.Unlock()
	}
}

// closeWorkers ends every idle worker (the module is stopping).
func (m *Module) closeWorkers() {
	p := &m.workers
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, ws := range p.idle {
		for _, w := range ws {
			w.close()
		}
	}
	p.idle = nil
}

// close ends a worker: end of input makes it exit.
func (w *worker) close() { w.conn.Close() }

// kill stops a worker and whatever it runs (its process group).
func (w *worker) kill(sig syscall.Signal) { syscall.Kill(-w.pid, sig) }

// send hands a job to the worker with the message and the two pipes.
func (w *worker) send(args []string, data, fwd, msgs int) error {
	rights := syscall.UnixRights(data, fwd, msgs)
	_, _, err := w.conn.WriteMsgUnix([]byte(strings.Join(args, "\x00")), rights, nil)
	return err
}

// reply reads the worker's answer: the exit status, or the error that kept
// it from entering the home directory.
func (w *worker) reply() (int, error, error) {
	buf := make([]byte, 4096)
	n, err := w.conn.Read(buf)
	if err != nil || n == 0 {
		if err == nil {
			err = errors.New("the delivery worker exited")
		}
		return 0, nil, err
	}
	s := string(buf[:n])
	switch {
	case strings.HasPrefix(s, "C"):
		code, err := strconv.Atoi(s[1:])
		return code, nil, err
	case strings.HasPrefix(s, "E"):
		n, err := strconv.Atoi(s[1:])
		return 0, syscall.Errno(n), err
	}
	return 0, nil, fmt.Errorf("the delivery worker answered %q", s)
}

// RunWorker is the worker's main: it serves jobs from the socket on
// descriptor 3 until the parent closes it.
func RunWorker() int {
	conn := os.NewFile(3, "parent")
	buf := make([]byte, maxRequest)
	oob := make([]byte, syscall.CmsgSpace(3*4))
	for {
		n, oobn, _, _, err := syscall.Recvmsg(int(conn.Fd()), buf, oob, syscall.MSG_CMSG_CLOEXEC)
		if err != nil || n == 0 && oobn == 0 {
			return 0
		}
		files, ferr := receivedFiles(oob[:oobn])
		reply := ""
		if ferr != nil || len(files) != 3 {
			for _, f := range files {
				f.Close()
			}
			fmt.Fprintf(os.Stderr, "courierlocal worker: a job without its descriptors: %v\n", ferr)
			return 1
		}
		args := strings.Split(string(buf[:n]), "\x00")
		job, err := parseJob(args)
		if err == nil {
			err = syscall.Chdir(job.Home)
		}
		var errno syscall.Errno
		switch {
		case errors.As(err, &errno):
			reply = "E" + strconv.Itoa(int(errno))
		case err != nil:
			reply = "E" + strconv.Itoa(int(syscall.EINVAL))
		default:
			reply = "C" + strconv.Itoa(RunChild(args, files[0], files[1], files[2]))
		}
		for _, f := range files {
			f.Close()
		}
		if _, err := syscall.Write(int(conn.Fd()), []byte(reply)); err != nil {
			return 0
		}
	}
}

func receivedFiles(oob []byte) ([]*os.File, error) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var files []*os.File
	for _, m := range msgs {
		fds, err := syscall.ParseUnixRights(&m)
		if err != nil {
			return files, err
		}
		for _, fd := range fds {
			files = append(files, os.NewFile(uintptr(fd), "job"))
		}
	}
	return files, nil
}
