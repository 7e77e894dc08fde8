package dsn

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	message "github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// parsed is a report as a mail reader sees it, through go-message.
type parsed struct {
	header     message.Header
	reportType string
	text       string
	statusType string
	status     string
	perMessage textproto.Header
	recipients []textproto.Header
	returnType string
	returned   string
}

func parseReport(t *testing.T, msg []byte) parsed {
	t.Helper()
	e, err := message.Read(bytes.NewReader(msg))
	if err != nil {
		t.Fatalf("go-message cannot read the report: %v\n%s", err, msg)
	}
	var p parsed
	p.header = e.Header
	ct, params, err := e.Header.ContentType()
	if err != nil || ct != "multipart/report" {
		t.Fatalf("Content-Type %q (%v), want multipart/report", ct, err)
	}
	p.reportType = params["report-type"]
	mr := e.MultipartReader()
	var parts []*message.Entity
	var bodies []string
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading the report's parts: %v", err)
		}
		body, err := io.ReadAll(part.Body)
		if err != nil {
			t.Fatalf("reading a part: %v", err)
		}
		parts, bodies = append(parts, part), append(bodies, string(body))
	}
	if len(parts) != 3 {
		t.Fatalf("report has %d parts, want 3", len(parts))
	}
	if ct, _, _ := parts[0].Header.ContentType(); ct != "text/plain" {
		t.Errorf("part 1 is %q, want text/plain", ct)
	}
	p.text = bodies[0]
	p.statusType, _, _ = parts[1].Header.ContentType()
	p.status = bodies[1]
	br := bufio.NewReader(strings.NewReader(bodies[1]))
	if p.perMessage, err = textproto.ReadHeader(br); err != nil {
		t.Fatalf("per-message fields: %v", err)
	}
	for {
		if _, err := br.Peek(1); err == io.EOF {
			break
		}
		h, err := textproto.ReadHeader(br)
		if err != nil {
			t.Fatalf("per-recipient fields: %v", err)
		}
		p.recipients = append(p.recipients, h)
	}
	p.returnType, _, _ = parts[2].Header.ContentType()
	p.returned = bodies[2]
	return p
}

// fields returns the per-recipient blocks of the status part as written,
// byte for byte (folding included), so a test states a whole block at once.
func (p parsed) fields() []string {
	blocks := strings.Split(strings.TrimRight(p.status, "\n"), "\n\n")
	return blocks[1:]
}

func caseByName(t testing.TB, name string) realCase {
	for _, c := range realCases {
		if c.name == name {
			return c
		}
	}
	t.Fatalf("no case %q", name)
	return realCase{}
}

func buildCase(t *testing.T, name string, s Settings) (*Report, parsed) {
	t.Helper()
	tc := caseByName(t, name)
	r := build(t, parseControl(t, tc.ctl...), tc.data, tc.mtime, tc.kind, s)
	if r == nil {
		t.Fatalf("%s: nothing to report", name)
	}
	return r, parseReport(t, r.Message)
}

