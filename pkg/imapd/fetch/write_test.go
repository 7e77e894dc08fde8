package fetch

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

const plainMsg = `From: Alice Example <alice@example.com>
To: bob@example.org, "Carol \"C\" Doe" <carol@example.net>
Subject: Hello there
Date: Mon, 2 Jan 2006 15:04:05 +0000
Message-ID: <1@example.com>
In-Reply-To: <0@example.com>
Content-Type: text/plain; charset=us-ascii

Line one.
Line two.
`

const alternativeMsg = `From: alice@example.com
To: bob@example.org
Subject: Alternative
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="alt"; charset=ignored

--alt
Content-Type: text/plain; charset=utf-8; format=flowed
Content-Transfer-Encoding: quoted-printable

Gr=C3=BC=C3=9Fe aus K=C3=B6ln, a long line that is soft=
 broken.
--alt
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: base64
Content-Language: de, en

PGh0bWw+PGI+R3LDvMOfZTwvYj48L2h0bWw+
--alt--
`

const attachedMsg = `From: "Jörg Müller" <joerg@example.de>
To: =?iso-8859-1?q?Andr=E9?= <andre@example.fr>
Subject: Grüße =?utf-8?q?aus_K=C3=B6ln?=
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=outer

preamble
--outer
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Schöne Grüße.
--outer
Content-Type: message/rfc822
Content-Disposition: inline

From: Dave <dave@example.org>
Subject: Inner
Content-Type: text/plain

Inner body.
--outer
Content-Type: application/octet-stream; name="data.bin"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="data.bin"
Content-ID: <part3@example.de>
Content-Description: some bytes

AAECAwD/
--outer--
epilogue
`

