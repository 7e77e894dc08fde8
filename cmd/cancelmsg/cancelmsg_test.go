package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/gocourier/courier/pkg/queue"
	"github.com/gocourier/courier/test/testenv"
)

// The installed program on a sandbox queue: X records and the answer.
func TestCancelmsg(t *testing.T) {
	sb := testenv.NewSandbox(t, "cancelmsg")
	q, err := queue.Open(sb.Layout.LocalstateDir, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	id, err := q.Submit(&queue.Envelope{Sender: "s@x.example", Source: "local", Recipients: []queue.Recipient{{Address: "r@y.example"}}}, strings.NewReader("Subject: x\n\nbody\n"))
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, string, int) {
		return testenv.Run(t, exec.Command(sb.Path("cancelmsg"), args...))
	}
	if out, errOut, code := run("--help"); code != 0 || !strings.HasPrefix(out, "Usage: cancelmsg <queue-id>") || errOut != "" {
		t.Errorf("--help: exit %d %q %q", code, out, errOut)
	}
	if out, errOut, code := run(); code != 0 || out+errOut != "" {
		t.Errorf("no arguments: exit %d %q %q", code, out, errOut)
	}
	if out, errOut, code := run("0000000000000001.000000006B0267A1.00007614"); code != 1 || out != "" || errOut != "Message not found.\n" {
		t.Errorf("unknown id: exit %d %q %q", code, out, errOut)
	}
	out, _, code := run(id.String(), "Cancelled by the admin")
	if code != 0 || out != "Message scheduled for cancellation.\n" {
		t.Errorf("cancel: exit %d %q", code, out)
	}
	data, err := os.ReadFile(q.ControlPath(id.Inode))
	if err != nil || !strings.HasSuffix(string(data), "\nXCancelled by the admin\n") {
		t.Errorf("control file: %v\n%s", err, data)
	}
	c, err := q.Load(id.Inode)
	if err != nil || !c.Cancelled() || c.CancelReasons[0] != "Cancelled by the admin" {
		t.Errorf("Load after cancel: %v %+v", err, c)
	}
}
