// Package pamwire owns the line protocol between authdaemond's authpam
// module (pkg/auth) and the authpam helper program (cmd/authpam), which
// is the only part of the authentication path that links C code (libpam).
// Keeping PAM in its own process keeps authdaemond free of cgo, and a PAM
// module that crashes or hangs takes down one helper, not the daemon.
//
// One request per line, one reply line per request, fields separated by
// single spaces and percent-encoded (every byte below 0x21, '%' and 0x7f
// as %XX) so passwords may hold any byte:
//
//	AUTH <service> <user> <password> <rhost>
//	PASSWD <service> <user> <oldpassword> <newpassword> <rhost>
//
// Replies:
//
//	OK
//	FAIL <pam error text>      the login or change is refused
//	TEMP <pam error text>      PAM could not decide (try again later)
package pamwire

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MaxLine bounds a request or reply line.
const MaxLine = 64 << 10

// Operations.
const (
	OpAuth   = "AUTH"
	OpPasswd = "PASSWD"
)

// Reply statuses.
const (
	StatusOK   = "OK"
	StatusFail = "FAIL"
	StatusTemp = "TEMP"
)

// Request is one PAM operation.
type Request struct {
	Op          string
	Service     string // the PAM service: /etc/pam.d/<service>
	User        string
	Password    string // AUTH: the password; PASSWD: the old password
	NewPassword string // PASSWD only
	RemoteIP    string // PAM_RHOST, may be empty
}

// Reply is the helper's answer.
type Reply struct {
	Status  string
	Message string
}

func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == '%' || c == 0x7f {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func unescape(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("truncated %%-escape in %q", s)
		}
		hi, ok1 := unhex(s[i+1])
		lo, ok2 := unhex(s[i+2])
		if !ok1 || !ok2 {
			return "", fmt.Errorf("bad %%-escape %q", s[i:i+3])
		}
		b.WriteByte(hi<<4 | lo)
		i += 2
	}
	return b.String(), nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// Encode returns the request line.
func (r Request) Encode() []byte {
	f := []string{r.Op, escape(r.Service), escape(r.User), escape(r.Password)}
	if r.Op == OpPasswd {
		f = append(f, escape(r.NewPassword))
	}
	f = append(f, escape(r.RemoteIP))
	return []byte(strings.Join(f, " ") + "\n")
}

// readLine reads one line of at most MaxLine bytes without its newline.
func readLine(br *bufio.Reader) (string, error) {
	var b []byte
	for {
		chunk, err := br.ReadSlice('\n')
		b = append(b, chunk...)
		if len(b) > MaxLine+1 {
			return "", fmt.Errorf("line longer than %d bytes", MaxLine)
		}
		switch err {
		case nil:
			return string(b[:len(b)-1]), nil
		case bufio.ErrBufferFull:
			continue
		case io.EOF:
			if len(b) > 0 {
				return "", io.ErrUnexpectedEOF
			}
		}
		return "", err
	}
}

// ReadRequest reads one request; io.EOF at a clean end of input.
func ReadRequest(br *bufio.Reader) (Request, error) {
	line, err := readLine(br)
	if err != nil {
		return Request{}, err
	}
	return ParseRequest(line)
}

// ParseRequest parses one request line (without its newline).
func ParseRequest(line string) (Request, error) {
	f := strings.Split(line, " ")
	var want int
	switch f[0] {
	case OpAuth:
		want = 5
	case OpPasswd:
		want = 6
	default:
		return Request{}, fmt.Errorf("pamwire: unknown operation %q", clip(f[0]))
	}
	if len(f) != want {
		return Request{}, fmt.Errorf("pamwire: %s wants %d fields, have %d", f[0], want, len(f))
	}
	for i := 1; i < len(f); i++ {
		v, err := unescape(f[i])
		if err != nil {
			return Request{}, fmt.Errorf("pamwire: field %d: %v", i, err)
		}
		f[i] = v
	}
	r := Request{Op: f[0], Service: f[1], User: f[2], Password: f[3]}
	if r.Op == OpPasswd {
		r.NewPassword, r.RemoteIP = f[4], f[5]
	} else {
		r.RemoteIP = f[4]
	}
	if r.Service == "" || r.User == "" || strings.Contains(r.Service, "/") {
		return Request{}, errors.New("pamwire: empty service or user, or a service name with '/'")
	}
	// C strings end at NUL: a password cut short there must not be tried.
	for _, v := range f[1:] {
		if strings.Contains(v, "\x00") {
			return Request{}, errors.New("pamwire: a field holds a NUL byte")
		}
	}
	return r, nil
}

// Encode returns the reply line.
func (r Reply) Encode() []byte {
	if r.Status == StatusOK {
		return []byte(StatusOK + "\n")
	}
	return []byte(r.Status + " " + escape(r.Message) + "\n")
}

// ReadReply reads one reply line.
func ReadReply(br *bufio.Reader) (Reply, error) {
	line, err := readLine(br)
	if err != nil {
		return Reply{}, err
	}
	st, msg, _ := strings.Cut(line, " ")
	switch st {
	case StatusOK, StatusFail, StatusTemp:
	default:
		return Reply{}, fmt.Errorf("pamwire: unknown reply %q", clip(line))
	}
	m, err := unescape(msg)
	if err != nil {
		return Reply{}, fmt.Errorf("pamwire: reply: %v", err)
	}
	return Reply{Status: st, Message: m}, nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
