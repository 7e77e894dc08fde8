package authdaemon_test

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gocourier/courier/pkg/authlib"
	"github.com/gocourier/courier/pkg/logging/pidfile"
	"github.com/gocourier/courier/pkg/passwd"
	"github.com/gocourier/courier/pkg/proc"
	"github.com/gocourier/courier/test/testenv"
)

// Replies of the real authdaemond 0.71.4 to the transcript requests
// (spec/authdaemon.md §3, re-captured with the same userdb record).
const (
	wantPre   = "UID=999\nGID=995\nHOME=/home/vmail/alice\nADDRESS=alice@example.com\nNAME=Alice Liddell\nMAILDIR=/home/vmail/alice/Maildir\nQUOTA=1000000S\nPASSWD=$1$80vWTwQB$CHkHIE4.P4Xth2lSTvWCj.\nOPTIONS=disableimap=0,disablewebmail=1,disableshared=1\n.\n"
	wantLogin = "UID=999\nGID=995\nHOME=/home/vmail/alice\nADDRESS=alice@example.com\nNAME=Alice Liddell\nMAILDIR=/home/vmail/alice/Maildir\nQUOTA=1000000S\nPASSWD=$1$80vWTwQB$CHkHIE4.P4Xth2lSTvWCj.\nPASSWD2=secret\nOPTIONS=disableimap=0,disablewebmail=1,disableshared=1\n.\n"
	wantPop3  = "UID=999\nGID=995\nHOME=/home/vmail/alice\nADDRESS=alice@example.com\nNAME=Alice Liddell\nMAILDIR=/home/vmail/alice/Maildir\nQUOTA=1000000S\nPASSWD=$1$CfoJabcd$.fBu3ZXaIfnLcchipI0sp/\nPASSWD2=pop3only\nOPTIONS=disableimap=0,disablewebmail=1,disableshared=1\n.\n"
	wantCram  = "UID=999\nGID=995\nHOME=/home/vmail/alice\nADDRESS=alice@example.com\nMAILDIR=/home/vmail/alice/Maildir\nOPTIONS=disableimap=0,disablewebmail=1,disableshared=1\n.\n"
	wantEnum  = "# authuserdb\n\nalice@example.com\t999\t995\t/home/vmail/alice\t/home/vmail/alice/Maildir\tdisableimap=0,disablewebmail=1,disableshared=1\n.\n"
)

// cramData is the authdata of a CRAM-MD5 answer computed with key.
func cramData(user, key, challenge string) string {
	m := hmac.New(md5.New, []byte(key))
	m.Write([]byte(challenge))
	resp := user + " " + hex.EncodeToString(m.Sum(nil))
	return base64.StdEncoding.EncodeToString([]byte(challenge)) + "\n" + base64.StdEncoding.EncodeToString([]byte(resp)) + "\n"
}

