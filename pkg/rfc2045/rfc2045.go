// Package rfc2045 owns what the suite does to MIME structure (RFC 2045,
// 2046) on its own rather than through go-message:
//
//   - the conversion of 8-bit parts to quoted-printable that the outbound
//     module makes for a server without 8BITMIME (RFC 6152 §3: the client
//     must convert or return the message), as the original's courieresmtp
//     does with rfc2045_rewrite (To7bit);
//   - the original submit's check of every received message (Checker: its
//     rfcviolation flags and its 300-part limit) and its rewrite of the MIME
//     headers it standardizes (Result.Rewrite).
//
// Both work on the raw lines: go-message decodes and re-encodes entities,
// while these must leave every byte they do not change untouched, and the
// checker must find exactly what the original's parser finds (its quirks
// included: a body line of more than 1024 bytes is not examined, a header
// is tokenized as librfc2045 does), which no general MIME parser does.
//
// Callers: the outbound module (pkg/esmtp) and courieresmtpd (pkg/smtpd).
package rfc2045

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"
)

// ErrHeader8bit: a header holds 8-bit bytes, which no transfer encoding
// can carry to a server without SMTPUTF8.
var ErrHeader8bit = errors.New("the message has 8-bit characters in its header")

// ErrUnconvertible: 8-bit bytes where no transfer encoding may be
// applied (a multipart's preamble or epilogue, a part that declares
// base64 or quoted-printable but is not).
var ErrUnconvertible = errors.New("the message has 8-bit data outside any part that could be encoded")

// MaxDepth bounds the nesting of multiparts and message/rfc822 parts.
const MaxDepth = 50

// ErrTooDeep: more nesting than MaxDepth.
var ErrTooDeep = errors.New("the message's MIME parts are nested too deeply")

// To7bit copies the message from r to w with every 8-bit part that has no
// transfer encoding (or 7bit, 8bit, binary) encoded as quoted-printable
// and its Content-Transfer-Encoding changed; multiparts and message/rfc822
// parts are converted recursively; everything else is copied as it is.
func To7bit(w io.Writer, r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	out, err := entity(data, 0)
	if err != nil {
		return err
	}
	if Has8bit(out) {
		return ErrUnconvertible
	}
	_, err = w.Write(out)
	return err
}

// Has8bit reports whether data holds a byte above 127.
func Has8bit(data []byte) bool {
	for _, c := range data {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

// split separates the header (with its final line end) from the body
// (after the blank line); blank is the blank line itself.
func split(data []byte) (header, blank, body []byte) {
	for i := 0; i < len(data); {
		j := bytes.IndexByte(data[i:], '\n')
		if j < 0 {
			return data, nil, nil
		}
		line := data[i : i+j+1]
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return data[:i], line, data[i+j+1:]
		}
		i += j + 1
	}
	return data, nil, nil
}

// field is one header field with its continuation lines.
type field struct {
	raw  []byte
	name string
}

func fields(header []byte) []field {
	var out []field
	for len(header) > 0 {
		j := bytes.IndexByte(header, '\n')
		line := header
		if j >= 0 {
			line = header[:j+1]
		}
		header = header[len(line):]
		if (line[0] == ' ' || line[0] == '\t') && len(out) > 0 {
			out[len(out)-1].raw = append(out[len(out)-1].raw, line...)
			continue
		}
		name, _, _ := strings.Cut(string(line), ":")
		out = append(out, field{raw: append([]byte(nil), line...), name: strings.ToLower(strings.TrimSpace(name))})
	}
	return out
}

func value(f field) string {
	_, v, _ := strings.Cut(string(f.raw), ":")
	return strings.TrimSpace(strings.NewReplacer("\r\n", " ", "\n", " ").Replace(v))
}

// entity converts one entity (header and body).
func entity(data []byte, depth int) ([]byte, error) {
	if depth > MaxDepth {
		return nil, ErrTooDeep
	}
	header, blank, body := split(data)
	if Has8bit(header) {
		return nil, ErrHeader8bit
	}
	if blank == nil {
		return data, nil
	}
	fs := fields(header)
	ctype, cte := "text/plain", ""
	var params map[string]string
	for _, f := range fs {
		switch f.name {
		case "content-type":
			if t, p, err := mime.ParseMediaType(value(f)); err == nil {
				ctype, params = t, p
			}
		case "content-transfer-encoding":
			cte = strings.ToLower(value(f))
		}
	}
	switch {
	case strings.HasPrefix(ctype, "multipart/") && params["boundary"] != "":
		nb, err := multipart(body, params["boundary"], depth)
		if err != nil {
			return nil, err
		}
		return concat(header, blank, nb), nil
	case ctype == "message/rfc822" && (cte == "" || cte == "7bit" || cte == "8bit" || cte == "binary"):
		nb, err := entity(body, depth+1)
		if err != nil {
			return nil, err
		}
		return concat(setCTE(fs, cte, "7bit"), blank, nb), nil
	}
	if !Has8bit(body) || !(cte == "" || cte == "7bit" || cte == "8bit" || cte == "binary") {
		return data, nil
	}
	eol := "\n"
	if bytes.HasSuffix(blank, []byte("\r\n")) {
		eol = "\r\n"
	}
	var qp bytes.Buffer
	qw := quotedprintable.NewWriter(&qp)
	qw.Write(body)
	qw.Close()
	enc := qp.Bytes()
	if eol == "\n" {
		enc = bytes.ReplaceAll(enc, []byte("\r\n"), []byte("\n"))
	}
	if len(body) > 0 && body[len(body)-1] == '\n' && !bytes.HasSuffix(enc, []byte(eol)) {
		enc = append(enc, eol...)
	}
	return concat(setCTE(fs, cte, "quoted-printable"), blank, enc), nil
}

// setCTE returns the header with Content-Transfer-Encoding set to cte.
func setCTE(fs []field, old, cte string) []byte {
	var out []byte
	eol := "\n"
	for _, f := range fs {
		if bytes.HasSuffix(f.raw, []byte("\r\n")) {
			eol = "\r\n"
		}
		if f.name == "content-transfer-encoding" {
			continue
		}
		out = append(out, f.raw...)
	}
	if old == cte {
		for _, f := range fs {
			if f.name == "content-transfer-encoding" {
				return concat(out, f.raw)
			}
		}
	}
	return append(out, "Content-Transfer-Encoding: "+cte+eol...)
}

// multipart converts each part between the boundary lines.
func multipart(body []byte, boundary string, depth int) ([]byte, error) {
	delim := []byte("--" + boundary)
	var out []byte
	var part []byte
	inPart := false
	flush := func() error {
		if !inPart {
			out = append(out, part...)
			return nil
		}
		// The line end before a boundary belongs to the boundary (RFC 2046 5.1.1).
		conv, err := entity(part, depth+1)
		if err != nil {
			return err
		}
		out = append(out, conv...)
		return nil
	}
	done := false
	for len(body) > 0 {
		j := bytes.IndexByte(body, '\n')
		line := body
		if j >= 0 {
			line = body[:j+1]
		}
		body = body[len(line):]
		trimmed := bytes.TrimRight(line, " \t\r\n")
		if !done && bytes.HasPrefix(trimmed, delim) {
			rest := trimmed[len(delim):]
			if len(rest) == 0 || bytes.Equal(rest, []byte("--")) {
				if err := flush(); err != nil {
					return nil, err
				}
				part = nil
				out = append(out, line...)
				inPart = len(rest) == 0
				done = len(rest) != 0
				continue
			}
		}
		part = append(part, line...)
	}
	if done || !inPart {
		return append(out, part...), nil
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

func concat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
