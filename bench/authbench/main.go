// Command authbench measures authdaemond through its socket: logins per
// second (AUTH login with md5-crypt passwords, like the peers' userdb
// setup) and the latency of logins and lookups (PRE), with 10,000 userdb
// accounts it creates. It runs our authdaemond (built from this tree with
// the sandbox layout) and, when courier-authdaemon is installed and we are
// root, the real one on the same accounts, one at a time, and prints both
// and the ratio.
//
//	go run ./bench/authbench [-accounts 10000] [-clients 8] [-duration 5s] [-daemons 5] [-login-cache-ttl 0]
//
// Our authdaemond remembers successful password checks (LOGIN_CACHE_TTL,
// default 5 minutes); -login-cache-ttl 0 measures it running crypt(3) on
// every login as the original does.
//
// The real authdaemond only knows its compiled-in paths, so it runs in a
// private mount namespace with temporary directories bound over
// /etc/courier and /run/courier/authdaemon; the machine's own Courier is
// not touched.
package main

import (
	"flag"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gocourier/courier/pkg/passwd"
)

const (
	realDaemon  = "/usr/lib/courier/courier-authlib/authdaemond"
	realMake    = "/usr/sbin/makeuserdb"
	realSockDir = "/run/courier/authdaemon"
	realEtc     = "/etc/courier"
	password    = "Peer-pw1"
)

func main() {
	accounts := flag.Int("accounts", 10000, "userdb accounts to create")
	clients := flag.Int("clients", 8, "concurrent clients")
	duration := flag.Duration("duration", 5*time.Second, "length of each measurement")
	daemons := flag.Int("daemons", 5, "the daemons setting of both authdaemonds")
	realOnly := flag.Bool("real-only", false, "measure only the real authdaemond")
	cacheTTL := flag.String("login-cache-ttl", "", "LOGIN_CACHE_TTL of our authdaemond (default: its default)")
	flag.Parse()
	if err := run(*accounts, *clients, *duration, *daemons, *realOnly, *cacheTTL); err != nil {
		fmt.Fprintln(os.Stderr, "authbench:", err)
		os.Exit(1)
	}
}

// result is one daemon's figures.
type result struct {
	name               string
	logins, lookups    float64 // per second
	loginP50, loginP99 time.Duration
	preP50, preP99     time.Duration
	loginCPU, preCPU   time.Duration // the daemon's CPU time per request
	errors             int64
}

func run(accounts, clients int, duration time.Duration, daemons int, realOnly bool, cacheTTL string) error {
	dir, err := os.MkdirTemp("", "authbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// One md5-crypt hash for every account, as the peers' setup does
	// (a fixed password; each login still runs the full md5-crypt).
	hash, err := passwd.Hash("md5", password)
	if err != nil {
		return err
	}
	var text strings.Builder
	for i := 0; i < accounts; i++ {
		fmt.Fprintf(&text, "user%05d@bench.test\tuid=5000|gid=5000|home=/srv/bench/%05d|mail=/srv/bench/%05d/Maildir|systempw=%s\n", i, i, i, hash)
	}
	rc := fmt.Sprintf("authmodulelist=\"authuserdb\"\ndaemons=%d\nDEFAULTOPTIONS=\"disableshared=1\"\n", daemons)
	ourRC := rc
	if cacheTTL != "" {
		ourRC += "LOGIN_CACHE_TTL=" + cacheTTL + "\n"
	}
	fmt.Printf("authbench: %d userdb accounts (md5-crypt), %d clients, %v per measurement, daemons=%d, %d CPUs, our LOGIN_CACHE_TTL %s\n",
		accounts, clients, duration, daemons, numCPU(), map[bool]string{true: "default (5m)", false: cacheTTL}[cacheTTL == ""])

	var results []result
	if !realOnly {
		ours, err := startOurs(dir, ourRC, text.String())
		if err != nil {
			return err
		}
		r := measure("ours", ours, accounts, clients, duration)
		ours.stop()
		results = append(results, r)
	}
	if _, err := os.Stat(realDaemon); err == nil && os.Geteuid() == 0 {
		real, err := startReal(dir, rc, text.String())
		if err != nil {
			return err
		}
		r := measure("real", real, accounts, clients, duration)
		real.stop()
		results = append(results, r)
	} else {
		fmt.Println("real authdaemond: not measured (needs root and the Debian package courier-authdaemon)")
	}
	fmt.Printf("\n%-6s %10s %10s %10s %10s %10s %10s %10s %10s %7s\n", "daemon", "logins/s", "login p50", "login p99", "login CPU",
		"lookups/s", "PRE p50", "PRE p99", "PRE CPU", "errors")
	for _, r := range results {
		fmt.Printf("%-6s %10.0f %10s %10s %10s %10.0f %10s %10s %10s %7d\n", r.name, r.logins, r.loginP50, r.loginP99, r.loginCPU,
			r.lookups, r.preP50, r.preP99, r.preCPU, r.errors)
	}
	fmt.Println("(CPU: the daemon's own CPU time per request, all its processes)")
	if len(results) == 2 && results[1].logins > 0 {
		fmt.Printf("\nours/real: logins %.2fx, lookups %.2fx\n", results[0].logins/results[1].logins, results[0].lookups/results[1].lookups)
	}
	return nil
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(b), "processor\t:")
}

