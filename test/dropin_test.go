package test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/gocourier/courier/test/testenv"
)

// The accounts of the drop-in test: a userdb account in a hosted domain, a
// system account, an alias for both and a forward (.courier-fwd of the
// system account) to the userdb account.
const (
	dropinVirtual   = "vuser@example.test"
	dropinVirtualPW = "Virt-pass-1"
	dropinSystem    = "sysuser"
	dropinSystemPW  = "Sys-pass-1"
	dropinMaildirV  = "/srv/vmail/vuser/Maildir"
	dropinMaildirS  = "/home/sysuser/Maildir"
)

// dropinInstallDebian installs the real Courier from Debian's packages, as
// on a new system: the installation the throwaway root inherited from this
// machine is purged first, configuration included. Debian's maintainer
// scripts must start no daemon: a policy-rc.d that refuses is made in the
// throwaway root if the machine has none.
const dropinInstallDebian = `
apt="apt-get -o DPkg::Lock::Timeout=300 -y -q"
[ -x /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; }
$apt purge courier-base courier-authlib > /dev/null
rm -rf /etc/courier /var/lib/courier
$apt install courier-mta courier-imap courier-pop courier-authdaemon courier-authlib-userdb
`

// dropinSetup configures the real Courier of a Debian system with its own
// tools, as an admin would, and starts it with Debian's init scripts.
const dropinSetup = `
echo dropin.test > /etc/courier/me
echo dropin.test > /etc/courier/defaultdomain
printf 'dropin.test\nlocalhost\n' > /etc/courier/locals

useradd -m -s /bin/sh sysuser
echo 'sysuser:Sys-pass-1' | chpasswd
su sysuser -c 'maildirmake $HOME/Maildir'
echo 'vuser@example.test' > /home/sysuser/.courier-fwd
chown sysuser: /home/sysuser/.courier-fwd

getent passwd vmail >/dev/null || useradd -r -d /srv/vmail -s /usr/sbin/nologin vmail
mkdir -p /srv/vmail/vuser
maildirmake /srv/vmail/vuser/Maildir
chown -R vmail:vmail /srv/vmail
userdb vuser@example.test set home=/srv/vmail/vuser mail=/srv/vmail/vuser/Maildir uid=$(id -u vmail) gid=$(id -g vmail)
openssl passwd -1 'Virt-pass-1' | userdb vuser@example.test set systempw
makeuserdb
sed -i 's/^authmodulelist=.*/authmodulelist="authuserdb authpam"/' /etc/courier/authdaemonrc

mkdir -p /etc/courier/hosteddomains /etc/courier/esmtpacceptmailfor.dir /etc/courier/aliases
echo example.test > /etc/courier/hosteddomains/dropin
echo example.test > /etc/courier/esmtpacceptmailfor.dir/dropin
makehosteddomains
makeacceptmailfor
echo 'team@example.test: vuser@example.test, sysuser@dropin.test' > /etc/courier/aliases/dropin
makealiases

# Debian's packages make the certificates when they are installed; make
# them with the original's tools where that did not happen.
[ -f /etc/courier/esmtpd.pem ] || mkesmtpdcert
[ -f /etc/courier/imapd.pem ] || mkimapdcert
[ -f /etc/courier/pop3d.pem ] || mkpop3dcert

# AUTH after STARTTLS on port 25. No DNS check of the sender's domain: the
# throwaway root has no network.
sed -i 's/^ESMTPAUTH_TLS=.*/ESMTPAUTH_TLS="PLAIN LOGIN"/; s/^BOFHCHECKDNS=.*/BOFHCHECKDNS=0/' /etc/courier/esmtpd

for s in courier-authdaemon courier courier-mta courier-imap courier-pop; do
	/etc/init.d/$s start
done
`

// dropinStopDebian stops the real Courier with Debian's init scripts.
const dropinStopDebian = `
for s in courier-pop courier-imap courier-mta courier courier-authdaemon; do
	/etc/init.d/$s stop
done
# The original's imapd starts gamin's server for IDLE, which outlives it
# for a while.
pkill -x gam_server || true
`