func TestWritePlain(t *testing.T) {
	m := newMessage(t, plainMsg)
	m.flags = []imap.Flag{imap.FlagAnswered, "$Label1"}
	got := write(t, "(UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE MODSEQ)", m, Options{})
	size := len(plainMsg) + strings.Count(plainMsg, "\n")
	want := `* 1 FETCH (UID 7 FLAGS (\Answered $Label1) INTERNALDATE " 5-Mar-2024 14:07:09 -0200" RFC822.SIZE ` +
		itoa(size) + ` ENVELOPE ("Mon, 2 Jan 2006 15:04:05 +0000" "Hello there" ` +
		`(("Alice Example" NIL "alice" "example.com")) (("Alice Example" NIL "alice" "example.com")) ` +
		`(("Alice Example" NIL "alice" "example.com")) ((NIL NIL "bob" "example.org")("Carol \"C\" Doe" NIL "carol" "example.net")) ` +
		`NIL NIL "<0@example.com>" "<1@example.com>") ` +
		`BODYSTRUCTURE ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 22 2 NIL NIL NIL) MODSEQ (42))` + "\r\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}

	// RFC822 and friends, streamed, with CRLF.
	hdr, body, _ := strings.Cut(plainMsg, "\n\n")
	got = write(t, "(RFC822.HEADER RFC822.TEXT RFC822)", m, Options{})
	want = "* 1 FETCH (RFC822.HEADER {" + itoa(len(crlf(hdr+"\n\n"))) + "}\r\n" + crlf(hdr+"\n\n") +
		" RFC822.TEXT {" + itoa(len(crlf(body))) + "}\r\n" + crlf(body) +
		" RFC822 {" + itoa(size) + "}\r\n" + crlf(plainMsg) + ")\r\n"
	if got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}

	// Partial fetches count CRLF and name the origin only.
	got = write(t, "(BODY.PEEK[TEXT]<5.7> BODY.PEEK[1]<0.4> BODY.PEEK[]<100000.5> BODY.PEEK[HEADER.FIELDS (subject FROM)]<2.10>)", m, Options{})
	want = "* 1 FETCH (BODY[TEXT]<5> {7}\r\none.\r\nL BODY[1]<0> {4}\r\nLine BODY[]<100000> {0}\r\n" +
		` BODY[HEADER.FIELDS ("subject" "FROM")]<2> {10}` + "\r\nom: Alice )\r\n"
	if got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}

	// A size the caller knows is used as it is.
	m.size = 12345
	if got := write(t, "RFC822.SIZE", m, Options{}); got != "* 1 FETCH (RFC822.SIZE 12345)\r\n" {
		t.Errorf("got %q", got)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestWriteUIDSeenModSeq(t *testing.T) {
	m := newMessage(t, plainMsg)
	var b bytes.Buffer
	setSeen, err := Write(&b, mustParse(t, "(FLAGS BODY[TEXT])"), m, Options{UID: true})
	if err != nil {
		t.Fatal(err)
	}
	if !setSeen {
		t.Error("BODY[TEXT] on an unseen message: setSeen false")
	}
	if !strings.HasPrefix(b.String(), "* 1 FETCH (UID 7 FLAGS () BODY[TEXT] {") {
		t.Errorf("got %q", b.String())
	}

	// The caller set \Seen first: FLAGS and, with CONDSTORE, MODSEQ follow.
	m.flags = []imap.Flag{imap.FlagSeen}
	b.Reset()
	setSeen, err = Write(&b, mustParse(t, "BODY[1]<0.4>"), m, Options{UID: true, CondStore: true, SeenSet: true})
	if err != nil || setSeen {
		t.Fatal(err, setSeen)
	}
	if want := "* 1 FETCH (UID 7 BODY[1]<0> {4}\r\nLine MODSEQ (42) FLAGS (\\Seen))\r\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}

	// CHANGEDSINCE implies MODSEQ; UID asked for is not repeated.
	if got := write(t, "(FLAGS UID) (CHANGEDSINCE 5)", m, Options{UID: true}); got != "* 1 FETCH (FLAGS (\\Seen) UID 7 MODSEQ (42))\r\n" {
		t.Errorf("got %q", got)
	}
	// BODY.PEEK never sets \Seen.
	m.flags = nil
	if setSeen, _ := Write(io.Discard, mustParse(t, "(BODY.PEEK[] BINARY.PEEK[1])"), m, Options{}); setSeen {
		t.Error("PEEK set \\Seen")
	}
}

func TestWriteEightBit(t *testing.T) {
	m := newMessage(t, attachedMsg)
	got := write(t, "ENVELOPE", m, Options{})
	want := `* 1 FETCH (ENVELOPE (NIL "=?utf-8?q?Gr=C3=BC=C3=9Fe_=3D=3Futf-8=3Fq=3Faus=5FK=3DC3=3DB6ln=3F=3D?=" ` +
		`(("=?utf-8?q?J=C3=B6rg_M=C3=BCller?=" NIL "joerg" "example.de")) (("=?utf-8?q?J=C3=B6rg_M=C3=BCller?=" NIL "joerg" "example.de")) ` +
		`(("=?utf-8?q?J=C3=B6rg_M=C3=BCller?=" NIL "joerg" "example.de")) (("=?utf-8?q?Andr=C3=A9?=" NIL "andre" "example.fr")) NIL NIL NIL NIL))` + "\r\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	got = write(t, "ENVELOPE", m, Options{UTF8: true})
	want = `* 1 FETCH (ENVELOPE (NIL "Grüße =?utf-8?q?aus_K=C3=B6ln?=" (("Jörg Müller" NIL "joerg" "example.de")) ` +
		`(("Jörg Müller" NIL "joerg" "example.de")) (("Jörg Müller" NIL "joerg" "example.de")) ` +
		`(("André" NIL "andre" "example.fr")) NIL NIL NIL NIL))` + "\r\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// Latin-1 bytes are not UTF-8: encoded even for a UTF-8 client.
	m = newMessage(t, "Subject: caf\xe9\n\nx\n")
	if got := write(t, "ENVELOPE", m, Options{UTF8: true}); !strings.Contains(got, `"=?unknown-8bit?q?caf=E9?="`) {
		t.Errorf("got %q", got)
	}
}

func TestWriteStructure(t *testing.T) {
	m := newMessage(t, attachedMsg)
	got := write(t, "BODYSTRUCTURE", m, Options{UTF8: true})
	want := `* 1 FETCH (BODYSTRUCTURE (` +
		`("text" "plain" ("charset" "utf-8") NIL NIL "8bit" 16 0 NIL NIL NIL)` +
		`("message" "rfc822" NIL NIL NIL "7bit" 86 (NIL "Inner" (("Dave" NIL "dave" "example.org")) (("Dave" NIL "dave" "example.org")) (("Dave" NIL "dave" "example.org")) NIL NIL NIL NIL NIL) ` +
		`("text" "plain" NIL NIL NIL "7bit" 11 0 NIL NIL NIL) 4 NIL ("inline" NIL) NIL)` +
		`("application" "octet-stream" ("name" "data.bin") "<part3@example.de>" "some bytes" "base64" 8 NIL ("attachment" ("filename" "data.bin")) NIL)` +
		` "mixed" ("boundary" "outer") NIL NIL))` + "\r\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	got = write(t, "BODY", newMessage(t, alternativeMsg), Options{})
	want = `* 1 FETCH (BODY (("text" "plain" ("charset" "utf-8" "format" "flowed") NIL NIL "quoted-printable" 66 1)` +
		`("text" "html" ("charset" "utf-8") NIL NIL "base64" 36 0) "alternative"))` + "\r\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// A multipart whose boundary never comes is described as one part.
	got = write(t, "BODYSTRUCTURE", newMessage(t, "Content-Type: multipart/mixed; boundary=x\n\nno parts\n"), Options{})
	want = `* 1 FETCH (BODYSTRUCTURE ("multipart" "mixed" ("boundary" "x") NIL NIL "7bit" 10 NIL NIL NIL))` + "\r\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestWriteStructureNesting(t *testing.T) {
	// RFC 2046 §5.1.5: a part of a digest without Content-Type is a message.
	got := write(t, "BODY", newMessage(t, "Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: in digest\n\nbody\n--d--\n"), Options{})
	want := `* 1 FETCH (BODY (("message" "rfc822" NIL NIL NIL "7bit" 26 (NIL "in digest" NIL NIL NIL NIL NIL NIL NIL NIL) ("text" "plain" NIL NIL NIL "7bit" 4 0) 2) "digest"))` + "\r\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// Messages nested beyond maxDepth end in an opaque part.
	deep := strings.Repeat("Content-Type: message/rfc822\n\n", 30) + "innermost\n"
	m := newMessage(t, deep)
	got = write(t, "BODYSTRUCTURE", m, Options{})
	if strings.Count(got, `"message" "rfc822"`) != maxDepth || !strings.Contains(got, `("application" "octet-stream" NIL NIL NIL "7bit" `) {
		t.Errorf("got %s", got)
	}
	req := mustParse(t, "BODYSTRUCTURE")
	clientFetch(t, []byte(got), &req.Options)
}

func TestWriteBinary(t *testing.T) {
	m := newMessage(t, attachedMsg)
	got := write(t, "(BINARY.PEEK[3] BINARY.SIZE[3] BINARY.PEEK[1]<3.4> BINARY.SIZE[1])", m, Options{})
	want := "* 1 FETCH (BINARY[3] ~{6}\r\n\x00\x01\x02\x03\x00\xff BINARY.SIZE[3] 6 BINARY[1]<3> {4}\r\nöne BINARY.SIZE[1] 16)\r\n"
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	m = newMessage(t, alternativeMsg)
	got = write(t, "(BINARY.PEEK[1] BINARY.PEEK[2])", m, Options{})
	want = "* 1 FETCH (BINARY[1] {51}\r\nGrüße aus Köln, a long line that is soft broken. BINARY[2] {27}\r\n<html><b>Grüße</b></html>)\r\n"
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	m = newMessage(t, "Content-Transfer-Encoding: x-uuencode\n\nbegin\n")
	var b bytes.Buffer
	if _, err := Write(&b, mustParse(t, "(FLAGS BINARY[1])"), m, Options{}); !errors.Is(err, ErrUnknownCTE) || b.Len() != 0 {
		t.Errorf("unknown CTE: %v, %q written", err, b.String())
	}
	// BINARY[] of a single part message: header, then the decoded body.
	m = newMessage(t, "Content-Transfer-Encoding: base64\n\naGk=\n")
	if got := write(t, "BINARY.PEEK[]", m, Options{}); got != "* 1 FETCH (BINARY[] {39}\r\nContent-Transfer-Encoding: base64\r\n\r\nhi)\r\n" {
		t.Errorf("got %q", got)
	}
}

func TestWriteOpenError(t *testing.T) {
	m := newMessage(t, plainMsg)
	m.path += ".gone"
	var b bytes.Buffer
	if _, err := Write(&b, mustParse(t, "(FLAGS ENVELOPE)"), m, Options{}); err == nil || b.Len() != 0 {
		t.Errorf("missing file: %v, %q written", err, b.String())
	}
	// Items that do not need the file do not open it.
	if got := write(t, "(FLAGS UID)", m, Options{}); got != "* 1 FETCH (FLAGS () UID 7)\r\n" {
		t.Errorf("got %q", got)
	}
}

// TestClientDecodes reads responses with go-imap's client over an
// in-process connection: what it decodes must be what the message holds.
func TestClientDecodes(t *testing.T) {
	for _, content := range []string{plainMsg, alternativeMsg, attachedMsg, readFile(t, "testdata/nested.eml")} {
		m := newMessage(t, content)
		req := mustParse(t, "(UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY.PEEK[] BODY.PEEK[1] BODY.PEEK[HEADER.FIELDS (From Subject)] BINARY.PEEK[1] BINARY.SIZE[1] MODSEQ)")
		var b bytes.Buffer
		if _, err := Write(&b, req, m, Options{}); err != nil {
			t.Fatal(err)
		}
		buf := clientFetch(t, b.Bytes(), &req.Options)
		full := crlf(content)
		if buf.UID != 7 || buf.ModSeq != 42 || buf.RFC822Size != int64(len(full)) || !buf.InternalDate.Equal(testDate) {
			t.Errorf("UID %d MODSEQ %d RFC822.SIZE %d INTERNALDATE %v", buf.UID, buf.ModSeq, buf.RFC822Size, buf.InternalDate)
		}
		if got := buf.FindBodySection(&imap.FetchItemBodySection{}); string(got) != full {
			t.Errorf("BODY[]: %q", got)
		}
		part1 := buf.FindBodySection(&imap.FetchItemBodySection{Part: []int{1}})
		if part1 == nil {
			t.Errorf("BODY[1] missing")
		}
		if buf.Envelope == nil || buf.BodyStructure == nil {
			t.Fatalf("no envelope or body structure")
		}
		// Sizes in the body structure are those of the sections sent.
		bs := buf.BodyStructure
		if sp, ok := bs.(*imap.BodyStructureSinglePart); ok {
			_, body, _ := strings.Cut(full, "\r\n\r\n")
			if int(sp.Size) != len(body) {
				t.Errorf("single part size %d, body %d", sp.Size, len(body))
			}
		} else if mp := bs.(*imap.BodyStructureMultiPart); mp.Children[0].(*imap.BodyStructureSinglePart).Size != uint32(len(part1)) {
			t.Errorf("part 1 size %d, BODY[1] %d", mp.Children[0].(*imap.BodyStructureSinglePart).Size, len(part1))
		}
	}

	m := newMessage(t, attachedMsg)
	req := mustParse(t, "(ENVELOPE BODYSTRUCTURE)")
	var b bytes.Buffer
	if _, err := Write(&b, req, m, Options{}); err != nil {
		t.Fatal(err)
	}
	buf := clientFetch(t, b.Bytes(), &req.Options)
	env := buf.Envelope
	if env.Subject != "Grüße =?utf-8?q?aus_K=C3=B6ln?=" || env.From[0].Name != "Jörg Müller" || env.To[0].Name != "André" || env.To[0].Addr() != "andre@example.fr" {
		t.Errorf("envelope %+v", env)
	}
	att := buf.BodyStructure.(*imap.BodyStructureMultiPart).Children[2].(*imap.BodyStructureSinglePart)
	if att.Filename() != "data.bin" || att.Encoding != "base64" || att.ID != "<part3@example.de>" {
		t.Errorf("attachment %+v", att)
	}
	msg := buf.BodyStructure.(*imap.BodyStructureMultiPart).Children[1].(*imap.BodyStructureSinglePart).MessageRFC822
	if msg == nil || msg.Envelope.Subject != "Inner" || msg.NumLines != 4 {
		t.Errorf("message/rfc822 %+v", msg)
	}
}

// clientFetch answers one FETCH command of go-imap's client with resp.
func clientFetch(t *testing.T, resp []byte, opts *imap.FetchOptions) *imapclient.FetchMessageBuffer {
	t.Helper()
	c1, c2 := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer c2.Close()
		br := bufio.NewReader(c2)
		if _, err := c2.Write([]byte("* OK [CAPABILITY IMAP4rev1 BINARY CONDSTORE] ready\r\n")); err != nil {
			return
		}
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		tag, _, _ := strings.Cut(line, " ")
		c2.Write(resp)
		c2.Write([]byte(tag + " OK FETCH completed.\r\n"))
		io.Copy(io.Discard, br)
	}()
	c := imapclient.New(c1, nil)
	msgs, err := c.Fetch(imap.SeqSetNum(1), opts).Collect()
	c.Close()
	<-done
	if err != nil {
		t.Fatalf("client: %v\n%q", err, resp)
	}
	if len(msgs) != 1 {
		t.Fatalf("client got %d messages", len(msgs))
	}
	return msgs[0]
}

