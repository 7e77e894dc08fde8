package authsasl

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// script answers challenges with the given lines and records the
// challenges.
func script(answers ...string) (Ask, *[]string) {
	var seen []string
	return func(c []byte) (string, error) {
		seen = append(seen, string(c))
		if len(answers) == 0 {
			return "", errors.New("no more answers")
		}
		a := answers[0]
		answers = answers[1:]
		return a, nil
	}, &seen
}

func TestExchange(t *testing.T) {
	initial := b64("\x00user@example.test\x00pass word")
	typ, data, err := Exchange("plain", &initial, "h", nil)
	if err != nil || typ != "login" || data != "user@example.test\npass word\n" {
		t.Fatalf("PLAIN with initial response: %q %q %v", typ, data, err)
	}
	ask, seen := script(b64("authz\x00u\x00p"))
	if _, data, err = Exchange("PLAIN", nil, "h", ask); err != nil || data != "u\np\n" || len(*seen) != 1 || (*seen)[0] != "" {
		t.Fatalf("PLAIN: %q %v %q", data, err, *seen)
	}
	ask, seen = script(b64("u"), b64("p"))
	if typ, data, err = Exchange("LOGIN", nil, "h", ask); err != nil || typ != "login" || data != "u\np\n" || strings.Join(*seen, ",") != "Username:,Password:" {
		t.Fatalf("LOGIN: %q %v %q", data, err, *seen)
	}
	var challenge string
	ask = func(c []byte) (string, error) {
		challenge = string(c)
		m := hmac.New(md5.New, []byte("secret"))
		m.Write(c)
		return b64("u " + hex.EncodeToString(m.Sum(nil))), nil
	}
	typ, data, err = Exchange("CRAM-MD5", nil, "mx.example.test", ask)
	if err != nil || typ != "cram-md5" || !strings.HasSuffix(challenge, "@mx.example.test>") {
		t.Fatalf("CRAM-MD5: %q %v %q", typ, err, challenge)
	}
	f := strings.Split(data, "\n")
	if len(f) != 3 || f[0] != b64(challenge) || !strings.HasPrefix(f[1], b64("u ")[:2]) {
		t.Fatalf("CRAM-MD5 authdata %q", data)
	}
	empty := "="
	for name, tc := range map[string]struct {
		mech    string
		initial *string
		answers []string
		err     error
	}{
		"cancel":       {"LOGIN", nil, []string{"*"}, ErrAborted},
		"not base64":   {"PLAIN", nil, []string{"!!!"}, nil},
		"unknown mech": {"XYZZY", nil, nil, nil},
		"empty plain":  {"PLAIN", &empty, nil, nil},
		"cram initial": {"CRAM-MD5", &initial, nil, nil},
		"newline user": {"LOGIN", nil, []string{b64("a\nb"), b64("p")}, nil},
		"no digest":    {"CRAM-SHA1", nil, []string{b64("user")}, nil},
	} {
		ask, _ := script(tc.answers...)
		_, _, err := Exchange(tc.mech, tc.initial, "h", ask)
		if err == nil || tc.err != nil && !errors.Is(err, tc.err) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzExchange: any client answers end the exchange without a panic, and
// authdata never carries more lines than authlib expects.
func FuzzExchange(f *testing.F) {
	f.Add("PLAIN", b64("\x00u\x00p"), "")
	f.Add("LOGIN", b64("u"), b64("p"))
	f.Add("CRAM-SHA256", b64("u 0123"), "")
	f.Fuzz(func(t *testing.T, mech, a1, a2 string) {
		ask, _ := script(a1, a2)
		typ, data, err := Exchange(mech, nil, "h", ask)
		if err != nil {
			return
		}
		if typ == "" || strings.Count(data, "\n") != 2 || strings.Contains(data, "\x00") {
			t.Fatalf("%q %q", typ, data)
		}
	})
}
