// Command imapbench measures IMAP servers for issue #8, one at a time (the
// machine has 2 cores), on an INBOX of -msgs messages:
//
//  1. single operations, each timed: SELECT; FETCH 1:* (UID FLAGS
//     RFC822.SIZE ENVELOPE); UID SEARCH on a header and on body text;
//     FETCH of -full whole messages; STORE on -store messages; COPY and
//     MOVE of -copy messages to another folder; EXPUNGE of -copy messages.
//     The sequence runs -rounds times, each on a freshly written INBOX,
//     and the median of each operation is reported: one timing on this
//     2-core machine varies by a quarter from run to run. The two FETCHes
//     are read by a minimal client of this tool (rawFetch) that only
//     finds the ends of lines and literals: go-imap's client spends about
//     230 ms parsing 10,000 envelopes, more than the servers take to send
//     them, which would measure the client;
//  2. -sessions concurrent sessions each running a mix (SELECT, FETCH of
//     flags and envelopes of 50 messages, a header SEARCH, a STORE, NOOP)
//     for -duration: operations per second and the latency percentiles;
//  3. the memory (summed resident sizes of the server's processes) with
//     -idle logged-in idle connections.
//
// Targets: ours (this tree in a sandbox, scripts/sandbox.sh, port 10143),
// courier (the real Courier 1.0.16, /work/shared/peers, port 1143),
// dovecot (unpacked in /opt/dovecot-x, port 11143). Account
// imapbench@example.test with the peers' password.
//
//	go run ./bench/imapbench [-targets ours,courier,dovecot] [-msgs 10000] [-rounds 3] [-sessions 100] [-duration 20s] [-idle 500] [-setup]
//
// Runs as root: the peers' daemons and maildirs need it.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/gocourier/courier/bench/internal/machine"
	"github.com/gocourier/courier/bench/internal/peer"
	"github.com/gocourier/courier/bench/internal/sandbox"
	"github.com/gocourier/courier/pkg/proc"
	"github.com/gocourier/courier/test/corpus"
)

const (
	domain   = "example.test"
	password = "Peer-pw1"
	user     = "imapbench@" + domain
)

type target struct {
	name    string
	addr    string
	maildir string
	procs   *regexp.Regexp // the server's processes, for memory
	stop    func() error
}

type op struct {
	name string
	d    time.Duration
}

type result struct {
	name     string
	ops      []op
	mixOps   int
	mixErrs  int
	duration time.Duration
	p50, p99 time.Duration
	idle     int
	idleRSS  int64 // bytes
}

func main() {
	targets := flag.String("targets", "ours,courier,dovecot", "targets to measure, in this order")
	msgs := flag.Int("msgs", 10000, "messages in the INBOX")
	rounds := flag.Int("rounds", 3, "rounds of the single operations (the median is reported)")
	full := flag.Int("full", 500, "whole messages fetched")
	store := flag.Int("store", 1000, "messages flagged by STORE")
	cp := flag.Int("copy", 500, "messages copied, moved and expunged")
	sessions := flag.Int("sessions", 100, "concurrent sessions in the mix")
	duration := flag.Duration("duration", 20*time.Second, "length of the mix")
	idle := flag.Int("idle", 500, "idle connections for the memory figure")
	setup := flag.Bool("setup", false, "run the peers' setup scripts first")
	peers := flag.String("peers", "/work/shared/peers", "directory of the peers' scripts")
	keep := flag.Bool("keep", false, "keep our sandbox tree")
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "imapbench: run it as root: the peers' daemons and maildirs need it")
		os.Exit(1)
	}
	var results []result
	for _, name := range strings.Split(*targets, ",") {
		machine.Settle()
		t, err := start(strings.TrimSpace(name), *peers, *setup, *keep, *idle)
		if err != nil {
			fmt.Fprintf(os.Stderr, "imapbench: %s: %v\n", name, err)
			os.Exit(1)
		}
		r, err := measure(t, *msgs, *rounds, *full, *store, *cp, *sessions, *duration, *idle)
		if serr := t.stop(); err == nil {
			err = serr
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "imapbench: %s: %v\n", name, err)
			os.Exit(1)
		}
		results = append(results, r)
	}
	report(results, *msgs, *sessions, *idle)
}

