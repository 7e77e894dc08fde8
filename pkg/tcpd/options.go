package tcpd

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Options is couriertcpd's command line (spec couriertcpd.md §1, tcpd.c
// init): single-dash options, "-name=value" or a bare "-name".
type Options struct {
	PidFile          string
	Stop, Restart    bool
	Access           string
	AccessLocal      bool
	Address          string
	Blocks           []Block
	DenyMsg          string
	Drop             []string // variables -drop tests; empty without -drop
	User, Group      string
	Listen           int // listen backlog; 0: the system's maximum
	MaxProcs         int
	MaxPerC          int
	MaxPerIP         int
	Warn             int
	NoDNS, NoIdent   bool
	Stderr           string
	StderrLogger     string
	StderrLoggerName string
	Exec             bool // ours: exec mode even for servers that take connections passed

	Ports   []Port
	Program string
	Args    []string
}

// Port is one item of PORTLIST: an address ("" for every address) and a
// port number.
type Port struct {
	Addr string
	Port int
}

// Block is one -block or -allow option.
type Block struct {
	Allow   bool
	Zone    string
	Display string // for VAR_ZONE
	Var     string // default BLOCK
	IP      net.IP // only this A record counts; nil for any
	Msg     string // -block: the message ("*": use the TXT record); -allow: non-empty asks for TXT
	HasMsg  bool
}

// The original's defaults (tcpd.c init).
const (
	defaultMaxProcs = 40
	defaultMaxPerIP = 4
)

// Usage is couriertcpd's help text.
const Usage = `Usage: couriertcpd [options] PORTLIST PROGRAM [ARG...]
       couriertcpd -pid=FILE -stop|-restart

Accepts TCP connections on every port of PORTLIST and gives each to
PROGRAM. PORTLIST is a comma list of ports, service names (smtp) or
ADDRESS.PORT items (127.0.0.1.25); without an address couriertcpd listens
on every IPv6 and IPv4 address.

In exec mode PROGRAM runs once per connection with the connection as its
standard input and output. In pass mode (the default for the suite's own
courieresmtpd, imapd, imaplogin, courierpop3d, courierpop3login, pop3d and pop3login) PROGRAM runs once
and couriertcpd hands it every connection over a unix socket.
"couriertls -server -tcpd PROGRAM ..." runs PROGRAM, which does TLS
itself. The environment of PROGRAM holds TCPREMOTEIP, TCPREMOTEPORT,
TCPREMOTEHOST, TCPREMOTEINFO, TCPLOCALIP, TCPLOCALPORT, TCPLOCALHOST, the
access file's variables and the block lists' BLOCK, BLOCK_IP, BLOCK_TXT,
BLOCK_ZONE.

  -pid=FILE               run in the background, controlled through FILE
  -stop, -restart         with -pid: stop that daemon, or make it re-open
                          its access file and a pass-mode courieresmtpd
                          re-read its configuration (SIGTERM, SIGHUP)
  -access=FILE.dat        the access database (makesmtpaccess)
  -accesslocal            also look up the local address and port
  -address=IP             listen on IP only (0: every address)
  -block=ZONE[=SHOWN][,VAR[/IP][,MSG]]   DNS block list: set VAR (BLOCK)
                          for listed clients; MSG * uses the TXT record
  -allow=ZONE[=SHOWN][,VAR[/IP][,]]      DNS allow list: set VAR to ""
  -drop[=VAR,...]         close connections for which VAR (BLOCK) is set
  -denymsg=TEXT           send TEXT to clients the access file denies
  -user=U -group=G        the identity to run as once the ports are bound
  -listen=N               listen backlog (default: the system's maximum)
  -maxprocs=N             connections at once (40); then stop accepting
  -maxperip=N             connections at once from one address (4; the
                          access file's MAXCPERIP overrides it)
  -maxperc=N              connections at once from one IPv4 /24 (maxprocs)
  -warn=N                 log a warning from N connections on
  -nodnslookup            no TCPREMOTEHOST, TCPLOCALHOST
  -noidentlookup          no TCPREMOTEINFO (RFC 1413 ident)
  -stderr=socket|FILE     PROGRAM's standard error: the connection, or FILE
  -stderrlogger=PROG      one PROG reads every PROGRAM's standard error
  -stderrloggername=NAME  the name given to it (PROGRAM's base name)
  -exec                   exec mode even for servers that take connections passed

The environment variable TCPD_RESOLVER=ADDRESS:PORT names the DNS server
to ask instead of those of /etc/resolv.conf.
`