// dropinSend sends the four test messages with swaks over SMTP with
// STARTTLS and AUTH PLAIN, as the userdb account.
func dropinSend(t *testing.T, r *testenv.Throwaway, tag string) {
	t.Helper()
	to := []string{dropinVirtual, dropinSystem + "@dropin.test", "team@example.test", dropinSystem + "-fwd@dropin.test"}
	for i, rcpt := range to {
		r.Sh("swaks to "+rcpt, fmt.Sprintf(`swaks --server 127.0.0.1:25 --tls --auth PLAIN --auth-user %s --auth-password %s \
			--from %s --to %s --header 'Message-Id: <%s-%d@dropin.test>' \
			--header 'Subject: %s message %d' --body 'Body of %s %d'`,
			dropinVirtual, dropinVirtualPW, dropinVirtual, rcpt, tag, i+1, tag, i+1, tag, i+1))
	}
}

// dropinWant is what each mailbox holds after dropinSend: the userdb account
// gets its own message, the alias's and the forward's; the system account
// its own and the alias's.
func dropinWant(tag string) map[string][]string {
	return map[string][]string{
		dropinMaildirV: {tag + "-1", tag + "-3", tag + "-4"},
		dropinMaildirS: {tag + "-2", tag + "-3"},
	}
}

// dropinWaitDelivered waits until every message of want is in its maildir.
func dropinWaitDelivered(t *testing.T, r *testenv.Throwaway, want map[string][]string) {
	t.Helper()
	for md, ids := range want {
		for _, id := range ids {
			testenv.WaitFor(t, id+" in "+md, func() bool {
				for _, sub := range []string{"new", "cur"} {
					files, _ := filepath.Glob(filepath.Join(r.Path(md), sub, "*"))
					for _, f := range files {
						b, _ := os.ReadFile(f)
						if strings.Contains(string(b), "<"+id+"@dropin.test>") {
							return true
						}
					}
				}
				return false
			})
		}
	}
}

// dropinWaitPorts waits until every port accepts connections on the
// throwaway root's loopback.
func dropinWaitPorts(t *testing.T, r *testenv.Throwaway, what string, ports ...string) {
	t.Helper()
	testenv.WaitFor(t, what, func() bool {
		for _, port := range ports {
			c, err := r.Dial("127.0.0.1:" + port)
			if err != nil {
				return false
			}
			c.Close()
		}
		return true
	})
}

// mailboxIDs is what a client sees of a mailbox: the UIDVALIDITY, and the
// IMAP UID and POP3 UIDL of each message by its Message-Id's left part.
type mailboxIDs struct {
	uidValidity uint32
	uid         map[string]imap.UID
	uidl        map[string]string
}

var messageIDRe = regexp.MustCompile(`(?i)message-id:\s*<([^@>]+)@`)

// dropinIDs reads the UIDs over IMAP and the UIDLs over POP3 with our
// clients, through the throwaway root's loopback.
func dropinIDs(t *testing.T, r *testenv.Throwaway, user, pass string) mailboxIDs {
	t.Helper()
	ids := mailboxIDs{uid: map[string]imap.UID{}, uidl: map[string]string{}}
	conn, err := r.Dial("127.0.0.1:143")
	if err != nil {
		t.Fatal(err)
	}
	c := imapclient.New(conn, nil)
	defer c.Close()
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatalf("IMAP LOGIN %s: %v", user, err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	ids.uidValidity = sel.UIDValidity
	if sel.NumMessages > 0 {
		var all imap.SeqSet
		all.AddRange(1, sel.NumMessages)
		msgs, err := c.Fetch(all, &imap.FetchOptions{
			UID: true, BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierHeader, Peek: true}},
		}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			for _, b := range m.BodySection {
				if mm := messageIDRe.FindSubmatch(b.Bytes); mm != nil {
					ids.uid[string(mm[1])] = m.UID
				}
			}
		}
	}
	c.Logout().Wait()

	pc, err := r.Dial("127.0.0.1:110")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	p := newPOPConn(t, pc)
	if g := p.line(); !strings.HasPrefix(g, "+OK") {
		t.Fatalf("POP3 greeting %q", g)
	}
	p.ok("USER " + user)
	p.ok("PASS " + pass)
	p.ok("UIDL")
	for _, l := range p.multi() {
		n, uidl, _ := strings.Cut(l, " ")
		p.ok("TOP " + n + " 0")
		if mm := messageIDRe.FindStringSubmatch(strings.Join(p.multi(), "\n")); mm != nil {
			ids.uidl[mm[1]] = uidl
		}
	}
	p.ok("QUIT")
	return ids
}

