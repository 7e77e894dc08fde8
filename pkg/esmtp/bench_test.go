package esmtp

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gocourier/courier/pkg/controlfiles"
	"github.com/gocourier/courier/pkg/module"
	"github.com/gocourier/courier/pkg/queue"
)

// BenchmarkHandle measures one delivery in the module's process: the
// control file read, a transaction on a kept session to a sink on
// loopback, and the results appended to the control file.
func BenchmarkHandle(b *testing.B) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go benchSink(c)
		}
	}()
	dir := b.TempDir()
	etc := filepath.Join(dir, "etc")
	os.MkdirAll(etc, 0o755)
	os.WriteFile(filepath.Join(etc, "me"), []byte("sender.test\n"), 0o644)
	files, err := controlfiles.Load(etc)
	if err != nil {
		b.Fatal(err)
	}
	q, err := queue.Open(filepath.Join(dir, "var"), queue.Options{})
	if err != nil {
		b.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(l.Addr().String())
	routes, _ := ParseRoutes("esmtproutes", []byte(": ["+host+"],"+port+"\n"))
	m := &Module{Queue: q, Files: files, Routes: routes, Helo: "sender.test", Getenv: os.Getenv,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	m.idle.keep = 1 << 62
	defer m.idle.close()
	body := "Subject: bench\n\n" + strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n", 30)
	ds := make([]module.Delivery, b.N)
	for i := range ds {
		id, err := q.Submit(&queue.Envelope{Sender: "a@sender.test", Source: "local", Recipients: []queue.Recipient{{Address: "x@far.test"}}}, strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		ds[i] = module.Delivery{Inode: id.Inode, QueueID: id.String(), Sender: "a@sender.test", Host: "far.test", Recipients: []module.Recipient{{Index: 0, Address: "x@far.test"}}}
	}
	b.ResetTimer()
	for _, d := range ds {
		m.Handle(context.Background(), d)
	}
}

func benchSink(c net.Conn) {
	defer c.Close()
	t := textproto.NewConn(c)
	w := bufio.NewWriter(c)
	t.PrintfLine("220 sink")
	for {
		l, err := t.ReadLine()
		if err != nil {
			return
		}
		switch cmd := strings.ToUpper(l); {
		case strings.HasPrefix(cmd, "EHLO"):
			w.WriteString("250-sink\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
		case cmd == "DATA":
			w.WriteString("354 go\r\n")
			w.Flush()
			if _, err := t.ReadDotBytes(); err != nil {
				return
			}
			w.WriteString("250 ok\r\n")
		case cmd == "QUIT":
			w.WriteString("221 bye\r\n")
			w.Flush()
			return
		default:
			w.WriteString("250 ok\r\n")
		}
		if t.R.Buffered() == 0 {
			w.Flush()
		}
	}
}
