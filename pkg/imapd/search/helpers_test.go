package search

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/gocourier/courier/pkg/imapd/wire"
)

// tokenize turns a command line into wire tokens the simple way: atoms
// separated by spaces, "quoted strings", {n}-less literals written as
// ~"..." (for tests only) and nesting on parentheses. Unbalanced
// parentheses are closed or ignored, so any input gives tokens.
func tokenize(s string) []wire.Token {
	stack := [][]wire.Token{nil}
	push := func(t wire.Token) { stack[len(stack)-1] = append(stack[len(stack)-1], t) }
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == ' ':
			i++
		case c == '(':
			stack = append(stack, nil)
			i++
		case c == ')':
			if len(stack) > 1 {
				l := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				push(wire.Token{Kind: wire.List, List: l})
			}
			i++
		case c == '"':
			j := i + 1
			var b strings.Builder
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				}
				b.WriteByte(s[j])
				j++
			}
			push(wire.Token{Kind: wire.Quoted, Text: b.String()})
			i = j + 1
		default:
			j := i
			for j < len(s) && s[j] != ' ' && s[j] != '(' && s[j] != ')' && s[j] != '"' {
				j++
			}
			if strings.EqualFold(s[i:j], "NIL") {
				push(wire.Token{Kind: wire.NIL})
			} else {
				push(wire.Token{Kind: wire.Atom, Text: s[i:j]})
			}
			i = j
		}
	}
	for len(stack) > 1 {
		l := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		push(wire.Token{Kind: wire.List, List: l})
	}
	return stack[0]
}

// testMsg is a Message kept in a file, as in a maildir.
type testMsg struct {
	seq, uid uint32
	flags    []imap.Flag
	internal time.Time
	modSeq   uint64
	path     string
	data     []byte // when path is empty
	opens    *int
}

func (m *testMsg) SeqNum() uint32          { return m.seq }
func (m *testMsg) UID() uint32             { return m.uid }
func (m *testMsg) Flags() []imap.Flag      { return m.flags }
func (m *testMsg) InternalDate() time.Time { return m.internal }
func (m *testMsg) ModSeq() uint64          { return m.modSeq }
func (m *testMsg) Size() int64 {
	if m.path == "" {
		return int64(len(m.data))
	}
	st, err := os.Stat(m.path)
	if err != nil {
		return 0
	}
	return st.Size()
}
func (m *testMsg) Open() (io.ReadCloser, error) {
	if m.opens != nil {
		*m.opens++
	}
	if m.path == "" {
		return io.NopCloser(bytes.NewReader(m.data)), nil
	}
	return os.Open(m.path)
}

// writeMsgs writes the messages (LF line ends become CRLF) into a
// maildir's cur/ under t.TempDir() and returns them numbered 1, 2, ...,
// with UIDs 101, 102, ... and internal dates one hour apart.
func writeMsgs(t *testing.T, texts ...string) []Message {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "cur")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2024, 3, 10, 12, 0, 0, 0, time.Local)
	var msgs []Message
	for i, text := range texts {
		p := filepath.Join(dir, strconv.Itoa(i+1)+".host:2,")
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(text, "\n", "\r\n")), 0o600); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, &testMsg{
			seq:      uint32(i + 1),
			uid:      uint32(101 + i),
			internal: base.Add(time.Duration(i) * time.Hour),
			modSeq:   uint64(10 * (i + 1)),
			path:     p,
		})
	}
	return msgs
}

func nums(msgs []Message) []uint32 {
	var out []uint32
	for _, m := range msgs {
		out = append(out, m.SeqNum())
	}
	return out
}