func FuzzWrite(f *testing.F) {
	for _, s := range []string{plainMsg, alternativeMsg, attachedMsg, "", "\n", "Subject: x", "Content-Type: multipart/mixed; boundary=a\n\n--a\n--a--\n"} {
		f.Add([]byte(s))
	}
	req := mustParse(f, "(UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY BODYSTRUCTURE RFC822 RFC822.HEADER RFC822.TEXT "+
		"BODY[] BODY.PEEK[HEADER] BODY[TEXT] BODY[1] BODY[1.MIME] BODY[2.1.HEADER] BODY[2.TEXT] BODY[1.2.3] "+
		"BODY[HEADER.FIELDS (From Subject)] BODY[1.HEADER.FIELDS.NOT (To)] BODY[]<3.40> BODY[1]<1.2> "+
		"BINARY[] BINARY[1] BINARY.SIZE[2] BINARY[2.1]<2.5> MODSEQ)")
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, utf8OK := range []bool{false, true} {
			m := &testMessage{data: data, seq: 3, uid: 9, size: -1, date: testDate}
			var b bytes.Buffer
			_, err := Write(&b, req, m, Options{UID: true, UTF8: utf8OK, CondStore: true, SeenSet: true})
			if errors.Is(err, ErrUnknownCTE) {
				if b.Len() != 0 {
					t.Fatal("output before ErrUnknownCTE")
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := checkResponse(b.Bytes(), utf8OK); err != nil {
				t.Fatalf("%v\n%q", err, b.String())
			}
		}
	})
}

// TestWriteLarge: a message larger than what is read whole is streamed,
// the same whether its size is known (the file is then not read to find
// out) or counted.
func TestWriteLarge(t *testing.T) {
	body := strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n", 9000)
	content := "Subject: large\n\n" + body
	m := newMessage(t, content)
	counted := write(t, "(BODY.PEEK[] RFC822.SIZE)", m, Options{})
	want := "RFC822.SIZE " + strconv.Itoa(len(crlf(content)))
	if !strings.Contains(counted, want) || !strings.Contains(counted, crlf(content)) {
		t.Fatalf("counted size: response lacks %q or the message", want)
	}
	m.size = int64(len(crlf(content)))
	if known := write(t, "(BODY.PEEK[] RFC822.SIZE)", m, Options{}); known != counted {
		t.Error("the response differs when the size is known")
	}
}
