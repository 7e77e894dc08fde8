package rfc2045

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func check(msg string) *Result {
	c := NewChecker()
	// Odd chunk sizes: the checker must not depend on how data arrives.
	for b := []byte(msg); len(b) > 0; {
		n := min(len(b), 7)
		c.Write(b[:n])
		b = b[n:]
	}
	return c.Close()
}

func rewrite(t *testing.T, msg string) string {
	t.Helper()
	r := check(msg)
	if !r.NeedRewrite {
		t.Fatalf("no rewrite needed for %q", msg)
	}
	var out bytes.Buffer
	if err := r.Rewrite(&out, strings.NewReader(msg), func() string { return "=_B" }); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestCheckFlags(t *testing.T) {
	for _, tc := range []struct {
		name, msg string
		flags     Flags
		rewrite   bool
	}{
		{"plain", "Subject: x\n\nhello\n", 0, false},
		{"mime ok", "Mime-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 7bit\n\nhi\n", 0, false},
		{"mime no cte", "Mime-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\nhi\n", 0, true},
		{"8bit header", "Subject: caf\xc3\xa9\n\nx\n", Err8BitHeader, false},
		{"8bit part header", "Mime-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain; name=\"\xc3\xa9\"; charset=utf-8\nContent-Transfer-Encoding: 7bit\n\nx\n--b--\n", Err8BitHeader, false},
		{"8bit content", "Subject: x\n\ncaf\xc3\xa9\n", Err8BitContent, false},
		{"8bit declared", "Mime-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\ncaf\xc3\xa9\n", 0, false},
		{"8bit declared but 7bit", "Mime-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\ncafe\n", 0, true},
		{"bad boundary", "Mime-Version: 1.0\nContent-Type: multipart/mixed; boundary=abc\n\n--abc\nContent-Type: multipart/mixed; boundary=abcd\n\n--abcd\n\nx\n--abcd--\n--abc--\n", ErrBadBoundary, true},
	} {
		r := check(tc.msg)
		if r.Flags != tc.flags || r.NeedRewrite != tc.rewrite {
			t.Errorf("%s: flags %d rewrite %v, want %d %v", tc.name, r.Flags, r.NeedRewrite, tc.flags, tc.rewrite)
		}
	}
}

func manyParts(n int) string {
	var b strings.Builder
	b.WriteString("Mime-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "--b\nContent-Type: text/plain\n\n%d\n", i)
	}
	b.WriteString("--b--\n")
	return b.String()
}

func TestCheckComplex(t *testing.T) {
	// The preamble counts as a part: 299 parts are 300, not too many.
	if r := check(manyParts(299)); r.Flags&ErrTooComplex != 0 {
		t.Errorf("299 parts refused")
	}
	if r := check(manyParts(301)); r.Flags&ErrTooComplex == 0 {
		t.Errorf("301 parts accepted")
	}
	deep := strings.Repeat("Mime-Version: 1.0\nContent-Type: message/rfc822\n\n", 400) + "x\n"
	if r := check(deep); r.Flags&ErrTooComplex == 0 {
		t.Errorf("400 nested messages accepted")
	}
}

func TestRewrite(t *testing.T) {
	got := rewrite(t, "Subject: s\nMime-Version: 1.0\nContent-Type: text/plain\nX-A: b\n\nhello\n")
	want := "Subject: s\nMime-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 7bit\nX-A: b\n\nhello\n"
	if got != want {
		t.Errorf("leaf:\n%q\nwant\n%q", got, want)
	}
	got = rewrite(t, "Mime-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 8bit\n\nhello\n")
	want = "Mime-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 7bit\nX-Mime-Autoconverted: from 8bit to 7bit by courier 1.0\n\nhello\n"
	if got != want {
		t.Errorf("8bit to 7bit:\n%q\nwant\n%q", got, want)
	}
	got = rewrite(t, "Subject: m\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"xx\"\r\n\r\npreamble\r\n--xx\r\nContent-Type: text/plain; charset=utf-8\r\n\r\none\r\n--xx\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--xx--\r\nepilogue\r\n")
	want = "Subject: m\nMime-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"=_B-2\"\n\n" + MIMEMessage +
		"\n--=_B-2\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 7bit\n\none" +
		"\n--=_B-2\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nAAAA" +
		"\n--=_B-2--\n"
	if got != want {
		t.Errorf("multipart:\n%q\nwant\n%q", got, want)
	}
}

func FuzzCheck(f *testing.F) {
	f.Add([]byte(manyParts(3)))
	f.Add([]byte("Mime-Version: 1.0\nContent-Type: message/rfc822\n\nMime-Version: 1.0\nContent-Type: multipart/mixed; boundary=a\n\n--a\n\nx\n--a--\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := check(string(data))
		if r.Flags&ErrTooComplex != 0 || !r.NeedRewrite {
			return
		}
		var out bytes.Buffer
		n := 0
		root := func() string { n++; return fmt.Sprintf("=_F-%04d", n) }
		if err := r.Rewrite(&out, bytes.NewReader(data), root); err != nil {
			t.Fatal(err)
		}
		if out.Len() > 4*len(data)+64*MaxParts+1024 {
			t.Fatalf("rewrite grew %d bytes to %d", len(data), out.Len())
		}
	})
}
