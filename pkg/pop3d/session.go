package pop3d

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gocourier/courier/pkg/authlib"
	"github.com/gocourier/courier/pkg/maildir"
)

// Idle is how long a logged-in session waits for a command (the
// original's alarm(300)).
const Idle = 300 * time.Second

// maxLine bounds a command line after login (the original reads BUFSIZ).
const maxLine = 8192

// tmpAge is how old a file in tmp/ must be for the session to purge it,
// as the original's pop3d does at login.
const tmpAge = 48 * time.Hour

// Session is one logged-in POP3 session over the INBOX of a maildir.
type Session struct {
	conn    net.Conn
	br      *bufio.Reader
	bw      *bufio.Writer
	counter *countingWriter
	getenv  func(string) string
	log     *slog.Logger
	dir     *maildir.Dir
	msgs    []*message
	utf8    bool

	user, ip, port string
	start          time.Time
	top, retr      int64
	rcvd           int64
}

// message is one message of the maildrop, in the original's order.
type message struct {
	file    string // its name in cur/
	size    int64  // with CRLF line ends
	uid     uint64
	uidv    uint64
	utf8    bool // 8-bit headers
	isNew   bool // not in the list yet
	deleted bool
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Serve runs a session on conn for the maildir at path (the account's,
// after login). getenv gives the session's variables (AUTHENTICATED,
// AUTHADDR, OPTIONS, HOME, UTF8, POP3_TLS, TCPREMOTEIP, ...). It returns
// when the client quits or the connection ends; the caller closes conn.
func Serve(conn net.Conn, path string, getenv func(string) string, log *slog.Logger) {
	s := &Session{conn: conn, getenv: getenv, log: log, start: time.Now()}
	s.counter = &countingWriter{w: conn}
	s.br, s.bw = bufio.NewReader(conn), bufio.NewWriterSize(s.counter, 32<<10)
	s.user = getenv("AUTHADDR")
	if s.user == "" {
		s.user = getenv("AUTHENTICATED")
	}
	if s.user == "" {
		s.user = "nobody"
	}
	if s.ip = getenv("TCPREMOTEIP"); s.ip == "" {
		s.ip = "127.0.0.1"
	}
	if s.port = getenv("TCPREMOTEPORT"); s.port == "" {
		s.port = "0"
	}
	// The login stage passes UTF8=0 unless the client sent UTF8; a
	// pre-authenticated run without it is taken to handle UTF-8.
	s.utf8 = getenv("UTF8") == "" || envInt(getenv, "UTF8") != 0
	if !s.open(path) {
		s.bw.Flush()
		return
	}
	s.loop()
}

func (s *Session) printf(format string, args ...any) {
	fmt.Fprintf(s.bw, format, args...)
}

func (s *Session) flush() error { return s.bw.Flush() }

// tls says whether the session came over TLS.
func (s *Session) tls() bool { return envInt(s.getenv, "POP3_TLS") != 0 }

// open checks the account and reads the maildrop, answering the client
// when it cannot; it reports whether the session goes on.
func (s *Session) open(path string) bool {
	if home := s.getenv("HOME"); home != "" {
		if st, err := os.Stat(home); err == nil && st.Mode()&os.ModeSticky != 0 {
			s.log.Info(fmt.Sprintf("LOCKED, user=%s, ip=[%s], port=[%s]: the home directory %s has the sticky bit set (the administrator locked the account)", s.user, s.ip, s.port, home))
			s.printf("-ERR Your account is temporarily unavailable (+t bit set on home directory).\r\n")
			return false
		}
	}
	opts := authlib.ParseOptions(s.getenv("OPTIONS"))
	if opts.Enabled("disablepop3") {
		s.printf("-ERR POP3 access disabled for this account.\r\n")
		return false
	}
	if opts.Enabled("disableinsecurepop3") && !s.tls() {
		s.printf("-ERR POP3 access disabled via insecure connection.\r\n")
		return false
	}
	dir, err := maildir.OpenDir(path)
	if err != nil {
		s.log.Error(fmt.Sprintf("POP3 session of %s refused: %v", s.user, err))
		s.printf("-ERR Maildir invalid (no 'cur' directory)\r\n")
		return false
	}
	dir.Log = s.log
	if q := s.getenv("MAILDIRQUOTA"); q != "" {
		if spec, err := maildir.ParseQuotaSpec(q); err == nil {
			dir.Quota = spec
		}
	}
	s.dir = dir
	if _, err := dir.PurgeTmp(tmpAge); err != nil {
		s.log.Warn(fmt.Sprintf("cannot purge old files from %s/tmp: %v", path, err))
	}
	if _, err := dir.ScanNew(); err != nil {
		s.log.Warn(fmt.Sprintf("user=%s: %v", s.user, err))
	}
	if err := s.scan(); err != nil {
		s.log.Error(fmt.Sprintf("POP3 session of %s refused: %v", s.user, err))
		s.printf("-ERR Maildir invalid (no 'cur' directory)\r\n")
		return false
	}
	s.printf("+OK logged in.\r\n")
	return s.flush() == nil
}

// scan lists cur/, gives every message its size and UIDL from the list
// file, and records the new ones there (the original's sortmsgs).
func (s *Session) scan() error {
	names, err := s.dir.Files("cur")
	if err != nil {
		return err
	}
	for _, n := range names {
		s.msgs = append(s.msgs, &message{file: n})
	}
	if len(s.msgs) == 0 {
		return nil
	}
	slices.SortFunc(s.msgs, func(a, b *message) int { return compareNames(a.file, b.file) })
	list, skipped, err := s.dir.ReadPOP3List()
	for _, e := range skipped {
		s.log.Warn(fmt.Sprintf("user=%s: %v; the message gets a new UIDL", s.user, e))
	}
	if err != nil {
		s.log.Warn(fmt.Sprintf("user=%s: %v; a new list with a new UIDVALIDITY is started, and clients download every message again", s.user, err))
		list = nil
	}
	save := false
	if list == nil {
		list = &maildir.POP3List{Version: 3, NextUID: 1, UIDValidity: uint64(time.Now().Unix())}
		save = true
	} else if list.Version != 3 {
		save = true
	}
	prev := list.Entries
	slices.SortStableFunc(prev, func(a, b maildir.POP3Entry) int { return compareNames(a.File, b.File) })
	b := 0
	for _, m := range s.msgs {
		for b < len(prev) && compareNames(prev[b].File, m.file) < 0 {
			b++
			save = true
		}
		if b < len(prev) && compareNames(m.file, prev[b].File) >= 0 {
			m.size, m.uid, m.uidv, m.utf8 = prev[b].Size, prev[b].UID, prev[b].UIDValidity, prev[b].UTF8
			b++
			continue
		}
		m.uid, m.uidv, m.isNew = list.NextUID, list.UIDValidity, true
		list.NextUID++
		m.size, m.utf8 = s.measure(m)
		save = true
	}
	if b < len(prev) {
		save = true
	}
	if !save {
		return nil
	}
	list.Entries = list.Entries[:0]
	for _, m := range s.msgs {
		list.Entries = append(list.Entries, maildir.POP3Entry{File: m.file, Size: m.size, UID: m.uid, UIDValidity: m.uidv, UTF8: m.utf8})
	}
	if err := s.dir.WritePOP3List(list); err != nil {
		// As the original: new messages stay hidden until their
		// UIDLs can be kept, so that a client never sees a UIDL
		// that changes.
		s.log.Error(fmt.Sprintf("ERR: Error while saving courierpop3dsizelist, user=%s: %v; new messages are not shown until it can be written (is the disk or the quota full?)", s.user, err))
		s.msgs = slices.DeleteFunc(s.msgs, func(m *message) bool { return m.isNew })
	}
	return nil
}

// measure returns a message's size with CRLF line ends (RFC 1939 §5:
// "octets") and whether its header holds 8-bit bytes. Like Courier 1.0's
// pop3d, the CRLF sent after a last line without a newline is not
// counted, so that both servers record the same sizes in the list.
func (s *Session) measure(m *message) (int64, bool) {
	f, err := os.Open(filepath.Join(s.dir.Path, "cur", m.file))
	if err != nil {
		return 0, false
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 32<<10)
	var size int64
	inHeader, utf8 := true, false
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			size += int64(len(line))
			if line[len(line)-1] == '\n' {
				size++
			}
			if inHeader {
				if len(bytes.TrimRight(line, "\r\n")) == 0 {
					inHeader = false
				} else if !utf8 {
					utf8 = slices.ContainsFunc(line, func(c byte) bool { return c >= 0x80 })
				}
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			break
		}
	}
	return size, utf8
}

// compareNames orders messages as the original's pop3d does: by the
// arrival time at the start of the name, then by the name up to the
// ":2," info.
func compareNames(a, b string) int {
	if na, nb := leadingNumber(a), leadingNumber(b); na != nb {
		if na < nb {
			return -1
		}
		return 1
	}
	i := 0
	for i < len(a) || i < len(b) {
		var ca, cb byte
		if i < len(a) {
			ca = a[i]
		}
		if i < len(b) {
			cb = b[i]
		}
		if ca == ':' && cb == ':' {
			return 0
		}
		if ca != cb {
			if ca < cb {
				return -1
			}
			return 1
		}
		i++
	}
	return 0
}

// leadingNumber is atol of the name: its leading decimal digits.
func leadingNumber(s string) int64 {
	var n int64
	for i := 0; i < len(s) && s[i] >= '0' && s[i] <= '9' && n < 1<<58; i++ {
		n = n*10 + int64(s[i]-'0')
	}
	return n
}

// loop reads and answers commands until QUIT or the end of the
// connection.
func (s *Session) loop() {
	for {
		s.conn.SetReadDeadline(time.Now().Add(Idle))
		line, n, err := readLine(s.br, maxLine)
		s.rcvd += int64(n)
		if errors.Is(err, errLineTooLong) {
			s.printf("-ERR Command line too long.\r\n")
			if s.flush() != nil {
				s.account("DISCONNECTED")
				return
			}
			continue
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				s.account("TIMEOUT")
			} else {
				s.account("DISCONNECTED")
			}
			return
		}
		cmd := ParseCommand(line)
		if cmd.Verb == "QUIT" {
			s.printf("+OK Bye-bye.\r\n")
			s.flush()
			s.cleanup()
			s.account("LOGOUT")
			return
		}
		s.do(cmd)
		if s.flush() != nil {
			s.account("DISCONNECTED")
			return
		}
	}
}

