// Package peer runs the scripts in /work/shared/peers that install,
// start and stop the real Courier and Dovecot for the load tools in
// bench/.
package peer

import (
	"fmt"
	"os"
	"os/exec"
)

// Script runs one of the peers' scripts. Its output goes to a file, not a
// pipe: the daemons it starts keep their standard output open, and a pipe
// would not end.
func Script(path string) error {
	f, err := os.CreateTemp("", "peer-script-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	cmd := exec.Command(path)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Run(); err != nil {
		out, _ := os.ReadFile(f.Name())
		return fmt.Errorf("%s: %v\n%s", path, err, out)
	}
	return nil
}
