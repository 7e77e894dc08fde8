// Command pop3bench measures POP3 servers for issue #9, one at a time (the
// machine has 2 cores):
//
//  1. the maildrop session: log in, STAT, UIDL, RETR every message, QUIT,
//     on a maildrop of -msgs messages of -size bytes; the first session
//     (which moves new mail to cur/ and records sizes and UIDLs) and the
//     median of -runs further sessions;
//  2. logins per second: -clients clients at once, each connecting, logging
//     in with USER/PASS to an empty maildrop and quitting, for -duration.
//
// Targets:
//
//	ours     this tree in a temporary sandbox (scripts/sandbox.sh), POP3 on
//	         127.0.0.1:10110
//	courier  the real Courier 1.0.16 (Debian) on 127.0.0.1:1110, run with
//	         /work/shared/peers/{setup,start,stop}-courier.sh
//	dovecot  Dovecot unpacked in /opt/dovecot-x, on 127.0.0.1:11110, run with
//	         {setup,start,stop}-dovecot.sh
//
// Every target uses the accounts popbench@example.test (the maildrop) and
// bench@example.test (the logins) with the peers' password.
//
//	go run ./bench/pop3bench [-targets ours,courier,dovecot] [-msgs 1000] [-size 2048] [-runs 5] [-clients 50] [-duration 10s] [-setup]
//
// Runs as root: the peers' daemons and maildirs need it.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gocourier/courier/bench/internal/peer"
	"github.com/gocourier/courier/bench/internal/sandbox"
)

const (
	domain   = "example.test"
	password = "Peer-pw1"
	dropUser = "popbench@" + domain
	authUser = "bench@" + domain
)

type target struct {
	name    string
	addr    string
	maildir func(user string) string
	stop    func() error
}

type result struct {
	name        string
	first       time.Duration
	warm        time.Duration
	msgs        int
	logins      int
	loginErrors int
	duration    time.Duration
}

func main() {
	targets := flag.String("targets", "ours,courier,dovecot", "targets to measure, in this order")
	msgs := flag.Int("msgs", 1000, "messages in the maildrop")
	size := flag.Int("size", 2048, "message size in bytes")
	runs := flag.Int("runs", 5, "maildrop sessions after the first")
	clients := flag.Int("clients", 50, "clients logging in at once")
	duration := flag.Duration("duration", 10*time.Second, "length of the login test")
	setup := flag.Bool("setup", false, "run the peers' setup scripts first")
	peers := flag.String("peers", "/work/shared/peers", "directory of the peers' scripts")
	keep := flag.Bool("keep", false, "keep our sandbox tree")
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "pop3bench: run it as root: the peers' daemons and maildirs need it")
		os.Exit(1)
	}
	var results []result
	for _, name := range strings.Split(*targets, ",") {
		t, err := start(strings.TrimSpace(name), *peers, *setup, *keep)
		if err != nil {
			fmt.Fprintf(os.Stderr, "pop3bench: %s: %v\n", name, err)
			os.Exit(1)
		}
		r, err := measure(t, *msgs, *size, *runs, *clients, *duration)
		if serr := t.stop(); err == nil {
			err = serr
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "pop3bench: %s: %v\n", name, err)
			os.Exit(1)
		}
		results = append(results, r)
	}
	report(results, *msgs, *size, *clients)
}

func start(name, peers string, setup, keep bool) (*target, error) {
	if name != "ours" {
		stop, err := peer.Start(peers, name, setup)
		if err != nil {
			return nil, err
		}
		addr := "127.0.0.1:1110"
		if name == "dovecot" {
			addr = "127.0.0.1:11110"
		}
		return &target{name: name, addr: addr, stop: stop,
			maildir: func(u string) string { local, _, _ := strings.Cut(u, "@"); return peer.Maildir(name, local) }}, nil
	}
	// The peers' connection limits (setup-courier.sh).
	sb, err := sandbox.Start("pop3bench", nil, map[string]map[string]string{"pop3d": {"MAXDAEMONS": "200", "MAXPERIP": "200"}})
	if err != nil {
		return nil, err
	}
	dirs, err := sb.AddAccounts(password, dropUser, authUser)
	if err != nil {
		sb.Stop(keep)
		return nil, err
	}
	return &target{name: "ours", addr: "127.0.0.1:10110", maildir: func(u string) string { return dirs[u] },
		stop: func() error { return sb.Stop(keep) }}, nil
}

// fill empties a maildir (messages and the servers' index files) and
// delivers n messages into new/, owned as the maildir is.
func fill(dir string, n, size int) error {
	uid, gid, err := peer.EmptyMaildir(dir)
	if err != nil {
		return err
	}
	const line = "This is a line of the benchmark message body, 64 bytes long...\n"
	body := strings.Repeat(line, size/len(line)+1)[:size]
	host, _ := os.Hostname()
	t0 := time.Now().Unix() - int64(n)
	for i := 0; i < n; i++ {
		msg := fmt.Sprintf("Subject: pop3bench %d\nFrom: a@%s\n\n%s", i, domain, body)
		name := fmt.Sprintf("%d.M%06dP%d.%s,S=%d", t0+int64(i), i, os.Getpid(), host, len(msg))
		p := filepath.Join(dir, "new", name)
		if err := os.WriteFile(p, []byte(msg), 0o600); err != nil {
			return err
		}
		if err := os.Chown(p, uid, gid); err != nil {
			return err
		}
	}
	return nil
}