// do answers one command of the TRANSACTION state (RFC 1939 §5).
func (s *Session) do(cmd Command) {
	arg := func(i int) string {
		if i < len(cmd.Args) {
			return cmd.Args[i]
		}
		return ""
	}
	switch cmd.Verb {
	case "STAT":
		var n int
		var size int64
		for _, m := range s.msgs {
			if !m.deleted {
				n++
				size += m.size
			}
		}
		s.printf("+OK %d %d\r\n", n, size)
	case "LIST":
		if len(cmd.Args) > 0 {
			if i, m := s.message(arg(0)); m != nil {
				s.printf("+OK %d %d\r\n", i, m.size)
			}
			return
		}
		s.printf("+OK POP3 clients that break here, they violate STD53.\r\n")
		s.each(func(i int, m *message) { s.printf("%d %d\r\n", i, m.size) })
		s.printf(".\r\n")
	case "UIDL":
		if len(cmd.Args) > 0 {
			if i, m := s.message(arg(0)); m != nil {
				s.printf("+OK %d %s\r\n", i, m.uidl())
			}
			return
		}
		s.printf("+OK\r\n")
		s.each(func(i int, m *message) { s.printf("%d %s\r\n", i, m.uidl()) })
		s.printf(".\r\n")
	case "RETR":
		if _, m := s.message(arg(0)); m != nil {
			s.send(m, -1)
		}
	case "TOP":
		_, m := s.message(arg(0))
		if m == nil {
			return
		}
		if len(cmd.Args) < 2 {
			s.printf("-ERR Invalid command.\r\n")
			return
		}
		s.send(m, atoi(arg(1)))
	case "DELE":
		if _, m := s.message(arg(0)); m != nil {
			m.deleted = true
			s.printf("+OK Deleted.\r\n")
		}
	case "RSET":
		for _, m := range s.msgs {
			m.deleted = false
		}
		s.printf("+OK Resurrected.\r\n")
	case "NOOP":
		s.printf("+OK Yup.\r\n")
	case "CAPA":
		s.printf("%s", capa(s.getenv, s.tls(), false))
	case "UTF8":
		s.utf8 = true
		s.printf("+OK UTF8 enabled\r\n")
	default:
		s.printf("-ERR Invalid command.\r\n")
	}
}

