package logging

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gocourier/courier/test/testenv"
)

// gramServer is a datagram socket standing in for /dev/log.
type gramServer struct {
	path string
	conn *net.UnixConn
	msgs chan string
}

func listenGram(t testing.TB, path string) *gramServer {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "log")
	}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	s := &gramServer{path: path, conn: c, msgs: make(chan string, 1000)}
	go func() {
		buf := make([]byte, 65536)
		for {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				close(s.msgs)
				return
			}
			s.msgs <- string(buf[:n])
		}
	}()
	t.Cleanup(func() { c.Close() })
	return s
}

func (s *gramServer) next(t testing.TB) string {
	t.Helper()
	select {
	case m, ok := <-s.msgs:
		if !ok {
			t.Fatal("syslog socket closed")
		}
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message arrived at the syslog socket")
	}
	return ""
}

var lineRE = regexp.MustCompile(`^<(\d+)>([A-Z][a-z][a-z] [ 123]\d \d\d:\d\d:\d\d) (\S+?)(\[(\d+)\])?: (.*)$`)

// parseLine splits a syslog line and checks its timestamp.
func parseLine(t testing.TB, line string) (pri int, ident string, pid int, msg string) {
	t.Helper()
	m := lineRE.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("not an RFC 3164 line: %q", line)
	}
	pri, _ = strconv.Atoi(m[1])
	ts, err := time.ParseInLocation(time.Stamp, m[2], time.Local)
	if err != nil {
		t.Fatalf("timestamp %q: %v", m[2], err)
	}
	now := time.Now()
	ts = ts.AddDate(now.Year(), 0, 0)
	if d := now.Sub(ts); d < -time.Hour || d > time.Hour {
		t.Errorf("timestamp %q is not the current time %v", m[2], now)
	}
	if m[5] != "" {
		pid, _ = strconv.Atoi(m[5])
	}
	return pri, m[3], pid, m[6]
}

func TestSyslogLines(t *testing.T) {
	s := listenGram(t, "")
	l := New(Options{Program: "testprog", Syslog: true, SocketPath: s.path, Level: slog.LevelDebug - 4})
	l.Info("hello world", "user", "alice", "reason", "two words", "n", 3, "empty", "", "err", errors.New("boom: x=1"))
	line := s.next(t)
	pri, ident, pid, msg := parseLine(t, line)
	if pri != 22 || ident != "testprog" || pid != os.Getpid() {
		t.Errorf("header of %q: pri %d ident %q pid %d", line, pri, ident, pid)
	}
	if want := `hello world user=alice reason="two words" n=3 empty="" err="boom: x=1"`; msg != want {
		t.Errorf("message\n got %q\nwant %q", msg, want)
	}
	want := fmt.Sprintf("<22>%s testprog[%d]: x", line[4:19], os.Getpid())
	l.Info("x")
	if got := s.next(t); got[19:] != want[19:] || got[:4] != "<22>" {
		t.Errorf("got %q want %q", got, want)
	}

	// Severities, mail facility: 2*8 + severity.
	for _, c := range []struct {
		level slog.Level
		pri   int
	}{
		{slog.LevelDebug, 23}, {slog.LevelInfo, 22}, {LevelNotice, 21}, {slog.LevelWarn, 20},
		{slog.LevelError, 19}, {LevelCrit, 18}, {LevelAlert, 17}, {LevelEmerg, 16}, {LevelEmerg + 10, 16}, {slog.LevelDebug - 4, 23},
	} {
		l.Log(context.Background(), c.level, "sev")
		if pri, _, _, _ := parseLine(t, s.next(t)); pri != c.pri {
			t.Errorf("level %v: PRI %d, want %d", c.level, pri, c.pri)
		}
	}

	// Other facilities.
	for fac, pri := range map[string]int{"local3": 19*8 + 3, "daemon": 3*8 + 3, "auth": 4*8 + 3, "mail": 2*8 + 3} {
		l := New(Options{Program: "p", Syslog: true, SocketPath: s.path, Facility: fac})
		l.Error("e")
		if got, _, _, _ := parseLine(t, s.next(t)); got != pri {
			t.Errorf("facility %s: PRI %d, want %d", fac, got, pri)
		}
	}

	// An unknown facility is reported and mail used.
	l = New(Options{Program: "p", Syslog: true, SocketPath: s.path, Facility: "bogus"})
	pri, _, _, msg = parseLine(t, s.next(t))
	if pri != 20 || !strings.Contains(msg, `unknown syslog facility "bogus"`) {
		t.Errorf("bogus facility: %d %q", pri, msg)
	}
	l.Info("after")
	if pri, _, _, _ := parseLine(t, s.next(t)); pri != 22 {
		t.Errorf("bogus facility did not fall back to mail: %d", pri)
	}

	// Levels below the minimum are not sent.
	l = New(Options{Program: "p", Syslog: true, SocketPath: s.path, Level: slog.LevelWarn})
	l.Info("dropped")
	l.Warn("kept")
	if _, _, _, msg := parseLine(t, s.next(t)); msg != "kept" {
		t.Errorf("got %q, want the warning only", msg)
	}
}

