package authlib

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Limits of the request format (spec/authdaemon.md §2). The original reads
// each line into a BUFSIZ (8192) buffer that also holds the newline and a
// terminating NUL: a line of 8191 bytes with its newline is the longest it
// accepts [observed]. AUTH's byte count must be below 8192 [observed].
const (
	MaxLine     = 8190 // longest request line, without its newline
	MaxAuthData = 8191 // largest <n> of "AUTH <n>"
	// maxHeader bounds the meta lines of one request. The original has no
	// bound (it accepted 1000 meta lines); this keeps a client that streams
	// meta lines forever from holding the connection.
	maxHeader = 1 << 20
	// ReaderSize is the buffer size ReadRequest needs: one whole line.
	ReaderSize = MaxLine + 2
)

// Command is the kind of a request.
type Command int

// The four commands of the protocol.
const (
	CmdPre Command = iota + 1
	CmdAuth
	CmdPasswd
	CmdEnumerate
)

func (c Command) String() string {
	switch c {
	case CmdPre:
		return "PRE"
	case CmdAuth:
		return "AUTH"
	case CmdPasswd:
		return "PASSWD"
	case CmdEnumerate:
		return "ENUMERATE"
	}
	return fmt.Sprintf("Command(%d)", int(c))
}

// Meta is one "NAME=value" line sent before the command.
type Meta struct{ Name, Value string }

// MetaRemoteIP is the only meta line the original uses: the client's
// TCPREMOTEIP, kept for logging and for modules.
const MetaRemoteIP = "TCPREMOTEIP"

// Request is one parsed request.
type Request struct {
	Command Command
	Meta    []Meta // meta lines in the order received; values with control bytes are dropped

	Module  string // PRE: the module to ask, "" for every module (wire ".")
	Service string // PRE, AUTH, PASSWD
	User    string // PRE, PASSWD: the userid (PRE: the rest of the line)

	AuthType string // AUTH: "login", "cram-md5", ... as sent
	AuthData string // AUTH: everything after the authtype line

	OldPassword, NewPassword string // PASSWD
}

// RemoteIP returns the value of the TCPREMOTEIP meta line, or "".
func (r *Request) RemoteIP() string {
	for _, m := range r.Meta {
		if m.Name == MetaRemoteIP {
			return m.Value
		}
	}
	return ""
}

// RequestError is a request the daemon refuses. The original closes the
// connection without a reply for every malformed request, except a PASSWD
// line with control characters, which it answers with FAIL.
type RequestError struct {
	Reason string
	Fail   bool // answer "FAIL\n" instead of closing
}

func (e *RequestError) Error() string { return "malformed authdaemon request: " + e.Reason }

func reqErr(format string, a ...any) error {
	return &RequestError{Reason: fmt.Sprintf(format, a...)}
}

// ReadRequest reads one request from br, which must have been made with at
// least ReaderSize bytes of buffer (bufio.NewReaderSize(conn, ReaderSize)).
// It never reads past the end of the request. Errors are a *RequestError
// for a malformed request, io.ErrUnexpectedEOF when the client closed the
// connection mid-request, or the reader's own error (a timeout).
func ReadRequest(br *bufio.Reader) (*Request, error) {
	if br.Size() < ReaderSize {
		return nil, fmt.Errorf("authlib: ReadRequest needs a reader of at least %d bytes, have %d", ReaderSize, br.Size())
	}
	req := &Request{}
	header := 0
	for {
		line, err := readLine(br)
		if err != nil {
			return nil, err
		}
		header += len(line) + 1
		if header > maxHeader {
			return nil, reqErr("more than %d bytes of meta lines", maxHeader)
		}
		// A line whose first space or '=' is an '=' is a meta line.
		if i := bytes.IndexAny(line, " ="); i >= 0 && line[i] == '=' {
			name, value := string(line[:i]), line[i+1:]
			if !hasControl(value) {
				req.Meta = append(req.Meta, Meta{Name: name, Value: string(value)})
			}
			continue
		}
		n, err := parseCommand(req, line)
		if err != nil {
			return nil, err
		}
		if req.Command == CmdAuth {
			if err := readAuth(br, req, n); err != nil {
				return nil, err
			}
		}
		return req, nil
	}
}

// ParseRequest parses one request held in data; bytes after the request
// are ignored, as the daemon ignores them.
func ParseRequest(data []byte) (*Request, error) {
	return ReadRequest(bufio.NewReaderSize(bytes.NewReader(data), ReaderSize))
}

// readLine returns one line without its newline.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull || len(line) > MaxLine+1:
		return nil, reqErr("line longer than %d bytes", MaxLine)
	case err == io.EOF:
		return nil, io.ErrUnexpectedEOF
	case err != nil:
		return nil, err
	}
	return line[:len(line)-1], nil
}

