// Package authsasl owns the server side of the SASL exchanges of the IMAP
// and POP3 login stages (RFC 4422): it runs the dialogue of PLAIN (RFC
// 4616), LOGIN and CRAM-MD5/SHA1/SHA256 (RFC 2195) and turns the client's
// answers into the authtype and authdata that authdaemond checks, as
// courier-authlib's auth_sasl does. It checks nothing itself: the login
// stage has no access to the account database (pkg/login sends the
// result to the root part).
//
// go-sasl's servers check the credentials inside the exchange, which is
// the wrong place here, and it has no LOGIN or CRAM server; the SMTP
// server (pkg/smtpd) uses go-sasl's interface instead because go-smtp
// drives the exchange there.
//
// Callers: pkg/imapd (AUTHENTICATE) and pkg/pop3d (AUTH).
package authsasl

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Mechanisms are the mechanisms Exchange runs, in the order a server
// offers them when its configuration names none.
var Mechanisms = []string{"PLAIN", "LOGIN", "CRAM-MD5", "CRAM-SHA1", "CRAM-SHA256"}

// ErrAborted is the client's "*" (RFC 4422 §3.5).
var ErrAborted = errors.New("the client cancelled the authentication")

// Ask sends a challenge (raw bytes, the caller base64-encodes it as the
// protocol wants) and returns the client's answer line as sent: base64,
// or "*".
type Ask func(challenge []byte) (string, error)

// Exchange runs mechanism mech (any case) and returns authlib's authtype
// ("login", "cram-md5", ...) and authdata. initial is the initial response
// when the client sent one (SASL-IR, POP3 AUTH's second argument; "=" is
// an empty one), else nil. hostname goes into the CRAM challenge. Errors:
// ErrAborted, an unknown mechanism, an answer that is not base64, or a
// malformed PLAIN message; the caller answers all of them as a failed
// login, like the original.
func Exchange(mech string, initial *string, hostname string, ask Ask) (authType, authData string, err error) {
	mech = strings.ToUpper(mech)
	answer := func(challenge []byte) ([]byte, error) {
		if initial != nil {
			s := *initial
			initial = nil
			if s == "=" {
				return []byte{}, nil
			}
			return decode(s)
		}
		s, err := ask(challenge)
		if err != nil {
			return nil, err
		}
		return decode(s)
	}
	switch mech {
	case "PLAIN":
		msg, err := answer(nil)
		if err != nil {
			return "", "", err
		}
		// RFC 4616 §2: [authzid] NUL authcid NUL passwd; the
		// authorization identity is not used (no proxy logins).
		f := strings.Split(string(msg), "\x00")
		if len(f) != 3 || f[1] == "" {
			return "", "", errors.New("a PLAIN response is not authzid NUL authcid NUL password")
		}
		return loginData(f[1], f[2])
	case "LOGIN":
		user, err := answer([]byte("Username:"))
		if err != nil {
			return "", "", err
		}
		pass, err := answer([]byte("Password:"))
		if err != nil {
			return "", "", err
		}
		return loginData(string(user), string(pass))
	case "CRAM-MD5", "CRAM-SHA1", "CRAM-SHA256":
		if initial != nil {
			return "", "", fmt.Errorf("%s takes no initial response", mech)
		}
		var nonce [12]byte
		rand.Read(nonce[:])
		challenge := fmt.Sprintf("<%s.%d@%s>", hex.EncodeToString(nonce[:]), time.Now().Unix(), hostname)
		resp, err := answer([]byte(challenge))
		if err != nil {
			return "", "", err
		}
		// RFC 2195 §2: "user digest"; authlib takes both base64-encoded.
		if !strings.Contains(string(resp), " ") || strings.ContainsAny(string(resp), "\r\n\x00") {
			return "", "", fmt.Errorf("a %s response is not \"user digest\"", mech)
		}
		enc := base64.StdEncoding.EncodeToString
		return strings.ToLower(mech), enc([]byte(challenge)) + "\n" + enc(resp) + "\n", nil
	}
	return "", "", fmt.Errorf("unknown SASL mechanism %q", mech)
}

func loginData(user, pass string) (string, string, error) {
	if user == "" || strings.ContainsAny(user+pass, "\n\x00") {
		return "", "", errors.New("an empty user name, or a newline or NUL in the user name or password")
	}
	return "login", user + "\n" + pass + "\n", nil
}

func decode(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "*" {
		return nil, ErrAborted
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("the client's SASL answer is not base64: %v", err)
	}
	return b, nil
}
