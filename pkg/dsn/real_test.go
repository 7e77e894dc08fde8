package dsn

import (
	"strings"
	"testing"
	"time"

	"github.com/gocourier/courier/test/testenv"
)

// realCase is one message given to both the original courierdsn and Build.
type realCase struct {
	name  string
	ctl   []string
	data  string
	mtime time.Time
	kind  Kind
	env   []string
	extra []string // configuration files, name and content pairs
}

var arrival = time.Date(2026, 11, 22, 3, 43, 20, 0, time.UTC)

// ctlHead is the start of a control file as submission writes it, up to the
// recipients.
func ctlHead(sender, from, envid, ret string) []string {
	return []string{"s" + sender, "f" + from, "e" + envid, "t" + ret, "M0000000000000069.000000006B0267A1.00007614"}
}

// ctlTail is the end of the submitted records.
func ctlTail(source string) []string {
	return []string{"ORELAYCLIENT=", "u" + source, "E1795924513", "p1795348513", "W1795334113", "A1795319713"}
}

func join(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

const smallMessage = "Received: from client.example by vm\nFrom: carol@example.org\nTo: r1@remote.example\nSubject: hello\n\nbody line\n--=_courier_0\nlast line\n"

var realCases = []realCase{
	{
		name: "mixed failed relayed delivered",
		ctl: join(ctlHead("carol@example.org", "dns; client.example ([::ffff:127.0.0.1])", "env+2B12345", "F"),
			[]string{"rr1@remote.example", "Rorig-r1@remote.example", "N",
				"rr2@remote.example", "R", "NSF",
				"ruser1@example.test", "R", "NS",
				"rr4@remote.example", "R", "NS"},
			ctlTail("authsmtp"),
			[]string{"I2 R Message delivered.", "S2 1795319713 l",
				"I0 P [127.0.0.1] [127.0.0.1]", "I0 S RCPT TO:<r1@remote.example>", "I0 T smtp",
				"I0 R 550-5.1.1 first line", "I0 R 550 5.1.1 <r1@remote.example> no such mailbox here", "F0 1795319713",
				"I1 P [127.0.0.1] [127.0.0.1]", "I1 S DATA", "I1 T smtp", "I1 R 250 2.0.0 queued as X", "S1 1795319713 r",
				"I3 P [127.0.0.1] [127.0.0.1]", "I3 R 250 ok", "S3 1795319713",
				"C1795319713"}),
		data: smallMessage, mtime: arrival,
	},
	{
		name: "delay warning",
		ctl: join(ctlHead("carol@example.org", "dns; client.example ([::ffff:127.0.0.1])", "", ""),
			[]string{"rd1@remote.example", "R", "N",
				"rd2@remote.example", "Rorig-d2@remote.example", "NFD",
				"rd3@remote.example", "R", "NF",
				"rdone@example.test", "R", "NSFD",
				"rfailed@remote.example", "R", "NFD"},
			ctlTail("smtp"),
			[]string{"I0 R Network is down", "D0 1795319713",
				"I1 P [192.0.2.7] [192.0.2.7]", "I1 S RCPT TO:<d2@remote.example>", "I1 T smtp", "I1 R 451 4.3.0 try later", "D1 1795319713",
				"I2 R Connection refused", "D2 1795319713",
				"I3 R Message delivered.", "S3 1795319713 l",
				"I4 R 550 no", "F4 1795319713",
				"C1795319713",
				"I0 R Connection refused", "D0 1795320013",
				"I1 R Connection refused", "D1 1795320013",
				"C1795320013"}),
		data: smallMessage, mtime: time.Date(2026, 11, 5, 7, 8, 9, 0, time.UTC), kind: Delay,
	},
	{
		name: "double bounce to postmaster",
		ctl: join(ctlHead("", "dns; localhost (localhost [127.0.0.1])", "", "H"),
			[]string{"L0", "rgone@example.test", "R", "N", "rquiet@example.test", "R", "NN"},
			ctlTail("local/dsn"),
			[]string{"I0 R 550 User <gone@example.test> unknown", "F0 1795319713",
				"I1 R 550 User <quiet@example.test> unknown", "F1 1795319713", "C1795319713"}),
		data:  "From: a@b\nSubject: bounce\n\n--=_COURIER_1\n--=_courier_0x\n--=_courier_20\nbody\n",
		mtime: arrival,
	},
	{
		name: "success receipt only",
		ctl: join(ctlHead("carol@example.org", "dns; localhost (localhost [127.0.0.1])", "", "F"),
			[]string{"ruser1@example.test", "R", "NS"},
			ctlTail("local"),
			[]string{"I0 R Message delivered.", "S0 1795319713 l", "C1795319713"}),
		data: smallMessage, mtime: arrival,
	},
	{
		name: "eight bit message and report",
		ctl: join(ctlHead("carol@example.org", "dns; client.example ([::ffff:127.0.0.1])", "", ""),
			[]string{"rjosé@remote.example", "R", "N", "r8@remote.example", "R", "N"},
			ctlTail("smtp"),
			[]string{"I0 P [127.0.0.1] [127.0.0.1]", "I0 T smtp", "I0 R 550 nüscht", "F0 1795319713",
				"I1 R", "F1 1795319713", "C1795319713"}),
		data:  "From: a@b\nSubject: caf\xc3\xa9\n\nna\xefve\n",
		mtime: arrival,
	},
	{
		name: "network error, other reply type, long reply, cancel",
		ctl: join(ctlHead("carol@example.org", "", "", ""),
			[]string{"rn@remote.example", "R", "N", "rx@remote.example", "R", "N", "rc@remote.example", "R", "N"},
			ctlTail("smtp"),
			[]string{"I0 P [198.51.100.1] [198.51.100.1]", "I0 C Connection reset by peer", "I0 C second error", "F0 1795319713",
				"I1 T x-very-long-reply-type-name", "I1 R " + strings.Repeat("y", 600), "I1 T ignored", "I1 R second", "F1 1795319713",
				"D2 1795319713", "C1795319713", "XCancelled by the admin", "Xsecond reason line",
				"I2 R Cancelled by the admin", "I2 R second reason line", "F2 1795319800", "x", "C1795319800"}),
		data: smallMessage, mtime: arrival,
	},
	{
		name: "message over dsnlimit, notify never, auth address",
		ctl: join(ctlHead("carol@example.org", "dns; client.example ([::ffff:127.0.0.1])", "", ""),
			[]string{"rbig@remote.example", "R", "N", "rnever@remote.example", "R", "NN"},
			[]string{"iauth@example.net"},
			ctlTail("authsmtp"),
			[]string{"I0 R 552 too big", "F0 1795319713", "I1 R 550 no", "F1 1795319713", "C1795319713"}),
		data:  "From: a@b\r\nSubject: crlf\r\n\r\n" + strings.Repeat("x", 200) + "\n",
		mtime: arrival, env: []string{"DSNTOAUTHADDR=1"}, extra: []string{"dsnlimit", "100\n", "dsnfrom", "Postmaster <postmaster@mx.example.test>\n"},
	},
	{
		name: "template edge cases",
		ctl: join(ctlHead("carol@example.org", "dns;", "", ""),
			[]string{"rd1@remote.example", "R", "ND"},
			ctlTail("local"),
			[]string{"I0 P", "I0 R  Network is down", "D0 1795319713", "C1795319713"}),
		data: "no header line end", mtime: arrival, kind: Delay,
		extra: []string{
			"dsnheader.txt", "Content-Type: text/plain\n\n[#ME#][#me#][#UNKNOWN#] [#ME [#ME#x [# [#A_1#] [[#FROMMTA#]] #] [" + strings.Repeat("#X", 40) + "\n[#FROMTIME#]",
			"dsndelayed.txt", "\n%s waits, 100%% sure\n",
			"dsnsubjectwarn.txt", "first line only  \nsecond\n",
		},
	},
}

// TestAgainstCourier runs Debian's courierdsn and Build on the same queued
// messages, with Debian's wording files and with ours, and requires identical
// reports apart from the parts comparable documents.
func TestAgainstCourier(t *testing.T) {
	for _, words := range []struct{ name, dir string }{{"debian", debianConfig}, {"ours", "../../etc/dsn"}} {
		for _, tc := range realCases {
			t.Run(words.name+"/"+tc.name, func(t *testing.T) {
				testenv.NeedPackage(t, "courier-mta", debianConfig+"/dsnheader.txt")
				extra := append([]string{"dsnfrom", "\"Mail Delivery Subsystem\" <@>\n"}, tc.extra...)
				cfg := configDir(t, words.dir, "mx.example.test", extra...)
				ctl := strings.Join(tc.ctl, "\n") + "\n"
				want := runReal(t, cfg, ctl, tc.data, tc.mtime, tc.kind, tc.env...)
				r := build(t, parseControl(t, tc.ctl...), tc.data, tc.mtime, tc.kind, settingsFrom(t, cfg, tc.env...))
				if r == nil {
					t.Fatal("Build found nothing to report; the original reported")
				}
				if got, exp := comparable(r.Message), comparable(want); got != exp {
					t.Errorf("report differs from the original's: %s\n--- ours\n%s", firstDifference(got, exp), got)
				}
			})
		}
	}
}
