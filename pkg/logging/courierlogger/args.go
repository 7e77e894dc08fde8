// Package courierlogger is the courierlogger program (spec/couriertcpd.md
// §5, courierlogger(1)): it forwards lines from its standard input, or from
// the standard error of a program it runs, to syslog, one message per
// line, with the original's severity prefixes (ERR:, WARN:, ...), and
// runs that program as a daemon controlled through a pid file
// (pkg/logging/pidfile). cmd/courierlogger parses nothing itself and
// calls ParseArgs and Run; init scripts start authdaemond through it, and
// couriertcpd's -stderrlogger pipes protocol servers' standard error into it.
package courierlogger

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/gocourier/courier/pkg/logging"
)

// Mode is what courierlogger does.
type Mode int

// The modes.
const (
	Foreground Mode = iota // log standard input, or run Argv and log its standard error
	Start                  // -start: run Argv as a daemon
	Stop                   // -stop
	Restart                // -restart
)

// Config is a parsed command line.
type Config struct {
	Name     string // syslog ident
	Facility logging.Facility
	PIDFile  string
	User     string // -user=: name or uid; "" keeps it
	Group    string // -group=: name or gid; "" keeps it
	DropRoot bool   // run Argv under User/Group too
	Respawn  bool   // restart Argv when it ends
	Mode     Mode
	Argv     []string // program and arguments; empty: log standard input
}

// Usage is the original's usage text (its usage error goes to standard
// error with status 1; --help prints it to standard output).
const Usage = "Usage: courierlogger [-name=name] [-pid=pidfile] [-facility=type]\n" +
	"       [-start|-stop|-restart] [cmd [args...]]\n"

// ArgError is a command line error, worded as the original's.
type ArgError string

func (e ArgError) Error() string { return string(e) }

// Help is the --help text.
const Help = Usage + `
Sends each line of standard input, or of the standard error of cmd, to
syslog. A line starting with ERR:, WARN:, ALERT:, CRIT:, DEBUG:, INFO: or
NOTICE: is logged with that severity (else info).

  -name=name        syslog ident (default: the base name of cmd)
  -facility=type    mail (default), daemon, auth, authpriv, user, local0..local7, ...
  -pid=pidfile      with cmd: run as a daemon (-start is implied)
  -start            detach and run cmd; quietly does nothing if already running
  -stop             SIGTERM to the daemon (passed on to cmd), wait until it ends
  -restart          SIGHUP to the daemon, passed on to cmd, which is started
                    again if it ends
  -respawn          start cmd again 5 seconds after it ends
  -user=u -group=g  as root: switch to this user/group after starting cmd
  -droproot         start cmd as -user/-group too
  courierlogger name   log standard input under name
`

// ErrUsage is returned by ParseArgs for an empty command line.
var ErrUsage = errors.New("usage")

// ParseArgs parses the command line (without the program name) as the
// original does: options first, each -opt or -opt=value; the first word
// not starting with '-' begins the program to run. A single word that is
// not an option is the name of a standalone logger (the original's
// backward-compatible form "courierlogger NAME"). Error texts are the
// original's.
func ParseArgs(args []string) (Config, error) {
	c := Config{Facility: 2}
	if len(args) == 1 && !strings.HasPrefix(args[0], "-") {
		c.Name = args[0]
		return c, nil
	}
	if len(args) == 0 {
		return c, ErrUsage
	}
	i := 0
	for ; i < len(args) && strings.HasPrefix(args[i], "-"); i++ {
		a := args[i]
		val := func(prefix string) (string, bool) {
			return strings.CutPrefix(a, prefix)
		}
		if v, ok := val("-pid="); ok && v != "" {
			c.PIDFile = v
		} else if v, ok := val("-name="); ok && v != "" {
			c.Name = v
		} else if v, ok := val("-user="); ok {
			if v == "" {
				// The original would take this as uid 0.
				return c, errors.New("-user= needs a user name or uid")
			}
			c.User = v
		} else if v, ok := val("-group="); ok {
			if v == "" {
				return c, errors.New("-group= needs a group name or gid")
			}
			c.Group = v
		} else if a == "-droproot" {
			c.DropRoot = true
		} else if v, ok := val("-facility="); ok {
			f, err := logging.ParseFacility(v)
			if err != nil {
				return c, ArgError(fmt.Sprintf("Unknown facility name '%s'", v))
			}
			c.Facility = f
		} else if a == "-start" {
			c.Mode = Start
		} else if a == "-stop" {
			c.Mode = Stop
		} else if a == "-restart" {
			c.Mode = Restart
		} else if a == "-respawn" {
			c.Respawn = true
		} else {
			return c, ArgError(fmt.Sprintf("Unknown option '%s'", a))
		}
	}
	c.Argv = args[i:]
	if c.Mode != Foreground && c.PIDFile == "" {
		return c, errors.New("-pid argument required")
	}
	if c.Mode == Foreground && c.PIDFile != "" {
		c.Mode = Start
	}
	if c.Name == "" && c.Mode != Stop && c.Mode != Restart {
		if len(c.Argv) == 0 || c.Argv[0] == "" {
			return c, errors.New("-name option required for standalone logger")
		}
		c.Name = filepath.Base(c.Argv[0])
	}
	if c.Mode == Start && (len(c.Argv) == 0 || c.Argv[0] == "") {
		return c, errors.New("-start must be followed by a command to execute")
	}
	return c, nil
}
