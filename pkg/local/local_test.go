package local_test

import (
	"fmt"
	"os"
	"os/exec"
	osuser "os/user"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/gocourier/courier/pkg/queue"
	"github.com/gocourier/courier/test/testenv"
)

const msg = "From: sender@example.org\nSubject: test\n\nFrom the start\nbody\n"

func wantStatus(t *testing.T, r queue.RecipientState, st queue.Status, reply string) {
	t.Helper()
	rs := replies(r)
	if r.Status != st {
		t.Errorf("status %v, want %v (replies %q)", r.Status, st, rs)
	}
	if reply != "" && !slices.ContainsFunc(rs, func(s string) bool { return strings.Contains(s, reply) }) {
		t.Errorf("replies %q, want one containing %q", rs, reply)
	}
}

func owner(t *testing.T, path string) (uint32, uint32, os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	sys := st.Sys().(*syscall.Stat_t)
	return sys.Uid, sys.Gid, st.Mode().Perm()
}

func TestLocalDelivery(t *testing.T) {
	e := newEnv(t, "alice", "bob", "carol:300S")
	m := e.start()
	alice, bob := e.users["alice"], e.users["bob"]

	t.Run("default maildir", func(t *testing.T) {
		id := e.submit("sender@example.org", msg, "alice@example.test")
		r := e.deliver(m, id, 0)
		wantStatus(t, r, queue.StatusDelivered, "Message delivered.")
		if r.SuccessSuffix != "l" {
			t.Errorf("S record suffix %q, want l", r.SuccessSuffix)
		}
		files := newMessages(t, filepath.Join(alice.home, "Maildir"))
		if len(files) != 1 {
			t.Fatalf("new/ has %v", files)
		}
		got, _ := os.ReadFile(files[0])
		want := "Delivered-To: alice@example.test\nReturn-Path: <sender@example.org>\n" + msg
		if string(got) != want {
			t.Errorf("delivered\n%q\nwant\n%q", got, want)
		}
		uid, gid, mode := owner(t, files[0])
		if uid != alice.uid || gid != alice.gid || mode != 0o600 {
			t.Errorf("message owned by %d:%d mode %v, want %d:%d 0600", uid, gid, mode, alice.uid, alice.gid)
		}
		if !strings.Contains(filepath.Base(files[0]), "_1.") {
			t.Errorf("file name %s lacks courierlocal's _1 counter", filepath.Base(files[0]))
		}
		os.Remove(files[0])
		st, _ := os.Stat(e.q.DataPath(id.Inode))
		line := fmt.Sprintf("id=%s,from=<sender@example.org>,addr=<alice@example.test>,size=%d,success: Message delivered.", id, st.Size())
		if !m.Log.Has(line) {
			t.Errorf("log lacks the original's success line %q:\n%s", line, m.Log)
		}
	})

	t.Run("identity and environment of programs", func(t *testing.T) {
		e.writeFile("bob", ".courier", "| /usr/bin/id >ID\n| /usr/bin/env >ENV\n", 0o644)
		defer os.Remove(filepath.Join(bob.home, ".courier"))
		id := e.submit("", msg, "bob@example.test")
		wantStatus(t, e.deliver(m, id, 0), queue.StatusDelivered, "Message delivered.")
		idOut, err := os.ReadFile(filepath.Join(bob.home, "ID"))
		if err != nil {
			t.Fatal(err)
		}
		uidName, gidName := fmt.Sprint(bob.uid), fmt.Sprint(bob.gid)
		if u, err := osuser.LookupId(uidName); err == nil {
			uidName += "(" + u.Username + ")"
		}
		if g, err := osuser.LookupGroupId(gidName); err == nil {
			gidName += "(" + g.Name + ")"
		}
		want := fmt.Sprintf("uid=%s gid=%s groups=%s\n", uidName, gidName, gidName)
		if string(idOut) != want {
			t.Errorf("id printed %q, want %q (exactly the recipient's uid and gid, no group of root)", idOut, want)
		}
		envOut, _ := os.ReadFile(filepath.Join(bob.home, "ENV"))
		vars := map[string]string{}
		for _, l := range strings.Split(strings.TrimSpace(string(envOut)), "\n") {
			k, v, _ := strings.Cut(l, "=")
			vars[k] = v
		}
		// /bin/sh adds PWD (dash), and nothing else.
		delete(vars, "PWD")
		documented := []string{"HOME", "USER", "SENDER", "RECIPIENT", "HOST", "LOCAL", "EXT", "EXT2", "EXT3", "EXT4",
			"DEFAULT", "DTLINE", "RPLINE", "UFLINE", "PATH", "MAILDIRQUOTA", "MAILDROPDEFAULT", "SHELL",
			"DSNTOAUTHADDR", "DYNAMICDELIVERIES", "DEFAULTDELIVERY"}
		var names []string
		for k := range vars {
			names = append(names, k)
		}
		slices.Sort(names)
		slices.Sort(documented)
		if !slices.Equal(names, documented) {
			t.Errorf("program environment has\n%v\nwant exactly\n%v", names, documented)
		}
		for k, v := range map[string]string{"HOME": bob.home, "USER": "bob", "SENDER": "", "RECIPIENT": "bob@example.test",
			"HOST": "example.test", "LOCAL": "bob", "EXT": "", "DTLINE": "Delivered-To: bob@example.test",
			"RPLINE": "Return-Path: <>", "SHELL": "/bin/sh", "MAILDROPDEFAULT": "./Maildir"} {
			if vars[k] != v {
				t.Errorf("%s=%q, want %q", k, vars[k], v)
			}
		}
		if !strings.HasPrefix(vars["UFLINE"], "From  ") {
			t.Errorf("UFLINE=%q, want the From_ line of the empty sender", vars["UFLINE"])
		}
		if uid, gid, mode := owner(t, filepath.Join(bob.home, "ID")); uid != bob.uid || gid != bob.gid || mode != 0o600 {
			t.Errorf("ID owned by %d:%d mode %v, want %d:%d 0600 (umask 077)", uid, gid, mode, bob.uid, bob.gid)
		}
	})

	t.Run("mbox", func(t *testing.T) {
		e.writeFile("alice", ".courier-mbox", "./mailbox\n", 0o644)
		id := e.submit("sender@example.org", msg, "alice-mbox@example.test")
		wantStatus(t, e.deliver(m, id, 0), queue.StatusDelivered, "Message delivered.")
		p := filepath.Join(alice.home, "mailbox")
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(got), "From sender@example.org ") ||
			!strings.Contains(string(got), "\nDelivered-To: alice-mbox@example.test\nReturn-Path: <sender@example.org>\nFrom: sender@example.org\n") ||
			!strings.HasSuffix(string(got), "\n>From the start\nbody\n") {
			t.Errorf("mbox content %q", got)
		}
		if uid, gid, mode := owner(t, p); uid != alice.uid || gid != alice.gid || mode != 0o600 {
			t.Errorf("mbox owned by %d:%d mode %v, want the recipient's, 0600", uid, gid, mode)
		}
	})

	t.Run("program results", func(t *testing.T) {
		e.writeFile("alice", ".courier-tmp", "| echo try later >&2; exit 75\n", 0o644)
		e.writeFile("alice", ".courier-perm", "| echo no such list; exit 100\n./Maildir\n", 0o644)
		e.writeFile("alice", ".courier-stop", "| exit 99\n| touch SHOULDNOT\n", 0o644)
		e.writeFile("alice", ".courier-sig", "| kill -9 $$\n", 0o644)
		e.writeFile("alice", ".courier-loop", "./Maildir\n", 0o644)
		id := e.submit("sender@example.org", msg, "alice-tmp@example.test", "alice-perm@example.test", "alice-stop@example.test", "alice-sig@example.test")
		wantStatus(t, e.deliver(m, id, 0), queue.StatusDeferred, "try later")
		for _, line := range []string{
			fmt.Sprintf("id=%s,from=<sender@example.org>,addr=<alice-tmp@example.test>: try later\n", id),
			fmt.Sprintf("id=%s,from=<sender@example.org>,addr=<alice-tmp@example.test>,status: deferred\n", id),
		} {
			if !m.Log.Has(line) {
				t.Errorf("log lacks %q:\n%s", line, m.Log)
			}
		}
		wantStatus(t, e.deliver(m, id, 1), queue.StatusFailed, "no such list")
		wantStatus(t, e.deliver(m, id, 2), queue.StatusDelivered, "Message delivered.")
		if _, err := os.Stat(filepath.Join(alice.home, "SHOULDNOT")); err == nil {
			t.Error("exit 99 did not stop the instructions")
		}
		wantStatus(t, e.deliver(m, id, 3), queue.StatusFailed, "")
		if n := len(newMessages(t, filepath.Join(alice.home, "Maildir"))); n != 0 {
			t.Errorf("the permanent failure before ./Maildir still delivered %d messages", n)
		}
	})

	t.Run("mail loop", func(t *testing.T) {
		id := e.submit("sender@example.org", "Delivered-To: alice-loop@example.test\n"+msg, "alice-loop@example.test")
		wantStatus(t, e.deliver(m, id, 0), queue.StatusFailed, "Mail loop - already have my Delivered-To: header.")
	})

	t.Run("comments only discard", func(t *testing.T) {
		e.writeFile("alice", ".courier-void", "# nothing\n", 0o644)
		id := e.submit("sender@example.org", msg, "alice-void@example.test")
		wantStatus(t, e.deliver(m, id, 0), queue.StatusDelivered, "Message delivered.")
		if n := len(newMessages(t, filepath.Join(alice.home, "Maildir"))); n != 0 {
			t.Errorf("discarded mail delivered %d messages", n)
		}
	})

	t.Run("default fallbacks and unknown", func(t *testing.T) {
		e.writeFile("bob", ".courier-list-default", "| echo \"$DEFAULT $EXT $EXT2\" >DEF\n", 0o644)
		id := e.submit("sender@example.org", msg, "bob-list-x-y@example.test", "bob-other@example.test", "nobody-here@example.test")
		wantStatus(t, e.deliver(m, id, 0), queue.StatusDelivered, "Message delivered.")
		got, _ := os.ReadFile(filepath.Join(bob.home, "DEF"))
		if string(got) != "x-y list-x-y x-y\n" {
			t.Errorf("DEFAULT EXT EXT2 = %q, want %q", got, "x-y list-x-y x-y\n")
		}
		wantStatus(t, e.deliver(m, id, 1), queue.StatusFailed, "550 User <bob-other@example.test> unknown")
		wantStatus(t, e.deliver(m, id, 2), queue.StatusFailed, "550 User <nobody-here@example.test> unknown")
	})

	t.Run("world writable", func(t *testing.T) {
		e.writeFile("alice", ".courier-ww", "./Maildir\n", 0o666)
		id := e.submit("sender@example.org", msg, "alice-ww@example.test")
		wantStatus(t, e.deliver(m, id, 0), queue.StatusDeferred, ".courier file is globally writeable.")
	})

	t.Run("dynamic", func(t *testing.T) {
		e.writeFile("alice", ".courier-dyn", "|| echo ./mbox-dyn\n", 0o644)
		e.writeFile("alice", "deep.sh", "echo \"|| sh $HOME/deep.sh\"\n", 0o644)
		e.writeFile("alice", ".courier-deep", "|| sh $HOME/deep.sh\n", 0o644)
		id := e.submit("sender@example.org", msg, "alice-dyn@example.test", "alice-deep@example.test")
		wantStatus(t, e.deliver(m, id, 0), queue.StatusDelivered, "Message delivered.")
		if _, err := os.Stat(filepath.Join(alice.home, "mbox-dyn")); err != nil {
			t.Errorf("instruction from || not carried out: %v", err)
		}
		wantStatus(t, e.deliver(m, id, 1), queue.StatusFailed, "Maximum recursion level for dynamic delivery instructions exceeded.")
	})

	t.Run("quota", func(t *testing.T) {
		id := e.submit("sender@example.org", msg+strings.Repeat("x", 400)+"\n", "carol@example.test")
		wantStatus(t, e.deliver(m, id, 0), queue.StatusDeferred, "Maildir over quota.")
		if n := len(newMessages(t, filepath.Join(e.users["carol"].home, "Maildir"))); n != 0 {
			t.Errorf("over-quota delivery left %d messages", n)
		}
		small := e.submit("sender@example.org", msg, "carol@example.test")
		wantStatus(t, e.deliver(m, small, 0), queue.StatusDelivered, "Message delivered.")
	})

	t.Run("uid 0 refused", func(t *testing.T) {
		id := e.submit("sender@example.org", msg, "rootish@example.test")
		wantStatus(t, e.deliver(m, id, 0), queue.StatusFailed, "refused")
	})

	t.Run("forward", func(t *testing.T) {
		e.writeFile("alice", ".courier-fwd", "bob@example.test\n", 0o644)
		id := e.submit("sender@example.org", msg, "alice-fwd@example.test")
		before, _ := e.q.Scan()
		old := map[uint64]bool{}
		for _, en := range before {
			old[en.Inode] = true
		}
		wantStatus(t, e.deliver(m, id, 0), queue.StatusDelivered, "Message delivered.")
		entries, err := e.q.Scan()
		if err != nil {
			t.Fatal(err)
		}
		var found *queue.Control
		for _, en := range entries {
			c, err := e.q.Load(en.Inode)
			if err == nil && !old[en.Inode] && len(c.Recipients) == 1 && c.Recipients[0].Address == "bob@example.test" {
				found = c
				data, _ := os.ReadFile(e.q.DataPath(en.Inode))
				if !strings.Contains(string(data), "\nDelivered-To: alice-fwd@example.test\n") && !strings.HasPrefix(string(data), "Delivered-To: alice-fwd@example.test\n") {
					t.Errorf("forwarded copy lacks Delivered-To:\n%s", data)
				}
				if !strings.Contains(string(data), "forwarded by alice-fwd@example.test") {
					t.Errorf("forwarded copy's Received: does not say who forwarded it:\n%s", data)
				}
			}
		}
		if found == nil {
			t.Fatal("no forwarded copy for bob@example.test in the queue")
		}
		if found.Sender != "sender@example.org" {
			t.Errorf("forwarded with sender %q, want the original sender", found.Sender)
		}
		if r := found.Recipients[0]; r.ORCPT != "alice-fwd@example.test" || r.Notify.String() != "FAILURE" {
			t.Errorf("forwarded recipient ORCPT %q NOTIFY %v, want alice-fwd@example.test FAILURE", r.ORCPT, r.Notify)
		}
		// Sent back to the forwarding address, the copy is a loop.
		e.writeFile("bob", ".courier", "alice-fwd@example.test\n", 0o644)
		defer os.Remove(filepath.Join(bob.home, ".courier"))
		wantStatus(t, e.deliver(m, found.ID, 0), queue.StatusDelivered, "Message delivered.")
		var back *queue.Control
		entries, _ = e.q.Scan()
		for _, en := range entries {
			c, err := e.q.Load(en.Inode)
			if err == nil && len(c.Recipients) == 1 && c.Recipients[0].Address == "alice-fwd@example.test" && c.Recipients[0].Status == queue.StatusPending && c.ID != id {
				back = c
			}
		}
		if back == nil {
			t.Fatal("bob's forward back to alice-fwd is not in the queue")
		}
		wantStatus(t, e.deliver(m, back.ID, 0), queue.StatusFailed, "Mail loop - already have my Delivered-To: header.")
	})
}