func TestFinalReport(t *testing.T) {
	r, p := buildCase(t, "mixed failed relayed delivered", ourSettings(t))
	if r.Sender != "" || r.Recipient != "carol@example.org" || r.Source != "authsmtp/dsn" {
		t.Errorf("envelope sender %q recipient %q source %q", r.Sender, r.Recipient, r.Source)
	}
	if p.reportType != "delivery-status" || p.statusType != "message/delivery-status" {
		t.Errorf("report-type %q, status part %q", p.reportType, p.statusType)
	}
	if got := p.header.Get("Subject"); got != "Delivery status report" {
		t.Errorf("Subject %q", got)
	}
	if got := p.perMessage.Get("Original-Envelope-Id"); got != "env+12345" {
		t.Errorf("Original-Envelope-Id %q", got)
	}
	if got := p.perMessage.Get("Reporting-MTA"); got != "dns; mx.example.test" {
		t.Errorf("Reporting-MTA %q", got)
	}
	want := []string{
		"Final-Recipient: rfc822; r1@remote.example\nAction: failed\nOriginal-Recipient: rfc822; orig-r1@remote.example\nStatus: 5.0.0\n" +
			"Remote-MTA: dns; [127.0.0.1] [127.0.0.1]\nDiagnostic-Code: smtp; 550-5.1.1 first line\n        550 5.1.1 <r1@remote.example> no such mailbox here",
		"Final-Recipient: rfc822; r2@remote.example\nAction: relayed\nStatus: 2.0.0\nRemote-MTA: dns; [127.0.0.1] [127.0.0.1]\nDiagnostic-Code: smtp; 250 2.0.0 queued as X",
		"Final-Recipient: rfc822; user1@example.test\nAction: delivered\nStatus: 2.0.0\nDiagnostic-Code: unknown; Message delivered.",
	}
	checkFields(t, p, want)
	if p.returnType != "message/rfc822" || p.returned != caseByName(t, "mixed failed relayed delivered").data {
		t.Errorf("part 3 %q:\n%s", p.returnType, p.returned)
	}
	// Sections in the original's order: delivered, relayed, failed.
	iDel, iRel, iFail := strings.Index(p.text, "DELIVERY CONFIRMED"), strings.Index(p.text, "HANDED OVER"), strings.Index(p.text, "NOT DELIVERED")
	if iDel < 0 || iRel < iDel || iFail < iRel || !strings.Contains(p.text, "\n<orig-r1@remote.example>:\n     [127.0.0.1] [127.0.0.1]:\n >>> RCPT TO:<r1@remote.example>\n <<< 550-5.1.1 first line\n") {
		t.Errorf("text part:\n%s", p.text)
	}
	if strings.Contains(p.text, "r4@") {
		t.Errorf("a relay to a DSN-capable peer is reported:\n%s", p.text)
	}
}

func checkFields(t *testing.T, p parsed, want []string) {
	t.Helper()
	got := p.fields()
	if strings.Join(got, "\n\n") != strings.Join(want, "\n\n") {
		t.Errorf("per-recipient fields:\n%s\nwant:\n%s", strings.Join(got, "\n\n"), strings.Join(want, "\n\n"))
	}
}

func TestDelayReport(t *testing.T) {
	r, p := buildCase(t, "delay warning", ourSettings(t))
	if r.Recipient != "carol@example.org" || r.Source != "smtp/dsn" {
		t.Errorf("recipient %q source %q", r.Recipient, r.Source)
	}
	until := mkdate(parseControl(t, caseByName(t, "delay warning").ctl...).Expires)
	checkFields(t, p, []string{
		"Final-Recipient: rfc822; d1@remote.example\nAction: delayed\nStatus: 4.0.0\nWill-Retry-Until: " + until,
		"Final-Recipient: rfc822; d2@remote.example\nAction: delayed\nOriginal-Recipient: rfc822; orig-d2@remote.example\nStatus: 4.0.0\nWill-Retry-Until: " + until,
	})
	if got := p.header.Get("Subject"); got != "Delivery delayed: your message is still queued" {
		t.Errorf("Subject %q", got)
	}
	if p.returnType != "text/rfc822-headers" || strings.Contains(p.returned, "body line") {
		t.Errorf("a delay warning returns %q:\n%s", p.returnType, p.returned)
	}
	// d2's last attempt only got "Connection refused": the report shows the
	// earlier one that reached a server.
	if !strings.Contains(p.text, "<orig-d2@remote.example>:\n     [192.0.2.7] [192.0.2.7]:\n >>> RCPT TO:<d2@remote.example>\n <<< 451 4.3.0 try later\n") ||
		!strings.Contains(p.text, "<d1@remote.example>:\n <<< Connection refused\n") {
		t.Errorf("text part:\n%s", p.text)
	}

	s := ourSettings(t)
	s.DefaultNotifyDelay = false
	_, p = buildCase(t, "delay warning", s)
	if len(p.recipients) != 1 || p.recipients[0].Get("Final-Recipient") != "rfc822; d2@remote.example" {
		t.Errorf("DSNDEFAULTNOTIFYDELAY=0 still warns about recipients without NOTIFY: %q", p.fields())
	}
}