func TestAttrsGroupsEscapes(t *testing.T) {
	var buf bytes.Buffer
	l := New(Options{Program: "p", Stderr: true, Writer: &buf})
	l.With("a", 1).WithGroup("g").With("b", true).Info("line1\nline2\tx\x01", "c", "q\"uote", slog.Group("sub", "d", 2.5), "t", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), "u", "\xff", "eq", "a=b")
	l.WithGroup("").With().Info("plain", slog.Group("empty"), slog.Attr{})
	want := fmt.Sprintf("p[%d]: line1\\nline2\\tx\\x01 a=1 g.b=true g.c=\"q\\\"uote\" g.sub.d=2.5 g.t=2024-01-02T03:04:05Z g.u=\"\\xff\" g.eq=\"a=b\"\np[%[1]d]: plain\n", os.Getpid())
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

func TestStderrFormat(t *testing.T) {
	var buf bytes.Buffer
	l := New(Options{Program: "authdaemond", Writer: &buf, Level: slog.LevelDebug})
	l.Debug("d")
	l.Info("starting", "modules", "authuserdb authpam")
	l.Log(context.Background(), LevelNotice, "n")
	l.Warn("w")
	l.Error("cannot open", "file", "/etc/courier/userdb.dat")
	l.Log(context.Background(), LevelCrit, "c")
	l.Log(context.Background(), LevelAlert, "a")
	l.Log(context.Background(), LevelEmerg, "e")
	p := fmt.Sprintf("authdaemond[%d]: ", os.Getpid())
	want := p + "DEBUG: d\n" + p + "starting modules=\"authuserdb authpam\"\n" + p + "NOTICE: n\n" + p + "WARN: w\n" +
		p + "ERR: cannot open file=/etc/courier/userdb.dat\n" + p + "CRIT: c\n" + p + "ALERT: a\n" + p + "ALERT: e\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
	// Default program name: the executable's base name.
	buf.Reset()
	New(Options{Writer: &buf}).Info("x")
	if want := fmt.Sprintf("%s[%d]: x\n", filepath.Base(os.Args[0]), os.Getpid()); buf.String() != want {
		t.Errorf("got %q want %q", buf.String(), want)
	}
}

// openPty returns both ends of a new pseudo-terminal.
func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	master = os.NewFile(uintptr(fd), "ptmx")
	t.Cleanup(func() { master.Close() })
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slave.Close() })
	return master, slave
}

