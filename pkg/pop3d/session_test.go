package pop3d

import (
	"bufio"
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

	"github.com/gocourier/courier/pkg/maildir"
)

// newMaildir makes a maildir with the given messages delivered to new/.
func newMaildir(t *testing.T, msgs ...string) *maildir.Dir {
	t.Helper()
	root := filepath.Join(t.TempDir(), "Maildir")
	if err := maildir.Make(root, 0o700, 0o700, false); err != nil {
		t.Fatal(err)
	}
	d, err := maildir.OpenDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range msgs {
		p, err := d.Deliver(strings.NewReader(m), maildir.DeliverOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// Distinct arrival seconds keep the order plain: within one second
		// the names sort by their microseconds as text (as Courier's do),
		// which is not the order of delivery.
		name := filepath.Base(p)
		name = strconv.Itoa(1_700_000_000+i) + name[strings.IndexByte(name, '.'):]
		if err := os.Rename(p, filepath.Join(filepath.Dir(p), name)); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// client is a test POP3 client on one end of a loopback connection whose
// other end a Session serves.
type client struct {
	t    *testing.T
	c    net.Conn
	r    *bufio.Reader
	done chan struct{}
	log  *lockedBuffer
}

// lockedBuffer collects the session's log lines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startSession(t *testing.T, path string, env map[string]string) *client {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &client{t: t, done: make(chan struct{}), log: &lockedBuffer{}}
	log := slog.New(slog.NewTextHandler(cl.log, nil))
	go func() {
		defer close(cl.done)
		// The listener is closed only after Accept: closed before, it
		// would reset the connection Dial already made.
		sc, err := l.Accept()
		l.Close()
		if err != nil {
			return
		}
		defer sc.Close()
		Serve(sc, path, func(k string) string { return env[k] }, log)
	}()
	if cl.c, err = net.Dial("tcp", l.Addr().String()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.c.Close(); <-cl.done })
	cl.r = bufio.NewReader(cl.c)
	return cl
}

func (c *client) line() string {
	c.t.Helper()
	c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("reading a reply: %v (got %q)", err, l)
	}
	if !strings.HasSuffix(l, "\r\n") {
		c.t.Fatalf("reply %q does not end with CRLF", l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

// cmd sends a command and returns the first reply line.
func (c *client) cmd(line string) string {
	c.t.Helper()
	fmt.Fprintf(c.c, "%s\r\n", line)
	return c.line()
}

// multi reads the lines of a multi-line reply up to the dot, unstuffed.
func (c *client) multi() []string {
	c.t.Helper()
	var out []string
	for {
		l := c.line()
		if l == "." {
			return out
		}
		out = append(out, strings.TrimPrefix(l, "."))
	}
}

func (c *client) expect(line, want string) {
	c.t.Helper()
	if got := c.cmd(line); got != want {
		c.t.Fatalf("%s: got %q, want %q", line, got, want)
	}
}

var messages = []string{
	"Subject: one\n\nfirst\n.dotted line\n",
	"Subject: two\nX: y\n\nline 1\nline 2\nline 3\n",
	"Subject: three\n\nno newline at the end",
}

func TestSessionCommands(t *testing.T) {
	d := newMaildir(t, messages...)
	c := startSession(t, d.Path, map[string]string{"AUTHENTICATED": "u@example.test", "TCPREMOTEIP": "192.0.2.1", "TCPREMOTEPORT": "4711"})
	if g := c.line(); g != "+OK logged in." {
		t.Fatalf("greeting %q", g)
	}
	// Sizes count CRLF; the CRLF sent after the last message's unterminated
	// line is not counted, as in the original.
	sizes := []int{len(messages[0]) + 4, len(messages[1]) + 6, len(messages[2]) + 2}
	total := sizes[0] + sizes[1] + sizes[2]
	c.expect("STAT", fmt.Sprintf("+OK 3 %d", total))
	c.expect("LIST", "+OK POP3 clients that break here, they violate STD53.")
	if got := c.multi(); strings.Join(got, ",") != fmt.Sprintf("1 %d,2 %d,3 %d", sizes[0], sizes[1], sizes[2]) {
		t.Fatalf("LIST: %q", got)
	}
	c.expect("list 2", fmt.Sprintf("+OK 2 %d", sizes[1]))
	c.expect("LIST 4", "-ERR Invalid message number.")
	c.expect("LIST 0", "-ERR Invalid message number.")
	c.expect("UIDL", "+OK")
	uidls := c.multi()
	re := regexp.MustCompile(`^(\d) UID(\d)-(\d+)$`)
	for i, u := range uidls {
		m := re.FindStringSubmatch(u)
		if m == nil || m[1] != fmt.Sprint(i+1) || m[2] != fmt.Sprint(i+1) {
			t.Fatalf("UIDL line %q", u)
		}
	}
	c.expect("UIDL 2", "+OK "+uidls[1])
	c.expect("RETR 1", fmt.Sprintf("+OK %d octets follow.", sizes[0]))
	body := c.multi()
	if strings.Join(body, "\n") != "Subject: one\n\nfirst\n.dotted line" {
		t.Fatalf("RETR 1: %q", body)
	}
	c.expect("TOP 2 1", "+OK headers follow.")
	if got := strings.Join(c.multi(), "|"); got != "Subject: two|X: y||line 1" {
		t.Fatalf("TOP 2 1: %q", got)
	}
	c.expect("TOP 2 0", "+OK headers follow.")
	if got := strings.Join(c.multi(), "|"); got != "Subject: two|X: y|" {
		t.Fatalf("TOP 2 0: %q", got)
	}
	c.expect("TOP 2", "-ERR Invalid command.")
	c.expect("RETR 3", fmt.Sprintf("+OK %d octets follow.", sizes[2]))
	if got := strings.Join(c.multi(), "|"); got != "Subject: three||no newline at the end" {
		t.Fatalf("RETR 3: %q", got)
	}
	c.expect("DELE 1", "+OK Deleted.")
	c.expect("DELE 1", "-ERR Invalid message number.")
	c.expect("RETR 1", "-ERR Invalid message number.")
	c.expect("STAT", fmt.Sprintf("+OK 2 %d", sizes[1]+sizes[2]))
	c.expect("LIST", "+OK POP3 clients that break here, they violate STD53.")
	if got := c.multi(); len(got) != 2 || got[0] != fmt.Sprintf("1 %d", sizes[1]) {
		t.Fatalf("LIST after DELE: %q", got)
	}
	c.expect("RSET", "+OK Resurrected.")
	c.expect("STAT", fmt.Sprintf("+OK 3 %d", total))
	c.expect("NOOP", "+OK Yup.")
	c.expect("XYZZY", "-ERR Invalid command.")
	c.expect("", "-ERR Invalid command.")
	c.expect("USER x", "-ERR Invalid command.")
	c.expect(strings.Repeat("A", 20000), "-ERR Command line too long.")
	c.expect("NOOP", "+OK Yup.")
	c.expect("CAPA", "+OK Here's what I can do:")
	if capa := strings.Join(c.multi(), ","); capa != "TOP,USER,LOGIN-DELAY 10,PIPELINING,UIDL,UTF8 USER,IMPLEMENTATION Courier Mail Server" {
		t.Fatalf("CAPA: %q", capa)
	}
	c.expect("DELE 2", "+OK Deleted.")
	c.expect("QUIT", "+OK Bye-bye.")
	<-c.done
	// RETR set the seen flag of 1 and 3; DELE 2 + QUIT removed 2.
	msgs, err := d.Messages()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[0].Flags() != "S" || msgs[1].Flags() != "S" {
		t.Fatalf("maildir after QUIT: %+v", msgs)
	}
	if !strings.Contains(c.log.String(), "LOGOUT, user=u@example.test, ip=[192.0.2.1], port=[4711], top=2, retr=2") {
		t.Errorf("log: %s", c.log.String())
	}
	// The UIDs are kept for the next session.
	c2 := startSession(t, d.Path, map[string]string{"AUTHENTICATED": "u"})
	c2.line()
	c2.expect("UIDL", "+OK")
	if got := c2.multi(); len(got) != 2 || got[0] != "1 "+strings.Fields(uidls[0])[1] || got[1] != "2 "+strings.Fields(uidls[2])[1] {
		t.Fatalf("UIDL in the next session: %q, first session had %q", got, uidls)
	}
}

func TestDroppedConnectionDeletesNothing(t *testing.T) {
	d := newMaildir(t, messages...)
	c := startSession(t, d.Path, map[string]string{"AUTHENTICATED": "u"})
	c.line()
	c.expect("DELE 1", "+OK Deleted.")
	c.expect("DELE 2", "+OK Deleted.")
	c.c.Close()
	<-c.done
	msgs, _ := d.Messages()
	if len(msgs) != 3 {
		t.Fatalf("%d messages left, want 3", len(msgs))
	}
	if !strings.Contains(c.log.String(), "DISCONNECTED, user=u") {
		t.Errorf("log: %s", c.log.String())
	}
}

func TestQuotaKeptOnDelete(t *testing.T) {
	d := newMaildir(t)
	if err := maildir.SetQuota(d.Path, maildir.QuotaSpec{Bytes: 100000}); err != nil {
		t.Fatal(err)
	}
	for _, m := range messages {
		if _, err := d.Deliver(strings.NewReader(m), maildir.DeliverOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	c := startSession(t, d.Path, map[string]string{"AUTHENTICATED": "u"})
	c.line()
	c.expect("DELE 1", "+OK Deleted.")
	c.expect("DELE 3", "+OK Deleted.")
	c.expect("QUIT", "+OK Bye-bye.")
	<-c.done
	st, ok, err := maildir.GetQuota(d.Path, maildir.QuotaSpec{})
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if st.Usage.Messages != 1 || st.Usage.Bytes != int64(len(messages[1])) {
		t.Fatalf("quota usage %+v after deleting two of three, want 1 message of %d bytes", st.Usage, len(messages[1]))
	}
}

func TestTwoSessions(t *testing.T) {
	d := newMaildir(t, messages...)
	a := startSession(t, d.Path, map[string]string{"AUTHENTICATED": "u"})
	a.line()
	b := startSession(t, d.Path, map[string]string{"AUTHENTICATED": "u"})
	b.line()
	a.expect("UIDL 1", strings.Replace(b.cmd("UIDL 1"), "+OK 1", "+OK 1", 1))
	a.expect("DELE 1", "+OK Deleted.")
	a.expect("QUIT", "+OK Bye-bye.")
	<-a.done
	b.expect("RETR 1", "-ERR Can't open the message file - it's gone!")
	if got := b.cmd("RETR 2"); !strings.HasPrefix(got, "+OK ") {
		t.Fatalf("RETR 2 in the second session: %q", got)
	}
	b.multi()
}

func TestUTF8Wrapper(t *testing.T) {
	d := newMaildir(t, "Subject: caf\xc3\xa9\n\nbody\n")
	c := startSession(t, d.Path, map[string]string{"AUTHENTICATED": "u", "UTF8": "0"})
	c.line()
	size := len("Subject: caf\xc3\xa9\n\nbody\n") + 3
	c.expect("LIST 1", fmt.Sprintf("+OK 1 %d", size))
	reply := c.cmd("RETR 1")
	lines := c.multi()
	var sent int
	for _, l := range lines {
		sent += len(l) + 2
	}
	if reply != fmt.Sprintf("+OK %d octets follow.", sent) {
		t.Fatalf("RETR of a wrapped message: %q, %d octets sent", reply, sent)
	}
	text := strings.Join(lines, "\n")
	if !strings.Contains(text, "Subject: Cannot display Unicode content") || !strings.Contains(text, "Content-Type: message/global") || !strings.Contains(text, "Subject: caf\xc3\xa9") {
		t.Fatalf("wrapped message:\n%s", text)
	}
	c.expect("UTF8", "+OK UTF8 enabled")
	c.expect("RETR 1", fmt.Sprintf("+OK %d octets follow.", size))
	if got := strings.Join(c.multi(), "|"); got != "Subject: caf\xc3\xa9||body" {
		t.Fatalf("RETR after UTF8: %q", got)
	}
}

func TestSizeListFile(t *testing.T) {
	d := newMaildir(t, messages...)
	c := startSession(t, d.Path, map[string]string{"AUTHENTICATED": "u"})
	c.line()
	c.expect("QUIT", "+OK Bye-bye.")
	<-c.done
	data, err := os.ReadFile(filepath.Join(d.Path, maildir.POP3ListFile))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 4 || !regexp.MustCompile(`^/3 4 \d+$`).MatchString(lines[0]) {
		t.Fatalf("courierpop3dsizelist:\n%s", data)
	}
	uidv := strings.Fields(lines[0])[2]
	for i, l := range lines[1:] {
		want := fmt.Sprintf(`^\S+:2, \d+ %d:%s:0$`, i+1, uidv)
		if !regexp.MustCompile(want).MatchString(l) {
			t.Errorf("line %q does not match %s", l, want)
		}
	}
	// A damaged list is replaced, with a new UIDVALIDITY, and logged.
	os.WriteFile(filepath.Join(d.Path, maildir.POP3ListFile), []byte("garbage\n"), 0o644)
	c = startSession(t, d.Path, map[string]string{"AUTHENTICATED": "u"})
	c.line()
	c.expect("UIDL 1", "+OK 1 UID1-"+fmt.Sprint(time.Now().Unix()))
	c.expect("QUIT", "+OK Bye-bye.")
	<-c.done
	if !strings.Contains(c.log.String(), "courierpop3dsizelist:1") {
		t.Errorf("log: %s", c.log.String())
	}
}

func TestLockedAndDisabled(t *testing.T) {
	d := newMaildir(t, messages...)
	home := t.TempDir()
	os.Chmod(home, 0o700|os.ModeSticky)
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"HOME": home}, "-ERR Your account is temporarily unavailable (+t bit set on home directory)."},
		{map[string]string{"OPTIONS": "disablepop3=1"}, "-ERR POP3 access disabled for this account."},
		{map[string]string{"OPTIONS": "disableinsecurepop3=1"}, "-ERR POP3 access disabled via insecure connection."},
	} {
		c := startSession(t, d.Path, tc.env)
		if got := c.line(); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.env, got, tc.want)
		}
		if _, err := c.r.ReadByte(); err != io.EOF {
			t.Errorf("%v: the connection stays open", tc.env)
		}
	}
	c := startSession(t, filepath.Join(t.TempDir(), "none"), nil)
	if got := c.line(); got != "-ERR Maildir invalid (no 'cur' directory)" {
		t.Errorf("missing maildir: %q", got)
	}
}
