package local

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gocourier/courier/pkg/authlib"
)

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