func TestStderrTerminalTimestamp(t *testing.T) {
	master, slave := openPty(t)
	New(Options{Program: "prog", Writer: slave}).Warn("on a terminal")
	line, err := bufio.NewReader(master).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^[A-Z][a-z][a-z] [ 123]\d \d\d:\d\d:\d\d prog\[` + strconv.Itoa(os.Getpid()) + `\]: WARN: on a terminal\r\n$`)
	if !re.MatchString(line) {
		t.Errorf("terminal line %q", line)
	}
}

func TestStreamSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(got)
			return
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		var all []byte
		buf := make([]byte, 4096)
		for bytes.Count(all, []byte{0}) < 2 {
			n, err := c.Read(buf)
			all = append(all, buf[:n]...)
			if err != nil {
				break
			}
		}
		got <- all
	}()
	l := New(Options{Program: "sp", Syslog: true, SocketPath: path})
	l.Info("one")
	l.Error("two")
	data := <-got
	parts := strings.Split(string(data), "\x00")
	if len(parts) != 3 || parts[2] != "" {
		t.Fatalf("stream data %q: want two NUL-terminated messages", data)
	}
	if pri, _, _, msg := parseLine(t, parts[0]); pri != 22 || msg != "one" {
		t.Errorf("first %q", parts[0])
	}
	if pri, _, _, msg := parseLine(t, parts[1]); pri != 19 || msg != "two" {
		t.Errorf("second %q", parts[1])
	}
}

func TestReconnect(t *testing.T) {
	s := listenGram(t, "")
	var errBuf bytes.Buffer
	l := New(Options{Program: "rc", Syslog: true, SocketPath: s.path, Writer: &errBuf})
	l.Info("before")
	if _, _, _, msg := parseLine(t, s.next(t)); msg != "before" {
		t.Fatalf("got %q", msg)
	}
	// The system logger restarts: a new socket at the same path.
	s.conn.Close()
	os.Remove(s.path)
	s2 := listenGram(t, s.path)
	l.Info("after")
	if _, _, _, msg := parseLine(t, s2.next(t)); msg != "after" {
		t.Fatalf("got %q", msg)
	}
	if errBuf.Len() != 0 {
		t.Errorf("reconnect wrote to stderr: %q", errBuf.String())
	}
}

func TestMissingSocketFallsBackToStderr(t *testing.T) {
	var buf bytes.Buffer
	path := filepath.Join(t.TempDir(), "nolog")
	l := New(Options{Program: "fb", Syslog: true, SocketPath: path, Writer: &buf})
	l.Error("first")
	l.Info("second")
	p := fmt.Sprintf("fb[%d]: ", os.Getpid())
	want := p + "WARN: cannot connect to the system logger at " + path + ": no such file or directory; logging to standard error until it is back\n" +
		p + "ERR: first\n" + p + "second\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
	// With standard error also selected, lines are not written twice.
	buf.Reset()
	New(Options{Program: "fb", Syslog: true, Stderr: true, SocketPath: path, Writer: &buf}).Info("once")
	if buf.String() != p+"once\n" {
		t.Errorf("got %q", buf.String())
	}
}

func TestWriteTimeout(t *testing.T) {
	// A system logger that never reads: sends must fail within the
	// timeout instead of blocking, then fail fast.
	path := filepath.Join(t.TempDir(), "log")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := NewSyslog(SyslogConfig{Ident: "wt", Path: path, WriteTimeout: 20 * time.Millisecond})
	var sendErr error
	for i := 0; i < 100000 && sendErr == nil; i++ {
		sendErr = s.Send(SevInfo, "filling the queue")
	}
	if sendErr == nil {
		t.Fatal("sending to a full socket never failed")
	}
	if !strings.Contains(sendErr.Error(), path) {
		t.Errorf("error does not name the socket: %v", sendErr)
	}
	if err := s.Send(SevInfo, "again"); err == nil || err.Error() != sendErr.Error() {
		t.Errorf("while down: %v, want %v", err, sendErr)
	}
}

func TestLongMessage(t *testing.T) {
	s := listenGram(t, "")
	l := New(Options{Program: "long", Syslog: true, SocketPath: s.path})
	msg := strings.Repeat("x", MaxMessage-4) + "é" + strings.Repeat("y", 100000)
	l.Info(msg)
	_, _, _, got := parseLine(t, s.next(t))
	if want := strings.Repeat("x", MaxMessage-4) + "..."; got != want {
		t.Errorf("got %d bytes ending %q, want %d bytes", len(got), got[len(got)-8:], len(want))
	}
	l.Info("next")
	if _, _, _, got := parseLine(t, s.next(t)); got != "next" {
		t.Errorf("after a long message: %q", got)
	}
}

func TestSocketPath(t *testing.T) {
	t.Setenv(SocketEnv, "/tmp/test-socket")
	if got := SocketPath(""); got != "/tmp/test-socket" {
		t.Errorf("with %s: %q", SocketEnv, got)
	}
	if got := SocketPath("/x"); got != "/x" {
		t.Errorf("explicit: %q", got)
	}
	t.Setenv(SocketEnv, "")
	if got := SocketPath(""); got != DefaultSocket {
		t.Errorf("default: %q", got)
	}
}

func TestParseFacility(t *testing.T) {
	for name, want := range map[string]Facility{"mail": 2, "local7": 23, "authpriv": 10, "kern": 0} {
		if f, err := ParseFacility(name); err != nil || f != want {
			t.Errorf("%s: %d %v", name, f, err)
		}
	}
	for _, name := range []string{"", "MAIL", "security", "console", "local8"} {
		if _, err := ParseFacility(name); err == nil {
			t.Errorf("%q accepted", name)
		}
	}
}

func TestConcurrent(t *testing.T) {
	s := listenGram(t, "")
	var buf testenv.SyncBuffer
	l := New(Options{Program: "cc", Syslog: true, Stderr: true, SocketPath: s.path, Writer: &buf})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			gl := l.With("g", g)
			for i := 0; i < 50; i++ {
				gl.Info("msg", "i", i)
			}
		}(g)
	}
	wg.Wait()
	for i := 0; i < 400; i++ {
		if _, _, _, msg := parseLine(t, s.next(t)); !strings.HasPrefix(msg, "msg g=") {
			t.Fatalf("got %q", msg)
		}
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 400 {
		t.Fatalf("%d stderr lines", len(lines))
	}
	for _, line := range lines {
		if !strings.HasPrefix(line, fmt.Sprintf("cc[%d]: msg g=", os.Getpid())) {
			t.Fatalf("interleaved line %q", line)
		}
	}
}

func BenchmarkSyslog(b *testing.B) {
	s := listenGram(b, "")
	go func() {
		for range s.msgs {
		}
	}()
	l := New(Options{Program: "bench", Syslog: true, SocketPath: s.path})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l.Info("delivered", "user", "alice", "size", 12345)
	}
}

func BenchmarkStderr(b *testing.B) {
	l := New(Options{Program: "bench", Writer: io.Discard})
	for i := 0; i < b.N; i++ {
		l.Info("delivered", "user", "alice", "size", 12345)
	}
}