func TestQmailModeAndTimeout(t *testing.T) {
	e := newEnv(t, "dave")
	e.s.WriteConfig(t, "dotextension", "qmail\n", 0o644)
	e.s.WriteConfig(t, "localtimeout", "2\n", 0o644)
	m := e.start()
	dave := e.users["dave"]
	e.writeFile("dave", ".qmail-list", "./qlist\n", 0o644)
	e.writeFile("dave", ".courier-other", "./other\n", 0o644)
	e.writeFile("dave", ".qmail-slow", "| sleep 60\n", 0o644)
	id := e.submit("sender@example.org", msg, "dave-list@example.test", "dave-other@example.test", "dave-slow@example.test")
	wantStatus(t, e.deliver(m, id, 0), queue.StatusDelivered, "Message delivered.")
	if _, err := os.Stat(filepath.Join(dave.home, "qlist")); err != nil {
		t.Errorf(".qmail-list not used: %v", err)
	}
	wantStatus(t, e.deliver(m, id, 1), queue.StatusFailed, "550 User <dave-other@example.test> unknown")
	wantStatus(t, e.deliver(m, id, 2), queue.StatusDeferred, "localtimeout")
	// The delivery child and its "sleep 60" were killed with their group.
	testenv.WaitFor(t, "the stuck program killed", func() bool { return allExited(m.Cmd.Process.Pid) })
}

