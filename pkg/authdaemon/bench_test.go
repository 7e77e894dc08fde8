package authdaemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gocourier/courier/pkg/auth"
	"github.com/gocourier/courier/pkg/authlib"
	"github.com/gocourier/courier/pkg/passwd"
	"github.com/gocourier/courier/pkg/userdb"
)

// benchServer serves 1000 md5-crypt userdb accounts in-process on a real
// Unix socket.
func benchServer(b *testing.B) *authlib.Client {
	b.Helper()
	dir := b.TempDir()
	h, _ := passwd.Hash("md5", "Bench-pw1")
	var text strings.Builder
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&text, "u%d@bench.test\tuid=5000|gid=5000|home=/h/%d|systempw=%s\n", i, i, h)
	}
	src := filepath.Join(dir, "userdb")
	os.WriteFile(src, []byte(text.String()), 0o600)
	if _, err := userdb.FileSource(src).Compile(); err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	stack, err := auth.NewStack(auth.Config{ModuleList: []string{"authuserdb"}, UserdbSource: src, Log: log})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("unix", filepath.Join(dir, "socket"))
	if err != nil {
		b.Fatal(err)
	}
	srv := NewServer(stack, 5, log)
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Shutdown(context.Background()) })
	c := authlib.NewClient()
	c.Socket = filepath.Join(dir, "socket")
	return c
}

func BenchmarkLogin(b *testing.B) {
	c := benchServer(b)
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			if _, err := c.Login(context.Background(), "imap", fmt.Sprintf("u%d@bench.test", i%1000), "Bench-pw1"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkPre(b *testing.B) {
	c := benchServer(b)
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			if _, err := c.Pre(context.Background(), "imap", fmt.Sprintf("u%d@bench.test", i%1000)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
