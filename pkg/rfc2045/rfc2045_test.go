package rfc2045

import (
	"bytes"
	"errors"
	"io"
	"mime/quotedprintable"
	"strings"
	"testing"
)

func convert(t *testing.T, in string) string {
	t.Helper()
	var b bytes.Buffer
	if err := To7bit(&b, strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	if Has8bit(b.Bytes()) {
		t.Fatalf("8-bit bytes left:\n%s", b.String())
	}
	return b.String()
}

func TestSinglePart(t *testing.T) {
	body := "Grüße aus Köln = schön\nzweite Zeile mit Leerzeichen am Ende   \n" + strings.Repeat("ä", 60) + "\n"
	in := "From: a@b\nSubject: x\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" + body
	out := convert(t, in)
	head, enc, _ := strings.Cut(out, "\n\n")
	if head != "From: a@b\nSubject: x\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable" {
		t.Errorf("header:\n%s", head)
	}
	dec, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(enc)))
	if err != nil || strings.ReplaceAll(string(dec), "\r\n", "\n") != body {
		t.Errorf("decodes to %q, %v; want %q", dec, err, body)
	}
	for _, l := range strings.Split(enc, "\n") {
		if len(l) > 76 {
			t.Errorf("line of %d characters: %q", len(l), l)
		}
	}
}

func TestUnchanged(t *testing.T) {
	in := "From: a@b\r\nSubject: plain\r\n\r\nonly ascii\r\n.\r\n"
	if out := convert(t, in); out != in {
		t.Errorf("a 7-bit message changed:\n%q", out)
	}
}

func TestMultipart(t *testing.T) {
	in := "From: a@b\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"XX\"\n\npreamble\n--XX\nContent-Type: text/plain; charset=iso-8859-1\n\nna\xefve\n--XX\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nAAEC\n--XX\nContent-Type: message/rfc822\n\nSubject: inner\nContent-Type: text/plain\n\ncaf\xe9\n--XX--\nepilogue\n"
	out := convert(t, in)
	for _, want := range []string{"preamble\n--XX\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nna=EFve\n--XX\n",
		"Content-Transfer-Encoding: base64\n\nAAEC\n--XX\n", "Content-Type: message/rfc822\nContent-Transfer-Encoding: 7bit\n\nSubject: inner\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\ncaf=E9\n--XX--\nepilogue\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestRefused(t *testing.T) {
	if err := To7bit(io.Discard, strings.NewReader("Subject: Gr\xfc\xdfe\n\nx\n")); !errors.Is(err, ErrHeader8bit) {
		t.Errorf("8-bit header: %v", err)
	}
	deep := strings.Repeat("Content-Type: message/rfc822\n\n", MaxDepth+2) + "x\n"
	if err := To7bit(io.Discard, strings.NewReader(deep)); !errors.Is(err, ErrTooDeep) {
		t.Errorf("deep nesting: %v", err)
	}
}

func FuzzTo7bit(f *testing.F) {
	f.Add([]byte("Content-Type: multipart/mixed; boundary=b\n\n--b\n\n\xff\n--b--\n"))
	f.Add([]byte("Subject: x\r\n\r\n\xe9t\xe9\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var b bytes.Buffer
		if err := To7bit(&b, bytes.NewReader(data)); err != nil {
			return
		}
		if Has8bit(b.Bytes()) {
			t.Fatalf("8-bit bytes left in %q", b.Bytes())
		}
	})
}
