package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/gocourier/courier/test/testenv"
)

func TestShowmodules(t *testing.T) {
	sb := testenv.NewSandbox(t, "showmodules")
	sb.WriteConfig(t, "module.dsn", "NAME=dsn\nPRIORITY=99\nPROG=./courierdsn\nMAXDELS=4\n", 0o644)
	sb.WriteConfig(t, "module.local", "NAME=local\nPRIORITY=10\nPROG=./courierlocal\nMAXDELS=10\nMAXHOST=4\n", 0o644)
	sb.WriteConfig(t, "module.local.dist", "NAME=ignored\n", 0o644)
	// The local module's program is installed (showmodules only checks that
	// it is there), the dsn module's is not.
	testenv.WriteFile(t, sb.Layout.ProgramPath("courierlocal"), "#!/bin/sh\n", 0o755)
	out, errOut, code := testenv.Run(t, exec.Command(sb.Path("showmodules")))
	if code != 0 || out != "" {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
	want := []string{
		"showmodules: INFO: Loading transport modules from " + sb.Layout.SysconfDir + "/module.*",
		"showmodules: INFO: GoCourier",
		"showmodules: INFO: Installing [0/0]",
		"showmodules: INFO: Installing local",
		"showmodules: INFO: Installed: module.local - GoCourier",
		"showmodules: INFO: local: " + sb.Layout.ProgramPath("courierlocal") + ", priority=10, maxdels=10, maxhost=4, maxrcpt=1",
		"showmodules: INFO: Installing dsn",
		"showmodules: INFO: Skipping dsn: " + sb.Layout.ProgramPath("courierdsn") + " is not installed (from " + sb.Layout.Config("module.dsn") + ")",
		"showmodules: INFO: Initializing local",
	}
	if len(lines) != len(want) {
		t.Fatalf("got:\n%s", errOut)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d: %q, want %q...", i+1, lines[i], w)
		}
	}
	// Another directory, in both forms of the option.
	other := t.TempDir()
	testenv.WriteFile(t, other+"/module.local", "NAME=local\nPRIORITY=10\nPROG=./courierlocal\nMAXDELS=3\n", 0o644)
	for _, args := range [][]string{{"-dir", other}, {"-dir=" + other}} {
		_, errOut, code := testenv.Run(t, exec.Command(sb.Path("showmodules"), args...))
		if code != 0 || !strings.Contains(errOut, "Loading transport modules from "+other+"/module.*") || !strings.Contains(errOut, "maxdels=3") {
			t.Errorf("showmodules %q: exit %d\n%s", args, code, errOut)
		}
	}
	out, errOut, code = testenv.Run(t, exec.Command(sb.Path("showmodules"), "-bogus"))
	if code != 1 || out != "" || errOut != "showmodules: ERR: Invalid argument: -bogus\n" {
		t.Errorf("bad option: exit %d %q %q", code, out, errOut)
	}
	sb.WriteConfig(t, "module.bad", "NAME=bad\nMAXDELS=many\n", 0o644)
	_, errOut, code = testenv.Run(t, exec.Command(sb.Path("showmodules")))
	if code != 1 || !strings.Contains(errOut, sb.Layout.Config("module.bad")) || !strings.HasSuffix(errOut, "showmodules: ERR: Transport module installation has FAILED.\n") {
		t.Errorf("bad module file: exit %d\n%s", code, errOut)
	}
}
