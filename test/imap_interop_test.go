package test

import (
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gocourier/courier/test/testenv"
)

// realIMAPD is the real Courier's imapd (Debian courier-imap).
const realIMAPD = "/usr/bin/imapd"

// preauth runs an IMAP server pre-authenticated on a maildir with the
// commands of script (one per line, tagged t1, t2, ...) and returns its
// output.
func preauth(t *testing.T, prog, md string, script ...string) string {
	t.Helper()
	var in strings.Builder
	for i, c := range script {
		fmt.Fprintf(&in, "t%d %s\r\n", i+1, c)
	}
	in.WriteString("z LOGOUT\r\n")
	cmd := exec.Command(prog, md)
	cmd.Env = []string{"AUTHENTICATED=u@example.test", "PATH=/usr/bin:/bin", "IMAP_KEYWORDS=1", "IMAP_ACL=1",
		"IMAP_CAPABILITY=IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT THREAD=REFERENCES SORT QUOTA IDLE",
		"TZ=UTC"}
	cmd.Stdin = strings.NewReader(in.String())
	stdout, stderr, code := testenv.Run(t, cmd)
	if code != 0 || !strings.HasPrefix(stdout, "* PREAUTH") {
		t.Fatalf("%s: exit %d\n%s%s", prog, code, stdout, stderr)
	}
	return stdout
}

// tagged returns the untagged lines answering command n of a preauth
// script, and its tagged line.
func tagged(out string, n int) ([]string, string) {
	var lines []string
	tag := fmt.Sprintf("t%d ", n)
	prev := fmt.Sprintf("t%d ", n-1)
	started := n == 1
	for _, l := range strings.Split(out, "\r\n") {
		if strings.HasPrefix(l, prev) {
			started = true
			continue
		}
		if !started {
			continue
		}
		if strings.HasPrefix(l, tag) {
			return lines, l
		}
		lines = append(lines, l)
	}
	return lines, ""
}

var fetchLine = regexp.MustCompile(`^\* \d+ FETCH \(.*UID (\d+).*FLAGS \(([^)]*)\)|^\* \d+ FETCH \(.*FLAGS \(([^)]*)\).*UID (\d+)`)

// flagsByUID reads FETCH (UID FLAGS) answers: uid → sorted flags without
// \Recent.
func flagsByUID(lines []string) map[string]string {
	out := map[string]string{}
	for _, l := range lines {
		m := fetchLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		uid, flags := m[1], m[2]
		if uid == "" {
			uid, flags = m[4], m[3]
		}
		f := slices.DeleteFunc(strings.Fields(flags), func(s string) bool { return s == `\Recent` })
		slices.Sort(f)
		out[uid] = strings.Join(f, " ")
	}
	return out
}

var uidValidity = regexp.MustCompile(`\[UIDVALIDITY (\d+)\]`)

