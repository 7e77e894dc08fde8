package login

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The request link is a SOCK_SEQPACKET pair between the stage and the
// root part, one packet a message, fields separated by NUL:
//
//	stage → root: "<req>\0<conn>\0<tls 0|1>\0<authtype>\0<authdata>\0NAME=value\0..."
//	              with the session's socket as SCM_RIGHTS
//	root → stage: "<req>\0<code>\0<user>"
//
// code is one of the words below. Both ends are ours; the root part still
// checks every packet, because the stage handles network input.
const (
	codeOK       = "OK"
	codeFail     = "FAIL"
	codeTemp     = "TEMP"
	codeDisabled = "DISABLED"
	codeInsecure = "INSECURE"
)

// stageEnv names the variable that makes Main the stage; its value is the
// request link's file descriptor (the connections arrive on handoff.EnvFD).
const stageEnv = "COURIER_LOGIN_STAGE_FD"

// maxRequest bounds a request packet.
const maxRequest = 64 << 10

type request struct {
	id, conn uint64
	tls      bool
	Request
}

func (r *request) marshal() ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d\x00%d\x00", r.id, r.conn)
	if r.tls {
		b.WriteString("1\x00")
	} else {
		b.WriteString("0\x00")
	}
	for _, f := range append([]string{r.AuthType, r.AuthData}, r.Env...) {
		if strings.IndexByte(f, 0) >= 0 {
			return nil, errors.New("a login field holds a NUL byte")
		}
		b.WriteString(f)
		b.WriteByte(0)
	}
	if b.Len() > maxRequest {
		return nil, fmt.Errorf("a login request of %d bytes is larger than %d", b.Len(), maxRequest)
	}
	return b.Bytes(), nil
}

func parseRequest(p []byte) (*request, error) {
	f := strings.Split(strings.TrimSuffix(string(p), "\x00"), "\x00")
	if len(f) < 5 {
		return nil, fmt.Errorf("a login request has %d fields, at least 5 expected", len(f))
	}
	r := &request{}
	var err error
	if r.id, err = strconv.ParseUint(f[0], 10, 64); err != nil {
		return nil, fmt.Errorf("a login request's id %q is not a number", f[0])
	}
	if r.conn, err = strconv.ParseUint(f[1], 10, 64); err != nil {
		return nil, fmt.Errorf("a login request's connection %q is not a number", f[1])
	}
	switch f[2] {
	case "0":
	case "1":
		r.tls = true
	default:
		return nil, fmt.Errorf("a login request's TLS flag %q is not 0 or 1", f[2])
	}
	r.AuthType, r.AuthData = f[3], f[4]
	for _, kv := range f[5:] {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return nil, fmt.Errorf("a login request's variable %q has no name", kv)
		}
		r.Env = append(r.Env, kv)
	}
	return r, nil
}

func marshalReply(id uint64, code, user string) []byte {
	return []byte(fmt.Sprintf("%d\x00%s\x00%s", id, code, strings.ReplaceAll(user, "\x00", "")))
}

func parseReply(p []byte) (id uint64, code, user string, err error) {
	f := strings.SplitN(string(p), "\x00", 3)
	if len(f) != 3 {
		return 0, "", "", fmt.Errorf("a login reply has %d fields, 3 expected", len(f))
	}
	if id, err = strconv.ParseUint(f[0], 10, 64); err != nil {
		return 0, "", "", fmt.Errorf("a login reply's id %q is not a number", f[0])
	}
	return id, f[1], f[2], nil
}

// loginUser is the login id in authdata, for log lines: the first line of
// a login, the user before the digest in a CRAM response.
func loginUser(authtype, authdata string) string {
	first, rest, _ := strings.Cut(authdata, "\n")
	if !strings.HasPrefix(authtype, "cram-") {
		return first
	}
	resp, _, _ := strings.Cut(rest, "\n")
	dec, err := decodeBase64(resp)
	if err != nil {
		return ""
	}
	u, _, _ := strings.Cut(string(dec), " ")
	return u
}
