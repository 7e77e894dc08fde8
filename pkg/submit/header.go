package submit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Field is one header field as read: Raw is the whole field, its name, the
// colon and every continuation line, each line ending in "\n" (a CR before
// the LF is removed, as the original's submit does). Name is the text before
// the colon, "" for a line without one, which is kept as it is.
type Field struct {
	Name string
	Raw  []byte
}

// Is reports whether the field has this name, compared without regard to
// case (RFC 5322 1.2.2).
func (f Field) Is(name string) bool { return f.Name != "" && strings.EqualFold(f.Name, name) }

// Value is the field body after the colon with the folding line breaks
// removed (RFC 5322 2.2.3) and surrounding white space trimmed.
func (f Field) Value() string {
	i := bytes.IndexByte(f.Raw, ':')
	if i < 0 {
		return ""
	}
	v := strings.ReplaceAll(string(f.Raw[i+1:]), "\n", "")
	return strings.TrimSpace(v)
}

// body is the field body after the colon, line breaks kept, without the last
// newline: what an address rewrite works on and puts back.
func (f Field) body() string {
	i := bytes.IndexByte(f.Raw, ':')
	return strings.TrimSuffix(string(f.Raw[i+1:]), "\n")
}

// NewField builds a field from a name and a value; a value with several
// lines must have its continuation lines start with white space.
func NewField(name, value string) Field {
	return Field{Name: name, Raw: []byte(name + ": " + value + "\n")}
}

// Header is the header block of a message in the order read.
type Header struct {
	Fields []Field
	// Separated says whether an empty line ended the header block; a
	// message that ends inside its header has no body and no separator,
	// and is written back the same way.
	Separated bool
}

// Limits bound what ReadHeader accepts, as the original's submit does: at
// most MaxBytes in all (BOFHHEADERLIMIT, default 100000, at least 1000) and
// fewer than MaxFields fields (500).
type Limits struct {
	MaxBytes  int
	MaxFields int
}

// DefaultLimits are the original's defaults.
var DefaultLimits = Limits{MaxBytes: 100000, MaxFields: 500}

// errHeaderLimit is the original's reply when the header is too big.
var errHeaderLimit = &Error{Code: 534, Text: "Message header size exceeds policy limit."}

// ReadHeader reads the header block from r up to and including the empty
// line that ends it (or to the end of the input). A header larger than the
// limits is refused with a 534 *Error without reading further; the caller
// decides whether to drain the rest.
func ReadHeader(r *bufio.Reader, lim Limits) (*Header, error) {
	h := &Header{}
	total := 0
	for {
		line, err := readLine(r, lim.MaxBytes-total+1)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("submit: %w: %w", ErrRead, err)
		}
		if len(line) == 0 && err != nil { // end of input
			return h, nil
		}
		if len(line) > lim.MaxBytes-total {
			return nil, errHeaderLimit
		}
		if len(line) == 1 && line[0] == '\n' {
			h.Separated = true
			return h, nil
		}
		total += len(line)
		if (line[0] == ' ' || line[0] == '\t') && len(h.Fields) > 0 && h.Fields[len(h.Fields)-1].Name != "" {
			last := &h.Fields[len(h.Fields)-1]
			last.Raw = append(last.Raw, line...)
		} else {
			if len(h.Fields)+1 >= lim.MaxFields {
				return nil, errHeaderLimit
			}
			f := Field{Raw: line}
			if i := bytes.IndexByte(line, ':'); i > 0 && line[0] != ' ' && line[0] != '\t' {
				f.Name = string(line[:i])
			}
			h.Fields = append(h.Fields, f)
		}
		if err != nil {
			return h, nil
		}
	}
}

// readLine reads one line, at most max bytes of it (a longer line is
// returned cut at max+ bytes so the caller sees it is too long), with "\r\n"
// turned into "\n". A last line without a newline gets one. The error is
// io.EOF after the last line.
func readLine(r *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			if len(line) > max {
				return line, nil
			}
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		if len(line) == 0 {
			return nil, err
		}
		if bytes.HasSuffix(line, []byte("\r\n")) {
			line = append(line[:len(line)-2], '\n')
		} else if line[len(line)-1] != '\n' {
			line = append(bytes.TrimSuffix(line, []byte("\r")), '\n')
		}
		return line, err
	}
}

// Get returns the value of the first field with this name.
func (h *Header) Get(name string) (string, bool) {
	for _, f := range h.Fields {
		if f.Is(name) {
			return f.Value(), true
		}
	}
	return "", false
}

// Has reports whether a field with this name is present.
func (h *Header) Has(name string) bool {
	_, ok := h.Get(name)
	return ok
}

// Del removes every field with this name.
func (h *Header) Del(name string) {
	out := h.Fields[:0]
	for _, f := range h.Fields {
		if !f.Is(name) {
			out = append(out, f)
		}
	}
	h.Fields = out
}

// Add appends a field.
func (h *Header) Add(name, value string) { h.Fields = append(h.Fields, NewField(name, value)) }

// Size is the number of bytes the fields take when written.
func (h *Header) Size() int {
	n := 0
	for _, f := range h.Fields {
		n += len(f.Raw)
	}
	return n
}

// WriteTo writes the fields, without the separating empty line.
func (h *Header) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for _, f := range h.Fields {
		m, err := w.Write(f.Raw)
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