func TestTranscripts(t *testing.T) {
	t.Parallel()
	s := newSandbox(t, transcriptRC, aliceUserdb)
	d := start(t, s)
	cram := cramData("alice@example.com", "secret", "<1234.5678@example.com>")
	tests := []struct {
		name string
		req  string
		want string
	}{
		{"pre", "PRE . imap alice@example.com\n", wantPre},
		{"pre blanks", "PRE  .   imap   alice@example.com\n", wantPre},
		{"pre courier", "PRE . courier alice@example.com\n", wantPre},
		{"pre module", "PRE authuserdb imap alice@example.com\n", wantPre},
		{"pre other module", "PRE authpam imap alice@example.com\n", "FAIL\n"},
		{"pre unknown", "PRE . imap nobody@example.com\n", "FAIL\n"},
		{"pre cr", "PRE . imap alice@example.com\r\n", "FAIL\n"},
		{"meta", "FOO=bar\nTCPREMOTEIP=192.0.2.7\nPRE . imap alice@example.com\n", wantPre},
		{"login", "AUTH 36\nimap\nlogin\nalice@example.com\nsecret\n", wantLogin},
		{"login remote ip", "TCPREMOTEIP=192.0.2.7\nAUTH 36\nimap\nlogin\nalice@example.com\nsecret\n", wantLogin},
		{"login no final newline", "AUTH 35\nimap\nlogin\nalice@example.com\nsecret", wantLogin},
		{"login trailing data", "AUTH 38\nimap\nlogin\nalice@example.com\nsecret\nXX", wantLogin},
		{"login pop3 systempw", "AUTH 36\npop3\nlogin\nalice@example.com\nsecret\n", "FAIL\n"},
		{"login pop3pw", "AUTH 38\npop3\nlogin\nalice@example.com\npop3only\n", wantPop3},
		{"login wrong", string(authReq("imap", "login", "alice@example.com\nwrong\n")), "FAIL\n"},
		{"login truncated password", "AUTH 30\nimap\nlogin\nalice@example.com\nsecret\n", "FAIL\n"},
		{"login no password", "AUTH 28\nimap\nlogin\nalice@example.com", "FAIL\n"},
		{"login upper-case type", string(authReq("imap", "LOGIN", "alice@example.com\nsecret\n")), "FAIL\n"},
		{"login upper-case user", string(authReq("imap", "login", "Alice@example.com\nsecret\n")), "FAIL\n"},
		{"plain", string(authReq("imap", "plain", "\x00alice@example.com\x00secret")), "FAIL\n"},
		{"empty authtype", "AUTH 6\nimap\n\n", "FAIL\n"},
		{"cram-md5", string(authReq("imap", "cram-md5", cram)), wantCram},
		{"cram-md5 pop3", string(authReq("pop3", "cram-md5", cram)), wantCram},
		{"cram-md5 wrong key", string(authReq("imap", "cram-md5", cramData("alice@example.com", "wrong", "<1@x>"))), "FAIL\n"},
		{"cram-sha1 no key", string(authReq("imap", "cram-sha1", cram)), "FAIL\n"},
		{"cram bad base64", string(authReq("imap", "cram-md5", "!!!\n!!!\n")), "FAIL\n"},
		{"enumerate", "ENUMERATE\n", wantEnum},
		{"enumerate extra", "ENUMERATE extra\n", wantEnum},
		{"passwd wrong", "PASSWD imap\talice@example.com\twrong\tx\n", "FAIL\n"},
		{"passwd control", "PASSWD imap\talice@example.com\tsecret\tnew\x01\n", "FAIL\n"},
		{"passwd unknown", "PASSWD imap\tnobody@example.com\tsecret\tx\n", "FAIL\n"},
		{"passwd two fields", "PASSWD imap\talice@example.com\n", ""},
		{"bogus", "BOGUS\n", ""},
		{"lower-case", "pre . imap alice@example.com\n", ""},
		{"pre short", "PRE . imap\n", ""},
		{"auth zero", "AUTH 0\n", ""},
		{"auth negative", "AUTH -1\n", ""},
		{"auth no authtype", "AUTH 10\nimap\nplain", ""},
		{"empty line", "\n", ""},
		{"binary", "\x00\x01\x02\xff\n", ""},
	}
	for _, tt := range tests {
		if got := string(raw(t, d.socket, []byte(tt.req))); got != tt.want {
			t.Errorf("%s: %q\n got %q\nwant %q", tt.name, tt.req, got, tt.want)
		}
	}
	d.alive(t)
}

