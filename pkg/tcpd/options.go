package tcpd

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Options is couriertcpd's command line (spec couriertcpd.md §1).
type Options struct {
	PidFile          string
	Stop, Restart    bool
	Access           string
	Address          string
	Blocks           []Block
	DenyMsg          string
	Drop             string // variable -drop tests, "" when -drop is not given
	User, Group      string
	Listen           int
	MaxProcs         int
	MaxPerC          int
	MaxPerIP         int
	Warn             int
	NoDNS, NoIdent   bool
	Stderr           string
	StderrLogger     string
	StderrLoggerName string
	Exec             bool // our option: exec mode even for servers that take connections passed

	Ports   string
	Program string
	Args    []string
}

// Block is one -block or -allow option.
type Block struct {
	Allow   bool
	Zone    string
	Display string
	Var     string // default BLOCK
	IP      net.IP // only this A record counts; nil for any
	Msg     string // -block: the message ("*": ask for TXT); -allow: non-empty asks for TXT
	HasMsg  bool
}

// Usage is couriertcpd's help text.
const Usage = `Usage: couriertcpd [options] PORTLIST PROGRAM [ARG...]
       couriertcpd -pid=FILE -stop|-restart

Accepts TCP connections on every port of PORTLIST (port, service name or
address.port, comma separated) and runs PROGRAM for each: in exec mode with
the connection as standard input and output, in pass mode (the default for
the suite's servers: courieresmtpd, imapd, imaplogin, pop3d, pop3login) by
handing the connection to one long-running PROGRAM.

  -pid=FILE           run as a daemon controlled through FILE
  -stop, -restart     stop the daemon of -pid, or make it re-open its access file
  -access=FILE.dat    the access database (makesmtpaccess)
  -address=IP         listen on IP only (0: every address)
  -block=ZONE[=DISPLAY][,VAR[/IP][,MSG]]   DNS block list
  -allow=ZONE[=DISPLAY][,VAR[/IP][,TXT]]   DNS allow list
  -drop[=VAR]         close connections for which VAR (BLOCK) is set
  -denymsg=TEXT       send TEXT to clients the access file denies
  -user=U -group=G    the identity to run as after binding
  -listen=N           listen backlog
  -maxprocs=N -maxperip=N -maxperc=N -warn=N   connection limits
  -nodnslookup -noidentlookup                  skip those lookups
  -stderr=socket|FILE, -stderrlogger=PROG, -stderrloggername=NAME
  -exec               exec mode even for servers that take passed connections
`

// ParseArgs reads couriertcpd's arguments.
func ParseArgs(args []string) (*Options, error) {
	o := &Options{MaxProcs: 64, Listen: 0}
	i := 0
	for ; i < len(args) && strings.HasPrefix(args[i], "-"); i++ {
		name, val, hasVal := strings.Cut(args[i][1:], "=")
		need := func() (string, error) {
			if !hasVal {
				return "", fmt.Errorf("option -%s needs a value (-%s=...)", name, name)
			}
			return val, nil
		}
		num := func(dst *int) error {
			v, err := need()
			if err != nil {
				return err
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return fmt.Errorf("option -%s=%s: not a count", name, v)
			}
			*dst = n
			return nil
		}
		var err error
		switch name {
		case "pid":
			o.PidFile, err = need()
		case "stop":
			o.Stop = true
		case "restart":
			o.Restart = true
		case "access":
			o.Access, err = need()
		case "address":
			o.Address, err = need()
		case "block", "allow":
			var v string
			if v, err = need(); err == nil {
				var b Block
				if b, err = parseBlock(v, name == "allow"); err == nil {
					o.Blocks = append(o.Blocks, b)
				}
			}
		case "denymsg":
			o.DenyMsg, err = need()
		case "drop":
			o.Drop = "BLOCK"
			if hasVal && val != "" {
				o.Drop = val
			}
		case "user":
			o.User, err = need()
		case "group":
			o.Group, err = need()
		case "listen":
			err = num(&o.Listen)
		case "maxprocs":
			err = num(&o.MaxProcs)
		case "maxperc":
			err = num(&o.MaxPerC)
		case "maxperip":
			err = num(&o.MaxPerIP)
		case "warn":
			err = num(&o.Warn)
		case "nodnslookup":
			o.NoDNS = true
		case "noidentlookup":
			o.NoIdent = true
		case "stderr":
			o.Stderr, err = need()
		case "stderrlogger":
			o.StderrLogger, err = need()
		case "stderrloggername":
			o.StderrLoggerName, err = need()
		case "exec":
			o.Exec = true
		case "accesslocal", "haproxy", "proxy":
			err = fmt.Errorf("option -%s is not supported by this couriertcpd", name)
		default:
			err = fmt.Errorf("unknown option -%s (see couriertcpd --help)", name)
		}
		if err != nil {
			return nil, err
		}
	}
	if o.Stop || o.Restart {
		if o.PidFile == "" {
			return nil, errors.New("-stop and -restart need -pid=FILE")
		}
		return o, nil
	}
	if len(args)-i < 2 {
		return nil, errors.New("missing PORTLIST and PROGRAM (see couriertcpd --help)")
	}
	o.Ports, o.Program, o.Args = args[i], args[i+1], args[i+2:]
	if o.Warn == 0 {
		o.Warn = o.MaxProcs * 9 / 10
	}
	return o, nil
}

// parseBlock reads ZONE[=DISPLAY][,VAR[/IP][,MSG]] (tcpd.c setup_block_allow).
func parseBlock(v string, allow bool) (Block, error) {
	b := Block{Allow: allow, Var: "BLOCK"}
	zone, rest, _ := strings.Cut(v, ",")
	b.Zone, b.Display, _ = strings.Cut(zone, "=")
	if b.Display == "" {
		b.Display = b.Zone
	}
	if b.Zone == "" {
		return b, fmt.Errorf("-block/-allow=%s: no DNS zone", v)
	}
	if rest != "" {
		varIP, msg, hasMsg := strings.Cut(rest, ",")
		name, ip, hasIP := strings.Cut(varIP, "/")
		if name != "" {
			b.Var = name
		}
		if hasIP {
			if b.IP = net.ParseIP(ip).To4(); b.IP == nil {
				return b, fmt.Errorf("-block/-allow=%s: %q is not an IPv4 address", v, ip)
			}
		}
		b.Msg, b.HasMsg = msg, hasMsg
	}
	return b, nil
}

// listenAddrs turns PORTLIST and -address into addresses for net.Listen.
func listenAddrs(ports, address string) ([]string, error) {
	var out []string
	for _, item := range strings.Split(ports, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		host := ""
		if address != "" && address != "0" {
			host = address
		}
		port := item
		if i := strings.LastIndexByte(item, '.'); i >= 0 {
			if ip := net.ParseIP(item[:i]); ip != nil {
				host, port = item[:i], item[i+1:]
			}
		}
		n, err := strconv.Atoi(port)
		if err != nil {
			if n, err = net.LookupPort("tcp", port); err != nil {
				return nil, fmt.Errorf("port %q: not a number or a known service", port)
			}
		}
		if n <= 0 || n > 65535 {
			return nil, fmt.Errorf("port %q is out of range", port)
		}
		out = append(out, net.JoinHostPort(host, strconv.Itoa(n)))
	}
	if len(out) == 0 {
		return nil, errors.New("empty PORTLIST")
	}
	return out, nil
}