func start(name, peers string, setup, keep bool, idle int) (*target, error) {
	if name != "ours" {
		if name == "dovecot" {
			// Its setup script writes the configuration the limit
			// is added to, so it runs here and not in peer.Start.
			if err := dovecotUserIPLimit(peers, setup, idle+200); err != nil {
				return nil, err
			}
			setup = false
		}
		stop, err := peer.Start(peers, name, setup)
		if err != nil {
			return nil, err
		}
		t := &target{name: name, stop: stop, maildir: peer.Maildir(name, "imapbench")}
		if name == "courier" {
			t.addr, t.procs = "127.0.0.1:1143", regexp.MustCompile(`^(imapd|imaplogin|couriertcpd|couriertls)$`)
		} else {
			t.addr, t.procs = "127.0.0.1:11143", regexp.MustCompile(`^(imap|imap-login|dovecot|auth|config|anvil|log|stats)$`)
		}
		return t, nil
	}
	limit := strconv.Itoa(idle + 200)
	sb, err := sandbox.Start("imapbench", nil, map[string]map[string]string{"imapd": {"MAXDAEMONS": limit, "MAXPERIP": limit}})
	if err != nil {
		return nil, err
	}
	dirs, err := sb.AddAccounts(password, user)
	if err != nil {
		sb.Stop(keep)
		return nil, err
	}
	return &target{name: name, addr: "127.0.0.1:10143", maildir: dirs[user],
		procs: regexp.MustCompile(`^(imapd|imaplogin|couriertcpd)$`),
		stop:  func() error { return sb.Stop(keep) }}, nil
}

// dovecotConf is the configuration file of the peers' Dovecot.
const dovecotConf = "/etc/peer-dovecot/dovecot.conf"

