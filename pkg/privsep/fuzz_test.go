package privsep

import (
	"strings"
	"testing"
)

func FuzzParseStatus(f *testing.F) {
	f.Add([]byte("Name:\tx\nPid:\t7\nUid:\t1\t2\t3\t4\nGid:\t5\t6\t7\t8\nGroups:\t9 10 \nNoNewPrivs:\t1\nCapPrm:\t00000000000000ff\nCapEff:\t0000000000000001\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseStatus(data)
		if err != nil {
			return
		}
		if s.TID <= 0 {
			t.Fatalf("accepted TID %d", s.TID)
		}
		if !strings.Contains(string(data), "Uid:") || !strings.Contains(string(data), "NoNewPrivs:") {
			t.Fatalf("accepted status without required lines: %q", data)
		}
	})
}

func FuzzParsePasswdLine(f *testing.F) {
	f.Add("courier:x:105:107:Courier mailer:/var/lib/courier:/usr/sbin/nologin")
	f.Fuzz(func(t *testing.T, line string) {
		u, err := ParsePasswdLine(line)
		if err != nil {
			return
		}
		if u.Name == "" || strings.Contains(u.Name, ":") || u.UID == 0xFFFFFFFF || u.GID == 0xFFFFFFFF {
			t.Fatalf("accepted %q as %+v", line, u)
		}
		f := strings.Split(line, ":")
		back := strings.Join([]string{u.Name, f[1], f[2], f[3], f[4], u.Home, u.Shell}, ":")
		if u2, err := ParsePasswdLine(back); err != nil || u2 != u {
			t.Fatalf("%q: reparse gave %+v, %v; want %+v", back, u2, err, u)
		}
	})
}

func FuzzParseGroupLine(f *testing.F) {
	f.Add("mail:x:8:courier,daemon")
	f.Fuzz(func(t *testing.T, line string) {
		g, err := ParseGroupLine(line)
		if err != nil {
			return
		}
		if g.Name == "" || g.GID == 0xFFFFFFFF {
			t.Fatalf("accepted %q as %+v", line, g)
		}
		for _, m := range g.Members {
			if m == "" || strings.ContainsAny(m, ",:") || m != strings.TrimSpace(m) {
				t.Fatalf("%q: bad member %q", line, m)
			}
		}
	})
}
