package imapd

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/gocourier/courier/pkg/maildir"
	"github.com/gocourier/courier/test/corpus"
)

// benchSession fills a maildir as imapbench does (n messages in cur/,
// names with ,S= and no ,W=) and returns a function that runs one command
// in a session with INBOX selected.
func benchSession(b *testing.B, n int) func(cmd string) {
	b.Helper()
	root := benchMaildir(b, n)
	return benchConn(b, root)
}

// benchMaildir makes the maildir of benchSession.
func benchMaildir(b *testing.B, n int) string {
	b.Helper()
	root := filepath.Join(b.TempDir(), "Maildir")
	if err := maildir.Make(root, 0o700, 0o700, false); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i++ {
		msg := corpus.Message(i)
		name := fmt.Sprintf("%d.M%06dP1.bench,S=%d:2,", 1700000000+i, i, len(msg))
		if err := os.WriteFile(filepath.Join(root, "cur", name), msg, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	return root
}

// benchConn starts a session on root and returns a function that runs
// one command in it, with INBOX selected.
func benchConn(b *testing.B, root string) func(cmd string) {
	run := benchConnNoSelect(b, root)
	run("SELECT INBOX")
	run("NOOP") // the warm-up starts after SELECT's answer
	waitWarm(root)
	return run
}

// waitWarm waits for the warm-up of the folder at path to end, as it
// does in imapbench (FETCH 1:* meets it) before the operations measured.
func waitWarm(path string) {
	for {
		if _, busy := reading.Load(path); !busy {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// benchConnNoSelect is benchConn without the SELECT.
func benchConnNoSelect(b *testing.B, root string) func(cmd string) {
	client, server := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		Serve(server, root, func(k string) string { return testEnv[k] }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	b.Cleanup(func() { client.Close(); <-done })
	r := bufio.NewReaderSize(client, 1<<16)
	if _, err := r.ReadString('\n'); err != nil {
		b.Fatal(err)
	}
	tag := 0
	run := func(cmd string) {
		tag++
		t := fmt.Sprintf("b%d", tag)
		if _, err := io.WriteString(client, t+" "+cmd+"\r\n"); err != nil {
			b.Fatal(err)
		}
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				b.Fatal(err)
			}
			if strings.HasPrefix(line, t+" ") {
				if !strings.HasPrefix(line, t+" OK") {
					b.Fatalf("%s: %s", cmd, line)
				}
				return
			}
		}
	}
	return run
}

// BenchmarkFetchEnvelopesCold10k is FETCH 1:* (UID FLAGS RFC822.SIZE
// ENVELOPE) on 10,000 messages no session of the process read before.
func BenchmarkFetchEnvelopesCold10k(b *testing.B) {
	run := benchSession(b, 10000)
	for b.Loop() {
		infos.mu.Lock()
		infos.m.Clear()
		infos.bytes = 0
		infos.gen.Add(1)
		infos.mu.Unlock()
		run("FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE)")
	}
}

// BenchmarkFetchEnvelopes10k is the same FETCH again.
func BenchmarkFetchEnvelopes10k(b *testing.B) {
	run := benchSession(b, 10000)
	run("FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE)")
	for b.Loop() {
		run("FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE)")
	}
}

// BenchmarkSearchSubject10k is UID SEARCH SUBJECT on 10,000 messages.
func BenchmarkSearchSubject10k(b *testing.B) {
	run := benchSession(b, 10000)
	for b.Loop() {
		run("UID SEARCH SUBJECT budget")
	}
}

// BenchmarkSearchBody10k is UID SEARCH BODY on 10,000 messages.
func BenchmarkSearchBody10k(b *testing.B) {
	run := benchSession(b, 10000)
	for b.Loop() {
		run("UID SEARCH BODY xylophone")
	}
}

// BenchmarkMix10k is imapbench's mix in the process: 50 sessions on one
// 10,000-message INBOX, each repeating SELECT, FETCH of 50 envelopes, a
// header SEARCH, a STORE of one message and NOOP; it reports the
// latencies of each.
func BenchmarkMix10k(b *testing.B) {
	root := benchMaildir(b, 10000)
	const sessions = 50
	runs := make([]func(string), sessions)
	for i := range runs {
		runs[i] = benchConn(b, root)
	}
	names := []string{"select", "fetch", "search", "store", "noop"}
	for b.Loop() {
		var mu sync.Mutex
		lat := map[string][]time.Duration{}
		var wg sync.WaitGroup
		deadline := time.Now().Add(3 * time.Second)
		for i, run := range runs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n := 1 + (i*50)%5000
				cmds := []string{"SELECT INBOX", fmt.Sprintf("FETCH %d:%d (UID FLAGS ENVELOPE)", n, n+49),
					fmt.Sprintf("SEARCH FROM sender%d@", i%50), fmt.Sprintf("STORE %d +FLAGS.SILENT (\\Seen)", i+1), "NOOP"}
				for k := 0; time.Now().Before(deadline); k++ {
					start := time.Now()
					run(cmds[k%len(cmds)])
					d := time.Since(start)
					mu.Lock()
					lat[names[k%len(cmds)]] = append(lat[names[k%len(cmds)]], d)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		total := 0
		for _, n := range names {
			l := lat[n]
			slices.Sort(l)
			total += len(l)
			if len(l) > 0 {
				b.ReportMetric(float64(l[len(l)/2].Microseconds())/1000, n+"-p50-ms")
				b.ReportMetric(float64(l[len(l)*99/100].Microseconds())/1000, n+"-p99-ms")
			}
		}
		b.ReportMetric(float64(total)/3, "ops/s")
	}
}

// BenchmarkSelectFirst10k is imapbench's first SELECT: a new maildir of
// 10,000 messages without UID map, which the SELECT builds.
func BenchmarkSelectFirst10k(b *testing.B) {
	benchNewMaildir(b, "SELECT INBOX")
}

// benchNewMaildir times cmds, each time on a new maildir of 10,000
// messages; the warm-up they start is waited for untimed.
func benchNewMaildir(b *testing.B, cmds ...string) {
	for b.Loop() {
		b.StopTimer()
		root := benchMaildir(b, 10000)
		run := benchConnNoSelect(b, root)
		b.StartTimer()
		for _, c := range cmds {
			run(c)
		}
		b.StopTimer()
		run("NOOP") // the warm-up starts after the answers
		waitWarm(root)
		b.StartTimer()
	}
}

// BenchmarkStore1000 is STORE +FLAGS.SILENT (\Flagged) on 1,000 of
// 10,000 messages, then the same with -FLAGS, one after the other: each
// STORE waits for the renames of the one before (they hold the folder
// lock after its answer).
func BenchmarkStore1000(b *testing.B) { benchStore1000(b, false) }

// BenchmarkStore1000Answer is BenchmarkStore1000 with the renames of each
// STORE waited for outside the time measured (a SELECT: the folder's
// close waits for them): the time of the answer alone, as a client sees
// it.
func BenchmarkStore1000Answer(b *testing.B) { benchStore1000(b, true) }

func benchStore1000(b *testing.B, settle bool) {
	run := benchSession(b, 10000)
	i := 0
	for b.Loop() {
		op := "+"
		if i%2 == 1 {
			op = "-"
		}
		run("STORE 1:1000 " + op + "FLAGS.SILENT (\\Flagged)")
		if settle {
			b.StopTimer()
			run("SELECT INBOX")
			b.StartTimer()
		}
		i++
	}
}

// BenchmarkCopy500 is COPY of 500 of 10,000 messages to another folder.
func BenchmarkCopy500(b *testing.B) {
	run := benchSession(b, 10000)
	run("CREATE INBOX.Dest")
	for b.Loop() {
		run("COPY 1:500 INBOX.Dest")
	}
}

// BenchmarkMove500 is MOVE of 500 of 10,000 messages to another folder
// (the INBOX is filled again when it runs low, untimed).
func BenchmarkMove500(b *testing.B) {
	root := benchMaildir(b, 10000)
	run := benchConn(b, root)
	run("CREATE INBOX.Dest")
	left := 10000
	for b.Loop() {
		if left < 500 {
			b.StopTimer()
			benchRefill(b, root, 10000)
			run("NOOP")
			left = 10000
			b.StartTimer()
		}
		run("MOVE 1:500 INBOX.Dest")
		left -= 500
	}
}

// BenchmarkExpunge500 is EXPUNGE of 500 of 10,000 messages flagged
// \Deleted just before (untimed).
func BenchmarkExpunge500(b *testing.B) {
	root := benchMaildir(b, 10000)
	run := benchConn(b, root)
	left := 10000
	for b.Loop() {
		b.StopTimer()
		if left < 500 {
			benchRefill(b, root, 10000)
			run("NOOP")
			left = 10000
		}
		run("STORE 1:500 +FLAGS.SILENT (\\Deleted)")
		b.StartTimer()
		run("EXPUNGE")
		left -= 500
	}
}

// benchRefill writes again the messages of benchMaildir that are gone
// from root's cur/.
func benchRefill(b *testing.B, root string, n int) {
	b.Helper()
	have := map[string]bool{}
	names, err := os.ReadDir(filepath.Join(root, "cur"))
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range names {
		u, _, _ := strings.Cut(e.Name(), ":")
		have[u] = true
	}
	for i := 0; i < n; i++ {
		msg := corpus.Message(i)
		unique := fmt.Sprintf("%d.M%06dP1.bench,S=%d", 1700000000+i, i, len(msg))
		if have[unique] {
			continue
		}
		if err := os.WriteFile(filepath.Join(root, "cur", unique+":2,"), msg, 0o600); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFetchBody500 is FETCH 1:500 BODY.PEEK[]: 500 whole messages
// read from their files.
func BenchmarkFetchBody500(b *testing.B) {
	run := benchSession(b, 10000)
	for b.Loop() {
		run("FETCH 1:500 BODY.PEEK[]")
	}
}

// BenchmarkFirstSelectFetch10k is imapbench's sequence on a new maildir
// of 10,000 messages: SELECT (which builds the UID map), SELECT again,
// then FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE) at once, while the
// warm-up the SELECTs started still runs.
func BenchmarkFirstSelectFetch10k(b *testing.B) {
	benchNewMaildir(b, "SELECT INBOX", "SELECT INBOX", "FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE)")
}

// BenchmarkImapbenchTCP10k is imapbench's single operations on a new
// maildir of 10,000 messages, with go-imap's client over loopback TCP:
// the client parses the responses on the same cores as the server, so
// this measures the server's contention with it, which the benchmarks
// above on a pipe do not. It reports each operation's time.
func BenchmarkImapbenchTCP10k(b *testing.B) {
	var sel, env, body time.Duration
	for b.Loop() {
		b.StopTimer()
		root := benchMaildir(b, 10000)
		c := dial(b, serve(b, root, testEnv), nil)
		b.StartTimer()
		start := time.Now()
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			b.Fatal(err)
		}
		sel += time.Since(start)
		start = time.Now()
		var all imap.SeqSet
		all.AddRange(1, 0)
		m, err := c.Fetch(all, &imap.FetchOptions{UID: true, Flags: true, RFC822Size: true, Envelope: true}).Collect()
		if err != nil || len(m) != 10000 {
			b.Fatalf("FETCH envelopes: %d messages, %v", len(m), err)
		}
		env += time.Since(start)
		start = time.Now()
		var first imap.SeqSet
		first.AddRange(1, 500)
		if _, err := c.Fetch(first, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect(); err != nil {
			b.Fatal(err)
		}
		body += time.Since(start)
		b.StopTimer()
		c.Close()
		waitWarm(root)
		b.StartTimer()
	}
	b.ReportMetric(float64(sel.Microseconds())/1000/float64(b.N), "select-ms")
	b.ReportMetric(float64(env.Microseconds())/1000/float64(b.N), "fetch-env-ms")
	b.ReportMetric(float64(body.Microseconds())/1000/float64(b.N), "fetch-body-ms")
}

// BenchmarkCopy500AfterStore is COPY of 500 messages right after a STORE
// on 1,000 (imapbench's order): the COPY meets the STORE's renames.
func BenchmarkCopy500AfterStore(b *testing.B) {
	run := benchSession(b, 10000)
	run("CREATE INBOX.Dest")
	i := 0
	for b.Loop() {
		b.StopTimer()
		op := "+"
		if i%2 == 1 {
			op = "-"
		}
		i++
		run("DELETE INBOX.Dest")
		run("CREATE INBOX.Dest")
		run("STORE 1:1000 " + op + "FLAGS.SILENT (\\Flagged)")
		b.StartTimer()
		run("COPY 1:500 INBOX.Dest")
	}
}