// TestDropIn is the drop-in promise end to end: in a throwaway root (this
// machine's root under an overlay, in its own namespaces; the machine is
// left unchanged) the real Courier from Debian is configured with its own
// tools and receives mail. Then make install puts ours over the same
// /etc/courier and spool, the sysvinit script starts it with no
// configuration change, and real clients send (swaks, STARTTLS and AUTH)
// and read (mutt and mbsync over IMAP, fetchmail over POP3); the messages
// delivered before the switch keep their UIDs and UIDLs; courier stop leaves
// no process behind. Last, the systemd units: systemd-analyze verifies
// them, and their ExecStart lines run the suite the same way.
func TestDropIn(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedPackage(t, "courier-mta", "/usr/lib/courier/courier/courierd", "/etc/init.d/courier-mta")
	testenv.NeedPackage(t, "courier-imap", "/usr/lib/courier/courier/imaplogin")
	testenv.NeedPackage(t, "courier-pop", "/usr/lib/courier/courier/courierpop3login")
	testenv.NeedPackage(t, "courier-authdaemon", "/etc/init.d/courier-authdaemon")
	testenv.NeedPackage(t, "courier-authlib-userdb", "/usr/sbin/makeuserdb")
	testenv.NeedPackage(t, "swaks", "swaks")
	testenv.NeedPackage(t, "mutt", "mutt")
	testenv.NeedPackage(t, "isync", "mbsync")
	testenv.NeedPackage(t, "fetchmail", "fetchmail")
	testenv.NeedPackage(t, "systemd", "systemd-analyze")
	testenv.NeedPackage(t, "util-linux", "unshare", "nsenter")
	testenv.NeedPackage(t, "bsdutils", "script")
	testenv.NeedPackage(t, "iproute2", "ip")
	repo, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	goEnv := func(name string) string {
		out, err := exec.Command(goBin, "env", name).Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}
	// Build once here, so that make install inside the throwaway root
	// finds every package in this machine's build cache.
	if out, err := exec.Command("make", "-C", repo, "build", "BUILDDIR="+t.TempDir()).CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	r := testenv.NewThrowaway(t)

	// The real Courier, installed afresh from Debian inside the throwaway
	// root (whatever this machine's /etc/courier holds is purged there
	// first), configured with its own tools and fed through its own server.
	if out, err := r.HostNetCommand([]string{"DEBIAN_FRONTEND=noninteractive"}, "sh", "-ec", dropinInstallDebian).CombinedOutput(); err != nil {
		t.Fatalf("installing the real Courier from Debian: %v\n%s", err, out)
	}
	r.Sh("configure and start the real Courier", dropinSetup)
	dropinWaitPorts(t, r, "the real Courier's SMTP, IMAP and POP3 ports", "25", "143", "110")
	dropinSend(t, r, "before")
	dropinWaitDelivered(t, r, dropinWant("before"))
	beforeV := dropinIDs(t, r, dropinVirtual, dropinVirtualPW)
	beforeS := dropinIDs(t, r, dropinSystem, dropinSystemPW)
	if len(beforeV.uid) != 3 || len(beforeS.uid) != 2 || len(beforeV.uidl) != 3 || len(beforeS.uidl) != 2 {
		t.Fatalf("the real Courier shows %v and %v", beforeV, beforeS)
	}
	r.Sh("stop the real Courier", dropinStopDebian)
	if p := r.Processes(); len(p) > 0 {
		t.Fatalf("the real Courier left processes behind after its init scripts' stop:\n%s", strings.Join(p, "\n"))
	}

	// Ours, over it: make install, then the sysvinit script.
	out := r.Sh("make install", "cd \"$REPO\" && make install BUILDDIR=/tmp/dropin-build",
		"REPO="+repo, "PATH="+filepath.Dir(goBin)+":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"GOCACHE="+goEnv("GOCACHE"), "GOMODCACHE="+goEnv("GOMODCACHE"), "GOPATH="+goEnv("GOPATH"),
		"GOPROXY=off", "GOFLAGS=-buildvcs=false")
	if !strings.Contains(out, "programs installed into the debian layout") {
		t.Fatalf("make install:\n%s", out)
	}
	out = r.Sh("start ours with the sysvinit script", "/etc/init.d/courier start")
	for _, tool := range []string{"makeuserdb", "makealiases", "makesmtpaccess", "makehosteddomains", "makeacceptmailfor"} {
		if !strings.Contains(out, " "+tool) {
			t.Errorf("the sysvinit script did not rebuild the original's database with %s:\n%s", tool, out)
		}
	}
	t.Logf("/etc/init.d/courier start:\n%s", out)
	dropinWaitPorts(t, r, "our SMTP, IMAP and POP3 ports", "25", "143", "110", "993", "995", "465")
	dropinCheckUsers(t, r)

	// The messages of the real Courier keep their UIDs and UIDLs.
	afterV := dropinIDs(t, r, dropinVirtual, dropinVirtualPW)
	afterS := dropinIDs(t, r, dropinSystem, dropinSystemPW)
	for _, c := range []struct {
		who           string
		before, after mailboxIDs
	}{{dropinVirtual, beforeV, afterV}, {dropinSystem, beforeS, afterS}} {
		if c.after.uidValidity != c.before.uidValidity {
			t.Errorf("%s: UIDVALIDITY %d after the switch, %d before", c.who, c.after.uidValidity, c.before.uidValidity)
		}
		for id, uid := range c.before.uid {
			if c.after.uid[id] != uid {
				t.Errorf("%s: message %s has UID %d after the switch, %d before", c.who, id, c.after.uid[id], uid)
			}
		}
		for id, uidl := range c.before.uidl {
			if c.after.uidl[id] != uidl {
				t.Errorf("%s: message %s has UIDL %q after the switch, %q before", c.who, id, c.after.uidl[id], uidl)
			}
		}
	}

	// Mail after the switch reaches the same places, and real clients
	// read it.
	dropinSend(t, r, "after")
	dropinWaitDelivered(t, r, dropinWant("after"))
	// A user's sendmail writes into the queue the original left.
	r.Sh("sendmail as a user", `su sysuser -c "printf 'Message-Id: <after-sendmail@dropin.test>\nSubject: sendmail\n\nbody\n' | /usr/sbin/sendmail vuser@example.test"`)
	dropinWaitDelivered(t, r, map[string][]string{dropinMaildirV: {"after-sendmail"}})
	dropinReadWithClients(t, r)

	afterV = dropinIDs(t, r, dropinVirtual, dropinVirtualPW)
	for id, uid := range afterV.uid {
		if strings.HasPrefix(id, "after-") {
			for _, old := range beforeV.uid {
				if uid <= old {
					t.Errorf("%s: new message %s has UID %d, not above the old UIDs %v", dropinVirtual, id, uid, beforeV.uid)
				}
			}
		}
	}

	out = r.Sh("stop ours with the sysvinit script", "/etc/init.d/courier stop")
	if p := r.Processes(); len(p) > 0 {
		t.Errorf("courier stop left processes behind:\n%s\n(stop said %s)", strings.Join(p, "\n"), out)
	}

	dropinSystemdUnits(t, r)
	dropinCertificate(t, r)
	dropinBoot(t, r)
}

