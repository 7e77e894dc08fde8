package module

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestDeliveryRoundTrip(t *testing.T) {
	d := Delivery{Inode: 794977, QueueID: "00000000000C2161.000000006B0267A1.00007614", Sender: "carol@example.org",
		ID: "17", Host: "remote.example", Recipients: []Recipient{{0, "r1@remote.example"}, {2, "r3@remote.example"}}}
	line, err := d.Line()
	if err != nil {
		t.Fatal(err)
	}
	want := "794977\t00000000000C2161.000000006B0267A1.00007614\tcarol@example.org\t17\tremote.example\t0\tr1@remote.example\t2\tr3@remote.example"
	if line != want {
		t.Fatalf("Line = %q\nwant %q", line, want)
	}
	back, err := ParseDelivery(line)
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := back.Line(); l != line {
		t.Fatalf("round trip changed the line: %+v", back)
	}
	// The empty sender (<>) and empty host (dsn) are columns too.
	d = Delivery{Inode: 5, QueueID: "q", ID: "1", Recipients: []Recipient{{0, "u@example.test"}}}
	line, _ = d.Line()
	if line != "5\tq\t\t1\t\t0\tu@example.test" {
		t.Fatalf("Line = %q", line)
	}
	if _, err := (Delivery{Inode: 5, ID: "1", Sender: "a\tb", Recipients: d.Recipients}).Line(); err == nil {
		t.Fatal("a sender with a tab was formatted")
	}
}

func TestParseDeliveryErrors(t *testing.T) {
	for _, line := range []string{
		"",
		"1\tq\ts\t1\th\t0",         // index without address
		"1\tq\ts\t1\th",            // no recipient
		"x\tq\ts\t1\th\t0\ta@b",    // bad inode
		"0\tq\ts\t1\th\t0\ta@b",    // inode 0
		"1\tq\ts\t\th\t0\ta@b",     // empty id
		"1\tq\ts\t1\th\t-1\ta@b",   // negative index
		"1\tq\ts\t1\th\tz\ta@b",    // bad index
		"1\tq\ts\t1\th\t0\t",       // empty address
		"1\tq\ts\t1\th\t0\ta@b\t1", // dangling index
		"1\tq\ts\t1 2\th\t0\ta@b",  // id with a space
		"18446744073709551616\tq\ts\t1\th\t0\ta@b",
	} {
		if d, err := ParseDelivery(line); err == nil {
			t.Errorf("ParseDelivery(%q) = %+v, want an error", line, d)
		}
	}
}

func TestParseReply(t *testing.T) {
	for line, want := range map[string]Reply{
		"17":                  {ID: "17"},
		"17\tdefer\tno space": {ID: "17", Text: "defer\tno space"},
		"17 trailing":         {ID: "17"},
	} {
		got, err := ParseReply(line)
		if err != nil || got != want {
			t.Errorf("ParseReply(%q) = %+v, %v; want %+v", line, got, err, want)
		}
	}
	if _, err := ParseReply(""); err == nil {
		t.Error("empty reply accepted")
	}
}

func FuzzParseDelivery(f *testing.F) {
	f.Add("794977\tQ\tcarol@example.org\t17\tremote.example\t0\tr1@remote.example")
	f.Add("5\tq\t\t1\t\t0\tu@example.test\t3\tv@example.test")
	f.Add("1\tq")
	f.Fuzz(func(t *testing.T, line string) {
		d, err := ParseDelivery(line)
		if err != nil {
			return
		}
		out, err := d.Line()
		if err != nil {
			if strings.Contains(line, "\n") {
				return
			}
			t.Fatalf("parsed %q but cannot format it: %v", line, err)
		}
		again, err := ParseDelivery(out)
		if err != nil {
			t.Fatalf("formatted %q does not parse: %v", out, err)
		}
		if out2, _ := again.Line(); out2 != out {
			t.Fatalf("not stable: %q -> %q", out, out2)
		}
	})
}

