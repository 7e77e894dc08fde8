// Package moduletest plays the scheduler's side of the module line protocol
// (pkg/module) against a real transport module program, for the tests of
// courierlocal and courierdsn: it starts the program with pipes, sends
// delivery lines, reads the answers, and checks that the module exits
// cleanly when its input ends.
package moduletest

import (
	"bufio"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gocourier/courier/pkg/module"
	"github.com/gocourier/courier/test/testenv"
)

// Proc is a running module.
type Proc struct {
	Cmd *exec.Cmd
	Log *testenv.SyncBuffer // the module's standard error
	in  io.WriteCloser
	out *bufio.Reader
	id  int
}

// Start runs the module program at path with exactly the environment env.
// The test's cleanup kills it if it still runs.
func Start(t testing.TB, path string, env []string) *Proc {
	t.Helper()
	p := &Proc{Cmd: exec.Command(path), Log: &testenv.SyncBuffer{}}
	p.Cmd.Env = env
	p.Cmd.Stderr = p.Log
	in, err := p.Cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.in, p.out = in, bufio.NewReader(out)
	t.Cleanup(func() {
		if p.Cmd.ProcessState == nil {
			p.in.Close()
			p.Cmd.Process.Kill()
			p.Cmd.Wait()
		}
	})
	return p
}

// Deliver sends one delivery line, with the next delivery id, and returns
// the module's answer, which must name that id.
func (p *Proc) Deliver(t testing.TB, d module.Delivery) module.Reply {
	t.Helper()
	p.id++
	d.ID = strconv.Itoa(p.id)
	line, err := d.Line()
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(p.Cmd.Path)
	if _, err := io.WriteString(p.in, line+"\n"); err != nil {
		t.Fatalf("writing to %s: %v\n%s", name, err, p.Log)
	}
	answer, err := p.out.ReadString('\n')
	if err != nil {
		t.Fatalf("reading %s's answer: %v\n%s", name, err, p.Log)
	}
	// Stricter than the scheduler, which reads the id up to a tab or
	// space: a module of this suite answers the id alone or the id, a tab
	// and text.
	id, text, _ := strings.Cut(strings.TrimSuffix(answer, "\n"), "\t")
	if id != d.ID {
		t.Fatalf("answer %q to delivery %s", answer, d.ID)
	}
	return module.Reply{ID: id, Text: text}
}

// Stop closes the module's input, as a departing scheduler does, and
// expects it to exit cleanly.
func (p *Proc) Stop(t testing.TB) {
	t.Helper()
	if p.Cmd.ProcessState != nil {
		return
	}
	p.in.Close()
	done := make(chan error, 1)
	go func() { done <- p.Cmd.Wait() }()
	name := filepath.Base(p.Cmd.Path)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("%s exited with %v\n%s", name, err, p.Log)
		}
	case <-time.After(60 * time.Second):
		p.Cmd.Process.Kill()
		t.Errorf("%s did not exit at the end of its input\n%s", name, p.Log)
	}
}