func mkMaildir(t *testing.T) string {
	t.Helper()
	md := filepath.Join(t.TempDir(), "Maildir")
	for _, d := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(md, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return md
}

func putNew(t *testing.T, md string, first, n int) {
	t.Helper()
	for i := first; i < first+n; i++ {
		name := fmt.Sprintf("%d.M%06dP%d.host", 1700000000+i, i, 100+i)
		testenv.WriteFile(t, filepath.Join(md, "new", name), fmt.Sprintf("Subject: message %d\nFrom: a@example.test\n\nbody %d\n", i, i), 0o600)
	}
}

// TestIMAPInteropWithCourier serves one maildir with the real Courier's
// imapd and ours in turns: UIDVALIDITY, UIDs, flags, keywords and
// subscriptions carry over both ways.
func TestIMAPInteropWithCourier(t *testing.T) {
	testenv.NeedPackage(t, "courier-imap", realIMAPD)
	ours := testenv.Build(t, "imapd")
	for _, first := range []string{realIMAPD, ours} {
		second := ours
		if first == ours {
			second = realIMAPD
		}
		name := "courier first"
		if first == ours {
			name = "ours first"
		}
		t.Run(name, func(t *testing.T) {
			md := mkMaildir(t)
			putNew(t, md, 1, 5)
			out := preauth(t, first, md, "SELECT INBOX", `STORE 1 +FLAGS (\Flagged $Work)`, `STORE 2 +FLAGS (\Seen \Answered)`,
				"CREATE INBOX.Sub", "SUBSCRIBE INBOX.Sub", "FETCH 1:* (UID FLAGS)")
			v1 := uidValidity.FindStringSubmatch(out)
			lines, _ := tagged(out, 6)
			before := flagsByUID(lines)
			if v1 == nil || len(before) != 5 || before["1"] != `$Work \Flagged` || before["2"] != `\Answered \Seen` {
				t.Fatalf("%s:\n%s", first, out)
			}
			putNew(t, md, 6, 2)
			out = preauth(t, second, md, "SELECT INBOX", "FETCH 1:* (UID FLAGS)", `LSUB "" "*"`,
				`STORE 3 +FLAGS (\Draft $Other)`, "CREATE INBOX.Two", "SUBSCRIBE INBOX.Two")
			v2 := uidValidity.FindStringSubmatch(out)
			lines, _ = tagged(out, 2)
			after := flagsByUID(lines)
			if v2 == nil || v2[1] != v1[1] {
				t.Fatalf("UIDVALIDITY %v then %v\n%s", v1, v2, out)
			}
			for uid, f := range before {
				if after[uid] != f {
					t.Errorf("%s sees uid %s with flags %q, %s gave %q", second, uid, after[uid], first, f)
				}
			}
			if _, ok := after["6"]; !ok || len(after) != 7 {
				t.Errorf("new messages: %v", after)
			}
			if lsub, _ := tagged(out, 3); !slices.ContainsFunc(lsub, func(l string) bool { return strings.HasSuffix(l, `"INBOX.Sub"`) }) {
				t.Errorf("%s lost the subscription: %q", second, lsub)
			}
			// And back to the first one.
			out = preauth(t, first, md, "SELECT INBOX", "FETCH 1:* (UID FLAGS)", `LSUB "" "*"`)
			if v := uidValidity.FindStringSubmatch(out); v == nil || v[1] != v1[1] {
				t.Fatalf("UIDVALIDITY changed back with %s:\n%s", first, out)
			}
			lines, _ = tagged(out, 2)
			back := flagsByUID(lines)
			if back["3"] != `$Other \Draft` || back["7"] != "" || len(back) != 7 {
				t.Errorf("%s after %s: %v", first, second, back)
			}
			if lsub, _ := tagged(out, 3); !slices.ContainsFunc(lsub, func(l string) bool { return strings.HasSuffix(l, `"INBOX.Two"`) }) {
				t.Errorf("subscriptions: %q", lsub)
			}
		})
	}
}

// sortCorpus writes a few hundred messages with threads, replies,
// forwards and odd subjects.
func sortCorpus(t *testing.T, md string, n int) {
	t.Helper()
	rnd := rand.New(rand.NewSource(7))
	subjects := []string{"Meeting", "meeting notes", "Lunch?", "[list] Release 1.0", "Budget (fwd)", "=?UTF-8?Q?Caf=C3=A9_menu?=",
		"   spaced   out  ", "", "Re: Re: Fwd: Party", "FW: Budget", "Re:Budget", "Re: [list] Release 1.0", "Fwd: [list] Release 1.0 (fwd)", "ZZZ", "aardvark", "Party"}
	prefixes := []string{"", "", "Re: ", "RE: ", "Fwd: ", "Re[2]: ", "re: fwd: "}
	froms := []string{"Alice <alice@example.test>", "bob@example.test", "\"Zed\" <zed@b.example>", "carol@a.example", "=?UTF-8?Q?=C3=89mile?= <emile@example.test>"}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 1; i <= n; i++ {
		var h strings.Builder
		fmt.Fprintf(&h, "From: %s\n", froms[rnd.Intn(len(froms))])
		fmt.Fprintf(&h, "To: %s\n", froms[rnd.Intn(len(froms))])
		if i%7 != 0 {
			fmt.Fprintf(&h, "Cc: %s\n", froms[rnd.Intn(len(froms))])
		}
		fmt.Fprintf(&h, "Subject: %s%s\n", prefixes[rnd.Intn(len(prefixes))], subjects[rnd.Intn(len(subjects))])
		if i%11 != 0 {
			d := base.Add(time.Duration(rnd.Intn(100000)) * time.Minute)
			fmt.Fprintf(&h, "Date: %s\n", d.Format("Mon, 2 Jan 2006 15:04:05 -0700"))
		}
		fmt.Fprintf(&h, "Message-ID: <m%d@example.test>\n", i)
		if i > 3 && rnd.Intn(3) > 0 {
			p := 1 + rnd.Intn(i-1)
			fmt.Fprintf(&h, "In-Reply-To: <m%d@example.test>\n", p)
			if rnd.Intn(2) == 0 {
				fmt.Fprintf(&h, "References: <m%d@example.test> <m%d@example.test>\n", 1+rnd.Intn(p), p)
			}
		}
		body := strings.Repeat("text\n", 1+rnd.Intn(20))
		name := fmt.Sprintf("%d.M%06dP%d.host", 1700000000+i, i, 1000+i)
		p := filepath.Join(md, "cur", name+":2,")
		testenv.WriteFile(t, p, h.String()+"\n"+body, 0o600)
		mt := base.Add(time.Duration(rnd.Intn(1000)) * time.Hour)
		os.Chtimes(p, mt, mt)
	}
}

// TestSortThreadAgainstCourier: SORT and THREAD answer as the real
// Courier's imapd for a corpus of 300 messages.
func TestSortThreadAgainstCourier(t *testing.T) {
	testenv.NeedPackage(t, "courier-imap", realIMAPD)
	ours := testenv.Build(t, "imapd")
	md := mkMaildir(t)
	sortCorpus(t, md, 300)
	cmds := []string{"SELECT INBOX",
		"SORT (SUBJECT) UTF-8 ALL", "SORT (REVERSE SUBJECT) UTF-8 ALL", "SORT (DATE) UTF-8 ALL", "SORT (REVERSE DATE) UTF-8 ALL",
		"SORT (ARRIVAL) UTF-8 ALL", "SORT (FROM) UTF-8 ALL", "SORT (TO) UTF-8 ALL", "SORT (CC DATE) UTF-8 ALL",
		"SORT (SIZE SUBJECT) UTF-8 ALL", "SORT (SUBJECT) UTF-8 FROM alice",
		"THREAD ORDEREDSUBJECT UTF-8 ALL", "THREAD REFERENCES UTF-8 ALL", "UID THREAD REFERENCES UTF-8 SINCE 1-Jan-2026"}
	real := preauth(t, realIMAPD, md, cmds...)
	mine := preauth(t, ours, md, cmds...)
	for i := 2; i <= len(cmds); i++ {
		r, _ := tagged(real, i)
		m, _ := tagged(mine, i)
		if strings.Join(r, "\n") != strings.Join(m, "\n") {
			t.Errorf("%s:\ncourier: %s\nours:    %s", cmds[i-1], strings.Join(r, "\n"), strings.Join(m, "\n"))
		}
	}
}