// dovecotUserIPLimit lets the peers' Dovecot take n IMAP connections of one
// user from one address (its mail_max_userip_connections, default 10, would
// refuse the idle connections and the mix's sessions), running the setup
// script first when setup is set. The setting is appended once; the
// teardown script removes the file.
func dovecotUserIPLimit(peers string, setup bool, n int) error {
	if setup {
		if err := peer.Script(filepath.Join(peers, "setup-dovecot.sh")); err != nil {
			return err
		}
	}
	conf, err := os.ReadFile(dovecotConf)
	if err != nil {
		return fmt.Errorf("the peers' Dovecot is not set up (run with -setup): %w", err)
	}
	const marker = "# imapbench: connections per user and address"
	if strings.Contains(string(conf), marker) {
		return nil
	}
	f, err := os.OpenFile(dovecotConf, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "%s\nprotocol imap {\n  mail_max_userip_connections = %d\n}\n", marker, n)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// fill empties the maildir (messages, folders and index files) and
// delivers n messages into cur/, owned as the maildir is.
func fill(dir string, n int) error {
	uid, gid, err := peer.EmptyMaildir(dir)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	t0 := time.Now().Unix() - int64(n)
	for i := 0; i < n; i++ {
		msg := corpus.Message(i)
		name := fmt.Sprintf("%d.M%06dP%d.%s,S=%d:2,", t0+int64(i), i, os.Getpid(), host, len(msg))
		if i%3 == 0 {
			name += "S"
		}
		p := filepath.Join(dir, "cur", name)
		if err := os.WriteFile(p, msg, 0o600); err != nil {
			return err
		}
		if err := os.Chown(p, uid, gid); err != nil {
			return err
		}
	}
	return nil
}

func login(addr string) (*imapclient.Client, error) {
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		return nil, err
	}
	if err := c.Login(user, password).Wait(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func measure(t *target, msgs, rounds, full, store, cp, sessions int, duration time.Duration, idle int) (result, error) {
	r := result{name: t.name, duration: duration}
	if err := waitLogin(t.addr); err != nil {
		return r, err
	}
	times := map[string][]time.Duration{}
	var names []string
	for round := 1; round <= max(rounds, 1); round++ {
		fmt.Fprintf(os.Stderr, "imapbench: %s: round %d: writing %d messages\n", t.name, round, msgs)
		if err := fill(t.maildir, msgs); err != nil {
			return r, err
		}
		ops, err := singleOps(t, msgs, full, store, cp)
		if err != nil {
			return r, err
		}
		for _, o := range ops {
			if round == 1 {
				names = append(names, o.name)
			}
			times[o.name] = append(times[o.name], o.d)
			fmt.Fprintf(os.Stderr, "imapbench: %s: round %d: %s %v\n", t.name, round, o.name, o.d)
		}
	}
	for _, n := range names {
		ds := times[n]
		slices.Sort(ds)
		r.ops = append(r.ops, op{n, ds[len(ds)/2]})
	}
	if err := mix(t, &r, sessions, duration); err != nil {
		return r, err
	}
	return r, idleMemory(t, &r, idle)
}

// singleOps runs the timed single operations once on the INBOX of msgs
// messages that fill just wrote.
func singleOps(t *target, msgs, full, store, cp int) ([]op, error) {
	c, err := login(t.addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.Create("INBOX.Dest", nil).Wait(); err != nil {
		return nil, err
	}
	var raw *rawConn
	defer func() {
		if raw != nil {
			raw.close()
		}
	}()
	// rawOp times cmd on a raw connection with INBOX selected, made
	// (untimed) after the first SELECT.
	rawOp := func(cmd string, fetches int) (time.Duration, error) {
		if raw == nil {
			if raw, err = dialRaw(t.addr); err != nil {
				return 0, err
			}
		}
		start := time.Now()
		n, err := raw.command(cmd)
		d := time.Since(start)
		if err == nil && n != fetches {
			err = fmt.Errorf("%d FETCH responses, want %d", n, fetches)
		}
		return d, err
	}
	var expungeAlone time.Duration
	timed := func(fn func() error) (time.Duration, error) {
		start := time.Now()
		err := fn()
		return time.Since(start), err
	}
	steps := []struct {
		name string
		fn   func() (time.Duration, error)
	}{
		{"SELECT (first, with indexing)", func() (time.Duration, error) {
			return timed(func() error {
				d, err := c.Select("INBOX", nil).Wait()
				if err == nil && int(d.NumMessages) != msgs {
					err = fmt.Errorf("%d messages, want %d", d.NumMessages, msgs)
				}
				return err
			})
		}},
		{"SELECT (again)", func() (time.Duration, error) {
			return timed(func() error { _, err := c.Select("INBOX", nil).Wait(); return err })
		}},
		{"FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE)", func() (time.Duration, error) {
			return rawOp("FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE)", msgs)
		}},
		{"UID SEARCH SUBJECT budget", func() (time.Duration, error) {
			return timed(func() error {
				d, err := c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "budget"}}}, nil).Wait()
				if err == nil && len(d.AllUIDs()) != msgs/8 {
					err = fmt.Errorf("%d found", len(d.AllUIDs()))
				}
				return err
			})
		}},
		{"UID SEARCH BODY xylophone", func() (time.Duration, error) {
			return timed(func() error {
				d, err := c.UIDSearch(&imap.SearchCriteria{Body: []string{"xylophone"}}, nil).Wait()
				if err == nil && len(d.AllUIDs()) != msgs/100 {
					err = fmt.Errorf("%d found", len(d.AllUIDs()))
				}
				return err
			})
		}},
		{fmt.Sprintf("FETCH %d BODY.PEEK[]", full), func() (time.Duration, error) {
			return rawOp(fmt.Sprintf("FETCH 1:%d BODY.PEEK[]", full), full)
		}},
		{fmt.Sprintf("STORE %d +FLAGS (\\Flagged)", store), func() (time.Duration, error) {
			return timed(func() error {
				_, err := c.Store(rangeSet(1, store), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Collect()
				return err
			})
		}},
		{fmt.Sprintf("COPY %d", cp), func() (time.Duration, error) {
			return timed(func() error { _, err := c.Copy(rangeSet(1, cp), "INBOX.Dest").Wait(); return err })
		}},
		{fmt.Sprintf("MOVE %d", cp), func() (time.Duration, error) {
			return timed(func() error { _, err := c.Move(rangeSet(1, cp), "INBOX.Dest").Wait(); return err })
		}},
		{fmt.Sprintf("EXPUNGE %d", cp), func() (time.Duration, error) {
			return timed(func() error {
				if _, err := c.Store(rangeSet(1, cp), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect(); err != nil {
					return err
				}
				var err error
				expungeAlone, err = timed(func() error { _, err := c.Expunge().Collect(); return err })
				return err
			})
		}},
	}
	var ops []op
	for _, st := range steps {
		d, err := st.fn()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", st.name, err)
		}
		ops = append(ops, op{st.name, d})
	}
	ops = append(ops, op{fmt.Sprintf("EXPUNGE %d (alone)", cp), expungeAlone})
	c.Logout().Wait()
	return ops, nil
}

