package services

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/test/testenv"
)

// realScript is one of the original start scripts and how to run it with a
// fake program in place of the daemon it starts.
type realScript struct {
	service string
	path    string // installed script
	name    string // name to run it as (esmtpd checks its own name)
	daemon  string // the program it runs, replaced by the fake
	logger  bool   // it runs "courierlogger -pid=… -start …"
}

var realScripts = []realScript{
	{"esmtpd", "/usr/sbin/esmtpd", "esmtpd", "${sbindir}/couriertcpd", false},
	{"esmtpd-msa", "/usr/sbin/esmtpd", "esmtpd-msa", "${sbindir}/couriertcpd", false},
	{"esmtpd-ssl", "/usr/lib/courier/esmtpd-ssl", "esmtpd-ssl", "${sbindir}/couriertcpd", false},
	{"imapd", "/usr/lib/courier/imapd", "imapd", "/usr/sbin/courierlogger", true},
	{"imapd-ssl", "/usr/lib/courier/imapd-ssl", "imapd-ssl", "/usr/sbin/courierlogger", true},
	{"pop3d", "/usr/lib/courier/pop3d", "pop3d", "/usr/sbin/courierlogger", true},
	{"pop3d-ssl", "/usr/lib/courier/pop3d-ssl", "pop3d-ssl", "/usr/sbin/courierlogger", true},
}

// debianPrograms maps where Debian installs the programs the scripts name
// to our program names: the table resolves each through the layout.
var debianPrograms = map[string]string{
	"/usr/sbin/couriertcpd":                     "couriertcpd",
	"/usr/sbin/courieresmtpd":                   "courieresmtpd",
	"/usr/sbin/courierlogger":                   "courierlogger",
	"/usr/lib/courier/courier/imaplogin":        "imaplogin",
	"/usr/bin/imapd":                            "imapd",
	"/usr/lib/courier/courier/courierpop3login": "courierpop3login",
	"/usr/lib/courier/courier/courierpop3d":     "courierpop3d",
}

// housekeeping are the lines of the imapd/pop3d scripts that would touch
// the system (re-create the TLS cache file, build imapaccess.dat).
var housekeeping = regexp.MustCompile(`(?m)^\s*(rm -f|touch|chown|chgrp|chmod) .*\$TLS_CACHEFILE.*$`)

