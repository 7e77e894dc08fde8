package dsn

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/idna"

	"github.com/gocourier/courier/pkg/queue"
)

// Report is a built delivery status notification and the envelope to submit
// it with (spec §7 "Envelope").
type Report struct {
	// Sender is the report's envelope sender: "" (<>), or TripleBounce when
	// the reported message itself had the sender <>.
	Sender string
	// Recipient is the report's envelope recipient: the original sender,
	// the authenticated address (DSNTOAUTHADDR), or "postmaster" for a
	// message whose sender was <> (submission adds the default domain, to
	// this address and to the To: header, as the original's does).
	Recipient string
	// Source is the report's message source (u record): the original's
	// source with "/dsn" appended ("smtp/dsn", "local/dsn"), or "dsn".
	Source string
	// Security is the original's SECURITY level (U record), which the
	// report keeps.
	Security string
	// Message is the report itself, headers and body with LF line ends,
	// without the Received: line that submission adds.
	Message []byte
}

// Build builds the report of kind k about the message c, whose data file is
// data (size bytes, last modified at dataMTime: its arrival time). It returns
// nil and no error when there is no recipient to report (Needed is false).
// An error means the data file could not be read.
func Build(c *queue.Control, data io.ReaderAt, size int64, dataMTime time.Time, k Kind, s Settings) (*Report, error) {
	b := builder{c: c, k: k, s: s, reported: make([]bool, len(c.Recipients))}
	to := ""
	for i := range c.Recipients {
		if r := reportTo(c, i, k, s); r != "" {
			b.reported[i] = true
			if to == "" {
				to = r
			}
		}
	}
	if to == "" {
		return nil, nil
	}
	scan, err := scanMessage(io.NewSectionReader(data, 0, size), size)
	if err != nil {
		return nil, err
	}
	b.boundary = "=_courier_" + strconv.FormatUint(scan.boundary, 10)
	b.msg8 = scan.eightBit
	b.dsn8 = b.reportIs8Bit()
	b.returnAll = b.returnWholeMessage(size)
	b.arrival = mkdate(dataMTime)

	b.buf.Grow(4096 + int(min(size, max(s.Limit, 0), 1<<24)))
	b.headers(to)
	b.textPart()
	b.statusPart()
	if err := b.messagePart(io.NewSectionReader(data, 0, size), size); err != nil {
		return nil, err
	}
	r := &Report{Recipient: to, Security: c.Security, Message: b.buf.Bytes()}
	if c.Sender == "" {
		r.Sender = TripleBounce
	}
	r.Source = "dsn"
	if c.Source != "" {
		src := c.Source
		if len(src) > 20 {
			src = src[:20] // the original's buffer keeps 20 bytes of it
		}
		r.Source = src + "/dsn"
	}
	return r, nil
}

type builder struct {
	c         *queue.Control
	k         Kind
	s         Settings
	reported  []bool
	boundary  string
	msg8      bool // the message has 8-bit data
	dsn8      bool // the report's own fields have 8-bit data
	returnAll bool // part 3 is the whole message, not its headers
	arrival   string
	buf       bytes.Buffer
}

// mimeNotice is the preamble before the first part, for mail readers that do
// not understand MIME.
const mimeNotice = "This is a multipart MIME message.  Mail software without MIME support\n" +
	"shows its parts one after the other as plain text.\n"

func (b *builder) headers(to string) {
	now := time.Now
	if b.s.Now != nil {
		now = b.s.Now
	}
	t := now()
	subject := b.s.Texts.SubjectNotice
	if b.k == Delay {
		subject = b.s.Texts.SubjectWarn
	}
	w := &b.buf
	fmt.Fprintf(w, "From: %s\nTo: %s\nSubject: %s\n", b.s.DSNFrom, aceAddress(to), subject)
	fmt.Fprintf(w, "Mime-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status;\n    boundary=\"%s\"\nContent-Transfer-Encoding: %s\n",
		b.boundary, cte(b.dsn8 || b.msg8))
	// The shapes submission gives locally generated mail (spec §7).
	fmt.Fprintf(w, "Message-ID: <courier.%016X.%08X@%s>\nDate: %s\n", t.Unix(), os.Getpid(), b.s.Me, mkdate(t))
	fmt.Fprintf(w, "\n%s\n--%s\nContent-Transfer-Encoding: %s\n", mimeNotice, b.boundary, cte(b.dsn8))
}

func (b *builder) textPart() {
	w := &b.buf
	w.WriteString(Substitute(b.s.Texts.Header, map[string]string{
		"ME": b.s.Me, "FROMTIME": b.arrival, "FROMMTA": fromMTA(b.c.ReceivedFrom),
	}))
	if b.k == Delay {
		w.WriteString(expandDelayed(b.s.Texts.Delayed, b.s.Me))
		for i := range b.c.Recipients {
			if b.reported[i] {
				b.textRecipient(i)
			}
		}
	} else {
		// Local deliveries, then relays without DSN support, then failures.
		for pass, banner := range []string{b.s.Texts.Delivered, b.s.Texts.Relayed, b.s.Texts.Failed} {
			printed := false
			for i := range b.c.Recipients {
				if !b.reported[i] || finalSection(&b.c.Recipients[i]) != pass {
					continue
				}
				if !printed {
					w.WriteString(banner)
					printed = true
				}
				b.textRecipient(i)
			}
		}
	}
	fmt.Fprintf(w, "%s\n\n", b.s.Texts.Footer)
}

