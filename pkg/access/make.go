package access

import (
	"fmt"
	"io"
	"strings"
	"syscall"

	"github.com/gocourier/courier/pkg/config"
	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/pkg/logging/pidfile"
)

// MakeUsage is the help text of makesmtpaccess, makesmtpaccess-msa and
// makeimapaccess.
const MakeUsage = `Usage: %[1]s

Compiles the access file named by %[3]s in %[2]s (a file, or a
directory whose files are read in name order) into %[3]s.dat, then
tells the running couriertcpd (the one of PIDFILE, if it runs) to re-open
it. Lines are KEY<TAB>VALUE: KEY an address (192.168.0.1), a prefix of
whole octets (192.168), an IPv6 address or prefix (:2001:0db8), a CIDR
network or a range (10.1.0.0/16, 10.0.0.5-10.0.0.9, blank-separated from
the value), or * for everybody else; VALUE is deny, or allow followed by
,NAME=value items for the server (allow,RELAYCLIENT).
`

// MakeSMTPAccess is makesmtpaccess (msa false) and makesmtpaccess-msa:
// it reads ACCESSFILE and PIDFILE from the esmtpd configuration (and
// esmtpd-msa's), compiles the access file with umask 022, and signals
// the couriertcpd of PIDFILE, if one runs, to re-open it (spec
// couriertcpd.md §4). Like makehosteddomains it prints nothing when all
// goes well, and one line naming the program and the problem otherwise.
func MakeSMTPAccess(l layout.Layout, msa bool, args []string, stdout, stderr io.Writer) int {
	name, files := "makesmtpaccess", []string{l.Config("esmtpd")}
	if msa {
		name, files = "makesmtpaccess-msa", append(files, l.Config("esmtpd-msa"))
	}
	return makeAccess(l, name, files, "ACCESSFILE", "", args, stdout, stderr)
}

// MakeIMAPAccess is makeimapaccess: MakeSMTPAccess for IMAPACCESSFILE
// (${sysconfdir}/imapaccess when unset) and PIDFILE of the imapd
// configuration.
func MakeIMAPAccess(l layout.Layout, args []string, stdout, stderr io.Writer) int {
	return makeAccess(l, "makeimapaccess", []string{l.Config("imapd")}, "IMAPACCESSFILE", l.Config("imapaccess"), args, stdout, stderr)
}

func makeAccess(l layout.Layout, name string, files []string, srcVar, defSrc string, args []string, stdout, stderr io.Writer) int {
	for _, a := range args {
		if a == "--help" || a == "-help" || a == "-h" {
			fmt.Fprintf(stdout, MakeUsage, name, strings.Join(files, " and "), srcVar)
			return 0
		}
	}
	vf, err := config.ReadVarFiles(files, l.ScriptVars())
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	src := vf.Value(srcVar, defSrc)
	if src == "" {
		// The original's words, "(-msa)" included.
		fmt.Fprintf(stderr, "ERROR: No %s specified in %s(-msa)\n", srcVar, files[0])
		return 1
	}
	old := syscall.Umask(0o022)
	_, err = Compile(src, src+".dat")
	syscall.Umask(old)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v (%s.dat is unchanged)\n", name, err, src)
		return 1
	}
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