// atoi is C's atoi for a non-negative count: leading digits, 0 if none.
func atoi(s string) int64 {
	return leadingNumber(strings.TrimLeft(s, " \t"))
}

// message returns the message numbered by arg, answering "-ERR" when there
// is none (the original's getmsgnum).
func (s *Session) message(arg string) (int, *message) {
	n := atoi(arg)
	if arg == "" || n == 0 || n > int64(len(s.msgs)) || s.msgs[n-1].deleted {
		s.printf("-ERR Invalid message number.\r\n")
		return 0, nil
	}
	return int(n), s.msgs[n-1]
}

// each calls fn for every message not deleted, numbered as the original
// numbers them in listings (deleted ones skipped in the count).
func (s *Session) each(fn func(i int, m *message)) {
	i := 0
	for _, m := range s.msgs {
		if !m.deleted {
			i++
			fn(i, m)
		}
	}
}

func (m *message) uidl() string {
	return maildir.POP3Entry{UID: m.uid, UIDValidity: m.uidv}.UIDL()
}

// wrapper is the notice the original puts around a message with 8-bit
// headers for a client that has not said UTF8 (RFC 6856 §3).
const wrapper = "From: Mail Delivery Subsystem <postmaster>\n" +
	"Subject: Cannot display Unicode content\n" +
	"Mime-Version: 1.0\n" +
	"Content-Type: multipart/mixed; boundary=\"%[1]s\"\n" +
	"\n\n\n--%[1]s\n" +
	"Content-Type: text/plain\n\n" +
	"This E-mail message was determined to be Unicode-formatted\n" +
	"but your E-mail reader does not support Unicode E-mail.\n\n" +
	"Please use an E-mail reader that supports POP3 with UTF-8\n" +
	"(see https://datatracker.ietf.org/doc/html/rfc6856).\n\n" +
	"This can also happen when the sender's E-mail program does not\n" +
	"correctly format the sent message.\n\n" +
	"The original message is included as a separate attachment\n" +
	"so that it can be downloaded manually.\n\n" +
	"--%[1]s\n" +
	"Content-Type: %[2]s\n\n"

