package fetch

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime/quotedprintable"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/emersion/go-imap/v2"
	gomessage "github.com/emersion/go-message"
)

// crlfReader turns LF line ends into CRLF, leaving CRLF alone: maildir
// files have LF line ends, IMAP sends and counts CRLF (RFC 9051 §2.2).
type crlfReader struct {
	r   io.Reader
	in  []byte
	out []byte
	off int
	cr  bool // the last byte read was CR
	err error
}

// newCRLFReader converts r's line ends. Its buffers are small and grow
// with the data (out is appended to): FETCH makes one per message, and
// most messages are a few kilobytes.
func newCRLFReader(r io.Reader) *crlfReader {
	return &crlfReader{r: r, in: make([]byte, 8*1024)}
}

func (c *crlfReader) Read(p []byte) (int, error) {
	for c.off == len(c.out) {
		if c.err != nil {
			return 0, c.err
		}
		n, err := c.r.Read(c.in)
		c.err = err
		c.out, c.off = c.out[:0], 0
		in := c.in[:n]
		for len(in) > 0 {
			i := bytes.IndexByte(in, '\n')
			if i < 0 {
				c.out = append(c.out, in...)
				c.cr = in[len(in)-1] == '\r'
				break
			}
			c.out = append(c.out, in[:i]...)
			if !(i > 0 && in[i-1] == '\r') && !(i == 0 && c.cr) {
				c.out = append(c.out, '\r')
			}
			c.out = append(c.out, '\n')
			c.cr = false
			in = in[i+1:]
		}
	}
	n := copy(p, c.out[c.off:])
	c.off += n
	return n, nil
}

// maxHeader bounds the header kept in memory; a "header" larger than this
// is a message without a blank line, and its fields past the bound are not
// looked at (its RFC822.HEADER is still streamed whole).
const maxHeader = 1 << 20

// scanResult is what one pass over the message finds, with CRLF line ends.
type scanResult struct {
	full      bool   // the whole message was read: total is known
	total     int64  // RFC822.SIZE
	headerEnd int64  // length of the header including the blank line
	header    []byte // the header, up to maxHeader bytes
}

// scan reads the message up to the end of its header, or whole when full
// is set: the header ends after the first empty line (RFC 5322 §2.1); a
// message without one is all header.
func scan(r io.Reader, full bool) (*scanResult, error) {
	cr := newCRLFReader(r)
	sc := &scanResult{headerEnd: -1, full: true}
	// state counts the bytes of "\r\n\r\n" matched; the message starts as
	// if after a line end, so that an empty first line ends the header.
	state := 2
	bp := scanBufs.Get().(*[]byte)
	defer scanBufs.Put(bp)
	buf := *bp
	for {
		n, err := cr.Read(buf)
		chunk := buf[:n]
		if sc.headerEnd < 0 {
			for i, b := range chunk {
				switch {
				case b == "\r\n\r\n"[state]:
					state++
				case b == '\r':
					state = 1
				default:
					state = 0
				}
				if state == 4 {
					sc.headerEnd = sc.total + int64(i) + 1
					sc.appendHeader(chunk[:i+1])
					break
				}
			}
			if sc.headerEnd < 0 {
				sc.appendHeader(chunk)
			}
		}
		sc.total += int64(n)
		if err == io.EOF {
			break
		}
		if !full && sc.headerEnd >= 0 {
			sc.full = false
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if sc.headerEnd < 0 {
		sc.headerEnd = sc.total
	}
	return sc, nil
}

// scanBufs are scan's read buffers: FETCH scans every message it answers.
var scanBufs = sync.Pool{New: func() any { b := make([]byte, 64*1024); return &b }}

// Prescan is what reading a message once gives, kept by a cache behind
// Prescanned: the header with CRLF line ends, up to and including the
// blank line that ends it (all of the message when it has none), and the
// size with CRLF line ends (RFC822.SIZE). It is shared: Header must not
// be changed.
type Prescan struct {
	Header []byte
	Size   int64
	env    [2]atomic.Pointer[string] // ENVELOPE without and with UTF8
}

// Envelope returns the message's ENVELOPE data item ("ENVELOPE (...)"),
// with UTF-8 left as it is when utf8OK (RFC 6855) and encoded words
// otherwise, rendered once.
func (p *Prescan) Envelope(utf8OK bool) string {
	k := 0
	if utf8OK {
		k = 1
	}
	if e := p.env[k].Load(); e != nil {
		return *e
	}
	bp := textBufs.Get().(*[]byte)
	b := appendEnvelopeOf(append((*bp)[:0], "ENVELOPE "...), p.Header, utf8OK)
	e := string(b)
	*bp = b
	textBufs.Put(bp)
	p.env[k].Store(&e)
	return e
}

// Prescanned is a Message whose Prescan a cache knows; ok is false when
// it does not.
type Prescanned interface {
	Scan() (p *Prescan, ok bool)
}

// ScanMessage reads a message whole for a cache behind Prescanned. It
// returns nil (and no error) when the header is larger than limit.
func ScanMessage(r io.Reader, limit int) (*Prescan, error) {
	bp := scanBufs.Get().(*[]byte)
	defer scanBufs.Put(bp)
	buf := *bp
	n, err := io.ReadFull(r, buf)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return prescanBytes(buf[:n], limit), nil
	case err != nil:
		return nil, err
	}
	// Larger than the buffer: the streaming scan.
	sc, err := scan(io.MultiReader(bytes.NewReader(buf[:n]), r), true)
	if err != nil {
		return nil, err
	}
	if int64(len(sc.header)) != sc.headerEnd || len(sc.header) > limit {
		return nil, nil
	}
	return &Prescan{Header: bytes.Clone(sc.header), Size: sc.total}, nil
}

// prescanBytes is ScanMessage for a message read whole: what scan
// finds, computed on the LF (or CRLF) text.
func prescanBytes(data []byte, limit int) *Prescan {
	lf := bytes.Count(data, []byte("\n"))
	size := int64(len(data) + lf - bytes.Count(data, []byte("\r\n")))
	// The header ends with the first empty line ("\n" or "\r\n" at a
	// line start), or with the message.
	end := len(data)
	switch {
	case bytes.HasPrefix(data, []byte("\n")):
		end = 1
	case bytes.HasPrefix(data, []byte("\r\n")):
		end = 2
	default:
		if i := bytes.Index(data, []byte("\n\n")); i >= 0 {
			end = i + 2
		}
		if i := bytes.Index(data[:min(end, len(data))], []byte("\n\r\n")); i >= 0 && i+3 < end {
			end = i + 3
		}
	}
	raw := data[:end]
	bare := bytes.Count(raw, []byte("\n")) - bytes.Count(raw, []byte("\r\n"))
	if len(raw)+bare > limit {
		return nil
	}
	h := make([]byte, 0, len(raw)+bare)
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, '\n')
		if i < 0 {
			h = append(h, raw...)
			break
		}
		h = append(h, raw[:i]...)
		if i == 0 || raw[i-1] != '\r' {
			h = append(h, '\r')
		}
		h = append(h, '\n')
		raw = raw[i+1:]
	}
	return &Prescan{Header: h, Size: size}
}