func TestDoubleBounce(t *testing.T) {
	r, p := buildCase(t, "double bounce to postmaster", ourSettings(t))
	if r.Sender != TripleBounce || r.Recipient != "postmaster" || r.Source != "local/dsn/dsn" {
		t.Errorf("envelope sender %q recipient %q source %q", r.Sender, r.Recipient, r.Source)
	}
	if p.header.Get("To") != "postmaster" {
		t.Errorf("To: %q", p.header.Get("To"))
	}
	if len(p.recipients) != 1 || p.recipients[0].Get("Final-Recipient") != "rfc822; gone@example.test" {
		t.Errorf("recipients %q (NOTIFY=NEVER must not be reported)", p.fields())
	}
	if p.returnType != "message/rfc822" || !strings.Contains(p.returned, "--=_courier_20") {
		t.Errorf("a double bounce returns the whole message despite RET=HDRS; got %q", p.returnType)
	}
	if _, params, _ := p.header.ContentType(); params["boundary"] != "=_courier_3" {
		t.Errorf("boundary %q: 0, 1 and 2 (prefix of 20) occur in the message", params["boundary"])
	}

	// The report itself (sender #@[]) is never reported on.
	c := parseControl(t, join(ctlHead(TripleBounce, "dns; localhost", "", ""), []string{"rpostmaster@mx.example.test", "R", "N"},
		ctlTail("local/dsn/dsn"), []string{"I0 R 550 User <postmaster> unknown", "F0 1795319713"})...)
	if Needed(c, Final, ourSettings(t)) {
		t.Error("Needed is true for a report whose sender is #@[]")
	}
	if r := build(t, c, "x\n", arrival, Final, ourSettings(t)); r != nil {
		t.Errorf("Build made a report about a triple bounce:\n%s", r.Message)
	}
}

func TestReturnedPart(t *testing.T) {
	_, p := buildCase(t, "success receipt only", ourSettings(t))
	if p.returnType != "text/rfc822-headers" || strings.Contains(p.returned, "body line") || !strings.HasPrefix(p.returned, "Received: from client.example") {
		t.Errorf("a receipt returns %q (RET=FULL notwithstanding):\n%s", p.returnType, p.returned)
	}
	checkFields(t, p, []string{"Final-Recipient: rfc822; user1@example.test\nAction: delivered\nStatus: 2.0.0\nDiagnostic-Code: unknown; Message delivered."})

	r, p := buildCase(t, "message over dsnlimit, notify never, auth address", ourSettings(t, "dsnlimit", "100\n"))
	if p.returnType != "text/rfc822-headers" || p.returned != "From: a@b\r\nSubject: crlf\r\n" {
		t.Errorf("a message over dsnlimit returns %q %q", p.returnType, p.returned)
	}
	if r.Recipient != "auth@example.net" {
		t.Errorf("with DSNTOAUTHADDR (on unless set to 0) the report goes to %q", r.Recipient)
	}
	s := settingsFrom(t, configDir(t, "../../etc/dsn", "mx.example.test"), "DSNTOAUTHADDR=0")
	if r, _ := buildCase(t, "message over dsnlimit, notify never, auth address", s); r.Recipient != "carol@example.org" {
		t.Errorf("with DSNTOAUTHADDR=0 the report goes to %q", r.Recipient)
	}
}

func TestEightBit(t *testing.T) {
	r, p := buildCase(t, "eight bit message and report", ourSettings(t))
	if p.statusType != "message/global-delivery-status" || p.returnType != "message/global" {
		t.Errorf("status part %q, returned part %q", p.statusType, p.returnType)
	}
	if !bytes.Contains(r.Message, []byte("\nContent-Transfer-Encoding: 8bit\nMessage-ID: ")) {
		t.Errorf("top-level Content-Transfer-Encoding is not 8bit:\n%s", r.Message)
	}
	checkFields(t, p, []string{
		"Final-Recipient: rfc822; josé@remote.example\nAction: failed\nStatus: 5.0.0\nRemote-MTA: dns; [127.0.0.1] [127.0.0.1]\nDiagnostic-Code: smtp; 550 nüscht",
		"Final-Recipient: rfc822; 8@remote.example\nAction: failed\nStatus: 5.0.0\nDiagnostic-Code: unknown; ",
	})
}

