package pidfile

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestParsePID(t *testing.T) {
	for in, want := range map[string]int{"123\n": 123, "  42 \nrest": 42, "4194304": 4194304, "007\n": 7} {
		if got, err := ParsePID([]byte(in)); err != nil || got != want {
			t.Errorf("%q: %d %v", in, got, err)
		}
	}
	for in, want := range map[string]string{
		"":                        "no process id on the first line",
		"\n12\n":                  "no process id on the first line",
		"1\n":                     `"1" is not a valid process id`,
		"0":                       `"0" is not a valid process id`,
		"-5":                      `"-5" is not a process id`,
		"12ab":                    `"12ab" is not a process id`,
		"4194305":                 `"4194305" is not a valid process id`,
		"99999999999999999999999": "is not a valid process id",
	} {
		if _, err := ParsePID([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", in, err, want)
		}
	}
}

func TestLockAndPIDFile(t *testing.T) {
	dir := t.TempDir()
	pf := filepath.Join(dir, "x.pid")
	if held, err := Running(pf); err != nil || held {
		t.Fatalf("Running before any lock: %v %v", held, err)
	}
	l, err := TryLock(pf)
	if err != nil || l == nil {
		t.Fatalf("TryLock: %v %v", l, err)
	}
	if err := l.WritePID(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(pf)
	if string(data) != strconv.Itoa(os.Getpid())+"\n" {
		t.Errorf("pid file %q", data)
	}
	st, err := os.Stat(LockPath(pf))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("lock file: %v %v", st, err)
	}
	if pid, err := ReadPID(pf); err != nil || pid != os.Getpid() {
		t.Errorf("ReadPID: %d %v", pid, err)
	}
	os.WriteFile(pf, []byte("garbage\n"), 0o644)
	if _, err := ReadPID(pf); err == nil || !strings.Contains(err.Error(), pf+`: "garbage" is not a process id`) {
		t.Errorf("ReadPID of garbage: %v", err)
	}
	// POSIX locks belong to the process: another process must see it
	// held; that is checked by the courierlogger tests, which run real
	// daemons.
}

func FuzzParsePID(f *testing.F) {
	f.Add([]byte("123\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pid, err := ParsePID(data)
		if err != nil {
			return
		}
		if pid < 2 || pid > 1<<22 {
			t.Fatalf("accepted pid %d from %q", pid, data)
		}
	})
}
