package access

import (
	"fmt"
	"io"
	"syscall"

	"github.com/gocourier/courier/pkg/config"
	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/pkg/logging/pidfile"
)

// MakeUsage is the help text of makesmtpaccess and makesmtpaccess-msa.
const MakeUsage = `Usage: %[1]s

Compiles the access file named by ACCESSFILE in %[2]s (a file, or a
directory whose files are read in name order) into ACCESSFILE.dat, then
tells the running server (PIDFILE) to re-open it.
`

// MakeSMTPAccess is makesmtpaccess (msa false) and makesmtpaccess-msa:
// it reads ACCESSFILE and PIDFILE from the esmtpd configuration (and
// esmtpd-msa's), compiles the access file with umask 022, and signals
// the couriertcpd of PIDFILE, if one runs, to re-open it (spec
// couriertcpd.md §4).
func MakeSMTPAccess(l layout.Layout, msa bool, args []string, stdout, stderr io.Writer) int {
	name, files := "makesmtpaccess", []string{l.Config("esmtpd")}
	if msa {
		name, files = "makesmtpaccess-msa", append(files, l.Config("esmtpd-msa"))
	}
	if len(args) > 0 && (args[0] == "--help" || args[0] == "-h") {
		fmt.Fprintf(stdout, MakeUsage, name, files[len(files)-1])
		return 0
	}
	vf, err := config.ReadVarFiles(files, l.ScriptVars())
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	src := vf.Value("ACCESSFILE", "")
	if src == "" {
		fmt.Fprintf(stderr, "ERROR: No ACCESSFILE specified in %s\n", files[len(files)-1])
		return 1
	}
	old := syscall.Umask(0o022)
	n, err := Compile(src, src+".dat")
	syscall.Umask(old)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %s.dat not changed: %v\n", name, src, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: %s.dat: %d entries\n", name, src, n)
	if pid := vf.Value("PIDFILE", ""); pid != "" {
		if running, err := pidfile.Running(pid); err == nil && running {
			if err := pidfile.Restart(pid); err != nil {
				fmt.Fprintf(stderr, "%s: %s.dat is built, but the server of %s could not be told: %v\n", name, src, pid, err)
				return 1
			}
		}
	}
	return 0
}
