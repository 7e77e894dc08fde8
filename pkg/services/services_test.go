package services

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/pkg/privsep"
	"github.com/gocourier/courier/pkg/supervise"
	"github.com/gocourier/courier/test/testenv"
)

func TestSplitWords(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
		err  string
	}{
		{"", nil, ""},
		{"  -nodnslookup\t-noidentlookup \n", []string{"-nodnslookup", "-noidentlookup"}, ""},
		{`-block=zen.spamhaus.org,BLOCK2 -block=cbl.abuseat.org,BLOCK2`, []string{"-block=zen.spamhaus.org,BLOCK2", "-block=cbl.abuseat.org,BLOCK2"}, ""},
		{`-block=bl.example,BLOCK,'Go away, spammer'`, []string{"-block=bl.example,BLOCK,Go away, spammer"}, ""},
		{`a"b c"d 'e'"f" ''`, []string{"ab cd", "ef", ""}, ""},
		{`"x\$y\"z\\w\q"`, []string{`x$y"z\w\q`}, ""},
		{`a\ b \*`, []string{"a b", "*"}, ""},
		{`-block=zone,BLOCK,*`, []string{"-block=zone,BLOCK,*"}, ""},
		{`x#y`, []string{"x#y"}, ""},
		{`'unterminated`, nil, "unterminated ' quote at offset 0"},
		{`ok "unterminated`, nil, `unterminated " quote at offset 3`},
		{`-x $HOME`, nil, `'$' at offset 3: shell expansion is not supported`},
		{"\"`id`\"", nil, "'`' at offset 1: shell expansion"},
		{`a; rm -rf /`, nil, `';' at offset 1: shell operators are not supported`},
		{`a >/dev/null`, nil, `'>' at offset 2`},
		{`-x #comment`, nil, "word starting with # at offset 3"},
		{`trailing\`, nil, "backslash at the end"},
	} {
		got, err := splitWords(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("splitWords(%q) error = %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || strings.Join(got, "|") != strings.Join(c.want, "|") || len(got) != len(c.want) {
			t.Errorf("splitWords(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

// FuzzSplitWords: never panics, and a successful split of words joined
// back with single quotes gives the same words.
func FuzzSplitWords(f *testing.F) {
	for _, s := range []string{"-nodnslookup -noidentlookup", `a"b c"d 'e'`, `"x\$y"`, `a\ b`, "'", "\"\\", "-x #c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := splitWords(s)
		if err != nil {
			return
		}
		var quoted []string
		for _, w := range words {
			quoted = append(quoted, "'"+strings.ReplaceAll(w, "'", `'\''`)+"'")
		}
		again, err := splitWords(strings.Join(quoted, " "))
		if err != nil || strings.Join(again, "\x00") != strings.Join(words, "\x00") || len(again) != len(words) {
			t.Fatalf("%q -> %q -> %q (%v)", s, words, again, err)
		}
	})
}

// sandbox is a configuration directory with the sandbox layout.
func sandbox(t *testing.T) layout.Layout {
	t.Helper()
	l, err := layout.ForPreset("sandbox", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(l.SysconfDir, ExtraDir), 0o755); err != nil {
		t.Fatal(err)
	}
	return l
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func load(t *testing.T, l layout.Layout) ([]supervise.Spec, string, error) {
	t.Helper()
	var buf bytes.Buffer
	specs, err := Load(l, []string{"PATH=/usr/bin:/bin"}, slog.New(slog.NewTextHandler(&buf, nil)))
	return specs, buf.String(), err
}

func TestLoadEnableAndConfigured(t *testing.T) {
	l := sandbox(t)
	write(t, l.Config("authdaemonrc"), "authmodulelist=\"authuserdb\"\nauthdaemonvar="+l.AuthdaemonVar+"\n")
	write(t, l.Config("esmtpd"), "ESMTPDSTART=yes\nPORT=2525\nADDRESS=127.0.0.1\nMAXDAEMONS=4\nMAXPERC=2\nMAXPERIP=2\nPIDFILE="+l.RunDir+"/esmtpd.pid\n")
	// esmtpd-msa inherits ESMTPDSTART=yes from esmtpd, but, as for the
	// Debian init script, only its own file counts.
	write(t, l.Config("esmtpd-msa"), "PORT=2587\n")
	write(t, l.Config("esmtpd-ssl"), "ESMTPDSSLSTART=NO\n")
	specs, log, err := load(t, l)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]supervise.Spec{}
	for _, s := range specs {
		got[s.Name] = s
	}
	if len(specs) != 2 || got["authdaemond"].Path == "" || got["esmtpd"].Path == "" {
		t.Fatalf("specs %+v, want authdaemond and esmtpd\n%s", specs, log)
	}
	e := got["esmtpd"]
	want := []string{"-user=" + l.MailUser, "-group=" + l.MailGroup, "-address=127.0.0.1", "-maxprocs=4", "-maxperc=2", "-maxperip=2", "2525", l.ProgramPath("courieresmtpd")}
	if strings.Join(e.Args, " ") != strings.Join(want, " ") {
		t.Errorf("esmtpd args %q, want %q", e.Args, want)
	}
	if e.Listen != "127.0.0.1, port 2525" || e.PidFile != l.RunDir+"/esmtpd.pid" || e.Dir != l.Prefix {
		t.Errorf("esmtpd spec %+v", e)
	}
	if e.Requires[0] != "authdaemond" || e.Cred != nil {
		t.Errorf("esmtpd must require authdaemond and run as root (couriertcpd drops itself): %+v", e)
	}
	if got["authdaemond"].Listen != "socket "+l.AuthdaemonVar+"/socket" {
		t.Errorf("authdaemond listen %q", got["authdaemond"].Listen)
	}
	for _, want := range []string{
		"service esmtpd-msa not started: ESMTPDSTART= in " + l.Config("esmtpd-msa"),
		"service esmtpd-ssl not started: ESMTPDSSLSTART=NO in " + l.Config("esmtpd-ssl"),
		"service imapd not started: not configured (" + l.Config("imapd") + " does not exist)",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

// TestSSLNeedsCertificate: an -ssl service whose TLS_CERTFILE is missing
// is not started (it could only fail every handshake); the warning names
// the file and the program that makes it. With the file it starts.
func TestSSLNeedsCertificate(t *testing.T) {
	l := sandbox(t)
	write(t, l.Config("authdaemonrc"), "authmodulelist=\"authuserdb\"\nauthdaemonvar="+l.AuthdaemonVar+"\n")
	cert := l.Config("imapd.pem")
	write(t, l.Config("imapd"), "IMAPDSTART=NO\nPORT=1143\n")
	write(t, l.Config("imapd-ssl"), "IMAPDSSLSTART=YES\nSSLPORT=1993\nTLS_CERTFILE="+cert+"\n")
	specs, log, err := load(t, l)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range specs {
		if s.Name == "imapd-ssl" {
			t.Errorf("imapd-ssl started without its certificate")
		}
	}
	want := "service imapd-ssl not started: its certificate TLS_CERTFILE=" + cert + " does not exist; make one with " + l.ProgramPath("mkimapdcert") + ", or set IMAPDSSLSTART=NO in " + l.Config("imapd-ssl")
	if !strings.Contains(log, want) || !strings.Contains(log, "level=WARN") {
		t.Errorf("log lacks the warning %q:\n%s", want, log)
	}
	write(t, cert, "certificate\n")
	specs, log, err = load(t, l)
	if err != nil {
		t.Fatal(err)
	}
	started := false
	for _, s := range specs {
		started = started || s.Name == "imapd-ssl"
	}
	if !started {
		t.Errorf("imapd-ssl not started with its certificate:\n%s", log)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	for _, c := range []struct{ file, content, want string }{
		{"esmtpd", "ESMTPDSTART=YES\nTCPDOPTS='-x $(id)'\n", `esmtpd:2: TCPDOPTS="-x $(id)": '$' at offset 3: shell expansion is not supported`},
		{"esmtpd", "ESMTPDSTART=YES\nBLACKLISTS=\"-block=a\n", "esmtpd:2:"},
		{ExtraDir + "/x", "ARGS=1\n", ExtraDir + "/x: PROGRAM is not set"},
		{ExtraDir + "/x", "PROGRAM=bin/x\n", ExtraDir + `/x:1: PROGRAM="bin/x": not an absolute path`},
		{ExtraDir + "/x", "PROGRAM=/bin/x\nARGS=\"a 'b\"\n", ExtraDir + `/x:2: ARGS="a 'b": unterminated ' quote`},
		{ExtraDir + "/x", "PROGRAM=/bin/x\nREQUIRES=\"authdaemond nosuch\"\n", ExtraDir + `/x:2: REQUIRES="authdaemond nosuch": no service is called nosuch`},
		{ExtraDir + "/x", "PROGRAM=/bin/x\nREQUIRES=x\n", "cannot require itself"},
		{ExtraDir + "/x", "PROGRAM=/bin/x\nSTOPTIMEOUT=soon\n", ExtraDir + `/x:2: STOPTIMEOUT="soon"`},
		{ExtraDir + "/x", "PROGRAM=/bin/x\nDIR=tmp\n", `DIR="tmp": not an absolute path`},
		{ExtraDir + "/x", "PROGRAM=/bin/x\nUSER=no-such-user-here\n", ExtraDir + `/x:2: USER="no-such-user-here"`},
		{ExtraDir + "/x", "PROGRAM=/bin/x\nGROUP=no-such-group-here\n", ExtraDir + `/x:2: GROUP="no-such-group-here"`},
		{ExtraDir + "/esmtpd", "PROGRAM=/bin/x\n", "esmtpd is a service of the suite"},
	} {
		l := sandbox(t)
		write(t, l.Config(c.file), c.content)
		_, _, err := load(t, l)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s with %q: error %v, want %q", c.file, c.content, err, c.want)
		}
	}
}