// dropinBoot runs every init script a Debian system with Courier has, in
// boot order and then in shutdown order: Debian's per-service scripts, which
// make install replaced, hand over to /etc/init.d/courier, so one courierd
// runs the suite and nothing is started twice or left behind.
func dropinBoot(t *testing.T, r *testenv.Throwaway) {
	t.Helper()
	scripts := []string{"courier-authdaemon", "courierfilter", "courier", "courier-mta", "courier-mta-ssl",
		"courier-msa", "courier-pop", "courier-pop-ssl", "courier-imap", "courier-imap-ssl"}
	r.Sh("boot", "for s in "+strings.Join(scripts, " ")+"; do /etc/init.d/$s start; done")
	dropinWaitPorts(t, r, "the suite's ports after boot", "25", "143", "110", "993", "995", "465")
	supervisors := 0
	for _, p := range r.Processes() {
		if f := strings.Fields(p); filepath.Base(f[2]) == "courierd" && (len(f) == 3 || f[3] != "scheduler") {
			supervisors++
		}
		if strings.Contains(p, "/usr/lib/courier/courier/") || strings.Contains(p, "/usr/sbin/courierfilter") {
			t.Errorf("a process of the original Courier runs after boot: %s", p)
		}
	}
	if supervisors != 1 {
		t.Errorf("%d courierd supervisors after boot, want 1:\n%s", supervisors, strings.Join(r.Processes(), "\n"))
	}
	r.Sh("shutdown", "for s in "+reverse(scripts)+"; do /etc/init.d/$s stop; done")
	if p := r.Processes(); len(p) > 0 {
		t.Errorf("shutdown left processes behind:\n%s", strings.Join(p, "\n"))
	}
}

