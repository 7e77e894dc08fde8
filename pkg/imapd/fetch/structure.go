package fetch

import (
	"bufio"
	"bytes"
	"io"
	"mime"
	"sort"
	"strconv"
	"strings"

	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// maxDepth bounds MIME nesting; deeper entities are described as leaves.
const maxDepth = 20

// part is one MIME entity as BODYSTRUCTURE describes it (RFC 9051 §7.5.2).
// go-imap's ExtractBodyStructure holds every leaf in memory, loses the
// Content-MD5 and the order of parameters, and describes a multipart
// without parts in a way no grammar allows; this walk counts as it reads.
type part struct {
	typ, sub   string
	params     []param
	id, desc   string
	enc, md5   string
	disp       string
	dispParams []param
	lang       []string
	loc        string
	size       int64 // body octets, CRLF counted
	lines      int64 // body lines
	children   []*part
	msgHeader  *textproto.Header // message/rfc822, message/global: the encapsulated header
	msg        *part             // and its body
}

type param struct{ k, v string }

// parseStructure parses a message with CRLF line ends.
func parseStructure(r io.Reader) *part {
	br := bufio.NewReader(r)
	h, _ := textproto.ReadHeader(br)
	return walk(h, br, "", 0)
}

func isMessage(mt string) bool { return mt == "message/rfc822" || mt == "message/global" }

// walk describes one entity whose header is h and body is body, reading
// the body to its end.
func walk(h textproto.Header, body io.Reader, parent string, depth int) *part {
	gh := gomessage.Header{Header: h}
	mt, params := contentType(gh)
	// RFC 2046 §5.1.5: in a digest, parts are messages by default.
	if !gh.Has("Content-Type") && parent == "multipart/digest" {
		mt, params = "message/rfc822", nil
	}
	p := &part{
		id:   strings.TrimSpace(gh.Get("Content-Id")),
		desc: strings.TrimSpace(gh.Get("Content-Description")),
		enc:  strings.ToLower(strings.TrimSpace(gh.Get("Content-Transfer-Encoding"))),
		md5:  strings.TrimSpace(gh.Get("Content-Md5")),
		loc:  strings.TrimSpace(gh.Get("Content-Location")),
	}
	p.typ, p.sub, _ = strings.Cut(mt, "/")
	p.params = ordered(params, gh.Get("Content-Type"))
	if p.enc == "" {
		p.enc = "7bit"
	}
	if v := gh.Get("Content-Disposition"); strings.TrimSpace(v) != "" {
		d, dp, err := mime.ParseMediaType(v)
		if err == nil || err == mime.ErrInvalidMediaParameter {
			p.disp = d
			p.dispParams = ordered(dp, v)
		}
	}
	for l := range strings.SplitSeq(gh.Get("Content-Language"), ",") {
		if l = strings.TrimSpace(l); l != "" {
			p.lang = append(p.lang, l)
		}
	}

	cnt := &countReader{r: body}
	if boundary := params["boundary"]; p.typ == "multipart" && boundary != "" && depth < maxDepth {
		mr := textproto.NewMultipartReader(cnt, boundary)
		for {
			cp, err := mr.NextPart()
			if err != nil {
				break
			}
			p.children = append(p.children, walk(cp.Header, cp, mt, depth+1))
		}
		if len(p.children) > 0 {
			return p
		}
	}
	if isMessage(mt) && depth < maxDepth {
		br := bufio.NewReader(cnt)
		ch, _ := textproto.ReadHeader(br)
		p.msgHeader = &ch
		p.msg = walk(ch, br, "", depth+1)
	}
	// A multipart without parts is described as a leaf, as the original
	// Courier does.
	io.Copy(io.Discard, cnt)
	p.size, p.lines = cnt.n, cnt.lines
	return p
}

// contentType is the media type (lower case) and parameters; a missing or
// unparsable Content-Type is text/plain (RFC 2045 §5.2).
func contentType(h gomessage.Header) (string, map[string]string) {
	v := h.Get("Content-Type")
	if strings.TrimSpace(v) == "" {
		return "text/plain", nil
	}
	mt, params, err := h.ContentType()
	if err != nil {
		var perr error
		mt, _, perr = mime.ParseMediaType(v)
		if perr != nil && perr != mime.ErrInvalidMediaParameter {
			return "text/plain", nil
		}
		params = nil
	}
	if !strings.Contains(mt, "/") {
		return "text/plain", nil
	}
	return mt, params
}

// ordered lists parameters in the order they appear in the raw header
// value, as the original Courier does.
func ordered(params map[string]string, raw string) []param {
	raw = strings.ToLower(raw)
	pos := func(k string) int {
		for _, suffix := range []string{"=", "*"} {
			if i := strings.Index(raw, k+suffix); i >= 0 {
				return i
			}
		}
		return len(raw)
	}
	out := make([]param, 0, len(params))
	for k, v := range params {
		out = append(out, param{k, v})
	}
	sort.Slice(out, func(i, j int) bool {
		pi, pj := pos(out[i].k), pos(out[j].k)
		if pi != pj {
			return pi < pj
		}
		return out[i].k < out[j].k
	})
	return out
}

// countReader counts the octets and lines that pass.
type countReader struct {
	r     io.Reader
	n     int64
	lines int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	c.lines += int64(bytes.Count(p[:n], []byte{'\n'}))
	return n, err
}

// render writes body (ext false, FETCH BODY) or BODYSTRUCTURE (ext true)
// in the syntax of RFC 9051 §7.5.2. Extension data follows the original
// Courier: md5, disposition and language for a leaf; parameters,
// disposition and language for a multipart; the location only when the
// entity has one.
func (p *part) render(b *strings.Builder, ext, utf8OK bool) {
	b.WriteByte('(')
	if len(p.children) > 0 {
		for _, c := range p.children {
			c.render(b, ext, utf8OK)
		}
		b.WriteByte(' ')
		b.WriteString(qstring(p.sub, utf8OK))
		if ext {
			b.WriteByte(' ')
			writeParams(b, p.params, utf8OK)
			p.renderDispLangLoc(b, utf8OK)
		}
		b.WriteByte(')')
		return
	}
	typ, sub := p.typ, p.sub
	if isMessage(typ+"/"+sub) && p.msg == nil {
		// Nested too deep to describe: a message type here would promise
		// an envelope and a body structure.
		typ, sub = "application", "octet-stream"
	}
	b.WriteString(qstring(typ, utf8OK))
	b.WriteByte(' ')
	b.WriteString(qstring(sub, utf8OK))
	b.WriteByte(' ')
	writeParams(b, p.params, utf8OK)
	b.WriteByte(' ')
	b.WriteString(nstring(p.id, utf8OK))
	b.WriteByte(' ')
	b.WriteString(nstring(p.desc, utf8OK))
	b.WriteByte(' ')
	b.WriteString(qstring(p.enc, utf8OK))
	b.WriteByte(' ')
	b.WriteString(strconv.FormatInt(p.size, 10))
	switch {
	case p.msg != nil:
		b.WriteByte(' ')
		b.WriteString(envelope(p.msgHeader, utf8OK))
		b.WriteByte(' ')
		p.msg.render(b, ext, utf8OK)
		b.WriteByte(' ')
		b.WriteString(strconv.FormatInt(p.lines, 10))
	case typ == "text":
		b.WriteByte(' ')
		b.WriteString(strconv.FormatInt(p.lines, 10))
	}
	if ext {
		b.WriteByte(' ')
		b.WriteString(nstring(p.md5, utf8OK))
		p.renderDispLangLoc(b, utf8OK)
	}
	b.WriteByte(')')
}

func (p *part) renderDispLangLoc(b *strings.Builder, utf8OK bool) {
	b.WriteByte(' ')
	if p.disp == "" {
		b.WriteString("NIL")
	} else {
		b.WriteByte('(')
		b.WriteString(qstring(p.disp, utf8OK))
		b.WriteByte(' ')
		writeParams(b, p.dispParams, utf8OK)
		b.WriteByte(')')
	}
	b.WriteByte(' ')
	switch len(p.lang) {
	case 0:
		b.WriteString("NIL")
	case 1:
		b.WriteString(qstring(p.lang[0], utf8OK))
	default:
		b.WriteByte('(')
		for i, l := range p.lang {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(qstring(l, utf8OK))
		}
		b.WriteByte(')')
	}
	if p.loc != "" {
		b.WriteByte(' ')
		b.WriteString(qstring(p.loc, utf8OK))
	}
}

// writeParams writes body-fld-param: a list of name/value pairs or NIL.
func writeParams(b *strings.Builder, params []param, utf8OK bool) {
	if len(params) == 0 {
		b.WriteString("NIL")
		return
	}
	b.WriteByte('(')
	for i, pr := range params {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(qstring(pr.k, utf8OK))
		b.WriteByte(' ')
		b.WriteString(qstring(pr.v, utf8OK))
	}
	b.WriteByte(')')
}