func (sc *scanResult) appendHeader(b []byte) {
	if room := maxHeader - len(sc.header); room > 0 {
		sc.header = append(sc.header, b[:min(room, len(b))]...)
	}
}

// filterHeader keeps the header fields named in keep, or drops those named
// in drop, and ends the result with the blank line (RFC 9051 §6.4.5
// HEADER.FIELDS and HEADER.FIELDS.NOT; names compare without case). It works
// on the raw lines, so a field is sent exactly as stored.
func filterHeader(hdr []byte, keep, drop []string) []byte {
	var out []byte
	match := func(name string, list []string) bool {
		for _, n := range list {
			if strings.EqualFold(n, name) {
				return true
			}
		}
		return false
	}
	want := false
	for len(hdr) > 0 {
		line := hdr
		if i := bytes.IndexByte(hdr, '\n'); i >= 0 {
			line = hdr[:i+1]
		}
		hdr = hdr[len(line):]
		if bytes.Equal(line, []byte("\r\n")) {
			break
		}
		if line[0] != ' ' && line[0] != '\t' {
			name := ""
			if i := bytes.IndexByte(line, ':'); i >= 0 {
				name = strings.TrimRight(string(line[:i]), " \t")
			}
			if keep != nil {
				want = match(name, keep)
			} else {
				want = !match(name, drop)
			}
		}
		if want {
			out = append(out, line...)
			if !bytes.HasSuffix(line, []byte("\n")) {
				out = append(out, '\r', '\n')
			}
		}
	}
	return append(out, '\r', '\n')
}

// binary returns a section with its Content-Transfer-Encoding undone
// (RFC 3516 §4.2). go-imap's ExtractBinarySection also converts text to
// UTF-8, which BINARY must not do, so the decoding is done here.
func (r *renderer) binary(part []int) ([]byte, error) {
	sc, err := r.scanned(true)
	if err != nil {
		return nil, err
	}
	var hdr, body []byte
	var cte string
	if len(part) == 0 {
		h, err := r.header()
		if err != nil {
			return nil, err
		}
		multi, err := r.multipart()
		if err != nil {
			return nil, err
		}
		if !multi {
			cte = h.Get("Content-Transfer-Encoding")
		}
		if body, err = r.readRange(sc.headerEnd, sc.total); err != nil {
			return nil, err
		}
		if hdr, err = r.readRange(0, sc.headerEnd); err != nil {
			return nil, err
		}
	} else {
		mimeHdr, err := extract(r.m, &imap.FetchItemBodySection{Part: part, Specifier: imap.PartSpecifierMIME})
		if err != nil {
			return nil, err
		}
		h := gomessage.Header{Header: parseHeader(mimeHdr)}
		if mt, _, _ := h.ContentType(); !strings.HasPrefix(mt, "multipart/") {
			cte = h.Get("Content-Transfer-Encoding")
		}
		if body, err = extract(r.m, &imap.FetchItemBodySection{Part: part}); err != nil {
			return nil, err
		}
	}
	var dec io.Reader
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "", "7bit", "8bit", "binary":
		return append(hdr, body...), nil
	case "quoted-printable":
		dec = quotedprintable.NewReader(bytes.NewReader(body))
	case "base64":
		dec = base64.NewDecoder(base64.StdEncoding, &base64Filter{r: bytes.NewReader(body)})
	default:
		return nil, ErrUnknownCTE
	}
	// Damaged encodings decode as far as they go.
	decoded, _ := io.ReadAll(dec)
	return append(hdr, decoded...), nil
}

// readRange reads [start, end) of the message with CRLF line ends.
func (r *renderer) readRange(start, end int64) ([]byte, error) {
	f, err := open(r.m)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cr := newCRLFReader(f)
	if _, err := io.CopyN(io.Discard, cr, start); err != nil {
		return nil, err
	}
	return io.ReadAll(io.LimitReader(cr, end-start))
}

// base64Filter drops what is not base64 alphabet (line ends, spaces) so
// that the decoder sees only the encoded text (RFC 2045 §6.8).
type base64Filter struct {
	r *bytes.Reader
}

func (f *base64Filter) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c, err := f.r.ReadByte()
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=' {
			p[n] = c
			n++
		}
	}
	return n, nil
}