// dropinCertificate checks the sysvinit script's first-run certificate: an
// enabled TLS service without its certificate gets one, readable by the
// servers (root:courier, 0640), and serves TLS with it.
func dropinCertificate(t *testing.T, r *testenv.Throwaway) {
	t.Helper()
	r.Sh("remove the IMAP certificate", "rm /etc/courier/imapd.pem")
	out := r.Sh("start with the sysvinit script", "/etc/init.d/courier start")
	if !strings.Contains(out, " mkimapdcert") {
		t.Errorf("the sysvinit script did not make the missing IMAP certificate:\n%s", out)
	}
	if st := r.Sh("stat", "stat -c '%a %U %G' /etc/courier/imapd.pem"); st != "640 root courier\n" {
		t.Errorf("the new imapd.pem is %q, want 640 root courier", st)
	}
	var greeting string
	testenv.WaitFor(t, "an IMAPS greeting", func() bool {
		c, err := r.Dial("127.0.0.1:993")
		if err != nil {
			return false
		}
		defer c.Close()
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
		greeting, err = bufio.NewReader(tc).ReadString('\n')
		return err == nil
	})
	if !strings.HasPrefix(greeting, "* OK") {
		t.Errorf("IMAPS greeting with the new certificate: %q", greeting)
	}
	r.Sh("stop", "/etc/init.d/courier stop")
	if p := r.Processes(); len(p) > 0 {
		t.Errorf("courier stop left processes behind:\n%s", strings.Join(p, "\n"))
	}
}