// PASSWD rewrites systempw in the same scheme and refreshes the CRAM key in
// the userdb text, rebuilds the database, and the new password works at
// once [observed with the real authdaemond].
func TestPasswd(t *testing.T) {
	t.Parallel()
	s := newSandbox(t, transcriptRC, aliceUserdb)
	d := start(t, s)
	if got := string(raw(t, d.socket, []byte("PASSWD imap\talice@example.com\tsecret\tnewsecret\n"))); got != "OK\n" {
		t.Fatalf("PASSWD: %q\n%s", got, d.log)
	}
	text, err := os.ReadFile(s.Layout.Config("userdb"))
	if err != nil {
		t.Fatal(err)
	}
	line := strings.SplitN(string(text), "\n", 2)[0]
	fields := map[string]string{}
	for _, f := range strings.Split(strings.SplitN(line, "\t", 2)[1], "|") {
		k, v, _ := strings.Cut(f, "=")
		fields[k] = v
	}
	if sp := fields["systempw"]; !strings.HasPrefix(sp, "$1$") || sp == "$1$80vWTwQB$CHkHIE4.P4Xth2lSTvWCj." || !passwd.Check(sp, "newsecret") {
		t.Errorf("systempw after the change: %q", sp)
	}
	if key, _ := passwd.HMACKey("md5", "newsecret"); fields["hmac-md5pw"] != key {
		t.Errorf("hmac-md5pw after the change: %q, want %q", fields["hmac-md5pw"], key)
	}
	if fields["pop3pw"] != "$1$CfoJabcd$.fBu3ZXaIfnLcchipI0sp/" {
		t.Errorf("pop3pw changed by an imap password change: %q", fields["pop3pw"])
	}
	if got := string(raw(t, d.socket, authReq("imap", "login", "alice@example.com\nnewsecret\n"))); !strings.Contains(got, "PASSWD2=newsecret\n") {
		t.Errorf("login with the new password: %q", got)
	}
	if got := string(raw(t, d.socket, authReq("imap", "login", "alice@example.com\nsecret\n"))); got != "FAIL\n" {
		t.Errorf("login with the old password: %q", got)
	}
	if got := string(raw(t, d.socket, authReq("imap", "cram-md5", cramData("alice@example.com", "newsecret", "<9@x>")))); got != wantCram {
		t.Errorf("CRAM with the new password: %q", got)
	}
}

