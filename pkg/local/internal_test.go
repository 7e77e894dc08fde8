package local

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gocourier/courier/pkg/authlib"
	"github.com/gocourier/courier/pkg/queue"
)

// TestCtlAppender appends the results of many concurrent deliveries to one
// control file: every delivery's records must be in the file, together and
// in order, when its append returns.
func TestCtlAppender(t *testing.T) {
	path := filepath.Join(t.TempDir(), "C1")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var a ctlAppender
	const deliveries, lines = 40, 3
	var wg sync.WaitGroup
	for n := 0; n < deliveries; n++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var recs []queue.Record
			for i := 0; i < lines; i++ {
				recs = append(recs, queue.Info(n, queue.InfoReply, fmt.Sprintf("line %d", i)))
			}
			if err := a.append(1, path, recs); err != nil {
				t.Error(err)
				return
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Error(err)
				return
			}
			var want strings.Builder
			for i := 0; i < lines; i++ {
				fmt.Fprintf(&want, "I%d R line %d\n", n, i)
			}
			if !strings.Contains(string(data), want.String()) {
				t.Errorf("after delivery %d returned, the file lacks its records in one piece:\n%s", n, data)
			}
		}()
	}
	wg.Wait()
	data, _ := os.ReadFile(path)
	if got := strings.Count(string(data), "\n"); got != deliveries*lines {
		t.Errorf("%d lines in the file, want %d", got, deliveries*lines)
	}
	// The goroutine writing the last batch ends just after it answered.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		a.mu.Lock()
		n := len(a.pending)
		a.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("appender still has %d messages in progress", n)
		}
	}
}

// TestAccountCache checks that authdaemond's answer for an account serves
// the deliveries of authTTL, and that failures are never kept.
func TestAccountCache(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "socket")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	asked := map[string]int{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			req, _ := bufio.NewReader(c).ReadString('\n')
			f := strings.Fields(req) // PRE . courier <user>
			user := f[len(f)-1]
			mu.Lock()
			asked[user]++
			mu.Unlock()
			if user == "alice" {
				io.WriteString(c, "USERNAME=alice\nUID=1000\nGID=1000\nHOME=/home/alice\n.\n")
			} else {
				io.WriteString(c, "FAIL\n")
			}
			c.Close()
		}
	}()
	m := &Module{Auth: authlib.NewClient(), authTTL: time.Hour}
	m.Auth.Socket = sock
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if a, err := m.pre(ctx, "alice"); err != nil || a.Home != "/home/alice" {
			t.Fatalf("pre(alice) = %+v, %v", a, err)
		}
		if _, err := m.pre(ctx, "nobody"); !errors.Is(err, authlib.ErrFail) {
			t.Fatalf("pre(nobody) = %v, want ErrFail", err)
		}
	}
	m.authCache["alice"] = authEntry{m.authCache["alice"].a, time.Now().Add(-2 * time.Hour)}
	if _, err := m.pre(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if asked["alice"] != 2 || asked["nobody"] != 3 {
		t.Errorf("authdaemond was asked %v, want alice twice (once more after the answer expired) and nobody 3 times", asked)
	}
}
