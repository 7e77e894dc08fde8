package handoff

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestMain makes the test binary an exec-mode server when asked: it
// serves the connection on its standard input through Stdio and
// OneConnListener, writing a variable of its environment.
func TestMain(m *testing.M) {
	if os.Getenv("HANDOFF_TEST_STDIO") == "1" {
		c, err := Stdio()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		l := OneConnListener(c)
		nc, err := l.Accept()
		if err != nil || nc != net.Conn(c) {
			os.Exit(4)
		}
		fmt.Fprintf(nc, "X=%s\n", c.Getenv("X"))
		nc.Close()
		if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
			os.Exit(5)
		}
		os.Exit(0)
	}
	if os.Getenv("HANDOFF_TEST_ECHO") == "1" {
		c, err := Stdio()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(4)
		}
		fmt.Fprintf(c, "read %s", buf[:n])
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// pair returns a loopback TCP connection: the server's end and the
// client's.
func tcpPair(t *testing.T) (*net.TCPConn, net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return server.(*net.TCPConn), client
}

// listenOn makes the listener the way a server started by couriertcpd
// does: from the descriptor named in the environment.
func listenOn(t *testing.T, f *os.File) *Listener {
	t.Helper()
	t.Setenv(EnvFD, strconv.Itoa(int(f.Fd())))
	l, ok, err := Listen()
	if err != nil || !ok {
		t.Fatalf("Listen = %v, %v", ok, err)
	}
	if os.Getenv(EnvFD) != "" {
		t.Errorf("%s is still set after Listen", EnvFD)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestPassConnection(t *testing.T) {
	sender, f, err := Pair()
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	l := listenOn(t, f)
	server, client := tcpPair(t)
	if err := sender.Send(42, []string{"TCPREMOTEIP=::ffff:127.0.0.1", "RELAYCLIENT=", "HOME=/conn"}, server); err != nil {
		t.Fatal(err)
	}
	server.Close()
	nc, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c := nc.(*Conn)
	if _, ok := c.Conn.(*net.TCPConn); !ok {
		t.Errorf("the passed connection is a %T, want *net.TCPConn", c.Conn)
	}
	if v, ok := c.LookupEnv("RELAYCLIENT"); !ok || v != "" {
		t.Errorf("RELAYCLIENT = %q, %v", v, ok)
	}
	if c.Getenv("HOME") != "/conn" || c.Getenv("TCPREMOTEIP") != "::ffff:127.0.0.1" {
		t.Errorf("per-connection variables: %v", c.Env)
	}
	t.Setenv("HANDOFF_ONLY_PROCESS", "p")
	if c.Getenv("HANDOFF_ONLY_PROCESS") != "p" {
		t.Error("Getenv does not fall back to the process environment")
	}
	if _, ok := c.LookupEnv("HANDOFF_UNSET"); ok {
		t.Error("an unset variable is found")
	}
	// The passed socket is the client's connection.
	fmt.Fprintln(c, "hello")
	client.SetDeadline(time.Now().Add(5 * time.Second))
	if line, _ := bufio.NewReader(client).ReadString('\n'); line != "hello\n" {
		t.Errorf("client read %q", line)
	}
	c.Close()
	c.Close()
	if id, err := sender.Done(); err != nil || id != 42 {
		t.Errorf("Done = %d, %v; want 42", id, err)
	}
	if b, _ := io.ReadAll(client); len(b) != 0 {
		t.Errorf("after Close the client read %q", b)
	}
}

// TestBadPacket: a packet without a socket is answered as closed, so
// couriertcpd does not count it; Accept goes on with the next one.
func TestBadPacket(t *testing.T) {
	sender, f, err := Pair()
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	l := listenOn(t, f)
	accepted := make(chan net.Conn, 1)
	go func() {
		nc, err := l.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- nc
	}()
	if _, err := sender.sock.Write([]byte("7\x00A=1\x00")); err != nil {
		t.Fatal(err)
	}
	if id, err := sender.Done(); err != nil || id != 7 {
		t.Errorf("Done = %d, %v; want 7", id, err)
	}
	server, _ := tcpPair(t)
	if err := sender.Send(8, nil, server); err != nil {
		t.Fatal(err)
	}
	nc := <-accepted
	if nc == nil {
		t.FailNow()
	}
	if nc.(*Conn).id != "8" {
		t.Errorf("accepted id %q, want 8", nc.(*Conn).id)
	}
	nc.Close()
	sender.Close()
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after couriertcpd closed: %v", err)
	}
}

func TestNotPassMode(t *testing.T) {
	t.Setenv(EnvFD, "")
	if l, ok, err := Listen(); l != nil || ok || err != nil {
		t.Errorf("Listen without %s = %v, %v, %v", EnvFD, l, ok, err)
	}
	t.Setenv(EnvFD, "x")
	if _, ok, err := Listen(); !ok || err == nil {
		t.Errorf("Listen with %s=x: %v, %v", EnvFD, ok, err)
	}
}

// TestStdio runs the test binary with a connection as its standard input
// and output, as couriertcpd's exec mode does.
func TestStdio(t *testing.T) {
	server, client := tcpPair(t)
	f, err := server.File()
	if err != nil {
		t.Fatal(err)
	}
	server.Close()
	self, _ := os.Executable()
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), "HANDOFF_TEST_STDIO=1", "X=exec mode")
	cmd.Stdin, cmd.Stdout = f, f
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	client.SetDeadline(time.Now().Add(10 * time.Second))
	b, _ := io.ReadAll(client)
	if err := cmd.Wait(); err != nil {
		t.Errorf("exec-mode server: %v", err)
	}
	if string(b) != "X=exec mode\n" {
		t.Errorf("client read %q", b)
	}
}

// A pre-authenticated server on pipes (ssh, a client's tunnel) waits for
// input that comes later instead of failing its first read: standard
// input is a blocking pipe, as a shell makes it.
func TestStdioPipes(t *testing.T) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	inR, inW := os.NewFile(uintptr(p[0]), "stdin"), os.NewFile(uintptr(p[1]), "input")
	defer inW.Close()
	self, _ := os.Executable()
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), "HANDOFF_TEST_ECHO=1")
	cmd.Stdin = inR
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	inR.Close()
	time.Sleep(200 * time.Millisecond)
	inW.Write([]byte("a SELECT INBOX\r\n"))
	if err := cmd.Wait(); err != nil {
		t.Errorf("server on pipes: %v", err)
	}
	if out.String() != "read a SELECT INBOX\r\n" {
		t.Errorf("server answered %q", out.String())
	}
}