func allExited(pid int) bool {
	for _, p := range testenv.Descendants(pid) {
		if !p.Exited() {
			return false
		}
	}
	return true
}

// TestInteropRealQuotaTools delivers into a maildir that the real Courier's
// maildirmake gave a quota, then lets the real deliverquota add to it: both
// keep one maildirsize that matches a recount.
func TestInteropRealQuotaTools(t *testing.T) {
	testenv.NeedPackage(t, "courier-base", "/usr/bin/maildirmake", "/usr/bin/deliverquota")
	e := newEnv(t, "erin")
	m := e.start()
	erin := e.users["erin"]
	md := filepath.Join(erin.home, "Box")
	if out, err := exec.Command("/usr/bin/maildirmake", "-q", "2000S,10C", md).CombinedOutput(); err != nil {
		t.Fatalf("real maildirmake: %v\n%s", err, out)
	}
	filepath.Walk(md, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, int(erin.uid), int(erin.gid)) })
	e.writeFile("erin", ".courier", "./Box\n", 0o644)
	id := e.submit("sender@example.org", msg, "erin@example.test")
	wantStatus(t, e.deliver(m, id, 0), queue.StatusDelivered, "Message delivered.")
	big := e.submit("sender@example.org", msg+strings.Repeat("y", 3000)+"\n", "erin@example.test")
	wantStatus(t, e.deliver(m, big, 0), queue.StatusDeferred, "Maildir over quota.")
	dq := exec.Command("/usr/bin/deliverquota", md)
	dq.Stdin = strings.NewReader(msg)
	if out, err := dq.CombinedOutput(); err != nil {
		t.Fatalf("real deliverquota: %v\n%s", err, out)
	}
	data, err := os.ReadFile(filepath.Join(md, "maildirsize"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if lines[0] != "2000S,10C" {
		t.Errorf("quota line %q", lines[0])
	}
	var bytes, count int64
	for _, l := range lines[1:] {
		var b, c int64
		fmt.Sscan(l, &b, &c)
		bytes, count = bytes+b, count+c
	}
	var realBytes, realCount int64
	for _, f := range newMessages(t, md) {
		st, _ := os.Stat(f)
		realBytes += st.Size()
		realCount++
	}
	if bytes != realBytes || count != realCount || realCount != 2 {
		t.Errorf("maildirsize says %d bytes %d messages, the maildir holds %d bytes in %d messages\n%s", bytes, count, realBytes, realCount, data)
	}
}

// BenchmarkMaildirDelivery measures whole local deliveries through a
// running courierlocal: control file, authdaemond lookup, the delivery child
// as the recipient, maildir write with fsync, and the recorded result.
func BenchmarkMaildirDelivery(b *testing.B) {
	e := newEnv(b, "bench")
	m := e.start()
	ids := make([]queue.QueueID, b.N)
	for i := range ids {
		ids[i] = e.submit("sender@example.org", msg, "bench@example.test")
	}
	b.ResetTimer()
	for _, id := range ids {
		if r := e.deliver(m, id, 0); r.Status != queue.StatusDelivered {
			b.Fatalf("delivery: %v %q", r.Status, replies(r))
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
}