func TestExtraServices(t *testing.T) {
	l := sandbox(t)
	dir := l.Config(ExtraDir)
	write(t, filepath.Join(dir, "worker"), `# a test service
PROGRAM=/bin/sleep
ARGS="1000 'two words'"
DIR=/tmp
REQUIRES="other authdaemond"
STOPTIMEOUT=1m30s
PIDFILE=/tmp/worker.pid
GREETING="hello world"
`)
	write(t, filepath.Join(dir, "other"), "PROGRAM=/bin/true\n")
	write(t, filepath.Join(dir, "off"), "PROGRAM=/bin/true\nSTART=no\n")
	for _, skipped := range []string{"worker.dpkg-old", "worker~", ".hidden", "x.dist"} {
		write(t, filepath.Join(dir, skipped), "this is not a valid file at all $(\n")
	}
	specs, log, err := load(t, l)
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 2 || specs[0].Name != "other" || specs[1].Name != "worker" {
		t.Fatalf("specs %+v", specs)
	}
	w := specs[1]
	if w.Path != "/bin/sleep" || strings.Join(w.Args, "|") != "1000|two words" || w.Dir != "/tmp" ||
		strings.Join(w.Requires, " ") != "other authdaemond" || w.StopTimeout != 90*time.Second ||
		w.PidFile != "/tmp/worker.pid" || strings.Join(w.Env, "|") != "GREETING=hello world" {
		t.Errorf("worker spec %+v", w)
	}
	u, err := privsep.LookupUser(l.MailUser)
	if err != nil {
		t.Fatal(err)
	}
	if w.Cred == nil || w.Cred.UID != u.UID {
		t.Errorf("worker runs as %+v, want the mail user %s by default", w.Cred, l.MailUser)
	}
	if !strings.Contains(log, "service off not started: START=no in "+filepath.Join(dir, "off")) {
		t.Errorf("disabled service not logged:\n%s", log)
	}
}

