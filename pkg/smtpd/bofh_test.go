package smtpd

import (
	"strings"
	"testing"
)

func TestParseBofh(t *testing.T) {
	n, hard, err := parseBofh("bofh", []byte("# rules\nbadfrom spam@example.com\nmaxrcpts 50 hard\nopt BOFHSPFHELO=pass\n"))
	if err != nil || n != 50 || !hard {
		t.Errorf("parseBofh = %d %v %v", n, hard, err)
	}
	for in, where := range map[string]string{"maxrcpts x\n": "bofh:1:", "\nmaxrcpt 5\n": "bofh:2:", "maxrcpts 5 soft\n": "bofh:1:", "maxrcpts\n": "bofh:1:"} {
		if _, _, err := parseBofh("bofh", []byte(in)); err == nil || !strings.HasPrefix(err.Error(), where) {
			t.Errorf("parseBofh(%q) = %v, want an error at %s", in, err, where)
		}
	}
}

func FuzzParseBofh(f *testing.F) {
	f.Add([]byte("maxrcpts 100\nbadfrom @spam.example\n"))
	f.Add([]byte("opt BOFHCHECKDNS=1\nmaxrcpts 5 hard\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, _, err := parseBofh("fuzz", data)
		if err != nil && !strings.HasPrefix(err.Error(), "fuzz:") {
			t.Fatalf("error without file:line: %v", err)
		}
		if err == nil && n < 0 {
			t.Fatalf("negative maxrcpts %d", n)
		}
	})
}
