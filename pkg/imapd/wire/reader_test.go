package wire

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// reader returns a Reader of input and a counter of the continuation
// requests it sent.
func reader(input string, lim Limits) (*Reader, *[]string) {
	var conts []string
	r := NewReader(strings.NewReader(input), func(text string) error {
		conts = append(conts, text)
		return nil
	}, lim)
	return r, &conts
}

// show renders tokens compactly for comparisons: atoms bare, NIL as
// "NIL", quoted strings and literals quoted with Go syntax, literals
// prefixed by their kind.
func show(ts []Token) string {
	var b strings.Builder
	for i, t := range ts {
		if i > 0 {
			b.WriteByte(' ')
		}
		switch t.Kind {
		case Atom:
			b.WriteString(t.Text)
		case NIL:
			b.WriteString("NIL")
		case Quoted:
			fmt.Fprintf(&b, "%q", t.Text)
		case Literal:
			data, err := io.ReadAll(t.Lit.Open())
			if err != nil {
				panic(err)
			}
			kind := "lit"
			if t.Lit.Binary {
				kind = "lit8"
			}
			fmt.Fprintf(&b, "%s%q", kind, data)
		case List:
			b.WriteString("(" + show(t.List) + ")")
		}
	}
	return b.String()
}

func mustRead(t *testing.T, r *Reader) *Command {
	t.Helper()
	c, err := r.ReadCommand()
	if err != nil {
		t.Fatalf("ReadCommand: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestTokenKinds(t *testing.T) {
	in := "a1 xfoo atom 42 \"quo\\\"ted\\\\\" \"\" {3}\r\nabc {2+}\r\nxy ~{3}\r\n\x00\x01\x02 NIL nil Nil (a (b \"c\") ()) 1:*,5 $ * \\Seen ~peter/mail \"Café\" %x* a]b\r\n"
	r, conts := reader(in, Limits{})
	c := mustRead(t, r)
	if c.Tag != "a1" || c.Name != "XFOO" {
		t.Errorf("tag, name = %q, %q", c.Tag, c.Name)
	}
	want := `atom 42 "quo\"ted\\" "" lit"abc" lit"xy" lit8"\x00\x01\x02" NIL NIL NIL (a (b "c") ()) 1:*,5 $ * \Seen ~peter/mail "Café" %x* a]b`
	if got := show(c.Args); got != want {
		t.Errorf("args\n got %s\nwant %s", got, want)
	}
	if len(*conts) != 2 || (*conts)[0] != "OK" {
		t.Errorf("continuations = %q, want 2 × OK (for {3} and ~{3}, not {2+})", *conts)
	}
	if c.Args[1].Kind != Atom {
		t.Errorf("number kind = %v", c.Args[1].Kind)
	}
	if n, ok := c.Args[1].Number(); !ok || n != 42 {
		t.Errorf("Number = %d, %v", n, ok)
	}
	if s, ok := c.Args[8].AString(); !ok || s != "nil" {
		t.Errorf("NIL AString = %q, %v", s, ok)
	}
	if _, ok := c.Args[8].String(); ok {
		t.Errorf("NIL String is ok")
	}
	if l := c.Args[10].List[2]; l.Kind != List || l.List == nil || len(l.List) != 0 {
		t.Errorf("empty list = %+v", l)
	}
}

func TestFetchAttributeAtoms(t *testing.T) {
	atts := []string{
		`BODY.PEEK[HEADER.FIELDS (From "To")]<0.100>`,
		`BINARY[1.2]`,
		`BODY[]`,
		`body[1.HEADER.FIELDS.NOT (X-A "X \"q\" ]" Subject)]`,
		`BINARY.SIZE[3]`,
		`BODY[TEXT]<10.5>`,
	}
	r, _ := reader("f1 UID FETCH 1:* ("+strings.Join(atts, " ")+" FLAGS) "+atts[0]+"\r\n", Limits{})
	c := mustRead(t, r)
	if c.Name != "UID" || !c.Args[0].Is("fetch") {
		t.Fatalf("name %q args %s", c.Name, show(c.Args))
	}
	l := c.Args[2].List
	if len(l) != len(atts)+1 {
		t.Fatalf("list %s", show(l))
	}
	for i, a := range atts {
		if l[i].Kind != Atom || l[i].Text != a {
			t.Errorf("item %d = %v %q, want atom %q", i, l[i].Kind, l[i].Text, a)
		}
	}
	if c.Args[3].Text != atts[0] {
		t.Errorf("top-level attribute = %q", c.Args[3].Text)
	}
}

func TestLineEndsAndPipelining(t *testing.T) {
	r, _ := reader("a NOOP\nb SELECT INBOX\r\nc  LOGIN \t user  pass \r\nd X (a)\n", Limits{})
	for _, want := range []string{"a NOOP ", "b SELECT INBOX", "c LOGIN user pass", "d X (a)"} {
		c := mustRead(t, r)
		if got := c.Tag + " " + c.Name + " " + show(c.Args); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	if _, err := r.ReadCommand(); err != io.EOF {
		t.Errorf("at end: %v, want EOF", err)
	}
}

func TestEOFInsideCommand(t *testing.T) {
	for _, in := range []string{"a NOOP", "a X {5}\r\nab", "a X \"abc", "a X (b"} {
		r, _ := reader(in, Limits{})
		if _, err := r.ReadCommand(); !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%q: %v, want EOF", in, err)
		}
	}
}

// TestSyntaxErrors checks each error's tag and message, and that the
// Reader is back in step: the command after it reads fine.
func TestSyntaxErrors(t *testing.T) {
	for _, tc := range []struct {
		in, tag, msg string
		lim          Limits
	}{
		{"\r\n", "*", "empty command line", Limits{}},
		{"abc\r\n", "abc", "missing command name", Limits{}},
		{"a+b NOOP\r\n", "*", "invalid character '+' in tag", Limits{}},
		{"a\x01 NOOP\r\n", "*", "invalid character 0x01 in tag", Limits{}},
		{"a NO\"OP\r\n", "a", `invalid character '"' in command name`, Limits{}},
		{"a X \"abc\r\n", "a", "unterminated quoted string", Limits{}},
		{"a X \"abc\\\r\n", "a", "unterminated quoted string", Limits{}},
		{"a X \"a\\b\" c\r\n", "a", `invalid escape of 'b' in quoted string`, Limits{}},
		{"a X \"a\x00b\"\r\n", "a", "NUL in quoted string", Limits{}},
		{"a X \"\xff\"\r\n", "a", "quoted string is not valid UTF-8", Limits{}},
		{"a X (a (b)\r\n", "a", "unbalanced parentheses: missing ')'", Limits{}},
		{"a X a) b\r\n", "a", "unbalanced parentheses: ')' without '('", Limits{}},
		{"a X \"a\"b\r\n", "a", "missing space before 'b'", Limits{}},
		{"a X caf\xc3\xa9\r\n", "a", "missing space before 0xc3", Limits{}},
		{"a X \xc3\r\n", "a", "invalid character 0xc3", Limits{}},
		{"a X BODY[HEADER\r\n", "a", "unterminated section: missing ']'", Limits{}},
		{"a X BODY[HEADER.FIELDS (A]\r\n", "a", "unbalanced parentheses in section", Limits{}},
		{"a X BODY[{3}\r\n", "a", "literal inside a section is not supported", Limits{}},
		{"a X {}\r\n", "a", "literal without a size", Limits{}},
		{"a X {3x}\r\n", "a", "invalid character 'x' in literal size", Limits{}},
		{"a X {3} y\r\n", "a", "literal size not followed by CRLF", Limits{}},
		{"a X {3\r\n", "a", "unterminated literal size", Limits{}},
		{"a X a\rb\r\n", "a", "CR not followed by LF", Limits{}},
		{"a X ((((a))))\r\n", "a", "lists nested deeper than 3", Limits{MaxDepth: 3}},
		{"a X BODY[((((a))))]\r\n", "a", "lists nested deeper than 3", Limits{MaxDepth: 3}},
		{"a X a b (c)\r\n", "a", "more than 3 tokens in command", Limits{MaxTokens: 3}},
		{"a X " + strings.Repeat("y", 200) + "\r\n", "a", "command line exceeds the limit of 100 bytes", Limits{MaxLine: 100}},
		{strings.Repeat("y", 200) + " X\r\n", "*", "command line exceeds the limit of 100 bytes", Limits{MaxLine: 100}},
		{"a APPEND x {4000000000}\r\n", "a", "literal of 4000000000 bytes exceeds the limit of 67108864", Limits{}},
		{"a APPEND x {70000000}\r\n", "a", "literal of 70000000 bytes exceeds the limit of 67108864", Limits{}},
		{"a APPEND x {123456789012345678901234567890}\r\n", "a", "literal size of 30 digits exceeds the limit of 67108864 bytes", Limits{}},
		{"a APPEND x {00000000000000000000000000007}\r\n", "a", "literal of 7 bytes exceeds the limit of 5", Limits{MaxLiteral: 5}},
		{"a APPEND x {50}\r\n", "a", "command exceeds the limit of 40 bytes", Limits{MaxCommandSize: 40}},
		// An oversized non-synchronising literal is discarded, with the
		// rest of its command.
		{"a APPEND x {200+}\r\n" + strings.Repeat("z\r\n", 66) + "zz {3+}\r\nabc\r\n", "a", "literal of 200 bytes exceeds the limit of 100", Limits{MaxLiteral: 100}},
		// A rejected line that announces a non-synchronising literal: its
		// bytes are skipped, and so is the line after them.
		{"a X \"\x00\" {12+}\r\nb NOOP\r\nc NOO rest\r\n", "a", "NUL in quoted string", Limits{}},
		{"a X " + strings.Repeat("y", 200) + " ~{12+}\r\nb NOOP\r\nc NOO rest\r\n", "a", "command line exceeds the limit of 100 bytes", Limits{MaxLine: 100}},
		// ...but not a synchronising one: the client waits for "+".
		{"a X \"\x00\" {12}\r\n", "a", "NUL in quoted string", Limits{}},
	} {
		r, conts := reader(tc.in+"z NOOP\r\n", tc.lim)
		_, err := r.ReadCommand()
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("%q: error %v, want a SyntaxError", tc.in, err)
			continue
		}
		if se.Tag != tc.tag || se.Msg != tc.msg {
			t.Errorf("%q: tag %q msg %q, want %q %q", tc.in, se.Tag, se.Msg, tc.tag, tc.msg)
		}
		if len(*conts) != 0 {
			t.Errorf("%q: continuation sent", tc.in)
		}
		c, err := r.ReadCommand()
		if err != nil || c.Tag != "z" || c.Name != "NOOP" || len(c.Args) != 0 {
			t.Errorf("%q: next command %+v, %v, want z NOOP", tc.in, c, err)
		}
	}
}

func TestOversizedLiteralNoAllocation(t *testing.T) {
	// The client announces 4 GB and sends nothing more: the Reader must
	// answer at once, without waiting for the data or allocating for it.
	pr, pw := io.Pipe()
	defer pw.Close()
	go pw.Write([]byte("a APPEND INBOX {4000000000}\r\n"))
	r := NewReader(pr, func(string) error { t.Error("continuation sent"); return nil }, Limits{})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	done := make(chan error, 1)
	go func() { _, err := r.ReadCommand(); done <- err }()
	select {
	case err := <-done:
		var se *SyntaxError
		if !errors.As(err, &se) || se.Tag != "a" {
			t.Fatalf("error %v, want a SyntaxError for tag a", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadCommand blocked on the literal's data")
	}
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Errorf("allocated %d bytes", d)
	}
}

func TestNonSyncLiteralTooBig(t *testing.T) {
	// A non-synchronising literal the Reader cannot skip within
	// MaxCommandSize: the connection must be closed.
	r, _ := reader("a APPEND x {5000+}\r\n"+strings.Repeat("x", 5000)+"\r\n", Limits{MaxLiteral: 100, MaxCommandSize: 1000})
	_, err := r.ReadCommand()
	var tb *TooBigError
	if !errors.As(err, &tb) || tb.Limit != 1000 {
		t.Fatalf("error %v, want TooBigError", err)
	}
	// Within MaxLiteral but beyond MaxCommandSize, too.
	r, _ = reader("a APPEND x {50+}\r\n"+strings.Repeat("x", 50)+"\r\n", Limits{MaxCommandSize: 40})
	if _, err := r.ReadCommand(); !errors.As(err, &tb) {
		t.Fatalf("error %v, want TooBigError", err)
	}
	// A rejected line announcing a literal too large to skip.
	r, _ = reader("a X \"\x00\" {"+strings.Repeat("9", 40)+"+}\r\n", Limits{})
	if _, err := r.ReadCommand(); !errors.As(err, &tb) {
		t.Fatalf("error %v, want TooBigError", err)
	}
	// A line that never ends.
	r, _ = reader("a X \""+strings.Repeat("x", 5000), Limits{MaxLine: 100, MaxCommandSize: 1000})
	if _, err := r.ReadCommand(); !errors.As(err, &tb) {
		t.Fatalf("error %v, want TooBigError", err)
	}
}

func TestLiteralToTempFile(t *testing.T) {
	dir := t.TempDir()
	big := strings.Repeat("0123456789", 100)
	in := fmt.Sprintf("a APPEND INBOX (\\Seen) {%d}\r\n%s {5+}\r\nsmall\r\n", len(big), big)
	r, conts := reader(in, Limits{InlineLiteral: 100, TempDir: dir})
	c := mustRead(t, r)
	if len(*conts) != 1 {
		t.Errorf("continuations %q", *conts)
	}
	lit := c.Args[2].Lit
	if lit == nil || lit.file == nil || lit.Size != int64(len(big)) {
		t.Fatalf("literal %+v not in a file", lit)
	}
	if small := c.Args[3].Lit; small.file != nil {
		t.Errorf("small literal in a file")
	}
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) != 0 {
		t.Errorf("temporary file not unlinked: %v %v", ents, err)
	}
	for range 2 { // Open starts from the beginning each time
		got, err := io.ReadAll(lit.Open())
		if err != nil || string(got) != big {
			t.Errorf("Open read %d bytes, %v", len(got), err)
		}
	}
	if s, ok := c.Args[2].String(); !ok || s != big {
		t.Errorf("String of file literal: %v", ok)
	}
	c.Close()
	if _, err := io.ReadAll(lit.Open()); err == nil {
		t.Errorf("literal readable after Close")
	}
}

func TestInlineBudget(t *testing.T) {
	// Many small literals: beyond 16 × InlineLiteral in memory, the rest
	// go to files.
	var b strings.Builder
	b.WriteString("a X")
	for range 40 {
		b.WriteString(" {10+}\r\n0123456789")
	}
	b.WriteString("\r\n")
	r, _ := reader(b.String(), Limits{InlineLiteral: 10, TempDir: t.TempDir()})
	c := mustRead(t, r)
	files := 0
	for _, a := range c.Args {
		if a.Lit.file != nil {
			files++
		}
	}
	if files != 40-inlineFactor {
		t.Errorf("%d literals in files, want %d", files, 40-inlineFactor)
	}
}

func TestContinuationError(t *testing.T) {
	boom := errors.New("write failed")
	r := NewReader(strings.NewReader("a X {3}\r\nabc\r\n"), func(string) error { return boom }, Limits{})
	if _, err := r.ReadCommand(); err != boom {
		t.Errorf("error %v, want the continuation's", err)
	}
}

func TestReadLine(t *testing.T) {
	r, _ := reader("dXNlcg==\r\nDONE\n"+strings.Repeat("x", 300)+"\r\nlast\r\n\r\n", Limits{MaxLine: 100})
	for _, want := range []string{"dXNlcg==", "DONE"} {
		if got, err := r.ReadLine(); err != nil || got != want {
			t.Errorf("ReadLine = %q, %v, want %q", got, err, want)
		}
	}
	var se *SyntaxError
	if _, err := r.ReadLine(); !errors.As(err, &se) || se.Msg != "line exceeds the limit of 100 bytes" {
		t.Errorf("long line: %v", err)
	}
	for _, want := range []string{"last", ""} {
		if got, err := r.ReadLine(); err != nil || got != want {
			t.Errorf("ReadLine = %q, %v, want %q", got, err, want)
		}
	}
	if _, err := r.ReadLine(); err != io.EOF {
		t.Errorf("at end: %v", err)
	}
}

func TestBuffered(t *testing.T) {
	r, _ := reader("a STARTTLS\r\nb NOOP\r\n", Limits{})
	mustRead(t, r)
	if n := r.Buffered(); n != len("b NOOP\r\n") {
		t.Errorf("Buffered = %d", n)
	}
	r, _ = reader("a STARTTLS\r\n", Limits{})
	mustRead(t, r)
	if n := r.Buffered(); n != 0 {
		t.Errorf("Buffered = %d", n)
	}
}

// encodeCommand writes c back in a canonical form: single spaces,
// synchronising literals, quoted strings with only " and \ escaped.
func encodeCommand(c *Command) []byte {
	var b bytes.Buffer
	bw := bufio.NewWriter(&b)
	w := NewWriter(bw)
	w.Raw(c.Tag + " " + c.Name)
	var enc func([]Token)
	enc = func(ts []Token) {
		for i, t := range ts {
			if i > 0 {
				w.SP()
			}
			switch t.Kind {
			case Atom, NIL:
				w.Atom(t.Text)
			case Quoted:
				w.Raw(string(appendQuoted(nil, []byte(t.Text))))
			case Literal:
				if t.Lit.Binary {
					w.Literal8(t.Lit.Open(), t.Lit.Size)
				} else {
					w.Literal(t.Lit.Open(), t.Lit.Size)
				}
			case List:
				w.List(func() { enc(t.List) })
			}
		}
	}
	if len(c.Args) > 0 {
		w.SP()
		enc(c.Args)
	}
	w.CRLF()
	if err := w.Flush(); err != nil {
		panic(err)
	}
	return b.Bytes()
}

func TestReencode(t *testing.T) {
	in := "x1 append  \"a b\" (\\Seen  $Junk) ~{2}\r\nab {0}\r\n BODY[HEADER.FIELDS (\"a\\\"\")] nil\n"
	r, _ := reader(in, Limits{})
	c := mustRead(t, r)
	out := encodeCommand(c)
	want := "x1 APPEND \"a b\" (\\Seen $Junk) ~{2}\r\nab {0}\r\n BODY[HEADER.FIELDS (\"a\\\"\")] nil\r\n"
	if string(out) != want {
		t.Errorf("re-encoded\n%q\nwant\n%q", out, want)
	}
	r2, _ := reader(string(out), Limits{})
	c2 := mustRead(t, r2)
	if show(c.Args) != show(c2.Args) {
		t.Errorf("re-read %s, want %s", show(c2.Args), show(c.Args))
	}
}

func FuzzReadCommand(f *testing.F) {
	for _, s := range []string{
		"a1 LOGIN user \"pa\\\"ss\"\r\n",
		"a2 APPEND INBOX (\\Seen) {5}\r\nhello\r\n",
		"a3 FETCH 1:*,5 (BODY.PEEK[HEADER.FIELDS (From \"To\")]<0.100> BINARY[1.2])\n",
		"a4 X {3+}\r\nabc ~{2}\r\n\x00\x01 NIL (a (b ()))\r\n",
		"a5 X \"\x00\" {4+}\r\nb NO\r\nz NOOP\r\n",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	lim := Limits{MaxLine: 512, MaxLiteral: 300, MaxDepth: 8, MaxTokens: 200, MaxCommandSize: 2000, InlineLiteral: 128, TempDir: dir}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data), func(string) error { return nil }, lim)
		for range 20 {
			c, err := r.ReadCommand()
			var se *SyntaxError
			if errors.As(err, &se) {
				if se.Tag == "" || se.Msg == "" {
					t.Fatalf("empty tag or message: %+v", se)
				}
				continue
			}
			if err != nil {
				return
			}
			out := encodeCommand(c)
			r2 := NewReader(bytes.NewReader(out), func(string) error { return nil }, lim)
			c2, err := r2.ReadCommand()
			if err != nil {
				t.Fatalf("re-reading %q (from %q): %v", out, data, err)
			}
			if c2.Tag != c.Tag || c2.Name != c.Name || show(c2.Args) != show(c.Args) {
				t.Fatalf("re-read %q %q %s, want %q %q %s", c2.Tag, c2.Name, show(c2.Args), c.Tag, c.Name, show(c.Args))
			}
			c.Close()
			c2.Close()
		}
	})
}