// rangeSet is a:b; b 0 is "*".
func rangeSet(a, b int) imap.SeqSet {
	var s imap.SeqSet
	s.AddRange(uint32(a), uint32(b))
	return s
}

func waitLogin(addr string) error {
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		c, err := login(addr)
		if err == nil {
			c.Logout().Wait()
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no IMAP login on %s: %v", addr, err)
		}
	}
}

// mix runs sessions concurrent sessions for duration, each repeating a
// mix of operations, and records each operation's latency.
func mix(t *target, r *result, sessions int, duration time.Duration) error {
	var mu sync.Mutex
	var lat []time.Duration
	errs := 0
	var wg sync.WaitGroup
	deadline := time.Now().Add(duration)
	for i := 0; i < sessions; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := login(t.addr)
			if err != nil {
				mu.Lock()
				errs++
				mu.Unlock()
				return
			}
			defer c.Close()
			ops := []func() error{
				func() error { _, err := c.Select("INBOX", nil).Wait(); return err },
				func() error {
					n := uint32(1 + (i*50)%5000)
					_, err := c.Fetch(rangeSet(int(n), int(n)+49), &imap.FetchOptions{UID: true, Flags: true, Envelope: true}).Collect()
					return err
				},
				func() error {
					_, err := c.Search(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: fmt.Sprintf("sender%d@", i%50)}}}, nil).Wait()
					return err
				},
				func() error {
					_, err := c.Store(imap.SeqSetNum(uint32(1+i)), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Collect()
					return err
				},
				func() error { return c.Noop().Wait() },
			}
			for k := 0; time.Now().Before(deadline); k++ {
				start := time.Now()
				err := ops[k%len(ops)]()
				d := time.Since(start)
				mu.Lock()
				if err != nil {
					errs++
				} else {
					lat = append(lat, d)
				}
				mu.Unlock()
			}
			c.Logout().Wait()
		}(i)
	}
	wg.Wait()
	slices.Sort(lat)
	r.mixOps, r.mixErrs = len(lat), errs
	if len(lat) > 0 {
		r.p50, r.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	fmt.Fprintf(os.Stderr, "imapbench: %s: mix: %d operations, %d errors, p50 %v, p99 %v\n", t.name, r.mixOps, errs, r.p50, r.p99)
	if r.mixOps == 0 {
		return errors.New("the mix ran no operation")
	}
	return nil
}

// idleMemory opens idle logged-in connections and sums the resident
// sizes of the server's processes.
func idleMemory(t *target, r *result, n int) error {
	var conns []*imapclient.Client
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < n; i++ {
		c, err := login(t.addr)
		if err != nil {
			fmt.Fprintf(os.Stderr, "imapbench: %s: idle connection %d: %v\n", t.name, i+1, err)
			break
		}
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			c.Close()
			break
		}
		conns = append(conns, c)
	}
	time.Sleep(2 * time.Second)
	r.idle = len(conns)
	r.idleRSS = rss(t.procs)
	fmt.Fprintf(os.Stderr, "imapbench: %s: %d idle connections, %.1f MiB resident\n", t.name, r.idle, float64(r.idleRSS)/(1<<20))
	return nil
}

// rss sums the resident sizes of the processes whose names match re.
func rss(re *regexp.Regexp) int64 {
	var total int64
	proc.Scan(func(p proc.Stat) bool {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p.PID))
		if !re.MatchString(strings.TrimSpace(string(comm))) {
			return true
		}
		status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.PID))
		for _, l := range strings.Split(string(status), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				total += kb << 10
			}
		}
		return true
	})
	return total
}

