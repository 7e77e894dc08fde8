package access_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gocourier/courier/pkg/access"
	"github.com/gocourier/courier/test/testenv"
)

// TestMakeSMTPAccess runs makesmtpaccess and makesmtpaccess-msa in a
// sandbox: the original's error without ACCESSFILE, the database built
// from the esmtpd (and esmtpd-msa) settings, silence on success, a bad
// source reported with its line and the old database kept, --help.
func TestMakeSMTPAccess(t *testing.T) {
	s := testenv.NewSandbox(t, "makesmtpaccess")
	bin := s.Path("makesmtpaccess")
	msa := filepath.Join(filepath.Dir(bin), "makesmtpaccess-msa")
	if err := os.Link(bin, msa); err != nil {
		t.Fatal(err)
	}
	s.WriteConfig(t, "esmtpd", "PIDFILE=${piddir}/esmtpd.pid\n", 0o644)
	_, errOut, code := testenv.Run(t, exec.Command(bin))
	if want := "ERROR: No ACCESSFILE specified in " + s.Layout.Config("esmtpd") + "(-msa)\n"; code != 1 || errOut != want {
		t.Errorf("without ACCESSFILE: %d %q; want 1 %q", code, errOut, want)
	}

	s.WriteConfig(t, "esmtpd", "ACCESSFILE=${sysconfdir}/smtpaccess\nPIDFILE=${piddir}/esmtpd.pid\n", 0o644)
	s.WriteConfig(t, "esmtpd-msa", "ACCESSFILE=${sysconfdir}/msaaccess\n", 0o644)
	s.WriteConfig(t, "smtpaccess/default", "127.0.0.1\tallow,RELAYCLIENT\n10.0.0.0/7\tdeny\n", 0o644)
	s.WriteConfig(t, "msaaccess", "*\tallow,MSA\n", 0o644)
	out, errOut, code := testenv.Run(t, exec.Command(bin))
	if code != 0 || out != "" || errOut != "" {
		t.Fatalf("makesmtpaccess: %d %q %q", code, out, errOut)
	}
	dat := s.Layout.Config("smtpaccess.dat")
	st, err := os.Stat(dat)
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Fatalf("smtpaccess.dat: %v %v", st, err)
	}
	if out, errOut, code := testenv.Run(t, exec.Command(msa)); code != 0 || out != "" || errOut != "" {
		t.Fatalf("makesmtpaccess-msa: %d %q %q", code, out, errOut)
	}
	for path, want := range map[string][]string{dat: {"10", "11", "127.0.0.1"}, s.Layout.Config("msaaccess.dat"): {"*"}} {
		db, err := access.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range want {
			ip := map[string]string{"10": "10.9.8.7", "11": "11.0.0.1", "127.0.0.1": "127.0.0.1", "*": "192.0.2.1"}[k]
			if v, found := db.Lookup(parseIP(t, ip), parseIP(t, "127.0.0.1"), 25, false); !found || v.Key != k {
				t.Errorf("%s: %s finds %+v %v, want the entry %s", path, ip, v, found, k)
			}
		}
		db.Close()
	}

	before, _ := os.ReadFile(dat)
	s.WriteConfig(t, "smtpaccess/local", "\n192.168.0.0/33\tallow\n", 0o644)
	_, errOut, code = testenv.Run(t, exec.Command(bin))
	if want := "makesmtpaccess: " + s.Layout.Config("smtpaccess/local") + ":2: \"192.168.0.0/33\": the prefix length after / must be a number from 0 to 32 (" + s.Layout.Config("smtpaccess") + ".dat is unchanged)\n"; code != 1 || errOut != want {
		t.Errorf("bad source: %d %q\nwant %q", code, errOut, want)
	}
	if after, _ := os.ReadFile(dat); string(after) != string(before) {
		t.Error("a failed run changed smtpaccess.dat")
	}

	// A couriertcpd runs with PIDFILE: makesmtpaccess makes it re-open
	// the database (SIGHUP), as "couriertcpd -pid=$PIDFILE -restart" does.
	os.Remove(s.Layout.Config("smtpaccess/local"))
	tcpd := s.Install(t, "couriertcpd")
	logf := filepath.Join(s.Root, "tcpd.log")
	port := freePort(t)
	pid := filepath.Join(s.Layout.RunDir, "esmtpd.pid")
	if out, err := exec.Command(tcpd, "-pid="+pid, "-stderr="+logf, "-nodnslookup", "-noidentlookup", "-access="+dat, "-address=127.0.0.1", port, "/bin/true").CombinedOutput(); err != nil {
		t.Fatalf("couriertcpd: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command(tcpd, "-pid="+pid, "-stop").Run() })
	if out, errOut, code := testenv.Run(t, exec.Command(bin)); code != 0 || out != "" || errOut != "" {
		t.Fatalf("makesmtpaccess with couriertcpd running: %d %q %q", code, out, errOut)
	}
	testenv.WaitFor(t, "couriertcpd to re-open smtpaccess.dat", func() bool {
		b, _ := os.ReadFile(logf)
		return strings.Contains(string(b), "SIGHUP: re-opened the access database "+dat)
	})

	out, _, code = testenv.Run(t, exec.Command(msa, "--help"))
	if code != 0 || !strings.HasPrefix(out, "Usage: makesmtpaccess-msa\n") || !strings.Contains(out, "esmtpd-msa") {
		t.Errorf("--help: %d %q", code, out)
	}
}

func parseIP(t *testing.T, s string) net.IP {
	t.Helper()
	ip := net.ParseIP(s)
	if ip == nil {
		t.Fatalf("bad test address %q", s)
	}
	return ip
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}