func TestReadConfigs(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Debian's files, as installed.
	write("module.local", "##NAME: MAXDELS:0\n\nNAME=local\nPRIORITY=10\nPROG=./courierlocal\nMAXDELS=10\nMAXHOST=4\n")
	write("module.dsn", "NAME=dsn\nPRIORITY=99\nPROG=./courierdsn\nMAXDELS=4\n")
	write("module.esmtp", "NAME=esmtp\nPRIORITY=50\nPROG=./courieresmtp\nMAXDELS=40\nMAXHOST=4\nMAXRCPT=100\n")
	write("module.esmtp.dist", "NAME=esmtp\n")
	cs, err := ReadConfigs(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cs {
		got = append(got, c.Name)
	}
	if strings.Join(got, ",") != "local,esmtp,dsn" {
		t.Fatalf("modules %v, want local,esmtp,dsn by priority", got)
	}
	if c := cs[0]; c.MaxDels != 10 || c.MaxHost != 4 || c.MaxRcpt != 1 || c.Program() != "courierlocal" {
		t.Errorf("local = %+v", c)
	}
	if c := cs[2]; c.MaxDels != 4 || c.MaxHost != 4 || c.MaxRcpt != 1 {
		t.Errorf("dsn = %+v", c)
	}
	if c := cs[1]; c.MaxRcpt != 100 {
		t.Errorf("esmtp = %+v", c)
	}
	for name, text := range map[string]string{
		"bad number": "NAME=x\nMAXDELS=many\n",
		"zero":       "NAME=x\nMAXDELS=0\n",
		"bad name":   "NAME=a b\n",
		"foreign":    "NAME=x\nPROG=./something-else\n",
	} {
		p := filepath.Join(t.TempDir(), "module.x")
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadConfig(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %v, want one naming %s", name, err, p)
		}
	}
	write("module.other", "NAME=local\n")
	if _, err := ReadConfigs(dir); err == nil || !strings.Contains(err.Error(), "already declared") {
		t.Errorf("duplicate module name: %v", err)
	}
}

// TestServe runs deliveries through real pipes: at most MaxDels at a time,
// one reply per line, malformed lines skipped, and at end of input Serve
// waits for the running deliveries before returning.
func TestServe(t *testing.T) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	var running, peak, done atomic.Int32
	h := func(ctx context.Context, d Delivery) string {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		running.Add(-1)
		done.Add(1)
		if d.Host == "dsn" {
			return Deferral + "\tqueue full"
		}
		return ""
	}
	errc := make(chan error, 1)
	go func() {
		errc <- Serve(context.Background(), inR, outW, ServeOptions{MaxDels: 3}, h)
		outW.Close()
	}()
	go func() {
		for i := 1; i <= 10; i++ {
			host := "h"
			if i == 10 {
				host = "dsn"
			}
			d := Delivery{Inode: uint64(i), QueueID: "q", ID: strings.Repeat("x", i), Host: host, Recipients: []Recipient{{0, "a@b"}}}
			l, _ := d.Line()
			io.WriteString(inW, l+"\n")
			if i == 5 {
				io.WriteString(inW, "garbage\n")
			}
		}
		inW.Close()
	}()
	replies, err := io.ReadAll(outR)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(replies), "\n"), "\n")
	if len(lines) != 10 || done.Load() != 10 {
		t.Fatalf("%d replies, %d deliveries done: %q", len(lines), done.Load(), replies)
	}
	if peak.Load() > 3 || peak.Load() < 2 {
		t.Errorf("peak concurrency %d, want 2..3 with MaxDels 3", peak.Load())
	}
	if !strings.Contains(string(replies), strings.Repeat("x", 10)+"\tdefer\tqueue full\n") {
		t.Errorf("the dsn reply text is missing: %q", replies)
	}
}

func TestServeTimeout(t *testing.T) {
	in := strings.NewReader("1\tq\t\t7\th\t0\ta@b\n")
	var out strings.Builder
	var sawDeadline bool
	err := Serve(context.Background(), in, &out, ServeOptions{MaxDels: 1, Timeout: 30 * time.Millisecond}, func(ctx context.Context, d Delivery) string {
		<-ctx.Done()
		sawDeadline = ctx.Err() == context.DeadlineExceeded
		return ""
	})
	if err != nil || !sawDeadline || out.String() != "7\n" {
		t.Fatalf("err %v, deadline seen %v, out %q", err, sawDeadline, out.String())
	}
}
