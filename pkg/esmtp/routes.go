package esmtp

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Route is where mail for a domain goes (esmtproutes, spec
// aliases-and-control-files.md §3).
type Route struct {
	Domain   string // "" for the default route, ".example.com" for subdomains
	Relay    string // host name (MX and A looked up) or "[ip]"; "" for the normal DNS lookup
	Port     int    // 0 for 25
	Security string // "", "STARTTLS", "REQUIRED" or "SMTPS"
	IPv4Only bool   // IPV4ONLY: connect to IPv4 addresses only
	IPv6Only bool   // IPV6ONLY: connect to IPv6 addresses only
	File     string
	Line     int
}

// ParseRoutes reads an esmtproutes file: "domain: relay[,port]
// [/SECURITY=STARTTLS|REQUIRED|SMTPS] [IPV4ONLY|IPV6ONLY]" lines, "#"
// comments. Errors name the file and line; unlike the original, which
// ignores options it does not know, a misspelt option is an error, so a
// route meant to demand TLS never silently sends in clear.
func ParseRoutes(file string, data []byte) ([]Route, error) {
	var out []Route
	sc := bufio.NewScanner(bytes.NewReader(data))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		dom, rest, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("%s:%d: expected \"domain: relay\" (a colon is missing)", file, n)
		}
		r := Route{Domain: strings.ToLower(strings.TrimSpace(dom)), File: file, Line: n}
		rest = strings.TrimSpace(rest)
		if i := strings.Index(rest, "/"); i >= 0 {
			opts := rest[i+1:]
			rest = strings.TrimSpace(rest[:i])
			// The original splits the options at blanks and commas.
			for _, opt := range strings.FieldsFunc(opts, func(c rune) bool { return c == ',' || c == ' ' || c == '\t' || c == '/' }) {
				name, val, _ := strings.Cut(opt, "=")
				switch name = strings.ToUpper(name); {
				case name == "IPV4ONLY" && val == "":
					r.IPv4Only = true
				case name == "IPV6ONLY" && val == "":
					r.IPv6Only = true
				case name == "SECURITY":
					switch v := strings.ToUpper(val); v {
					case "STARTTLS", "REQUIRED", "SMTPS":
						r.Security = v
					case "NONE":
					default:
						return nil, fmt.Errorf("%s:%d: /SECURITY=%s: expected STARTTLS, REQUIRED or SMTPS", file, n, val)
					}
				default:
					return nil, fmt.Errorf("%s:%d: unknown option /%s (known: SECURITY=STARTTLS, SECURITY=REQUIRED, SECURITY=SMTPS, IPV4ONLY, IPV6ONLY)", file, n, opt)
				}
			}
			if r.IPv4Only && r.IPv6Only {
				return nil, fmt.Errorf("%s:%d: IPV4ONLY and IPV6ONLY together leave no address to connect to", file, n)
			}
		}
		host, port, hasPort := strings.Cut(rest, ",")
		r.Relay = strings.TrimSpace(host)
		if hasPort {
			p, err := strconv.Atoi(strings.TrimSpace(port))
			if err != nil || p <= 0 || p > 65535 {
				return nil, fmt.Errorf("%s:%d: port %q is not a port number", file, n, port)
			}
			r.Port = p
		}
		if strings.HasPrefix(r.Relay, "[") {
			if !strings.HasSuffix(r.Relay, "]") || net.ParseIP(r.Relay[1:len(r.Relay)-1]) == nil {
				return nil, fmt.Errorf("%s:%d: %q is not an [IP address]", file, n, r.Relay)
			}
		} else if strings.ContainsAny(r.Relay, " \t[]") {
			return nil, fmt.Errorf("%s:%d: %q is not a host name", file, n, r.Relay)
		}
		if r.Security == "SMTPS" && r.Port == 0 {
			return nil, fmt.Errorf("%s:%d: /SECURITY=SMTPS needs the port (for example ,465)", file, n)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %v", file, n+1, err)
	}
	return out, nil
}

// Find returns the first route for domain: exact, then ".parent" entries
// for subdomains, then the default (""), in file order.
func Find(routes []Route, domain string) (Route, bool) {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	for _, r := range routes {
		switch {
		case r.Domain == domain,
			r.Domain == "",
			strings.HasPrefix(r.Domain, ".") && strings.HasSuffix(domain, r.Domain):
			return r, true
		}
	}
	return Route{}, false
}

// Credential is one line of esmtpauthclient: the login for one relay.
type Credential struct {
	Relay, User, Password string
}

// ParseAuthClient reads esmtpauthclient: "relay userid password" lines,
// blank-separated, "#" comments (spec aliases-and-control-files.md §4).
// The relay is the name the route or the MX record gives the host.
func ParseAuthClient(file string, data []byte) (map[string]Credential, error) {
	out := map[string]Credential{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("%s:%d: expected \"relay userid password\" (%d fields)", file, n, len(f))
		}
		key := strings.ToLower(f[0])
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("%s:%d: %s is listed twice", file, n, f[0])
		}
		out[key] = Credential{Relay: f[0], User: f[1], Password: f[2]}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %v", file, n+1, err)
	}
	return out, nil
}
