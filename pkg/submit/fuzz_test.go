package submit

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

// FuzzReadHeader: the header reader never fails on any input within the
// limits, every field ends in a newline and has no CR before it, and what it
// writes back reads back to the same fields.
func FuzzReadHeader(f *testing.F) {
	f.Add([]byte("Subject: hi\r\nTo: a@b,\n c@d\n\nbody"))
	f.Add([]byte(" leading continuation\nX:\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := Limits{MaxBytes: 4096, MaxFields: 50}
		h, err := ReadHeader(bufio.NewReaderSize(bytes.NewReader(data), 16), lim)
		if err != nil {
			if err != errHeaderLimit {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		var b bytes.Buffer
		h.WriteTo(&b)
		if b.Len() > lim.MaxBytes || len(h.Fields) >= lim.MaxFields {
			t.Fatalf("limits exceeded: %d bytes, %d fields", b.Len(), len(h.Fields))
		}
		for _, fl := range h.Fields {
			if len(fl.Raw) == 0 || fl.Raw[len(fl.Raw)-1] != '\n' || bytes.Contains(fl.Raw, []byte("\r\n")) {
				t.Fatalf("bad field %q", fl.Raw)
			}
			if strings.ContainsAny(fl.Name, ":\n") {
				t.Fatalf("bad name %q", fl.Name)
			}
		}
		again, err := ReadHeader(bufio.NewReader(bytes.NewReader(append(b.Bytes(), '\n'))), lim)
		if err != nil || len(again.Fields) != len(h.Fields) {
			t.Fatalf("round trip: %v, %d fields, want %d", err, len(again.Fields), len(h.Fields))
		}
		for i := range h.Fields {
			if !bytes.Equal(again.Fields[i].Raw, h.Fields[i].Raw) || again.Fields[i].Name != h.Fields[i].Name {
				t.Fatalf("round trip field %d: %q, want %q", i, again.Fields[i].Raw, h.Fields[i].Raw)
			}
		}
	})
}

// FuzzCopyBody compares the streaming line-end conversion, run through a
// tiny buffer, with the plain definition: CRLF becomes LF, and a last line
// without a newline (or ending in a lone CR) gets one.
func FuzzCopyBody(f *testing.F) {
	f.Add([]byte("a\r\nb\rc\r"))
	f.Add([]byte("\xff\r\n\r\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		eight, err := copyBody(&out, bufio.NewReaderSize(bytes.NewReader(data), 16))
		if err != nil {
			t.Fatal(err)
		}
		want := bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
		if len(want) > 0 && want[len(want)-1] != '\n' {
			want = append(bytes.TrimSuffix(want, []byte("\r")), '\n')
		}
		if !bytes.Equal(out.Bytes(), want) {
			t.Fatalf("copy of %q = %q, want %q", data, out.Bytes(), want)
		}
		has8 := bytes.ContainsFunc(data, func(r rune) bool { return r >= 0x80 })
		if eight != has8 {
			t.Fatalf("8-bit %v, want %v", eight, has8)
		}
	})
}