// send answers RETR (lines < 0) or TOP with that many body lines: the
// message with CRLF line ends and dot-stuffing (RFC 1939 §3). RETR marks
// the message seen.
func (s *Session) send(m *message, lines int64) {
	f, err := os.Open(filepath.Join(s.dir.Path, "cur", m.file))
	if err != nil {
		// Another session may have moved it since: look by its
		// unique part.
		var found maildir.Message
		f, found, err = s.dir.Open(m.file)
		if err == nil {
			m.file = found.File
		}
	}
	if err != nil {
		s.printf("-ERR Can't open the message file - it's gone!\r\n")
		return
	}
	defer f.Close()
	var head, foot string
	if m.utf8 && !s.utf8 {
		boundary := fmt.Sprintf("=_%d-%d", os.Getpid(), time.Now().Unix())
		typ := s.getenv("MIME_UNICODE_MESSAGE_TYPE")
		if typ == "" {
			typ = "message/global"
		}
		head = fmt.Sprintf(wrapper, boundary, typ)
		foot = "\n--" + boundary + "--\n"
	}
	if lines >= 0 {
		s.printf("+OK headers follow.\r\n")
		s.top++
	} else {
		s.printf("+OK %d octets follow.\r\n", m.size+crlfSize(head)+crlfSize(foot))
		s.retr++
	}
	d := &dotWriter{w: s.bw, lines: lines, bol: true, inHeader: true}
	d.Write([]byte(head))
	if _, err := io.Copy(d, f); err != nil {
		s.log.Error(fmt.Sprintf("I/O error reading message %s of %s: %v; the connection is closed", m.file, s.user, err))
		s.conn.Close()
		return
	}
	d.Write([]byte(foot))
	if !d.bol {
		s.printf("\r\n")
	}
	s.printf(".\r\n")
	if lines < 0 {
		s.markSeen(m)
	}
}

