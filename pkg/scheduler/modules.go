package scheduler

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"

	"github.com/gocourier/courier/pkg/module"
	"github.com/gocourier/courier/pkg/privsep"
)

// Module is a running transport module as the scheduler sees it: its
// limits, its pipes, and the deliveries waiting for a slot.
type Module struct {
	module.Config
	Cmd *exec.Cmd

	in  chan string // lines for the writer goroutine
	out io.Reader

	running int
	perHost map[string]int
	hosts   []string               // hosts with waiting deliveries, round robin
	waiting map[string][]*delivery // per host, in order
}

// delivery is one line sent (or to be sent) to a module.
type delivery struct {
	msg  *message
	mod  *Module
	line module.Delivery
	dsn  string // report kind for the dsn module
}

// reply is a module's answer, or err when its output ended.
type reply struct {
	module *Module
	module.Reply
	err error
}

// StartOptions say how to start the modules.
type StartOptions struct {
	Program func(name string) string // the installed path of a program
	Env     []string                 // the courierd configuration's environment
	// Cred is the identity of modules other than local (the courier
	// user); courierlocal keeps root to start its per-recipient children.
	Cred   *privsep.Credential
	Stderr io.Writer
	Logger *slog.Logger
}

// StartModules starts one process per configured module whose program is
// installed. The others are logged; mail routed to them stays queued.
func StartModules(cs []module.Config, o StartOptions) ([]*Module, error) {
	var ms []*Module
	for _, c := range cs {
		path := o.Program(c.Program())
		if _, err := os.Stat(path); err != nil {
			o.Logger.Warn(fmt.Sprintf("module %s is configured in %s but %s is not installed; mail for it stays queued", c.Name, c.File, path))
			continue
		}
		m, err := startModule(c, path, o)
		if err != nil {
			StopModules(ms)
			return nil, err
		}
		o.Logger.Info(fmt.Sprintf("Started %s, pid=%d, maxdels=%d, maxhost=%d, maxrcpt=%d", path, m.Cmd.Process.Pid, c.MaxDels, c.MaxHost, c.MaxRcpt))
		ms = append(ms, m)
	}
	return ms, nil
}

func startModule(c module.Config, path string, o StartOptions) (*Module, error) {
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	stdoutR, stdoutW, err := os.Pipe()
	if err != nil {
		stdinR.Close()
		stdinW.Close()
		return nil, err
	}
	env := append([]string{}, o.Env...)
	env = append(env, "MAXDELS="+strconv.Itoa(c.MaxDels), "MAXHOST="+strconv.Itoa(c.MaxHost),
		"MAXRCPT="+strconv.Itoa(c.MaxRcpt), "COURIER_MODULE="+c.Name)
	child := &privsep.Child{Path: path, Env: env, Dir: "/", Stdin: stdinR, Stdout: stdoutW, Stderr: o.Stderr, Setpgid: true}
	if c.Name != "local" {
		child.Cred = o.Cred
		child.NoNewPrivs = true
	}
	cmd, err := child.Start()
	stdinR.Close()
	stdoutW.Close()
	if err != nil {
		stdinW.Close()
		stdoutR.Close()
		return nil, fmt.Errorf("starting module %s (%s): %w", c.Name, path, err)
	}
	m := &Module{Config: c, Cmd: cmd, in: make(chan string, 1024), out: stdoutR,
		perHost: map[string]int{}, waiting: map[string][]*delivery{}}
	go func() {
		w := bufio.NewWriter(stdinW)
		for line := range m.in {
			w.WriteString(line)
			if len(m.in) == 0 {
				if w.Flush() != nil {
					break
				}
			}
		}
		stdinW.Close()
		for range m.in {
		}
	}()
	return m, nil
}

// StopModules closes the modules' input, which tells each to finish what it
// runs and exit, and waits for them.
func StopModules(ms []*Module) {
	for _, m := range ms {
		close(m.in)
	}
	for _, m := range ms {
		m.Cmd.Wait()
	}
}

func (m *Module) send(line string) { m.in <- line }

// readReplies passes the module's answers to the scheduler's loop; end of
// output (the module died) is passed as an error.
func (m *Module) readReplies(to chan<- reply) {
	sc := bufio.NewScanner(m.out)
	for sc.Scan() {
		r, err := module.ParseReply(sc.Text())
		if err != nil {
			continue
		}
		to <- reply{module: m, Reply: r}
	}
	err := sc.Err()
	if err == nil {
		err = errors.New("end of its output: the module exited")
	}
	to <- reply{module: m, err: err}
}

// wait adds a delivery to the waiting line of its host.
func (m *Module) wait(d *delivery) {
	h := d.line.Host
	if len(m.waiting[h]) == 0 {
		m.hosts = append(m.hosts, h)
	}
	m.waiting[h] = append(m.waiting[h], d)
}

// next takes the next delivery that MAXDELS and MAXHOST allow, taking hosts
// in turn so that one busy host does not hold up the others.
func (m *Module) next() *delivery {
	if m.running >= max(m.MaxDels, 1) {
		return nil
	}
	for i := 0; i < len(m.hosts); i++ {
		h := m.hosts[i]
		if m.perHost[h] >= max(m.MaxHost, 1) {
			continue
		}
		q := m.waiting[h]
		d := q[0]
		if len(q) == 1 {
			delete(m.waiting, h)
			m.hosts = append(m.hosts[:i], m.hosts[i+1:]...)
		} else {
			m.waiting[h] = q[1:]
			// Rotate: this host goes to the back.
			m.hosts = append(append(m.hosts[:i:i], m.hosts[i+1:]...), h)
		}
		m.running++
		m.perHost[h]++
		return d
	}
	return nil
}

// done frees the slots of a delivery.
func (m *Module) done(d *delivery) {
	if m == nil {
		return
	}
	m.running--
	h := d.line.Host
	if m.perHost[h]--; m.perHost[h] <= 0 {
		delete(m.perHost, h)
	}
}
