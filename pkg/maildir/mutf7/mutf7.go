// Package mutf7 converts between UTF-8 and IMAP's modified UTF-7 (RFC 3501
// §5.1.3), the encoding of mailbox names on the IMAP wire and, before
// Courier 1.0, of folder names on disk (spec/maildir.md §1). pkg/maildir
// uses it to convert old maildirs (maildirmake --convutf8); the IMAP server
// uses it for mailbox names of clients that have not enabled UTF8=ACCEPT.
package mutf7

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// The base64 alphabet of modified UTF-7: ',' instead of '/', no padding.
var b64 = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").WithPadding(base64.NoPadding)

// Encode converts a UTF-8 string to modified UTF-7: printable ASCII stays
// (with '&' written "&-"), everything else is base64 of its UTF-16 form
// between '&' and '-'. Invalid UTF-8 bytes become U+FFFD.
func Encode(s string) string {
	var b strings.Builder
	var run []rune
	flush := func() {
		if len(run) == 0 {
			return
		}
		u := utf16.Encode(run)
		buf := make([]byte, 2*len(u))
		for i, c := range u {
			buf[2*i], buf[2*i+1] = byte(c>>8), byte(c)
		}
		b.WriteByte('&')
		b.WriteString(b64.EncodeToString(buf))
		b.WriteByte('-')
		run = run[:0]
	}
	for _, r := range s {
		switch {
		case r == '&':
			flush()
			b.WriteString("&-")
		case r >= 0x20 && r <= 0x7e:
			flush()
			b.WriteRune(r)
		default:
			run = append(run, r)
		}
	}
	flush()
	return b.String()
}

// Decode converts modified UTF-7 to UTF-8. It fails on anything RFC 3501
// does not allow: bytes outside printable ASCII, an unterminated or empty
// base64 run ("&-" is '&'), bad base64, an odd number of UTF-16 bytes,
// unpaired surrogates.
func Decode(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return "", fmt.Errorf("%q: byte %#x at offset %d is not printable ASCII", s, c, i)
		}
		if c != '&' {
			b.WriteByte(c)
			continue
		}
		end := strings.IndexByte(s[i+1:], '-')
		if end < 0 {
			return "", fmt.Errorf("%q: '&' at offset %d is not closed by '-'", s, i)
		}
		run := s[i+1 : i+1+end]
		i += end + 1
		if run == "" {
			b.WriteByte('&')
			continue
		}
		raw, err := b64.DecodeString(run)
		if err != nil {
			return "", fmt.Errorf("%q: bad base64 %q: %v", s, run, err)
		}
		if len(raw)%2 != 0 {
			return "", fmt.Errorf("%q: %q does not decode to whole UTF-16 characters", s, run)
		}
		u := make([]uint16, len(raw)/2)
		for k := range u {
			u[k] = uint16(raw[2*k])<<8 | uint16(raw[2*k+1])
		}
		for k := 0; k < len(u); k++ {
			r := rune(u[k])
			switch {
			case utf16.IsSurrogate(r):
				if k+1 >= len(u) {
					return "", errSurrogate(s)
				}
				r = utf16.DecodeRune(r, rune(u[k+1]))
				if r == utf8.RuneError {
					return "", errSurrogate(s)
				}
				k++
			}
			b.WriteRune(r)
		}
	}
	return b.String(), nil
}

func errSurrogate(s string) error {
	return fmt.Errorf("%q: %w", s, errors.New("unpaired UTF-16 surrogate"))
}