// The client library against our daemon: typed results, FAIL versus
// temporary failure, DEFDOMAIN, password change and enumeration.
func TestClient(t *testing.T) {
	t.Parallel()
	s := newSandbox(t, transcriptRC, aliceUserdb)
	d := start(t, s)
	c := d.client()
	ctx := context.Background()

	a, err := c.Pre(ctx, "imap", "alice@example.com")
	if err != nil || a.UID != 999 || a.GID != 995 || a.Passwd2 != "" || a.Name != "Alice Liddell" || !a.Options.Enabled("disableshared") || a.Options.Enabled("disableimap") {
		t.Fatalf("Pre: %+v %v", a, err)
	}
	if _, err := c.Login(ctx, "imap", "alice@example.com", "wrong"); !errors.Is(err, authlib.ErrFail) {
		t.Errorf("wrong password: %v", err)
	}
	c.DefDomain = "example.com"
	if a, err := c.Login(ctx, "imap", "alice", "secret"); err != nil || a.Address != "alice@example.com" || a.Passwd2 != "secret" {
		t.Errorf("login with DEFDOMAIN: %+v %v", a, err)
	}
	if a, err := c.CRAM(ctx, "imap", "md5", "<5@x>", "alice "+strings.Fields(mustDecode(cramData("alice@example.com", "secret", "<5@x>")))[1]); err != nil || a.Address != "alice@example.com" || a.HasName {
		t.Errorf("CRAM with DEFDOMAIN: %+v %v", a, err)
	}
	if a, err := c.Auth(ctx, "imap", "EXTERNAL", "alice@example.com"); err != nil || a.UID != 999 {
		t.Errorf("EXTERNAL: %+v %v", a, err)
	}
	var listed []authlib.EnumEntry
	if err := c.Enumerate(ctx, func(e authlib.EnumEntry) error { listed = append(listed, e); return nil }); err != nil || len(listed) != 1 || listed[0].Module != "authuserdb" || listed[0].Maildir != "/home/vmail/alice/Maildir" {
		t.Errorf("Enumerate: %+v %v", listed, err)
	}
	if err := c.Passwd(ctx, "imap", "alice@example.com", "wrong", "x"); !errors.Is(err, authlib.ErrFail) {
		t.Errorf("Passwd with a wrong password: %v", err)
	}
	if err := c.Passwd(ctx, "imap", "alice@example.com", "secret", "s3cond"); err != nil {
		t.Errorf("Passwd: %v", err)
	}
	if _, err := c.Login(ctx, "imap", "alice@example.com", "s3cond"); err != nil {
		t.Errorf("login after Passwd: %v", err)
	}

	// A broken database is a temporary failure: no reply, ErrTemporary.
	if err := os.WriteFile(s.Layout.Config("userdb.dat"), []byte("not a database"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = c.Pre(ctx, "imap", "alice@example.com")
	if !errors.Is(err, authlib.ErrTemporary) || errors.Is(err, authlib.ErrFail) {
		t.Errorf("Pre with a broken userdb.dat: %v", err)
	}
	if got := raw(t, d.socket, []byte("PRE . imap alice@example.com\n")); len(got) != 0 {
		t.Errorf("temporary failure answered %q", got)
	}
	// The log line travels through the daemon's stderr pipe, which may
	// deliver it after the client has seen the connection closed.
	for logged := time.Now().Add(10 * time.Second); !strings.Contains(d.log.String(), "temporary failure for alice@example.com"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(logged) {
			t.Errorf("the temporary failure is not logged:\n%s", d.log)
			break
		}
	}

	// No daemon: a temporary error naming the socket.
	c.Socket = filepath.Join(t.TempDir(), "socket")
	if _, err := c.Pre(ctx, "imap", "alice"); !errors.Is(err, authlib.ErrTemporary) || !strings.Contains(err.Error(), "is authdaemond running") {
		t.Errorf("no daemon: %v", err)
	}
}

func mustDecode(authdata string) string {
	lines := strings.Split(authdata, "\n")
	b, err := base64.StdEncoding.DecodeString(lines[1])
	if err != nil {
		panic(err)
	}
	return string(b)
}

// A peer that accepts and never answers costs the client its read timeout,
// then a temporary error; a cancelled context ends the wait at once.
func TestClientTimeouts(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "socket")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	c := authlib.NewClient()
	c.Socket = sock
	c.ReadTimeout = 200 * time.Millisecond
	if _, err := c.Pre(context.Background(), "imap", "alice"); !errors.Is(err, authlib.ErrTemporary) || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("silent peer: %v", err)
	}
	c.ReadTimeout = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := c.Pre(ctx, "imap", "alice"); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, authlib.ErrTemporary) {
		t.Errorf("cancelled context: %v", err)
	}
	t.Setenv("TIMEOUT_READ", "7")
	t.Setenv("TIMEOUT_SOCK", "3")
	t.Setenv("TIMEOUT_WRITE", "x")
	if c := authlib.NewClient(); c.ReadTimeout != 7*time.Second || c.ConnectTimeout != 3*time.Second || c.WriteTimeout != authlib.DefaultWriteTimeout {
		t.Errorf("TIMEOUT_* overrides: %+v", c)
	}
}