// ParseArgs reads couriertcpd's arguments.
func ParseArgs(args []string) (*Options, error) {
	o := &Options{}
	var maxProcs, maxPerC, maxPerIP, warn, listen string
	ports := ""
	i := 0
	for ; i < len(args) && strings.HasPrefix(args[i], "-") && len(args[i]) > 1; i++ {
		name, val, hasVal := strings.Cut(args[i][1:], "=")
		need := func(dst *string) error {
			if !hasVal || val == "" {
				return fmt.Errorf("option -%s needs a value (-%s=...)", name, name)
			}
			*dst = val
			return nil
		}
		flag := func(dst *bool) error {
			if hasVal {
				return fmt.Errorf("option -%s takes no value", name)
			}
			*dst = true
			return nil
		}
		var err error
		switch name {
		case "pid":
			err = need(&o.PidFile)
		case "stop":
			err = flag(&o.Stop)
		case "restart":
			err = flag(&o.Restart)
		case "access":
			err = need(&o.Access)
		case "accesslocal":
			err = flag(&o.AccessLocal)
		case "address":
			err = need(&o.Address)
		case "block", "allow":
			var v string
			if err = need(&v); err == nil {
				var b Block
				if b, err = parseBlock(v, name == "allow"); err == nil {
					o.Blocks = append(o.Blocks, b)
				}
			}
		case "denymsg":
			err = need(&o.DenyMsg)
		case "drop":
			o.Drop = nil
			for _, v := range strings.Split(val, ",") {
				if v != "" {
					o.Drop = append(o.Drop, v)
				}
			}
			if len(o.Drop) == 0 {
				o.Drop = []string{"BLOCK"}
			}
		case "user":
			err = need(&o.User)
		case "group":
			err = need(&o.Group)
		case "listen":
			err = need(&listen)
		case "maxprocs":
			err = need(&maxProcs)
		case "maxperc":
			err = need(&maxPerC)
		case "maxperip":
			err = need(&maxPerIP)
		case "warn":
			err = need(&warn)
		case "nodnslookup":
			err = flag(&o.NoDNS)
		case "noidentlookup":
			err = flag(&o.NoIdent)
		case "stderr":
			err = need(&o.Stderr)
		case "stderrlogger":
			err = need(&o.StderrLogger)
		case "stderrloggername":
			err = need(&o.StderrLoggerName)
		case "exec":
			err = flag(&o.Exec)
		case "haproxy", "proxy":
			err = fmt.Errorf("option -%s (PROXY protocol) is not supported by this couriertcpd", name)
		default:
			err = fmt.Errorf("unknown option -%s (see couriertcpd --help)", name)
		}
		if err != nil {
			return nil, err
		}
	}
	if o.Stop || o.Restart {
		if o.PidFile == "" {
			return nil, errors.New("-stop and -restart need -pid=FILE: the pid file of the couriertcpd to signal")
		}
		if o.Stop && o.Restart {
			return nil, errors.New("give -stop or -restart, not both")
		}
		return o, nil
	}
	if len(args)-i < 2 {
		return nil, errors.New("missing PORTLIST and PROGRAM (see couriertcpd --help)")
	}
	ports, o.Program, o.Args = args[i], args[i+1], args[i+2:]
	if o.Program == "" {
		return nil, errors.New("PROGRAM is empty: name the program to run for each connection")
	}
	if o.AccessLocal && o.Access == "" {
		return nil, errors.New("-accesslocal requires -access")
	}
	var err error
	if o.MaxProcs, err = count("maxprocs", maxProcs, defaultMaxProcs); err != nil {
		return nil, err
	}
	if o.MaxPerC, err = count("maxperc", maxPerC, o.MaxProcs); err != nil {
		return nil, err
	}
	if o.MaxPerIP, err = count("maxperip", maxPerIP, defaultMaxPerIP); err != nil {
		return nil, err
	}
	if o.Listen, err = count("listen", listen, 0); err != nil {
		return nil, err
	}
	// tcpd.c: nprocs less a tenth and one, unless -warn is within 0..nprocs.
	o.Warn = o.MaxProcs - (o.MaxProcs/10 + 1)
	if warn != "" {
		n, err := strconv.Atoi(warn)
		if err != nil || n < 0 || n > o.MaxProcs {
			return nil, fmt.Errorf("option -warn=%s: not a number from 0 to -maxprocs (%d)", warn, o.MaxProcs)
		}
		o.Warn = n
	}
	if o.Address != "" && o.Address != "0" && net.ParseIP(o.Address) == nil {
		return nil, fmt.Errorf("option -address=%s: not an IP address (or 0 for every address)", o.Address)
	}
	if o.Ports, err = ParsePorts(ports, o.Address); err != nil {
		return nil, err
	}
	return o, nil
}