func TestNetworkErrorAndCancel(t *testing.T) {
	_, p := buildCase(t, "network error, other reply type, long reply, cancel", ourSettings(t))
	if p.perMessage.Get("Received-From-MTA") != "" {
		t.Errorf("Received-From-MTA without an f record: %q", p.perMessage.Get("Received-From-MTA"))
	}
	checkFields(t, p, []string{
		"Final-Recipient: rfc822; n@remote.example\nAction: failed\nStatus: 5.0.0\nRemote-MTA: dns; [198.51.100.1] [198.51.100.1]\nX-Network-Error: Connection reset by peer\nX-Network-Error: second error",
		"Final-Recipient: rfc822; x@remote.example\nAction: failed\nStatus: 5.0.0\nDiagnostic-Code: x-very-long-reply-ty; " + strings.Repeat("y", 600) + "\n        second",
		"Final-Recipient: rfc822; c@remote.example\nAction: failed\nStatus: 5.0.0\nDiagnostic-Code: unknown; Cancelled by the admin\n        second reason line",
	})
	if !strings.Contains(p.text, " <<< "+strings.Repeat("y", 500)+"\n") || strings.Contains(p.text, strings.Repeat("y", 501)) {
		t.Error("the text part does not cut a reply line at 500 bytes")
	}
	if !strings.Contains(p.text, "from unknown\n") {
		t.Errorf("[#FROMMTA#] without an f record:\n%s", p.text)
	}
}

// TestHeaderBytes checks the report's header block byte for byte: order,
// folding, Message-ID and Date shapes (spec §7).
func TestHeaderBytes(t *testing.T) {
	r, _ := buildCase(t, "mixed failed relayed delivered", ourSettings(t, "dsnfrom", "mailer-daemon@mx.example.test\nignored\n"))
	head, _, _ := bytes.Cut(r.Message, []byte("\n\n"))
	want := "From: mailer-daemon@mx.example.test\n" +
		"To: carol@example.org\n" +
		"Subject: Delivery status report\n" +
		"Mime-Version: 1.0\n" +
		"Content-Type: multipart/report; report-type=delivery-status;\n" +
		"    boundary=\"=_courier_1\"\n" +
		"Content-Transfer-Encoding: 7bit\n" +
		fmt.Sprintf("Message-ID: <courier.000000006B026805.%08X@mx.example.test>\n", os.Getpid()) +
		"Date: " + mkdate(fixedNow)
	if string(head) != want {
		t.Errorf("header block:\n%s\nwant:\n%s", head, want)
	}
	if !bytes.Contains(r.Message, []byte("\n\n"+mimeNotice+"\n--=_courier_1\nContent-Transfer-Encoding: 7bit\nContent-Type: text/plain; charset=\"utf-8\"\n\n\nThe mail system at mx.example.test")) {
		t.Errorf("preamble and part 1 start:\n%s", r.Message)
	}
	if !bytes.HasSuffix(r.Message, []byte("last line\n\n--=_courier_1--\n")) {
		t.Errorf("report does not end with the closing boundary")
	}
}

func TestInternationalRecipientDomain(t *testing.T) {
	c := parseControl(t, join(ctlHead("anna@bücher.example", "dns; x", "", ""), []string{"rr@remote.example", "R", "N"},
		ctlTail("smtp"), []string{"I0 R 550 no", "F0 1795319713"})...)
	r := build(t, c, "a: b\n\nc\n", arrival, Final, ourSettings(t))
	if !bytes.Contains(r.Message, []byte("\nTo: anna@xn--bcher-kva.example\n")) || r.Recipient != "anna@bücher.example" {
		t.Errorf("To: is not in ACE form (envelope %q):\n%s", r.Recipient, r.Message)
	}
}