// measure runs logins, then lookups, each for duration with clients
// concurrent connections' worth of load, and reads the CPU time the daemon
// (pid and its children) used for each.
func measure(name string, s *server, accounts, clients int, duration time.Duration) result {
	r := result{name: name}
	var errs atomic.Int64
	var firstErr atomic.Value
	phase := func(op func(user string, buf []byte) error) (float64, time.Duration, time.Duration, time.Duration) {
		var mu sync.Mutex
		var lat []time.Duration
		cpu0 := treeCPU(s.cmd.Process.Pid)
		end := time.Now().Add(duration)
		var wg sync.WaitGroup
		for w := 0; w < clients; w++ {
			wg.Add(1)
			go func(seed int64) {
				defer wg.Done()
				rng := rand.New(rand.NewSource(seed))
				buf := make([]byte, 8192)
				var mine []time.Duration
				for time.Now().Before(end) {
					user := fmt.Sprintf("user%05d@bench.test", rng.Intn(accounts))
					t0 := time.Now()
					if err := op(user, buf); err != nil {
						errs.Add(1)
						firstErr.CompareAndSwap(nil, err)
						continue
					}
					mine = append(mine, time.Since(t0))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			}(int64(w))
		}
		wg.Wait()
		cpu := treeCPU(s.cmd.Process.Pid) - cpu0
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		if len(lat) == 0 {
			return 0, 0, 0, 0
		}
		pct := func(p float64) time.Duration { return lat[int(float64(len(lat)-1)*p)].Round(time.Microsecond) }
		return float64(len(lat)) / duration.Seconds(), pct(0.50), pct(0.99), (cpu / time.Duration(len(lat))).Round(time.Microsecond)
	}
	r.logins, r.loginP50, r.loginP99, r.loginCPU = phase(func(user string, buf []byte) error {
		return rawRequest(s.socket, loginRequest("imap", user, password), buf, []byte("\nPASSWD2="+password+"\n"))
	})
	r.lookups, r.preP50, r.preP99, r.preCPU = phase(func(user string, buf []byte) error {
		return rawRequest(s.socket, preRequest("imap", user), buf, []byte("\nADDRESS="+user+"\n"))
	})
	r.errors = errs.Load()
	if err, ok := firstErr.Load().(error); ok {
		fmt.Printf("%s: %d requests failed, the first with: %v\n", name, r.errors, err)
	}
	return r
}

// server is a running authdaemond.
type server struct {
	socket string
	cmd    *exec.Cmd
}

func (s *server) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
}

func waitSocket(path string, cmd *exec.Cmd) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if fi, err := os.Stat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return nil
		}
		if cmd.ProcessState != nil {
			return fmt.Errorf("%s exited", cmd.Path)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("no socket %s after 20 s", path)
}

// startOurs builds authdaemond and makeuserdb with the sandbox layout into
// a tree under dir and starts authdaemond there.
func startOurs(dir, rc, userdbText string) (*server, error) {
	root := filepath.Join(dir, "ours")
	for _, d := range []string{"sbin", "etc", "var/authdaemon", "lib"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return nil, err
		}
	}
	for _, prog := range []string{"authdaemond", "makeuserdb"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(root, "sbin", prog),
			"-ldflags", "-X github.com/gocourier/courier/pkg/layout.preset=sandbox", "./cmd/"+prog)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("building %s (run authbench from the module root): %v\n%s", prog, err, out)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "etc/authdaemonrc"), []byte(rc), 0o640); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(root, "etc/userdb"), []byte(userdbText), 0o600); err != nil {
		return nil, err
	}
	if out, err := exec.Command(filepath.Join(root, "sbin/makeuserdb")).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("makeuserdb: %v\n%s", err, out)
	}
	cmd := exec.Command(filepath.Join(root, "sbin/authdaemond"))
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{socket: filepath.Join(root, "var/authdaemon/socket"), cmd: cmd}
	if err := waitSocket(s.socket, cmd); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// startReal runs the real authdaemond on the same accounts, compiled by
// the real makeuserdb.
func startReal(dir, rc, userdbText string) (*server, error) {
	etc, run := filepath.Join(dir, "real-etc"), filepath.Join(dir, "real-run")
	os.MkdirAll(etc, 0o755)
	os.MkdirAll(run, 0o750)
	if err := os.WriteFile(filepath.Join(etc, "authdaemonrc"), []byte(rc), 0o640); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(etc, "userdb"), []byte(userdbText), 0o600); err != nil {
		return nil, err
	}
	binds := "mount --bind '" + etc + "' " + realEtc + " && mount --bind '" + run + "' " + realSockDir + " && "
	if out, err := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", binds+realMake).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("real makeuserdb: %v\n%s", err, out)
	}
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c",
		binds+"set -a; . "+realEtc+"/authdaemonrc; exec "+realDaemon)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{socket: filepath.Join(run, "socket"), cmd: cmd}
	if err := waitSocket(s.socket, cmd); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}