// finalSection is the section of a final report a recipient belongs in: 0
// delivered locally, 1 relayed without DSN support, 2 failed (everything not
// delivered).
func finalSection(r *queue.RecipientState) int {
	switch {
	case r.Status != queue.StatusDelivered:
		return 2
	case r.SuccessSuffix == queue.SuccessLocal:
		return 0
	case r.SuccessSuffix == queue.SuccessRelayed:
		return 1
	}
	return -1
}

// maxReplyText is how much of one reply line the text part shows.
const maxReplyText = 500

func (b *builder) textRecipient(i int) {
	r := &b.c.Recipients[i]
	w := &b.buf
	addr := r.ORCPT
	if addr == "" {
		addr = r.Address
	}
	fmt.Fprintf(w, "\n<%s>:\n", addr)
	for _, in := range deliveryInfo(r) {
		text := infoText(in)
		switch in.Code {
		case queue.InfoPeer:
			if text != "" {
				fmt.Fprintf(w, "     %s:\n", text)
			}
		case queue.InfoConnError:
			fmt.Fprintf(w, " *** %s\n", text)
		case queue.InfoSent:
			fmt.Fprintf(w, " >>> %s\n", text)
		case queue.InfoReply:
			if len(text) > maxReplyText {
				text = text[:maxReplyText]
			}
			if text == "" {
				text = " " // the original prints at least one character
			}
			fmt.Fprintf(w, " <<< %s\n", text)
		}
	}
}

func (b *builder) statusPart() {
	w := &b.buf
	ctype := "message/delivery-status"
	if b.dsn8 {
		ctype = "message/global-delivery-status"
	}
	fmt.Fprintf(w, "--%s\nContent-Type: %s\nContent-Transfer-Encoding: %s\n\nReporting-MTA: dns; %s\nArrival-Date: %s\n",
		b.boundary, ctype, cte(b.dsn8), b.s.Me, b.arrival)
	if b.c.EnvID != "" {
		fmt.Fprintf(w, "Original-Envelope-Id: %s\n", decodeXtext(b.c.EnvID))
	}
	if strings.Contains(b.c.ReceivedFrom, ";") {
		fmt.Fprintf(w, "Received-From-MTA: %s\n", b.c.ReceivedFrom)
	}
	for i := range b.c.Recipients {
		if !b.reported[i] {
			continue
		}
		r := &b.c.Recipients[i]
		action, status := "failed", "5.0.0"
		switch {
		case r.Status == queue.StatusDelivered:
			action, status = "delivered", "2.0.0"
			if r.SuccessSuffix == queue.SuccessRelayed {
				action = "relayed"
			}
		case b.k == Delay:
			action, status = "delayed", "4.0.0"
		}
		fmt.Fprintf(w, "\nFinal-Recipient: %s\nAction: %s\n", addressField(r.Address), action)
		if r.ORCPT != "" {
			fmt.Fprintf(w, "Original-Recipient: %s\n", addressField(r.ORCPT))
		}
		fmt.Fprintf(w, "Status: %s\n", status)
		if b.k == Delay {
			fmt.Fprintf(w, "Will-Retry-Until: %s\n", mkdate(b.c.Expires))
			continue
		}
		b.diagnostics(r)
	}
	fmt.Fprintf(w, "\n--%s\n", b.boundary)
}

// diagnostics writes Remote-MTA (the first peer of the attempt shown), then
// X-Network-Error for each connection error or, without those,
// Diagnostic-Code: the reply type (T info, "unknown" without one) and the
// reply lines, the later ones as continuation lines (spec §7, part 2).
func (b *builder) diagnostics(r *queue.RecipientState) {
	w := &b.buf
	info := deliveryInfo(r)
	for _, in := range info {
		if in.Code == queue.InfoPeer {
			fmt.Fprintf(w, "Remote-MTA: dns; %s\n", infoText(in))
			break
		}
	}
	netErr := false
	for _, in := range info {
		if in.Code == queue.InfoConnError {
			fmt.Fprintf(w, "X-Network-Error: %s\n", infoText(in))
			netErr = true
		}
	}
	if netErr {
		return
	}
	typ, replied := "unknown", false
	for _, in := range info {
		switch in.Code {
		case queue.InfoReplyType:
			// Only a type before the first reply line counts.
			if !replied {
				typ = infoText(in)
				if len(typ) > 20 {
					typ = typ[:20] // as much as the original keeps
				}
			}
		case queue.InfoReply:
			if !replied {
				fmt.Fprintf(w, "Diagnostic-Code: %s; %s\n", typ, infoText(in))
				replied = true
				continue
			}
			fmt.Fprintf(w, "        %s\n", infoText(in))
		}
	}
}