// Malformed, oversized, truncated, slow and binary requests get FAIL or a
// close, the daemon survives, and other clients are served meanwhile.
func TestHostileClients(t *testing.T) {
	t.Parallel()
	s := newSandbox(t, transcriptRC, aliceUserdb)
	d := start(t, s)

	if got := raw(t, d.socket, []byte("PRE . imap "+strings.Repeat("a", 9000)+"\n")); len(got) != 0 {
		t.Errorf("oversized line answered %q", got)
	}
	if got := raw(t, d.socket, []byte(strings.Repeat("X", 100000))); len(got) != 0 {
		t.Errorf("100 kB without newline answered %q", got)
	}
	if got := raw(t, d.socket, []byte("AUTH 8192\n"+strings.Repeat("x", 8192))); len(got) != 0 {
		t.Errorf("AUTH 8192 answered %q", got)
	}
	data := "imap\nlogin\nalice@example.com\nsecret\n"
	if got := string(raw(t, d.socket, []byte("AUTH 8191\n"+data+strings.Repeat("x", 8191-len(data))))); got != wantLogin {
		t.Errorf("AUTH 8191: %q", got)
	}
	if got := string(raw(t, d.socket, []byte("PRE . imap "+strings.Repeat("a", 8190-11)+"\n"))); got != "FAIL\n" {
		t.Errorf("8191-byte line: %q", got)
	}

	// Truncated: the client half-closes before the announced bytes.
	c, err := net.Dial("unix", d.socket)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("AUTH 36\nimap\nlogin\nali"))
	c.(*net.UnixConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if n, err := c.Read(make([]byte, 10)); n != 0 || err == nil {
		t.Errorf("truncated AUTH: read %d, %v", n, err)
	}
	c.Close()

	// Slow drip: one byte every 20 ms is within the per-read timeout.
	c, err = net.Dial("unix", d.socket)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []byte("PRE . imap alice@example.com\n") {
		c.Write([]byte{b})
		time.Sleep(20 * time.Millisecond)
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 4096)
	n, _ := c.Read(buf)
	if string(buf[:n]) != wantPre[:n] || n == 0 {
		t.Errorf("slow drip: %q", buf[:n])
	}
	c.Close()

	// Random binary requests.
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 200; i++ {
		b := make([]byte, rng.Intn(300))
		rng.Read(b)
		if rng.Intn(3) == 0 {
			b = append([]byte("AUTH "+strconv.Itoa(rng.Intn(50))+"\n"), b...)
		}
		if got := string(raw(t, d.socket, append(b, '\n'))); got != "" && got != "FAIL\n" {
			t.Fatalf("random request %q answered %q", b, got)
		}
	}
	d.alive(t)
	if got := string(raw(t, d.socket, []byte("PRE . imap alice@example.com\n"))); got != wantPre {
		t.Errorf("after the hostile clients: %q", got)
	}
}

// A client that sends nothing is dropped after the protocol's 10 s.
func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("waits for the 10 s protocol timeout")
	}
	s := newSandbox(t, transcriptRC, aliceUserdb)
	d := start(t, s)
	c, err := net.Dial("unix", d.socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("PRE . imap"))
	begin := time.Now()
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	n, err := c.Read(make([]byte, 10))
	if n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("idle client: read %d, %v", n, err)
	}
	if el := time.Since(begin); el < 9*time.Second {
		t.Errorf("idle client dropped after %v, before the 10 s timeout", el)
	}
}

// 1000 idle connections do not keep a normal request from being answered
// within the protocol timeout.
func TestManyConnections(t *testing.T) {
	t.Parallel()
	s := newSandbox(t, transcriptRC, aliceUserdb)
	d := start(t, s)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < 1000; i++ {
		c, err := net.Dial("unix", d.socket)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		if i%2 == 0 {
			c.Write([]byte("PRE . imap ")) // an unfinished request
		}
		conns = append(conns, c)
	}
	begin := time.Now()
	a, err := d.client().Login(context.Background(), "imap", "alice@example.com", "secret")
	if err != nil || a.UID != 999 {
		t.Fatalf("login with 1000 idle connections open: %v", err)
	}
	if el := time.Since(begin); el > 10*time.Second {
		t.Errorf("login took %v with 1000 idle connections open", el)
	}
	t.Logf("login with 1000 idle connections open: %v", time.Since(begin))

	// 1000 requests at once all get their answer.
	var wg sync.WaitGroup
	var failed sync.Map
	for i := 0; i < 1000; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if _, err := d.client().Pre(context.Background(), "imap", "alice@example.com"); err != nil {
				failed.Store(i, err)
			}
		}(i)
	}
	wg.Wait()
	failed.Range(func(k, v any) bool { t.Errorf("concurrent request %v: %v", k, v); return false })
	d.alive(t)
}

