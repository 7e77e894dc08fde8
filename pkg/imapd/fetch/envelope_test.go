package fetch

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// envelopeCases are headers for the envelope tests: the usual ones and
// random ones made of the bytes that matter to header and address
// parsing.
func envelopeCases() []string {
	cases := []string{
		"", "\r\n", " x: y\r\n\r\n", "From: a@b\r\n", "From: a@b", "From: a@b\r", "Subject: x\r\r\n\r\n",
		"From: Sender 5 <sender5@example.test>\r\nTo: imapbench@example.test\r\nSubject: budget number 7\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\nMessage-ID: <bench7@example.test>\r\n\r\n",
		"FROM : a@b\r\nfrom: c@d\r\nsubject:\r\n  folded\r\n\tmore \r\n\r\n",
		"X: y\r\n z: w\r\nFrom: a@b\r\n\r\n", "no colon\r\nFrom: a@b\r\n\r\n", "Bad key: x\r\nFrom: a@b\r\n\r\n",
		": empty key\r\nFrom: a@b\r\n\r\n", "From: \"Q\" <a@b>, =?utf-8?q?J=C3=B6?= <c@d>\r\n\r\n",
		"To: a@b, c@d,e@f\r\nCc: Joe <j@x>, <k@y>\r\nBcc: undisclosed-recipients:;\r\n\r\n",
		"From: J. Smith <j@x.y>\r\nSender: \r\nReply-To:  \r\n\r\n", "From: a.@b, .a@b, a..b@c, a@b., a@.b\r\n\r\n",
		"From: a@b (Joe)\r\n\r\n", "From: x y@z <a@b>\r\n\r\n", "From: a@b <c@d>\r\n\r\n", "From: a@b,\r\n\r\n",
		"From: ,a@b\r\n\r\n", "From: Jöe <a@b>\r\n\r\n", "From: a@[1.2.3.4]\r\n\r\n", "From: <a@b\r\n\r\n",
		"From: A\tB  C <a@b>\r\n\r\n", "From: a@b\x00\r\n\r\n",
	}
	r := rand.New(rand.NewPCG(3, 4))
	fields := []string{"From", "from", "To", "Cc", "Bcc", "Sender", "Reply-To", "Subject", "Date", "Message-ID", "In-Reply-To", "X"}
	alphabet := []string{"a", "b", ".", "@", "<", ">", ",", "\"", "(", ")", " ", "\t", "=?", "?=", "ü", ":", ";", "\\", "\r\n", "\r\n ", "\r", "\n", "Jo", "x.y"}
	for range 20000 {
		var b strings.Builder
		for range r.IntN(5) {
			b.WriteString(fields[r.IntN(len(fields))])
			b.WriteString(": ")
			for range r.IntN(12) {
				b.WriteString(alphabet[r.IntN(len(alphabet))])
			}
			b.WriteString("\r\n")
		}
		if r.IntN(4) > 0 {
			b.WriteString("\r\n")
		}
		cases = append(cases, b.String())
	}
	// Address lists, most of them simple, some with one byte changed.
	elems := []string{"a@b", "x.y@c.d", "Jo <a@b>", "Jo  x.y <a@b.c>", "<a@b>", "J. Smith<j@x>", "a!#$%&'*+-/=?^_`{|}~@b", "Jo\t<a@b>"}
	seps := []string{",", ", ", " , ", ",\t", " ,", ",,"}
	for range 5000 {
		var b strings.Builder
		b.WriteString("To: ")
		for i := range 1 + r.IntN(3) {
			if i > 0 {
				b.WriteString(seps[r.IntN(len(seps))])
			}
			b.WriteString(elems[r.IntN(len(elems))])
		}
		v := b.String()
		if r.IntN(3) == 0 {
			i := 4 + r.IntN(len(v)-3)
			v = v[:i] + alphabet[r.IntN(len(alphabet))] + v[i:]
		}
		cases = append(cases, v+"\r\n\r\n")
	}
	return cases
}

// TestEnvelopeOfAsParsed checks that the ENVELOPE of a raw header is the
// one of the header textproto parses.
func TestEnvelopeOfAsParsed(t *testing.T) {
	for _, c := range envelopeCases() {
		for _, utf8OK := range []bool{false, true} {
			h := parseHeader([]byte(c))
			if got, want := string(appendEnvelopeOf(nil, []byte(c), utf8OK)), envelope(&h, utf8OK); got != want {
				t.Errorf("%q:\n got %s\nwant %s", c, got, want)
			}
		}
	}
}

// TestSimpleAddressesAsParsed checks that the address lists rendered
// without net/mail are rendered as net/mail parses them.
func TestSimpleAddressesAsParsed(t *testing.T) {
	simple := 0
	for _, c := range envelopeCases() {
		headerFields([]byte(c), func(_, value []byte) {
			v := fieldValue(value)
			got, ok := appendSimpleAddresses([]byte("x"), v)
			if !ok {
				if string(got) != "x" {
					t.Errorf("%q: not simple, yet %q appended", v, got)
				}
				return
			}
			simple++
			if want := appendParsedAddresses([]byte("x"), v, false); string(got) != string(want) {
				t.Errorf("%q:\n got %s\nwant %s", v, got, want)
			}
		})
	}
	if simple < 1000 {
		t.Errorf("only %d simple address lists", simple)
	}
}

// FuzzEnvelopeOf is TestEnvelopeOfAsParsed on any header.
func FuzzEnvelopeOf(f *testing.F) {
	for _, c := range envelopeCases()[:40] {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, c string) {
		h := parseHeader([]byte(c))
		if got, want := string(appendEnvelopeOf(nil, []byte(c), false)), envelope(&h, false); got != want {
			t.Errorf("%q:\n got %s\nwant %s", c, got, want)
		}
		if got, ok := appendSimpleAddresses(nil, c); ok {
			if want := appendParsedAddresses(nil, c, false); string(got) != string(want) {
				t.Errorf("%q:\n got %s\nwant %s", c, got, want)
			}
		}
	})
}
