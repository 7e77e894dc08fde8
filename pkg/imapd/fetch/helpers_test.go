package fetch

import (
	"bytes"
	"errors"
	"fmt"
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

// tokenize turns a FETCH argument string into tokens the way the session's
// reader does: lists nest on parentheses, a fetch attribute with a section
// (which may hold spaces and parentheses) is one atom, quoted strings are
// unescaped.
func tokenize(s string) ([]wire.Token, error) {
	toks, rest, err := tokenList(s, 0)
	if err != nil {
		return nil, err
	}
	if rest != len(s) {
		return nil, errors.New("unbalanced )")
	}
	return toks, nil
}

func tokenList(s string, i int) ([]wire.Token, int, error) {
	var toks []wire.Token
	for i < len(s) {
		switch c := s[i]; c {
		case ' ':
			i++
		case ')':
			return toks, i, nil
		case '(':
			l, j, err := tokenList(s, i+1)
			if err != nil {
				return nil, 0, err
			}
			if j >= len(s) || s[j] != ')' {
				return nil, 0, errors.New("unbalanced (")
			}
			toks = append(toks, wire.Token{Kind: wire.List, List: l})
			i = j + 1
		case '"':
			var b strings.Builder
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				}
				b.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, 0, errors.New("unterminated quoted string")
			}
			toks = append(toks, wire.Token{Kind: wire.Quoted, Text: b.String()})
			i = j + 1
		default:
			j := i
			depth := 0
			for j < len(s) {
				if s[j] == '[' {
					depth++
				} else if s[j] == ']' && depth > 0 {
					depth--
				} else if depth == 0 && (s[j] == ' ' || s[j] == '(' || s[j] == ')') {
					break
				}
				j++
			}
			t := wire.Token{Kind: wire.Atom, Text: s[i:j]}
			if strings.EqualFold(t.Text, "NIL") {
				t.Kind = wire.NIL
			}
			toks = append(toks, t)
			i = j
		}
	}
	return toks, i, nil
}

func mustParse(t testing.TB, s string) *Request {
	t.Helper()
	toks, err := tokenize(s)
	if err != nil {
		t.Fatalf("tokenize %q: %v", s, err)
	}
	req, err := Parse(toks)
	if err != nil {
		t.Fatalf("Parse %q: %v", s, err)
	}
	return req
}

// testMessage is a message in a file, as in a maildir.
type testMessage struct {
	path   string
	data   []byte // used instead of path when set (fuzzing)
	seq    uint32
	uid    uint32
	flags  []imap.Flag
	date   time.Time
	size   int64
	modseq uint64
}

func (m *testMessage) SeqNum() uint32          { return m.seq }
func (m *testMessage) UID() uint32             { return m.uid }
func (m *testMessage) Flags() []imap.Flag      { return m.flags }
func (m *testMessage) InternalDate() time.Time { return m.date }
func (m *testMessage) Size() int64             { return m.size }
func (m *testMessage) ModSeq() uint64          { return m.modseq }
func (m *testMessage) Open() (io.ReadCloser, error) {
	if m.data != nil {
		return io.NopCloser(bytes.NewReader(m.data)), nil
	}
	return os.Open(m.path)
}

var testDate = time.Date(2024, time.March, 5, 14, 7, 9, 0, time.FixedZone("", -2*3600))

// newMessage stores content (LF line ends, as in a maildir) in a file in
// a temporary directory.
func newMessage(t *testing.T, content string) *testMessage {
	t.Helper()
	path := filepath.Join(t.TempDir(), "1700000000.M1P1.host,S="+strconv.Itoa(len(content))+":2,")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return &testMessage{path: path, seq: 1, uid: 7, date: testDate, size: -1, modseq: 42}
}

func write(t testing.TB, req string, m Message, opt Options) string {
	t.Helper()
	var b bytes.Buffer
	if _, err := Write(&b, mustParse(t, req), m, opt); err != nil {
		t.Fatalf("Write %s: %v", req, err)
	}
	if err := checkResponse(b.Bytes(), opt.UTF8); err != nil {
		t.Fatalf("Write %s: %v\n%q", req, err, b.String())
	}
	return b.String()
}

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// checkResponse checks the framing of one untagged FETCH response: it
// starts with "* n FETCH (", parentheses balance, quoted strings hold no
// CR, LF or NUL (nor 8-bit text unless utf8OK), literals have the length
// they announce, and it ends with ")" CRLF and nothing else. A literal may
// hold NUL: a message with NUL is sent as stored, as the original Courier
// does, since BODY[] has no literal8 (RFC 9051 §7.5.2).
func checkResponse(b []byte, utf8OK bool) error {
	if !bytes.HasPrefix(b, []byte("* ")) {
		return errors.New("no \"* \" at the start")
	}
	i := bytes.Index(b, []byte(" FETCH ("))
	if i < 0 {
		return errors.New("no FETCH")
	}
	if _, err := strconv.ParseUint(string(b[2:i]), 10, 32); err != nil {
		return fmt.Errorf("bad sequence number %q", b[2:i])
	}
	i += len(" FETCH (")
	depth := 1
	for i < len(b) {
		c := b[i]
		switch {
		case c == '(' || c == '[':
			depth++
		case c == ')' || c == ']':
			depth--
			if depth == 0 {
				if string(b[i+1:]) != "\r\n" {
					return fmt.Errorf("after the final ): %q", b[i+1:])
				}
				return nil
			}
		case c == '"':
			j := i + 1
			for ; j < len(b) && b[j] != '"'; j++ {
				switch {
				case b[j] == '\\':
					j++
					if j == len(b) || (b[j] != '"' && b[j] != '\\') {
						return fmt.Errorf("bad escape at %d", j)
					}
				case b[j] == '\r' || b[j] == '\n' || b[j] == 0:
					return fmt.Errorf("CR, LF or NUL in a quoted string at %d", j)
				case b[j] >= 0x80 && !utf8OK:
					return fmt.Errorf("8-bit byte in a quoted string at %d", j)
				}
			}
			if j == len(b) {
				return errors.New("unterminated quoted string")
			}
			i = j
		case c == '{' || (c == '~' && i+1 < len(b) && b[i+1] == '{'):
			if c == '~' {
				i++
			}
			j := bytes.IndexByte(b[i:], '}')
			if j < 0 {
				return errors.New("unterminated literal length")
			}
			n, err := strconv.Atoi(string(b[i+1 : i+j]))
			if err != nil {
				return fmt.Errorf("bad literal length %q", b[i+1:i+j])
			}
			i += j + 1
			if !bytes.HasPrefix(b[i:], []byte("\r\n")) {
				return errors.New("no CRLF after a literal length")
			}
			i += 2
			if i+n > len(b) {
				return errors.New("literal runs past the end")
			}
			i += n - 1
		case c == '\r' || c == '\n' || c == 0:
			return fmt.Errorf("CR, LF or NUL outside literals at %d", i)
		case c >= 0x80:
			return fmt.Errorf("8-bit byte outside strings at %d", i)
		}
		i++
	}
	return errors.New("unbalanced parentheses")
}