// parseCommand fills req from the command line; for AUTH it returns the
// announced byte count.
func parseCommand(req *Request, line []byte) (int, error) {
	s := string(line)
	word, rest, _ := strings.Cut(s, " ")
	switch word {
	case "PRE":
		f := splitSpaces(rest, 3)
		if len(f) < 3 {
			return 0, reqErr("PRE needs a module, a service and a userid: %q", clip(s))
		}
		req.Command = CmdPre
		if f[0] != "." {
			req.Module = f[0]
		}
		req.Service, req.User = f[1], f[2]
	case "AUTH":
		n, ok := decimal(strings.TrimLeft(rest, " "))
		if !ok || n <= 0 || n > MaxAuthData {
			return 0, reqErr("AUTH needs a byte count from 1 to %d: %q", MaxAuthData, clip(s))
		}
		req.Command = CmdAuth
		return n, nil
	case "PASSWD":
		if hasControlExceptTab(line) {
			return 0, &RequestError{Reason: "PASSWD line holds control characters", Fail: true}
		}
		f := strings.Split(rest, "\t")
		if len(f) != 4 {
			return 0, reqErr("PASSWD needs service, userid, old and new password separated by tabs (%d fields)", len(f))
		}
		req.Command = CmdPasswd
		req.Service, req.User, req.OldPassword, req.NewPassword = f[0], f[1], f[2], f[3]
	case "ENUMERATE":
		req.Command = CmdEnumerate
	default:
		return 0, reqErr("unknown command %q", clip(word))
	}
	return 0, nil
}

// readAuth reads the n bytes announced by "AUTH <n>" and splits them into
// service, authtype and authdata.
func readAuth(br *bufio.Reader, req *Request, n int) error {
	buf := make([]byte, n)
	if _, err := io.ReadFull(br, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	service, rest, ok1 := bytes.Cut(buf, []byte{'\n'})
	authtype, data, ok2 := bytes.Cut(rest, []byte{'\n'})
	if !ok1 || !ok2 {
		return reqErr("AUTH data needs a service line and an authtype line")
	}
	req.Service, req.AuthType, req.AuthData = string(service), string(authtype), string(data)
	return nil
}

// decimal parses a non-negative decimal number of at most 9 digits.
func decimal(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// splitSpaces splits s at runs of spaces into at most n fields; the last
// field is the rest of s after the separating spaces.
func splitSpaces(s string, n int) []string {
	var f []string
	for len(f) < n-1 {
		s = strings.TrimLeft(s, " ")
		if s == "" {
			return f
		}
		i := strings.IndexByte(s, ' ')
		if i < 0 {
			return append(f, s)
		}
		f = append(f, s[:i])
		s = s[i:]
	}
	s = strings.TrimLeft(s, " ")
	if s == "" {
		return f
	}
	return append(f, s)
}

func hasControl(b []byte) bool {
	for _, c := range b {
		if c < 0x20 {
			return true
		}
	}
	return false
}

func hasControlExceptTab(b []byte) bool {
	for _, c := range b {
		if c < 0x20 && c != '\t' {
			return true
		}
	}
	return false
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

// Encode returns the request's bytes as the client library sends them.
// It refuses values that would change the meaning of the request (a
// newline in a PRE userid, a tab in a PASSWD field, ...).
func (r *Request) Encode() ([]byte, error) {
	var b bytes.Buffer
	for _, m := range r.Meta {
		if m.Name == "" || strings.ContainsAny(m.Name, "= \n") || hasControl([]byte(m.Value)) {
			return nil, fmt.Errorf("authlib: bad meta line %q=%q", m.Name, m.Value)
		}
		b.WriteString(m.Name + "=" + m.Value + "\n")
	}
	word := func(what, v string) error {
		if v == "" || strings.ContainsAny(v, " \t\n") {
			return fmt.Errorf("authlib: %s %q must be one word", what, v)
		}
		return nil
	}
	switch r.Command {
	case CmdPre:
		mod := r.Module
		if mod == "" {
			mod = "."
		}
		if err := word("module", mod); err != nil {
			return nil, err
		}
		if err := word("service", r.Service); err != nil {
			return nil, err
		}
		if r.User == "" || r.User[0] == ' ' || hasControl([]byte(r.User)) {
			return nil, fmt.Errorf("authlib: userid %q is empty or holds control characters", r.User)
		}
		fmt.Fprintf(&b, "PRE %s %s %s\n", mod, r.Service, r.User)
	case CmdAuth:
		if strings.Contains(r.Service, "\n") || strings.Contains(r.AuthType, "\n") {
			return nil, fmt.Errorf("authlib: service and authtype may not hold a newline")
		}
		n := len(r.Service) + 1 + len(r.AuthType) + 1 + len(r.AuthData)
		if n > MaxAuthData {
			return nil, fmt.Errorf("authlib: AUTH request of %d bytes is longer than the %d the daemon accepts", n, MaxAuthData)
		}
		fmt.Fprintf(&b, "AUTH %d\n%s\n%s\n%s", n, r.Service, r.AuthType, r.AuthData)
	case CmdPasswd:
		for _, v := range []string{r.Service, r.User, r.OldPassword, r.NewPassword} {
			if hasControl([]byte(v)) {
				return nil, fmt.Errorf("authlib: password change fields may not hold tabs or control characters")
			}
		}
		fmt.Fprintf(&b, "PASSWD %s\t%s\t%s\t%s\n", r.Service, r.User, r.OldPassword, r.NewPassword)
	case CmdEnumerate:
		b.WriteString("ENUMERATE\n")
	default:
		return nil, errors.New("authlib: request without a command")
	}
	if b.Len() > maxHeader+MaxAuthData {
		return nil, fmt.Errorf("authlib: request too long")
	}
	return b.Bytes(), nil
}