func (b *builder) messagePart(data io.Reader, size int64) error {
	w := &b.buf
	var ctype string
	switch {
	case b.returnAll && b.msg8:
		ctype = "message/global"
	case b.returnAll:
		ctype = "message/rfc822"
	case b.msg8:
		ctype = `message/global-headers; charset="utf-8"`
	default:
		ctype = `text/rfc822-headers; charset="utf-8"`
	}
	fmt.Fprintf(w, "Content-Type: %s\nContent-Transfer-Encoding: %s\n\n", ctype, cte(b.msg8))
	br := bufio.NewReaderSize(data, readBuffer(size))
	for {
		line, err := br.ReadSlice('\n')
		if !b.returnAll && (len(line) == 1 && line[0] == '\n' || len(line) == 2 && line[0] == '\r' && line[1] == '\n') {
			break
		}
		if len(line) > 0 {
			w.Write(line)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the message data of %s: %w", b.c.ID, err)
		}
	}
	fmt.Fprintf(w, "\n--%s--\n", b.boundary)
	return nil
}

// returnWholeMessage decides part 3 (spec §7): the whole message for a message
// whose sender was <>; otherwise only in a final report, for a data file
// smaller than dsnlimit, without RET=HDRS, and when a reported recipient was
// not delivered. Note that the original looks for the RET record ('t'), which
// submission always writes, so an absent RET counts as "not HDRS".
func (b *builder) returnWholeMessage(size int64) bool {
	if b.c.Sender == "" {
		return true
	}
	if b.k == Delay || size >= b.s.Limit || strings.Contains(b.c.Ret, "H") {
		return false
	}
	for i := range b.c.Recipients {
		if b.reported[i] && b.c.Recipients[i].Status != queue.StatusDelivered {
			return true
		}
	}
	return false
}

// reportIs8Bit says whether the report's own fields (not the returned
// message) carry 8-bit data: the ENVID, a reported recipient's address,
// ORCPT or delivery information, the receiving MTA, or this host's name.
func (b *builder) reportIs8Bit() bool {
	if has8Bit(b.c.EnvID) || has8Bit(b.c.ReceivedFrom) || has8Bit(b.s.Me) {
		return true
	}
	for i := range b.c.Recipients {
		if !b.reported[i] {
			continue
		}
		r := &b.c.Recipients[i]
		if has8Bit(r.Address) || has8Bit(r.ORCPT) {
			return true
		}
		for _, in := range deliveryInfo(r) {
			if has8Bit(in.Text) {
				return true
			}
		}
	}
	return false
}

// deliveryInfo picks the delivery information a report shows for a recipient
// (spec §7): the lines of its last delivery attempt that reached a peer (has a
// P line), else of its last attempt. An attempt is the run of I records one
// delivery pass wrote for the recipient.
func deliveryInfo(r *queue.RecipientState) []queue.InfoLine {
	var last, connected []queue.InfoLine
	for start := 0; start < len(r.Info); {
		end := start + 1
		for end < len(r.Info) && r.Info[end].Pass == r.Info[start].Pass {
			end++
		}
		group := r.Info[start:end]
		last = group
		for _, in := range group {
			if in.Code == queue.InfoPeer {
				connected = group
				break
			}
		}
		start = end
	}
	if connected != nil {
		return connected
	}
	return last
}

// infoText is the text of an I record as the original reads it: leading
// blanks after the code are skipped.
func infoText(in queue.InfoLine) string {
	return strings.TrimLeft(in.Text, " ")
}

// fromMTA is [#FROMMTA#]: the f record after its "dns;" type, or "unknown".
func fromMTA(f string) string {
	_, after, ok := strings.Cut(f, ";")
	after = strings.TrimLeft(after, " ")
	if !ok || after == "" {
		return "unknown"
	}
	return after
}

// addressField formats an address for Final-Recipient and Original-Recipient
// (RFC 3464 2.3.2): the original writes the type rfc822 also for an
// internationalized address, which then travels in
// message/global-delivery-status (RFC 6533 3).
func addressField(a string) string {
	return "rfc822; " + a
}

// aceAddress writes the domain of an address in its ASCII (A-label) form,
// as the original does for the To: header.
func aceAddress(a string) string {
	at := strings.LastIndexByte(a, '@')
	if at < 0 || !has8Bit(a[at+1:]) {
		return a
	}
	d, err := idna.ToASCII(a[at+1:])
	if err != nil {
		return a
	}
	return a[:at+1] + d
}

// decodeXtext decodes an ENVID as stored (RFC 3461 4: "+XX" is the byte with
// hex value XX); anything else is kept as it is.
func decodeXtext(s string) string {
	if !strings.Contains(s, "+") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '+' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			v, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
			b.WriteByte(byte(v))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func has8Bit(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return true
		}
	}
	return false
}

func cte(eightBit bool) string {
	if eightBit {
		return "8bit"
	}
	return "7bit"
}

// mkdate is the RFC 5322 date the original writes: local time, numeric zone.
func mkdate(t time.Time) string {
	return t.Local().Format("Mon, 02 Jan 2006 15:04:05 -0700")
}