// crlfSize is the size of text sent with CRLF line ends.
func crlfSize(text string) int64 { return int64(len(text) + strings.Count(text, "\n")) }

// markSeen adds the S flag after RETR, as the original does for a message
// whose info is ":2,<flags>" (other info is left alone).
func (s *Session) markSeen(m *message) {
	i := strings.IndexByte(m.file, ':')
	if i >= 0 && !strings.HasPrefix(m.file[i:], ":2,") || i >= 0 && strings.Contains(m.file[i:], "S") {
		return
	}
	flags := maildir.Flags("")
	if i >= 0 {
		flags = maildir.Flags(m.file[i+3:])
	}
	if name, err := s.dir.SetFlags(m.file, flags.With("S")); err == nil {
		m.file = name
	}
}

// dotWriter writes message text as POP3 sends it: CR before every LF, a
// dot before a line that starts with one, and, for TOP, only the header
// and the first lines of the body.
type dotWriter struct {
	w        *bufio.Writer
	lines    int64 // body lines to send; < 0: all
	bol      bool  // at the beginning of a line
	inHeader bool
	done     bool
}

func (d *dotWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && !d.done {
		if d.bol {
			if d.lines >= 0 {
				if d.inHeader {
					if p[0] == '\n' {
						d.inHeader = false
					}
				} else if d.lines == 0 {
					d.done = true
					break
				} else {
					d.lines--
				}
			}
			if p[0] == '.' {
				d.w.WriteByte('.')
			}
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			d.w.Write(p)
			d.bol = false
			break
		}
		d.w.Write(p[:i])
		d.w.WriteString("\r\n")
		p = p[i+1:]
		d.bol = true
	}
	return n, nil
}

// cleanup removes the deleted messages at QUIT (RFC 1939 §6, the UPDATE
// state) and takes them out of the quota.
func (s *Session) cleanup() {
	var files []string
	logDeletions := envInt(s.getenv, "POP3_LOG_DELETIONS") != 0
	for _, m := range s.msgs {
		if m.deleted {
			files = append(files, m.file)
			if logDeletions {
				s.log.Info(fmt.Sprintf("DELETED, user=%s, ip=[%s], port=[%s], filename=cur/%s", s.getenv("AUTHENTICATED"), s.ip, s.port, m.file))
			}
		}
	}
	if len(files) == 0 {
		return
	}
	if err := s.dir.Remove(files...); err != nil {
		s.log.Error(fmt.Sprintf("user=%s: messages deleted with DELE could not all be removed: %v", s.user, err))
	}
}

// account logs the end of the session with its counters, as the
// original's acctout.
func (s *Session) account(how string) {
	line := fmt.Sprintf("%s, user=%s, ip=[%s], port=[%s], top=%d, retr=%d, rcvd=%d, sent=%d, time=%d",
		how, s.user, s.ip, s.port, s.top, s.retr, s.rcvd, s.counter.n, int64(time.Since(s.start).Seconds()))
	if s.tls() {
		line += ", stls=1"
	}
	s.log.Info(line)
}