// count parses a positive number option; def when not given.
func count(name, v string, def int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("option -%s=%s: not a positive number", name, v)
	}
	return n, nil
}

// parseBlock reads ZONE[=DISPLAY][,VAR[/IP][,MSG]] (tcpd.c
// setup_block_allow).
func parseBlock(v string, allow bool) (Block, error) {
	opt := "-block"
	if allow {
		opt = "-allow"
	}
	b := Block{Allow: allow, Var: "BLOCK"}
	zone, rest, _ := strings.Cut(v, ",")
	b.Zone, b.Display, _ = strings.Cut(zone, "=")
	if b.Display == "" {
		b.Display = b.Zone
	}
	if b.Zone == "" || strings.ContainsAny(b.Zone, "/ \t") {
		return b, fmt.Errorf("%s=%s: expected a DNS zone first (%s=zen.spamhaus.org)", opt, v, opt)
	}
	if rest != "" {
		varIP, msg, hasMsg := strings.Cut(rest, ",")
		name, ip, hasIP := strings.Cut(varIP, "/")
		if name != "" {
			if !validVar(name) {
				return b, fmt.Errorf("%s=%s: %q is not a variable name", opt, v, name)
			}
			b.Var = name
		}
		if hasIP {
			if b.IP = net.ParseIP(ip).To4(); b.IP == nil {
				return b, fmt.Errorf("%s=%s: %q is not an IPv4 address", opt, v, ip)
			}
		}
		b.Msg, b.HasMsg = msg, hasMsg
	}
	return b, nil
}

func validVar(n string) bool {
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return n != ""
}

// ParsePorts reads PORTLIST (tcpd.c parseaddr): comma-separated items,
// each "PORT" or "ADDRESS.PORT" (split at the last dot), PORT a number or
// a service name. address (-address) applies to the items without an
// address or with address 0; "" and "0" mean every address.
func ParsePorts(list, address string) ([]Port, error) {
	if address == "0" {
		address = ""
	}
	var out []Port
	for _, item := range strings.Split(list, ",") {
		if item == "" {
			continue
		}
		host, port := "", item
		if i := strings.LastIndexByte(item, '.'); i >= 0 {
			host, port = item[:i], item[i+1:]
			if host != "0" && net.ParseIP(host) == nil {
				return nil, fmt.Errorf("PORTLIST item %q: %q is not an IP address", item, host)
			}
		}
		if host == "" || host == "0" {
			host = address
		}
		n, err := net.LookupPort("tcp", port)
		if err != nil || port == "" || n <= 0 || n > 65535 {
			return nil, fmt.Errorf("PORTLIST item %q: %q is not a port number or a known service", item, port)
		}
		out = append(out, Port{Addr: host, Port: n})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("PORTLIST %q names no port", list)
	}
	return out, nil
}