// TestCommandsMatchRealScripts runs each original start script, with the
// Debian configuration files copied to a temporary directory and a fake
// daemon that records its arguments and environment, and checks that the
// table builds the same command from the same files (without the -pid and
// -start options that would make the daemon detach).
func TestCommandsMatchRealScripts(t *testing.T) {
	testenv.NeedPackage(t, "courier-mta", "/etc/courier/esmtpd", "/etc/courier/esmtpd-msa", "/etc/courier/esmtpd-ssl", "/usr/sbin/esmtpd", "/usr/lib/courier/esmtpd-ssl")
	testenv.NeedPackage(t, "courier-imap", "/etc/courier/imapd", "/etc/courier/imapd-ssl", "/usr/lib/courier/imapd", "/usr/lib/courier/imapd-ssl")
	testenv.NeedPackage(t, "courier-pop", "/etc/courier/pop3d", "/etc/courier/pop3d-ssl", "/usr/lib/courier/pop3d", "/usr/lib/courier/pop3d-ssl")
	dir := t.TempDir()
	etc := filepath.Join(dir, "etc")
	bin := filepath.Join(dir, "bin")
	for _, d := range []string{etc, bin} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"esmtpd", "esmtpd-msa", "esmtpd-ssl", "imapd", "imapd-ssl", "pop3d", "pop3d-ssl"} {
		data, err := os.ReadFile("/etc/courier/" + f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(etc, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "out")
	fake := filepath.Join(bin, "fake")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\nprintf '%s\\0' \"$@\" > "+out+".args\ncat /proc/$$/environ > "+out+".env\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range realScripts {
		data, err := os.ReadFile(s.path)
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ReplaceAll(string(data), s.daemon, fake)
		text = strings.ReplaceAll(text, `sysconfdir="/etc/courier"`, `sysconfdir="`+etc+`"`)
		text = strings.ReplaceAll(text, "/etc/courier", etc)
		text = housekeeping.ReplaceAllString(text, ":")
		text = strings.ReplaceAll(text, "$sbindir/makeimapaccess", ":")
		if err := os.WriteFile(filepath.Join(bin, s.name), []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}

	l, err := layout.ForPreset("debian", "/")
	if err != nil {
		t.Fatal(err)
	}
	l.SysconfDir = etc
	environ := []string{"PATH=/usr/bin:/bin", "SHELL=/bin/sh"}
	table := map[string]*Service{}
	for _, svc := range Table() {
		table[svc.Name] = &svc
	}
	// Once without and once with the compiled smtpaccess.dat, which
	// the esmtpd scripts pass with -access= only when it exists.
	for _, withAccess := range []bool{false, true} {
		if withAccess {
			if err := os.WriteFile(filepath.Join(etc, "smtpaccess.dat"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		for _, s := range realScripts {
			os.Remove(out + ".args")
			cmd := exec.Command("/bin/sh", filepath.Join(bin, s.name), "start")
			cmd.Env = environ
			cmd.Dir = dir
			if msg, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s start: %v\n%s", s.name, err, msg)
			}
			rawArgs, err := os.ReadFile(out + ".args")
			if err != nil {
				t.Fatalf("%s did not run the fake daemon: %v", s.name, err)
			}
			rawEnv, _ := os.ReadFile(out + ".env")
			wantArgs := strings.Split(strings.TrimSuffix(string(rawArgs), "\x00"), "\x00")
			wantArgs = dropDetach(t, s, wantArgs)
			for i, a := range wantArgs {
				if name, ok := debianPrograms[a]; ok {
					wantArgs[i] = l.ProgramPath(name)
				}
			}
			var wantEnv []string
			for _, kv := range strings.Split(strings.TrimSuffix(string(rawEnv), "\x00"), "\x00") {
				if s.service == "esmtpd-ssl" && kv == "ACCESSFILE=/smtpaccess" {
					// esmtpd-ssl's inner shell does not set
					// sysconfdir, so ${sysconfdir}/smtpaccess
					// loses its directory there (build.go).
					kv = "ACCESSFILE=" + filepath.Join(etc, "smtpaccess")
				}
				if !strings.HasPrefix(kv, "PWD=") {
					wantEnv = append(wantEnv, kv)
				}
			}
			sort.Strings(wantEnv)

			svc := table[s.service]
			got, err := svc.Build(&Context{Service: svc, Layout: l, Environ: environ})
			if err != nil {
				t.Fatalf("%s: %v", s.service, err)
			}
			wantProgram := l.ProgramPath("couriertcpd")
			if s.logger {
				wantProgram = l.ProgramPath("courierlogger")
			}
			if got.Program != wantProgram {
				t.Errorf("%s: program %s, want %s", s.service, got.Program, wantProgram)
			}
			if strings.Join(got.Args, "\n") != strings.Join(wantArgs, "\n") {
				t.Errorf("%s (access file %v): arguments\n got %q\nwant %q", s.service, withAccess, got.Args, wantArgs)
			}
			gotEnv := append([]string(nil), got.Env...)
			sort.Strings(gotEnv)
			if strings.Join(gotEnv, "\n") != strings.Join(wantEnv, "\n") {
				t.Errorf("%s: environment differs\n%s", s.service, diffLists(gotEnv, wantEnv))
			}
			if withAccess && strings.HasPrefix(s.service, "esmtpd") && !containsArg(got.Args, "-access="+filepath.Join(etc, "smtpaccess.dat")) {
				t.Errorf("%s: no -access= although smtpaccess.dat exists: %q", s.service, got.Args)
			}
		}
	}
}

// dropDetach removes what makes the original daemons detach: couriertcpd's
// -pid=FILE, courierlogger's leading -pid=FILE -start.
func dropDetach(t *testing.T, s realScript, args []string) []string {
	t.Helper()
	if s.logger {
		if len(args) < 2 || !strings.HasPrefix(args[0], "-pid=") || args[1] != "-start" {
			t.Fatalf("%s: courierlogger arguments do not start with -pid= -start: %q", s.name, args)
		}
		return args[2:]
	}
	var out []string
	n := 0
	for _, a := range args {
		if strings.HasPrefix(a, "-pid=") {
			n++
			continue
		}
		out = append(out, a)
	}
	if n != 1 {
		t.Fatalf("%s: %d -pid= options in %q, want 1", s.name, n, args)
	}
	return out
}

func containsArg(args []string, a string) bool {
	for _, x := range args {
		if x == a {
			return true
		}
	}
	return false
}

func diffLists(got, want []string) string {
	g, w := map[string]bool{}, map[string]bool{}
	for _, x := range got {
		g[x] = true
	}
	for _, x := range want {
		w[x] = true
	}
	var b bytes.Buffer
	for _, x := range got {
		if !w[x] {
			b.WriteString("  extra:   " + x + "\n")
		}
	}
	for _, x := range want {
		if !g[x] {
			b.WriteString("  missing: " + x + "\n")
		}
	}
	return b.String()
}
