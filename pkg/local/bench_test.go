package local_test

import (
	"bufio"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gocourier/courier/pkg/module"
	"github.com/gocourier/courier/pkg/queue"
	"github.com/gocourier/courier/test/testenv"
)

// BenchmarkModule measures courierlocal as the scheduler drives it: b.N
// queued 2 KiB messages delivered into maildirs, with as many deliveries in
// flight as the scheduler allows (module.local's MAXDELS=10, MAXHOST=4).
// "1rcpt" sends messages to one account, "5rcpt" messages to five accounts
// (one delivery line per recipient, as module.local's MAXRCPT=1 makes the
// scheduler send them).
// Besides the time it reports the CPU time of courierlocal and its workers
// per delivery, which other work on the machine disturbs much less.
func BenchmarkModule(b *testing.B) {
	users := []string{"u1", "u2", "u3", "u4", "u5"}
	e := newEnv(b, users...)
	body := "From: sender@example.org\nSubject: bench\n\n" + strings.Repeat(strings.Repeat("0123456789abcdef", 4)+"\n", 31)
	for _, tc := range []struct {
		name  string
		users int
	}{{"1rcpt", 1}, {"5rcpt", 5}} {
		b.Run(tc.name, func(b *testing.B) {
			var rcpts []string
			for _, u := range users[:tc.users] {
				rcpts = append(rcpts, u+"@example.test")
			}
			var lines []module.Delivery
			var id queue.QueueID
			for i := 0; i < b.N; i++ {
				n := i % tc.users
				if n == 0 {
					id = e.submit("sender@example.org", body, rcpts...)
				}
				lines = append(lines, module.Delivery{Inode: id.Inode, QueueID: id.String(), Sender: "sender@example.org",
					ID: strconv.Itoa(i + 1), Host: users[n], Recipients: []module.Recipient{{Index: n, Address: rcpts[n]}}})
			}
			cmd := exec.Command(e.s.Path("courierlocal"))
			for _, kv := range moduleEnv {
				if !strings.HasPrefix(kv, "MAXDELS=") {
					cmd.Env = append(cmd.Env, kv)
				}
			}
			cmd.Env = append(cmd.Env, "MAXDELS=10")
			log := &testenv.SyncBuffer{}
			cmd.Stderr = log
			in, err := cmd.StdinPipe()
			if err != nil {
				b.Fatal(err)
			}
			out, err := cmd.StdoutPipe()
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			start := time.Now()
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			// At most MAXHOST deliveries per account in flight, as the
			// scheduler sends them.
			slots := make(chan struct{}, 4*tc.users)
			go func() {
				for _, d := range lines {
					slots <- struct{}{}
					line, err := d.Line()
					if err != nil {
						panic(err)
					}
					io.WriteString(in, line+"\n")
				}
			}()
			r := bufio.NewReader(out)
			for range lines {
				if _, err := r.ReadString('\n'); err != nil {
					b.Fatalf("reading courierlocal's answers: %v\n%s", err, log)
				}
				<-slots
			}
			elapsed := time.Since(start)
			in.Close()
			if err := cmd.Wait(); err != nil {
				b.Fatalf("courierlocal: %v\n%s", err, log)
			}
			b.StopTimer()
			ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
			cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/delivery")
			next := map[uint64]time.Time{}
			for _, d := range lines {
				ctl, err := e.q.Load(d.Inode)
				if err != nil {
					b.Fatal(err)
				}
				if st := ctl.Recipients[d.Recipients[0].Index].Status; st != queue.StatusDelivered {
					b.Fatalf("message %s: status %v, want delivered\n%s", d.QueueID, st, log)
				}
				next[d.Inode] = ctl.NextAttempt
			}
			for inode, t := range next {
				e.q.Remove(inode, t)
			}
		})
	}
}