// dropinCheckUsers checks that every process of ours runs as the user the
// design gives it.
func dropinCheckUsers(t *testing.T, r *testenv.Throwaway) {
	t.Helper()
	// The scheduler drops to the courier user once its modules are
	// started, which may come after the ports listen.
	testenv.WaitFor(t, "the scheduler to run as the courier user", func() bool {
		for _, p := range r.Processes() {
			if f := strings.Fields(p); len(f) > 3 && filepath.Base(f[2]) == "courierd" && f[3] == "scheduler" {
				return f[1] == "courier"
			}
		}
		return false
	})
	procs := r.Processes()
	want := map[string]string{"courierd": "root", "scheduler": "courier", "authdaemond": "root", "couriertcpd": "root", "courieresmtpd": "courier"}
	seen := map[string]bool{}
	for _, p := range procs {
		f := strings.Fields(p)
		prog := filepath.Base(f[2])
		if prog == "courierd" && len(f) > 3 && f[3] == "scheduler" {
			prog = "scheduler"
		}
		if user, ok := want[prog]; ok {
			seen[prog] = true
			if f[1] != user && !(prog == "couriertcpd" && f[1] == "courier") {
				t.Errorf("%s runs as %s, want %s: %s", prog, f[1], user, p)
			}
		}
		if strings.HasPrefix(prog, "courier") && strings.Contains(p, "/usr/lib/courier/courier/") {
			t.Errorf("a process of the original Courier runs: %s", p)
		}
	}
	for prog := range want {
		if prog != "courieresmtpd" && !seen[prog] {
			t.Errorf("no %s process runs after /etc/init.d/courier start:\n%s", prog, strings.Join(procs, "\n"))
		}
	}
}

// dropinReadWithClients reads the userdb account's mail with mbsync and
// mutt over IMAP, and the system account's with fetchmail over POP3.
func dropinReadWithClients(t *testing.T, r *testenv.Throwaway) {
	t.Helper()
	want := dropinWant("after")

	out := r.Sh("mbsync", `mkdir -p /tmp/mbsync/local
cat > /tmp/mbsync/rc <<EOF
IMAPAccount dropin
Host 127.0.0.1
Port 143
User vuser@example.test
Pass Virt-pass-1
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account dropin

MaildirStore local
Path /tmp/mbsync/local/
Inbox /tmp/mbsync/local/INBOX

Channel inbox
Far :remote:INBOX
Near :local:
Sync Pull
Create Near
EOF
mbsync -c /tmp/mbsync/rc inbox
find /tmp/mbsync/local/INBOX/cur /tmp/mbsync/local/INBOX/new -type f -exec cat {} +`)
	for _, id := range append(want[dropinMaildirV], "before-1", "before-3", "before-4") {
		if !strings.Contains(out, "<"+id+"@dropin.test>") {
			t.Errorf("mbsync did not fetch %s:\n%s", id, out)
		}
	}

	// mutt has no batch mode for reading: it runs on a pseudo-terminal
	// (script) with its keys pushed, and saves every message to an mbox.
	out = r.Sh("mutt", `cat > /tmp/muttrc <<'EOF'
set imap_user="vuser@example.test"
set imap_pass="Virt-pass-1"
set folder="imap://127.0.0.1:143/"
set spoolfile="imap://127.0.0.1:143/INBOX"
set ssl_starttls=no
set ssl_force_tls=no
set confirmcreate=no
set confirmappend=no
set delete=no
set move=no
set quit=yes
set mbox_type=mbox
set wait_key=no
set sort=date-sent
push "<tag-pattern>~A<enter><tag-prefix><copy-message>/tmp/mutt.mbox<enter><quit>"
EOF
TERM=vt100 script -qec 'mutt -n -F /tmp/muttrc' /dev/null > /tmp/mutt.log 2>&1 || { cat /tmp/mutt.log; exit 1; }
cat /tmp/mutt.mbox`)
	for _, id := range want[dropinMaildirV] {
		if !strings.Contains(out, "<"+id+"@dropin.test>") {
			t.Errorf("mutt did not read %s over IMAP:\n%s", id, out)
		}
	}

	out = r.Sh("fetchmail", `cat > /tmp/fetchmailrc <<'EOF'
poll 127.0.0.1 protocol pop3 port 110
  user "sysuser" password "Sys-pass-1" is root here
  keep fetchall sslproto '' mda "/bin/sh -c 'cat >> /tmp/fetchmail.out'"
EOF
chmod 600 /tmp/fetchmailrc
rm -f /tmp/fetchmail.out
fetchmail -f /tmp/fetchmailrc --nosyslog --nodetach
cat /tmp/fetchmail.out`, "FETCHMAILHOME=/tmp")
	for _, id := range append(want[dropinMaildirS], "before-2", "before-3") {
		if !strings.Contains(out, "<"+id+"@dropin.test>") {
			t.Errorf("fetchmail did not fetch %s over POP3:\n%s", id, out)
		}
	}
}

