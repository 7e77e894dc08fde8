package services

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/gocourier/courier/pkg/layout"
)

// WrapperUsage is the help text of the esmtpd, esmtpd-msa and esmtpd-ssl
// commands.
const WrapperUsage = `Usage: %[1]s start|stop|restart

  start    start couriertcpd for the %[1]s service, detached, with the
           command line its configuration files give (as courierd would,
           plus -pid=<its PIDFILE>, and courierlogger taking its log to
           syslog)
  stop     stop it (couriertcpd -pid=<PIDFILE> -stop)
  restart  make it re-read the access database (couriertcpd -pid=<PIDFILE> -restart)

The *START variables (ESMTPDSTART, ...) are for courierd and the init
scripts; %[1]s starts the service when asked. When a running courierd
supervises the service (courier start, or the systemd units), %[1]s says
so and does nothing: use "courier stop" or "courier restart" instead.
`

// RunWrapper is the original's start/stop wrapper scripts (/usr/sbin/esmtpd,
// esmtpd-msa, /usr/lib/courier/esmtpd-ssl; spec couriertcpd.md §4) for the
// service name: start runs couriertcpd with the service's command line and
// -pid=PIDFILE, which makes it detach; stop and restart run couriertcpd
// -pid=PIDFILE -stop or -restart. Other verbs do nothing and succeed, as in
// the scripts. It returns the exit status.
func RunWrapper(l layout.Layout, name, verb string, stdout, stderr io.Writer) int {
	switch verb {
	case "--help", "-h", "-help":
		fmt.Fprintf(stdout, WrapperUsage, name)
		return 0
	case "start", "stop", "restart":
	default:
		return 0
	}
	if pid, ok := Supervised(l, os.Environ(), name); ok {
		fmt.Fprintf(stdout, "%s: courierd (%s) runs this service, so %s %s does nothing; use courier stop|restart, or set its *START variable to NO and run courier restart\n", name, pid, name, verb)
		return 0
	}
	cmd, err := Build(l, os.Environ(), name)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	if cmd.PidFile == "" {
		fmt.Fprintf(stderr, "%s: no pid file is configured (PIDFILE, or SSLPIDFILE for the -ssl services); %s start|stop|restart need one\n", name, name)
		return 1
	}
	var c *exec.Cmd
	switch verb {
	case "start":
		args := append([]string{"-pid=" + cmd.PidFile}, cmd.Args...)
		if cmd.Program == l.ProgramPath("couriertcpd") && !hasStderrLogger(cmd.Args) {
			// Our courieresmtpd logs to standard error where the
			// original called syslog(3); detached, outside courierd,
			// that is courierlogger, which sends it to syslog. (The
			// IMAP and POP3 commands start with courierlogger.)
			args = append([]string{"-stderrlogger=" + l.ProgramPath("courierlogger"), "-stderrloggername=" + name}, args...)
		}
		c = exec.Command(cmd.Program, args...)
		c.Env = cmd.Env
	case "stop":
		c = exec.Command(cmd.Program, "-pid="+cmd.PidFile, "-stop")
	case "restart":
		c = exec.Command(cmd.Program, "-pid="+cmd.PidFile, "-restart")
	}
	c.Dir = l.Prefix
	c.Stdout, c.Stderr = stdout, stderr
	if err := c.Run(); err != nil {
		fmt.Fprintf(stderr, "%s %s: %s: %v\n", name, verb, cmd.Program, err)
		return 1
	}
	return 0
}

func hasStderrLogger(args []string) bool {
	for _, a := range args {
		if strings.HasPrefix(a, "-stderrlogger=") {
			return true
		}
	}
	return false
}
