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
	run("SELECT INBOX")
	return run
}

// BenchmarkFetchEnvelopesCold10k is FETCH 1:* (UID FLAGS RFC822.SIZE
// ENVELOPE) on 10,000 messages no session of the process read before.
func BenchmarkFetchEnvelopesCold10k(b *testing.B) {
	run := benchSession(b, 10000)
	for b.Loop() {
		infos.Lock()
		clear(infos.m)
		infos.bytes = 0
		infos.gen++
		infos.Unlock()
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