func report(rs []result, msgs, sessions, idle int) {
	fmt.Printf("\nIMAP, INBOX of %d messages\n\n| operation |", msgs)
	for _, r := range rs {
		fmt.Printf(" %s (ms) |", r.name)
	}
	fmt.Printf("\n|---|")
	for range rs {
		fmt.Printf("---|")
	}
	fmt.Println()
	if len(rs) == 0 {
		return
	}
	for i, o := range rs[0].ops {
		fmt.Printf("| %s |", o.name)
		for _, r := range rs {
			if i < len(r.ops) {
				fmt.Printf(" %.1f |", float64(r.ops[i].d.Microseconds())/1000)
			}
		}
		fmt.Println()
	}
	fmt.Printf("| mix, %d sessions: operations/s |", sessions)
	for _, r := range rs {
		fmt.Printf(" %.0f |", float64(r.mixOps)/r.duration.Seconds())
	}
	fmt.Printf("\n| mix: p50 / p99 latency (ms) |")
	for _, r := range rs {
		fmt.Printf(" %.1f / %.1f |", float64(r.p50.Microseconds())/1000, float64(r.p99.Microseconds())/1000)
	}
	fmt.Printf("\n| mix: errors |")
	for _, r := range rs {
		fmt.Printf(" %d |", r.mixErrs)
	}
	fmt.Printf("\n| memory with idle connections (MiB) |")
	for _, r := range rs {
		fmt.Printf(" %.1f (%d conns) |", float64(r.idleRSS)/(1<<20), r.idle)
	}
	fmt.Println()
}

// rawConn is the minimal client of the timed FETCHes: it logs in, selects
// INBOX, and reads a command's response only as far as needed to find its
// end, counting the untagged FETCH responses and skipping literals by their
// declared size.
type rawConn struct {
	c   net.Conn
	rd  *bufio.Reader
	tag int
}

func dialRaw(addr string) (*rawConn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	r := &rawConn{c: c, rd: bufio.NewReaderSize(c, 256<<10)}
	if _, err := r.rd.ReadSlice('\n'); err != nil {
		c.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	for _, cmd := range []string{fmt.Sprintf("LOGIN %q %q", user, password), "SELECT INBOX"} {
		if _, err := r.command(cmd); err != nil {
			c.Close()
			return nil, err
		}
	}
	return r, nil
}

func (r *rawConn) close() { r.c.Close() }

// command sends cmd and reads its response up to the tagged reply, which
// must be OK; it returns the number of untagged FETCH responses.
func (r *rawConn) command(cmd string) (int, error) {
	r.tag++
	tag := fmt.Sprintf("r%d", r.tag)
	if _, err := fmt.Fprintf(r.c, "%s %s\r\n", tag, cmd); err != nil {
		return 0, err
	}
	fetches := 0
	for {
		line, err := r.line()
		if err != nil {
			return fetches, fmt.Errorf("%s: %w", cmd, err)
		}
		switch {
		case bytes.HasPrefix(line, []byte("* ")) && bytes.Contains(line[:min(len(line), 24)], []byte(" FETCH ")):
			fetches++
		case bytes.HasPrefix(line, []byte(tag+" ")):
			if !bytes.HasPrefix(line[len(tag)+1:], []byte("OK")) {
				return fetches, fmt.Errorf("%s: %s", cmd, bytes.TrimSpace(line))
			}
			return fetches, nil
		}
	}
}

// line reads one response line, skipping the literals in it, and returns
// its first part (up to the first literal).
func (r *rawConn) line() ([]byte, error) {
	var first, tail []byte
	for {
		l, err := r.rd.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A line longer than the buffer: keep its start, and its
			// end, where a literal's {n} may begin, and read on.
			if first == nil {
				first = append([]byte(nil), l...)
			}
			tail = append(tail[:0], l[max(0, len(l)-32):]...)
			continue
		}
		if err != nil {
			return nil, err
		}
		if first == nil {
			first = append([]byte(nil), l...)
		}
		n, ok := literalSize(append(tail, l...))
		tail = tail[:0]
		if !ok {
			return first, nil
		}
		if _, err := r.rd.Discard(n); err != nil {
			return nil, err
		}
	}
}

// literalSize is n when line ends in {n}\r\n.
func literalSize(line []byte) (int, bool) {
	line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0, false
	}
	open := bytes.LastIndexByte(line, '{')
	if open < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(string(bytes.TrimSuffix(line[open+1:len(line)-1], []byte("+"))))
	return n, err == nil && n >= 0
}