func measure(t *target, msgs, size, runs, clients int, duration time.Duration) (result, error) {
	r := result{name: t.name, msgs: msgs, duration: duration}
	if err := waitGreeting(t.addr); err != nil {
		return r, err
	}
	if err := fill(t.maildir(dropUser), msgs, size); err != nil {
		return r, err
	}
	if err := fill(t.maildir(authUser), 0, 0); err != nil {
		return r, err
	}
	var err error
	if r.first, err = dropSession(t.addr, msgs); err != nil {
		return r, fmt.Errorf("first maildrop session: %w", err)
	}
	var times []time.Duration
	for i := 0; i < runs; i++ {
		d, err := dropSession(t.addr, msgs)
		if err != nil {
			return r, err
		}
		times = append(times, d)
	}
	slices.Sort(times)
	if len(times) > 0 {
		r.warm = times[len(times)/2]
	}
	fmt.Fprintf(os.Stderr, "pop3bench: %s: maildrop session %v first, %v median\n", t.name, r.first, r.warm)
	var ok, bad atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(duration)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if err := loginOnce(t.addr); err != nil {
					bad.Add(1)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	r.logins, r.loginErrors = int(ok.Load()), int(bad.Load())
	fmt.Fprintf(os.Stderr, "pop3bench: %s: %d logins, %d errors in %v\n", t.name, r.logins, r.loginErrors, duration)
	return r, nil
}

func waitGreeting(addr string) error {
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err == nil {
			c.SetDeadline(time.Now().Add(5 * time.Second))
			line, err := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if err == nil && strings.HasPrefix(line, "+OK") {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no POP3 greeting on %s", addr)
		}
	}
}

type conn struct {
	c net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

func dial(addr, user string) (*conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(5 * time.Minute))
	p := &conn{c: c, r: bufio.NewReaderSize(c, 64<<10), w: bufio.NewWriter(c)}
	if _, err := p.ok(""); err != nil {
		c.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	if _, err := p.ok("USER " + user); err != nil {
		c.Close()
		return nil, err
	}
	if _, err := p.ok("PASS " + password); err != nil {
		c.Close()
		return nil, err
	}
	return p, nil
}

// ok sends a command (none when empty) and reads a +OK line.
func (p *conn) ok(cmd string) (string, error) {
	if cmd != "" {
		p.w.WriteString(cmd + "\r\n")
		if err := p.w.Flush(); err != nil {
			return "", err
		}
	}
	line, err := p.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(line, "+OK") {
		return "", fmt.Errorf("%s: %s", cmd, strings.TrimSpace(line))
	}
	return line, nil
}

// multi reads a multi-line answer to its dot and returns its line count.
func (p *conn) multi() (int, error) {
	n := 0
	for {
		line, err := p.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return n, err
		}
		if len(line) == 3 && line[0] == '.' {
			return n, nil
		}
		n++
	}
}

func dropSession(addr string, msgs int) (time.Duration, error) {
	start := time.Now()
	p, err := dial(addr, dropUser)
	if err != nil {
		return 0, err
	}
	defer p.c.Close()
	line, err := p.ok("STAT")
	if err != nil {
		return 0, err
	}
	var n, total int
	if _, err := fmt.Sscanf(line, "+OK %d %d", &n, &total); err != nil || n != msgs {
		return 0, fmt.Errorf("STAT: %q, want %d messages", strings.TrimSpace(line), msgs)
	}
	if _, err := p.ok("UIDL"); err != nil {
		return 0, err
	}
	if l, err := p.multi(); err != nil || l != msgs {
		return 0, fmt.Errorf("UIDL: %d lines, %v", l, err)
	}
	// RETR pipelined in batches, as fetchmail and other clients do.
	for i := 1; i <= msgs; i += 50 {
		last := min(i+49, msgs)
		for j := i; j <= last; j++ {
			fmt.Fprintf(p.w, "RETR %d\r\n", j)
		}
		if err := p.w.Flush(); err != nil {
			return 0, err
		}
		for j := i; j <= last; j++ {
			if _, err := p.ok(""); err != nil {
				return 0, fmt.Errorf("RETR %d: %w", j, err)
			}
			if _, err := p.multi(); err != nil {
				return 0, err
			}
		}
	}
	if _, err := p.ok("QUIT"); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

func loginOnce(addr string) error {
	p, err := dial(addr, authUser)
	if err != nil {
		return err
	}
	defer p.c.Close()
	_, err = p.ok("QUIT")
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("QUIT timed out")
	}
	return err
}

func report(rs []result, msgs, size, clients int) {
	fmt.Printf("\nPOP3, maildrop of %d messages of %d bytes; logins with %d clients at once\n\n", msgs, size, clients)
	fmt.Printf("| target | first session (s) | later sessions, median (s) | messages/s (later) | logins/s | login errors |\n|---|---|---|---|---|---|\n")
	for _, r := range rs {
		fmt.Printf("| %s | %.2f | %.2f | %.0f | %.1f | %d |\n", r.name, r.first.Seconds(), r.warm.Seconds(),
			float64(r.msgs)/r.warm.Seconds(), float64(r.logins)/r.duration.Seconds(), r.loginErrors)
	}
	var ours *result
	for i := range rs {
		if rs[i].name == "ours" {
			ours = &rs[i]
		}
	}
	if ours == nil {
		return
	}
	for _, r := range rs {
		if r.name == "ours" {
			continue
		}
		fmt.Printf("\nours / %s: first session %.2f×, later sessions %.2f×, logins/s %.2f×\n", r.name,
			r.first.Seconds()/ours.first.Seconds(), r.warm.Seconds()/ours.warm.Seconds(), float64(ours.logins)/float64(max(r.logins, 1)))
	}
}