func TestReloadAndStop(t *testing.T) {
	t.Parallel()
	s := newSandbox(t, transcriptRC, aliceUserdb)
	d := start(t, s)
	fi, err := os.Stat(d.socket)
	if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o777 {
		t.Errorf("socket %v mode %v", err, fi.Mode())
	}
	if di, err := os.Stat(filepath.Dir(d.socket)); err != nil || (os.Geteuid() == 0 && di.Mode().Perm() != 0o750) {
		t.Errorf("socket directory: %v %v", err, di.Mode())
	}
	if _, err := os.Stat(d.socket + ".tmp"); err == nil {
		t.Error("socket.tmp left behind")
	}

	s.WriteConfig(t, "authdaemonrc", "authmodulelist=\"authuserdb\"\ndaemons=2\nDEFAULTOPTIONS=\"wbnoimages\"\n", 0o640)
	d.cmd.Process.Signal(syscall.SIGHUP)
	want := strings.Replace(wantPre, "disableimap=0,disablewebmail=1,disableshared=1", "disableimap=0,disablewebmail=1,wbnoimages", 1)
	deadline := time.Now().Add(20 * time.Second)
	for string(raw(t, d.socket, []byte("PRE . imap alice@example.com\n"))) != want {
		if time.Now().After(deadline) {
			t.Fatalf("DEFAULTOPTIONS not reloaded on SIGHUP\n%s", d.log)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// A broken file keeps the running configuration.
	s.WriteConfig(t, "authdaemonrc", "authmodulelist=\"authldap\"\n", 0o640)
	d.cmd.Process.Signal(syscall.SIGHUP)
	for !strings.Contains(d.log.String(), "keeping the running configuration") {
		if time.Now().After(deadline) {
			t.Fatalf("bad reload not reported\n%s", d.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := string(raw(t, d.socket, []byte("PRE . imap alice@example.com\n"))); got != want {
		t.Errorf("after a failed reload: %q", got)
	}

	d.stop(t)
	if _, err := os.Stat(d.socket); err == nil {
		t.Error("socket left after SIGTERM")
	}
	for _, line := range []string{"authdaemond[" + strconv.Itoa(d.cmd.Process.Pid) + "]: " + `modules="authuserdb", daemons=5`, "Installation complete: authuserdb", "stopping authdaemond", "authldap"} {
		if !strings.Contains(d.log.String(), line) {
			t.Errorf("log lacks %q:\n%s", line, d.log)
		}
	}
}

// Modules the suite lacks are skipped with a warning; DEBUG_LOGIN=1 hides
// passwords, DEBUG_LOGIN=2 logs them; daemons=0 is the original's error.
func TestModuleListAndDebug(t *testing.T) {
	t.Parallel()
	for _, level := range []string{"1", "2"} {
		rc := "authmodulelist=\"authldap authuserdb authpgsql\"\ndaemons=0\nDEBUG_LOGIN=" + level + "\n"
		s := newSandbox(t, rc, aliceUserdb)
		d := start(t, s)
		if got := string(raw(t, d.socket, authReq("imap", "login", "alice@example.com\nsecret\n"))); !strings.HasPrefix(got, "UID=999\n") {
			t.Errorf("login: %q", got)
		}
		raw(t, d.socket, authReq("imap", "login", "alice@example.com\nwr0ngpw\n"))
		d.stop(t)
		log := d.log.String()
		for _, want := range []string{"module authldap (LDAP)", "module authpgsql (PostgreSQL)", "Remove it from authmodulelist",
			"missing 'daemons' setting, using 1", "authuserdb: trying this module", "authuserdb: REJECT - try next module", "FAIL, all modules rejected"} {
			if !strings.Contains(log, want) {
				t.Errorf("DEBUG_LOGIN=%s: log lacks %q", level, want)
			}
		}
		if shown := strings.Contains(log, "wr0ngpw"); shown != (level == "2") {
			t.Errorf("DEBUG_LOGIN=%s: password in the log: %v\n%s", level, shown, log)
		}
	}
}

// authdaemond start|stop|restart, like the original's wrapper: liblock's
// pid file and lock, a second start does nothing, restart is SIGHUP.
func TestStartStopRestart(t *testing.T) {
	t.Parallel()
	s := newSandbox(t, transcriptRC, aliceUserdb)
	bin := s.Path("authdaemond")
	pidFile := filepath.Join(s.Layout.AuthdaemonVar, "pid")
	run := func(arg string) string {
		out, err := exec.Command(bin, arg).CombinedOutput()
		if err != nil {
			t.Fatalf("authdaemond %s: %v\n%s", arg, err, out)
		}
		return string(out)
	}
	run("start")
	t.Cleanup(func() { exec.Command(bin, "stop").Run() })
	pid := readPid(t, pidFile)
	if running, err := pidfile.Running(pidFile); !running || err != nil {
		t.Fatalf("pid.lock not held after start: %v", err)
	}
	socket := filepath.Join(s.Layout.AuthdaemonVar, "socket")
	if got := string(raw(t, socket, []byte("PRE . imap alice@example.com\n"))); got != wantPre {
		t.Fatalf("started daemon: %q", got)
	}
	if out := run("start"); out != "" || readPid(t, pidFile) != pid {
		t.Errorf("second start: %q, pid %d", out, readPid(t, pidFile))
	}
	s.WriteConfig(t, "authdaemonrc", "authmodulelist=\"authuserdb\"\ndaemons=1\n", 0o640)
	run("restart")
	want := strings.Replace(wantPre, ",disableshared=1", "", 1)
	deadline := time.Now().Add(20 * time.Second)
	for string(raw(t, socket, []byte("PRE . imap alice@example.com\n"))) != want {
		if time.Now().After(deadline) {
			t.Fatal("restart did not reload the configuration")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if p := readPid(t, pidFile); p != pid {
		t.Errorf("restart changed the pid from %d to %d", pid, p)
	}
	run("stop")
	if running, _ := pidfile.Running(pidFile); running || proc.Alive(pid) {
		t.Errorf("pid %d still runs after stop", pid)
	}
	if _, err := os.Stat(socket); err == nil {
		t.Error("socket left after stop")
	}
	if out := run("stop"); out != "" {
		t.Errorf("second stop: %q", out)
	}
	if out, err := exec.Command(bin, "--help").Output(); err != nil || !strings.HasPrefix(string(out), "Usage: authdaemond") {
		t.Errorf("--help: %v %q", err, out)
	}
	if err := exec.Command(bin, "bogus").Run(); err == nil {
		t.Error("bogus argument accepted")
	}
	// A configuration the daemon cannot start with is reported by start.
	s.WriteConfig(t, "authdaemonrc", "authmodulelist=\"authldap\"\n", 0o640)
	out, err := exec.Command(bin, "start").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no usable authentication module") {
		t.Errorf("start with a bad configuration: %v %q", err, out)
	}
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// Our authtest, authenumerate and authpasswd print what the real ones
// print [observed, Debian 0.71.4].
func TestOurTools(t *testing.T) {
	t.Parallel()
	s := newSandbox(t, transcriptRC, aliceUserdb, "authtest", "authenumerate", "authpasswd")
	d := start(t, s)
	run := func(stdin string, prog string, args ...string) (string, string, int) {
		cmd := exec.Command(s.Path(prog), args...)
		cmd.Stdin = strings.NewReader(stdin)
		return testenv.Run(t, cmd)
	}
	const usage = "Usage: authtest [-s service] userid [ password [ newpassword ] ]\n"
	block := "Authentication succeeded.\n\n     Authenticated: alice@example.com  (uid 999, gid 995)\n    Home Directory: /home/vmail/alice\n" +
		"           Maildir: /home/vmail/alice/Maildir\n             Quota: 1000000S\nEncrypted Password: $1$80vWTwQB$CHkHIE4.P4Xth2lSTvWCj.\n" +
		"Cleartext Password: secret\n           Options: disableimap=0,disablewebmail=1,disableshared=1\n"
	tests := []struct {
		stdin, prog string
		args        []string
		out, err    string
		code        int
	}{
		{"", "authtest", []string{"-s", "imap", "alice@example.com", "secret"}, block, "", 0},
		{"", "authtest", []string{"-simap", "alice@example.com"}, strings.Replace(block, "Cleartext Password: secret", "Cleartext Password: (none)", 1), "", 0},
		{"", "authtest", []string{"-s", "imap", "alice@example.com", "wrong"}, "", "Authentication FAILED: Operation not permitted\n", 1},
		{"", "authtest", nil, "", usage, 1},
		{"", "authtest", []string{"-x", "a"}, "", usage, 1},
		{"", "authtest", []string{"--", "a"}, "", usage, 1},
		{"", "authenumerate", []string{"-o"}, "alice@example.com\t999\t995\t/home/vmail/alice\t/home/vmail/alice/Maildir\tdisableimap=0,disablewebmail=1,disableshared=1\n", "", 0},
		{"", "authenumerate", nil, "alice@example.com\t999\t995\t/home/vmail/alice\t/home/vmail/alice/Maildir\n", "", 0},
		{"", "authenumerate", []string{"-s"}, "", "", 0},
		{"", "authenumerate", []string{"-so"}, "", "Usage: authenumerate [-s] [-o]\n", 1},
		{"secret\nsecret\n", "authpasswd", []string{"md5"}, "{MD5}Xr4ilOzQ4PCOq3aQ0qbuaQ==\n", "", 0},
		{"secret\n", "authpasswd", []string{"md5raw"}, "{MD5RAW}5ebe2294ecd0e0f08eab7690d2a6ee69\n", "", 0},
		{"secret", "authpasswd", []string{"sha256"}, "{SHA256}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=\n", "", 0},
		{"secret\n", "authpasswd", []string{"sha512"}, "{SHA512}vSsar3708Jvp9Szi2NWZZ02Bqp1qRCFpbcTZPdBhnWgs5WtNZKnvCXdhztmeD2cmW192CF5bDufKRpayrW/isg==\n", "", 0},
		{"", "authpasswd", nil, "", "", 1},
		{"", "authtest", []string{"-s", "imap", "alice@example.com", "secret", "newsecret"}, "", "Password change succeeded.\n", 0},
	}
	for _, tt := range tests {
		o, e, c := run(tt.stdin, tt.prog, tt.args...)
		if o != tt.out || e != tt.err || c != tt.code {
			t.Errorf("%s %q:\n got %q %q %d\nwant %q %q %d", tt.prog, tt.args, o, e, c, tt.out, tt.err, tt.code)
		}
	}
	for _, m := range []string{"", "ssha", "crypt"} {
		o, _, c := run("Pw-1\n", "authpasswd", m)
		h := strings.TrimSpace(o)
		if c != 0 || !passwd.Check(h, "Pw-1") || (m == "" && !strings.HasPrefix(h, "$1$")) || (m != "" && !strings.HasPrefix(h, "{SSHA}")) {
			t.Errorf("authpasswd %q: %q %d", m, o, c)
		}
	}
	for _, prog := range []string{"authtest", "authenumerate", "authpasswd"} {
		if o, _, c := run("", prog, "--help"); c != 0 || !strings.HasPrefix(o, "Usage: "+prog) {
			t.Errorf("%s --help: %q %d", prog, o, c)
		}
	}
	d.stop(t)
	_, e, c := run("", "authtest", "alice@example.com")
	if c != 1 || !strings.HasPrefix(e, "ERR: authdaemon: s_connect() failed: ") || !strings.HasSuffix(e, "Authentication FAILED: Invalid argument\n") {
		t.Errorf("authtest without a daemon: %q %d", e, c)
	}
}

// SIGTERM lets clients that are still sending go at once, and answers the
// request in progress.
func TestStopWithIdleClients(t *testing.T) {
	t.Parallel()
	s := newSandbox(t, transcriptRC, aliceUserdb)
	d := start(t, s)
	var conns []net.Conn
	for i := 0; i < 50; i++ {
		c, err := net.Dial("unix", d.socket)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("PRE . imap"))
		conns = append(conns, c)
	}
	raw(t, d.socket, []byte("ENUMERATE\n")) // all 50 are accepted by now
	begin := time.Now()
	d.stop(t)
	// Without the early release the stop would wait for the clients'
	// 10 s protocol timeout.
	if el := time.Since(begin); el > 9*time.Second {
		t.Errorf("SIGTERM took %v with 50 clients still sending", el)
	}
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(make([]byte, 8)); n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("unfinished client after SIGTERM: %d %v", n, err)
		}
	}
}