// As root, a supervise.d service with USER= runs as that user, verified
// in /proc by starting it for real.
func TestExtraServiceRunsAsUser(t *testing.T) {
	testenv.NeedRoot(t)
	u, err := privsep.LookupUser("nobody")
	if err != nil {
		t.Skip("no nobody account")
	}
	l := sandbox(t)
	write(t, filepath.Join(l.Config(ExtraDir), "unpriv"), "PROGRAM=/bin/sleep\nARGS=1000\nUSER=nobody\n")
	specs, _, err := load(t, l)
	if err != nil {
		t.Fatal(err)
	}
	s, err := supervise.New(supervise.Options{Logger: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if err := s.Start(specs); err != nil {
		t.Fatal(err)
	}
	st := s.Status()[0]
	want := privsep.Credential{UID: u.UID, GID: u.GID, Groups: specs[0].Cred.Groups}
	if err := privsep.VerifyProcess(st.PID, want); err != nil {
		t.Error(err)
	}
}

// TestWrapperStartLogger: "esmtpd start" outside courierd runs couriertcpd
// with courierlogger as its standard error logger (courieresmtpd logs to
// standard error, where the original called syslog), unless the command
// line already has one; imapd's command starts with courierlogger itself.
func TestWrapperStartLogger(t *testing.T) {
	l := sandbox(t)
	record := filepath.Join(t.TempDir(), "args")
	for _, p := range []string{"couriertcpd", "courierlogger"} {
		path := l.ProgramPath(p)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("#!/bin/sh\necho \"$0 $*\" >> "+record+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	pid := filepath.Join(l.RunDir, "x.pid")
	write(t, l.Config("esmtpd"), "PORT=2525\nPIDFILE="+pid+"\n")
	write(t, l.Config("esmtpd-ssl"), "SSLPORT=2465\nSSLPIDFILE="+pid+"\n")
	write(t, l.Config("imapd"), "PORT=2143\nPIDFILE="+pid+"\n")
	write(t, l.Config("imapd-ssl"), "\n")
	var out, errOut bytes.Buffer
	for _, name := range []string{"esmtpd", "esmtpd-ssl", "imapd"} {
		if code := RunWrapper(l, name, "start", &out, &errOut); code != 0 {
			t.Fatalf("%s start: exit %d\n%s", name, code, errOut.String())
		}
	}
	got, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(got)), "\n")
	logger := "-stderrlogger=" + l.ProgramPath("courierlogger")
	if len(lines) != 3 {
		t.Fatalf("commands run:\n%s", got)
	}
	if want := l.ProgramPath("couriertcpd") + " " + logger + " -stderrloggername=esmtpd -pid=" + pid + " "; !strings.HasPrefix(lines[0], want) {
		t.Errorf("esmtpd start ran %q, want %q...", lines[0], want)
	}
	if strings.Count(lines[1], "-stderrlogger=") != 1 || !strings.Contains(lines[1], "-stderrloggername=esmtpd-ssl") {
		t.Errorf("esmtpd-ssl start ran %q: one logger, its own", lines[1])
	}
	if !strings.HasPrefix(lines[2], l.ProgramPath("courierlogger")+" -pid="+pid+" ") || strings.Contains(lines[2], "-stderrlogger") {
		t.Errorf("imapd start ran %q", lines[2])
	}
}
