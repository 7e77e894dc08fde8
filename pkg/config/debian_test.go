package config

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gocourier/courier/test/testenv"
)

// debianVarFiles are the VAR files the Debian courier packages install.
func debianVarFiles(t *testing.T) []string {
	testenv.NeedPackage(t, "courier-mta", "/etc/courier/esmtpd")
	files := []string{"authdaemonrc", "courierd", "esmtpd", "esmtpd-msa", "esmtpd-ssl", "imapd", "imapd-ssl", "pop3d", "pop3d-ssl"}
	mods, err := filepath.Glob("/etc/courier/module.*")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mods {
		files = append(files, filepath.Base(m))
	}
	var out []string
	for _, f := range files {
		p := "/etc/courier/" + f
		fh, err := os.Open(p)
		if err != nil {
			// authdaemonrc is readable by root and group courier only.
			t.Logf("not checking %s: %v", p, err)
			continue
		}
		fh.Close()
		out = append(out, p)
	}
	return out
}

// TestDebianFiles loads every VAR file of the installed Courier unchanged.
func TestDebianFiles(t *testing.T) {
	pre := map[string]string{"sysconfdir": "/etc/courier", "prefix": "/usr", "exec_prefix": "/usr"}
	for _, p := range debianVarFiles(t) {
		vf, err := ReadVarFile(p, pre)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if len(vf.Names()) == 0 {
			t.Errorf("%s: no settings read", p)
		}
		if !strings.HasPrefix(filepath.Base(p), "module.") && len(vf.Sections) == 0 {
			t.Errorf("%s: no ##NAME sections found", p)
		}
	}
	check := func(file, name, want string) {
		t.Helper()
		vf, err := ReadVarFile("/etc/courier/"+file, pre)
		if err != nil {
			t.Skipf("%s: %v", file, err)
		}
		if got, ok := vf.Get(name); !ok || got != want {
			t.Errorf("%s: %s = %q (set %v), want %q", file, name, got, ok, want)
		}
	}
	check("esmtpd", "PORT", "smtp")
	check("esmtpd", "ACCESSFILE", "/etc/courier/smtpaccess")
	check("esmtpd", "TCPDOPTS", "-stderrlogger=/usr/sbin/courierlogger -noidentlookup")
	check("esmtpd", "BLACKLISTS", "")
	check("imapd", "MAXDAEMONS", "40")
	check("imapd", "IMAP_CAPABILITY_TLS",
		"IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT THREAD=REFERENCES SORT QUOTA IDLE AUTH=PLAIN")
	check("authdaemonrc", "authmodulelist", "authpam")
	check("courierd", "UUXFLAGS", "-j -g C")
	check("module.esmtp", "MAXRCPT", "100")

	vf, err := ReadVarFiles([]string{"/etc/courier/esmtpd", "/etc/courier/esmtpd-msa"}, pre)
	if err != nil {
		t.Fatal(err)
	}
	if v := vf.Value("PORT", ""); v != "587" {
		t.Errorf("esmtpd + esmtpd-msa: PORT = %q, want 587", v)
	}
	if v := vf.Value("MAILUSER", ""); v != "courier" {
		t.Errorf("esmtpd + esmtpd-msa: MAILUSER = %q, want courier (from esmtpd)", v)
	}
}

// TestDebianFilesAgainstSh compares every setting of every Debian VAR file
// with what /bin/sh gives when it sources the file as the start scripts do.
func TestDebianFilesAgainstSh(t *testing.T) {
	for _, p := range debianVarFiles(t) {
		vf, err := ReadVarFile(p, map[string]string{"sysconfdir": "/etc/courier"})
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		script := `sysconfdir=/etc/courier; set -a; . "$1"; shift
for n do eval "v=\${$n-@UNSET@}"; printf '%s=%s\0' "$n" "$v"; done`
		out, err := exec.Command("/usr/bin/env", append([]string{"-i", "/bin/sh", "-c", script, "sh", p}, vf.Names()...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: sh: %v\n%s", p, err, out)
		}
		got := strings.Join(vf.Environ(), "\x00")
		if sh := strings.TrimSuffix(string(out), "\x00"); sh != got {
			t.Errorf("%s: sh and ParseVarFile disagree\n sh: %q\nours: %q", p, sh, got)
		}
	}
}

func needDebianLists(t *testing.T) {
	testenv.NeedPackage(t, "courier-mta", "/etc/courier/locals", "/etc/courier/smtpaccess/default")
}
