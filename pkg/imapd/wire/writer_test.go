package wire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/emersion/go-imap/v2"
)

func written(utf8 bool, f func(w *Writer)) string {
	var b bytes.Buffer
	w := NewWriter(bufio.NewWriter(&b))
	w.UTF8 = utf8
	f(w)
	if err := w.Flush(); err != nil {
		panic(err)
	}
	return b.String()
}

func TestWriterStrings(t *testing.T) {
	long := strings.Repeat("x", maxQuoted+1)
	for _, tc := range []struct {
		utf8     bool
		in, want string
	}{
		{false, "plain", `"plain"`},
		{false, "", `""`},
		{false, `a "q" \b`, `"a \"q\" \\b"`},
		{false, "two\r\nlines", "{10}\r\ntwo\r\nlines"},
		{false, "nul\x00", "{4}\r\nnul\x00"},
		{false, "Café", "{5}\r\nCafé"},
		{true, "Café", `"Café"`},
		{true, "bad\xff", "{4}\r\nbad\xff"},
		{false, long, "{4097}\r\n" + long},
	} {
		if got := written(tc.utf8, func(w *Writer) { w.String(tc.in) }); got != tc.want {
			t.Errorf("String(%q) utf8=%v = %q, want %q", tc.in, tc.utf8, got, tc.want)
		}
	}
}

func TestWriterHelpers(t *testing.T) {
	s := "x y"
	got := written(false, func(w *Writer) {
		w.Raw("* 3 FETCH ")
		w.List(func() {
			w.Atom("UID")
			w.SP()
			w.Number(4294967295)
			w.SP()
			w.Atom("MODSEQ")
			w.SP()
			w.List(func() { w.Number64(1 << 40) })
			w.SP()
			w.Atom("FLAGS")
			w.SP()
			w.Flags([]imap.Flag{imap.FlagSeen, "$Junk"})
			w.SP()
			w.NString(nil)
			w.SP()
			w.NString(&s)
			w.SP()
			w.AString("INBOX.a]b")
			w.SP()
			w.AString("nil")
			w.SP()
			w.AString("")
			w.SP()
			w.AString("a b")
			w.SP()
			w.Flags(nil)
			w.SP()
			w.NIL()
		})
		w.CRLF()
		w.Raw("* SEARCH ")
		w.NumSet(imap.SeqSetNum(1, 2, 3, 7))
		w.SP()
		w.NumSet(imap.SearchRes())
		w.CRLF()
	})
	want := "* 3 FETCH (UID 4294967295 MODSEQ (1099511627776) FLAGS (\\Seen $Junk) NIL \"x y\" INBOX.a]b \"nil\" \"\" \"a b\" () NIL)\r\n* SEARCH 1:3,7 $\r\n"
	if got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}

func TestWriterMailbox(t *testing.T) {
	for _, tc := range []struct {
		utf8     bool
		in, want string
	}{
		{false, "INBOX", `"INBOX"`},
		{false, "INBOX.Café", `"INBOX.Caf&AOk-"`},
		{false, "a&b", `"a&-b"`},
		{true, "INBOX.Café", `"INBOX.Café"`},
		{true, "a&b", `"a&b"`},
	} {
		if got := written(tc.utf8, func(w *Writer) { w.Mailbox(tc.in) }); got != tc.want {
			t.Errorf("Mailbox(%q) utf8=%v = %q, want %q", tc.in, tc.utf8, got, tc.want)
		}
	}
}

func TestWriterLiteral(t *testing.T) {
	got := written(false, func(w *Writer) {
		if err := w.Literal(strings.NewReader("hello world"), 5); err != nil {
			t.Error(err)
		}
		w.SP()
		w.Literal8(strings.NewReader("\x00\x01"), 2)
	})
	if want := "{5}\r\nhello ~{2}\r\n\x00\x01"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}

	var b bytes.Buffer
	w := NewWriter(bufio.NewWriter(&b))
	if err := w.Literal(strings.NewReader("abc"), 10); err == nil || !strings.Contains(err.Error(), "after 3 of 10 bytes") {
		t.Errorf("short source: %v", err)
	}
	if err := w.Flush(); err == nil {
		t.Errorf("Flush after a short literal succeeded")
	}
	boom := errors.New("disk error")
	w = NewWriter(bufio.NewWriter(io.Discard))
	if err := w.Literal(iotest.ErrReader(boom), 10); !errors.Is(err, boom) {
		t.Errorf("failing source: %v", err)
	}
	if err := w.Flush(); !errors.Is(err, boom) {
		t.Errorf("Flush: %v", err)
	}
}

// TestWriterRoundTrip writes arguments with the Writer and reads them back
// with the Reader.
func TestWriterRoundTrip(t *testing.T) {
	values := []string{"plain", "", `q"uote\`, "line\r\nbreak", "Café 日本", "a]b", "nil", "NIL", strings.Repeat("long ", 1000), "(paren)", "{3}", "~{1}"}
	for _, utf8 := range []bool{false, true} {
		out := written(utf8, func(w *Writer) {
			w.Raw("t1 X")
			for _, v := range values {
				w.SP()
				w.String(v)
				w.SP()
				w.AString(v)
				w.SP()
				w.Mailbox(v)
			}
			w.SP()
			w.NString(nil)
			w.SP()
			w.List(func() { w.Flags([]imap.Flag{imap.FlagDeleted}) })
			w.CRLF()
		})
		r, _ := reader(out, Limits{})
		c := mustRead(t, r)
		if len(c.Args) != 3*len(values)+2 {
			t.Fatalf("utf8=%v: %d args: %s", utf8, len(c.Args), show(c.Args))
		}
		for i, v := range values {
			for j := range 2 {
				a := c.Args[3*i+j]
				if s, ok := a.String(); !ok || s != v {
					t.Errorf("utf8=%v: value %q read back as %v %q", utf8, v, a.Kind, s)
				}
			}
			name, err := MailboxName(c.Args[3*i+2], utf8)
			if utf8 && strings.ContainsAny(v, "\r\n") {
				// Control characters reach the wire only in modified UTF-7.
				if err == nil {
					t.Errorf("mailbox %q accepted", v)
				}
				continue
			}
			if err != nil || name != v {
				t.Errorf("utf8=%v: mailbox %q read back as %q, %v", utf8, v, name, err)
			}
		}
		if n := c.Args[len(c.Args)-2]; n.Kind != NIL {
			t.Errorf("NString(nil) read back as %v", n.Kind)
		}
		if l := c.Args[len(c.Args)-1]; l.Kind != List || show(l.List) != `(\Deleted)` {
			t.Errorf("flags read back as %s", show(l.List))
		}
	}
}