// dropinSystemdUnits checks the installed systemd units: systemd-analyze
// verifies them, and, systemd not running here, their ExecStart lines are
// run as systemd would run them (in the units' order, in the foreground),
// serve mail, and stop with SIGTERM leaving nothing behind.
func dropinSystemdUnits(t *testing.T, r *testenv.Throwaway) {
	t.Helper()
	units := []string{"courier-authdaemon", "courier", "courier-mta", "courier-msa", "courier-mta-ssl",
		"courier-pop", "courier-pop-ssl", "courier-imap", "courier-imap-ssl"}
	var paths []string
	for _, u := range units {
		paths = append(paths, "/lib/systemd/system/"+u+".service")
	}
	r.Sh("systemd-analyze verify", "systemd-analyze verify --man=no /lib/systemd/system/courier.target /lib/systemd/system/courierfilter.service "+strings.Join(paths, " "))

	// The first unit prepares what the init script's start prepares: a
	// missing alias database and certificate are made again.
	r.Sh("remove aliases.dat and pop3d.pem", "rm /etc/courier/aliases.dat /etc/courier/pop3d.pem")
	script := `for u in ` + strings.Join(units, " ") + `; do
	pre=$(sed -n 's/^ExecStartPre=//p' /lib/systemd/system/$u.service)
	if [ -n "$pre" ]; then $pre; fi
	cmd=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/$u.service)
	case "$cmd" in /usr/sbin/courierd\ -only=*) ;; *) echo "$u: unexpected ExecStart $cmd"; exit 1 ;; esac
	setsid $cmd > /tmp/unit-$u.log 2>&1 < /dev/null &
	echo $! > /tmp/unit-$u.pid
	sleep 0.2
done`
	out := r.Sh("run the units' ExecStartPre and ExecStart lines", script)
	if !strings.Contains(out, " makealiases") || !strings.Contains(out, " mkpop3dcert") {
		t.Errorf("courier-authdaemon.service's ExecStartPre did not remake aliases.dat and pop3d.pem:\n%s", out)
	}
	dropinWaitPorts(t, r, "the units' SMTP, IMAP and POP3 ports", "25", "143", "110", "993", "995", "465")
	// The submission service is disabled in Debian's esmtpd-msa: its
	// courierd exited at once, successfully.
	msa, _ := os.ReadFile(r.Path("/tmp/unit-courier-msa.log"))
	if !strings.Contains(string(msa), "service esmtpd-msa not started: ESMTPDSTART=NO") {
		t.Errorf("courier-msa.service's courierd -only=esmtpd-msa said:\n%s", msa)
	}

	dropinSend(t, r, "units")
	dropinWaitDelivered(t, r, dropinWant("units"))
	ids := dropinIDs(t, r, dropinVirtual, dropinVirtualPW)
	if _, ok := ids.uid["units-1"]; !ok {
		t.Errorf("IMAP under the units does not show units-1: %v", ids.uid)
	}

	// systemd stops a unit with SIGTERM to its main process (KillMode=mixed),
	// in the reverse order.
	r.Sh("stop the units", `for u in `+reverse(units)+`; do
	pid=$(cat /tmp/unit-$u.pid)
	kill -TERM $pid 2>/dev/null || true
	while kill -0 $pid 2>/dev/null; do sleep 0.1; done
done`)
	if p := r.Processes(); len(p) > 0 {
		t.Errorf("stopping the units' courierd left processes behind:\n%s", strings.Join(p, "\n"))
	}
}

func reverse(s []string) string {
	var b strings.Builder
	for i := len(s) - 1; i >= 0; i-- {
		b.WriteString(s[i] + " ")
	}
	return b.String()
}
