package queue

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// osexecCmd is a helper process with its output captured.
type osexecCmd struct {
	*exec.Cmd
	stdout, stderr bytes.Buffer
}

func newHelper(t *testing.T, dir string, first, count int) *osexecCmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := &osexecCmd{Cmd: exec.Command(exe, "-test.run=^TestHelperProcess$")}
	c.Env = append(os.Environ(), "GO_QUEUE_HELPER="+dir, "GO_QUEUE_FIRST="+strconv.Itoa(first), "GO_QUEUE_COUNT="+strconv.Itoa(count))
	c.Cmd.Stdout, c.Cmd.Stderr = &c.stdout, &c.stderr
	return c
}
