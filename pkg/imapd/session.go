package imapd

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-imap/v2"

	"github.com/gocourier/courier/pkg/imapd/mailbox"
	"github.com/gocourier/courier/pkg/imapd/wire"
)

// Idle is how long a logged-in session waits for a command: the 30
// minutes of RFC 9051 §5.4 (the original's autologout). Tests shorten it.
var Idle = 30 * time.Minute

// session is one logged-in IMAP session.
type session struct {
	conn   net.Conn
	r      *wire.Reader
	bw     *bufio.Writer
	w      *wire.Writer
	getenv func(string) string
	log    *slog.Logger
	store  *mailbox.Store
	user   string
	caps   []string
	tls    bool

	mb                       *mailbox.Mailbox // the selected mailbox, nil when none
	condstore, qresync, utf8 bool
	searchRes                imap.UIDSet // RFC 5182 SEARCHRES

	// sent are the flags this command already reported per UID, so that
	// the updates after it do not repeat them.
	sent map[uint32]string
	// silent are the UIDs a STORE .SILENT changed (not reported).
	silent []uint32
	// refreshed says the command reported the mailbox's changes already.
	refreshed bool
	// afterReply is work a command leaves until its answer is sent.
	afterReply func()

	start time.Time
}

// Serve runs one logged-in session on conn for the maildir at path.
// getenv gives the session's variables (AUTHENTICATED, IMAPLOGINTAG,
// IMAP_*, ...). It returns when the client logs out or the connection ends;
// the caller closes conn.
func Serve(conn net.Conn, path string, getenv func(string) string, log *slog.Logger) {
	s := &session{conn: conn, getenv: getenv, log: log, start: time.Now(), user: getenv("AUTHENTICATED")}
	var in io.Reader = conn
	if p := getenv(pendingEnv); p != "" {
		if b, err := base64.StdEncoding.DecodeString(p); err == nil {
			in = io.MultiReader(bytes.NewReader(b), conn)
		}
	}
	s.bw = bufio.NewWriterSize(conn, 64<<10)
	s.w = wire.NewWriter(s.bw)
	s.r = wire.NewReader(in, func(text string) error {
		s.bw.WriteString("+ " + text + "\r\n")
		return s.bw.Flush()
	}, wire.Limits{})
	s.tls = getenv("IMAP_TLS") == "1"
	s.caps = capabilities(getenv, s.tls, false)
	tag := getenv("IMAPLOGINTAG")
	store, err := mailbox.Open(path, getenv)
	if err != nil {
		s.log.Error(fmt.Sprintf("IMAP session of %s refused: %v", s.user, err))
		s.bw.WriteString("* BYE [ALERT] Cannot open your mailbox; tell the administrator\r\n")
		s.bw.Flush()
		return
	}
	store.Log = s.log.With("user", s.user)
	s.store = store
	if n, err := store.PurgeTrash(); err != nil {
		s.log.Warn(fmt.Sprintf("user=%s: purging old messages from Trash (IMAP_EMPTYTRASH): %v", s.user, err))
	} else if n > 0 {
		s.log.Info(fmt.Sprintf("user=%s: %d old messages purged (IMAP_EMPTYTRASH)", s.user, n))
	}
	if tag != "" {
		s.bw.WriteString(tag + " OK LOGIN Ok.\r\n")
	} else {
		s.bw.WriteString("* PREAUTH Ready.\r\n")
	}
	if s.bw.Flush() != nil {
		return
	}
	how := s.loop()
	if s.mb != nil {
		s.mb.Close()
	}
	s.log.Info(fmt.Sprintf("%s, user=%s, ip=[%s], port=[%s], time=%d", how, s.user, getenv("TCPREMOTEIP"), getenv("TCPREMOTEPORT"), int64(time.Since(s.start).Seconds())))
}

// loop reads and answers commands; it returns how the session ended.
func (s *session) loop() string {
	for {
		s.conn.SetReadDeadline(time.Now().Add(Idle))
		cmd, err := s.r.ReadCommand()
		var se *wire.SyntaxError
		var tb *wire.TooBigError
		switch {
		case errors.As(err, &se):
			fmt.Fprintf(s.bw, "%s BAD %s\r\n", se.Tag, se.Msg)
			if s.bw.Flush() != nil {
				return "DISCONNECTED"
			}
			continue
		case errors.As(err, &tb):
			fmt.Fprintf(s.bw, "* BYE %s\r\n", tb.Error())
			s.bw.Flush()
			return "DISCONNECTED"
		case errors.Is(err, os.ErrDeadlineExceeded):
			s.bw.WriteString("* BYE Autologout; idle for too long\r\n")
			s.bw.Flush()
			return "TIMEOUT"
		case err != nil:
			return "DISCONNECTED"
		}
		s.conn.SetReadDeadline(time.Time{})
		logout := s.dispatch(cmd)
		cmd.Close()
		if s.bw.Flush() != nil {
			return "DISCONNECTED"
		}
		if s.afterReply != nil {
			s.afterReply()
			s.afterReply = nil
		}
		if logout {
			return "LOGOUT"
		}
	}
}

// reply ends a command with its tagged response.
func (s *session) reply(tag, status, text string) {
	fmt.Fprintf(s.bw, "%s %s %s\r\n", tag, status, text)
}

// imapError is a failed command's status and text.
type imapError struct {
	status string // NO or BAD
	text   string
}

func (e *imapError) Error() string { return e.status + " " + e.text }

func bad(format string, args ...any) error {
	return &imapError{"BAD", fmt.Sprintf(format, args...)}
}

func no(format string, args ...any) error {
	return &imapError{"NO", fmt.Sprintf(format, args...)}
}

// handler runs one command; a nil error answers "OK <ok text>".
type handler struct {
	fn       func(s *session, tag string, args []wire.Token, uid bool) (string, error)
	selected bool // needs a selected mailbox
	update   bool // may report expunges after it (not FETCH, STORE, SEARCH by number: RFC 9051 §7.5.1)
}

var handlers map[string]handler

func init() {
	handlers = map[string]handler{
		"CAPABILITY":   {fn: (*session).capability, update: true},
		"NOOP":         {fn: (*session).noop, update: true},
		"CHECK":        {fn: (*session).noop, selected: true, update: true},
		"LOGOUT":       {fn: nil},
		"ID":           {fn: (*session).id, update: true},
		"ENABLE":       {fn: (*session).enable},
		"NAMESPACE":    {fn: (*session).namespace, update: true},
		"SELECT":       {fn: (*session).selectCmd},
		"EXAMINE":      {fn: (*session).examine},
		"CLOSE":        {fn: (*session).closeCmd, selected: true},
		"UNSELECT":     {fn: (*session).unselect, selected: true},
		"CREATE":       {fn: (*session).create, update: true},
		"DELETE":       {fn: (*session).deleteCmd, update: true},
		"RENAME":       {fn: (*session).rename, update: true},
		"SUBSCRIBE":    {fn: (*session).subscribe, update: true},
		"UNSUBSCRIBE":  {fn: (*session).unsubscribe, update: true},
		"LIST":         {fn: (*session).list, update: true},
		"LSUB":         {fn: (*session).lsub, update: true},
		"STATUS":       {fn: (*session).status, update: true},
		"APPEND":       {fn: (*session).appendCmd, update: true},
		"EXPUNGE":      {fn: (*session).expunge, selected: true, update: true},
		"SEARCH":       {fn: (*session).search, selected: true},
		"SORT":         {fn: (*session).sortCmd, selected: true},
		"THREAD":       {fn: (*session).thread, selected: true},
		"FETCH":        {fn: (*session).fetch, selected: true},
		"STORE":        {fn: (*session).storeCmd, selected: true},
		"COPY":         {fn: (*session).copyCmd, selected: true},
		"MOVE":         {fn: (*session).move, selected: true, update: true},
		"IDLE":         {fn: (*session).idle, update: true},
		"GETQUOTA":     {fn: (*session).getQuota, update: true},
		"GETQUOTAROOT": {fn: (*session).getQuotaRoot, update: true},
		"SETQUOTA":     {fn: (*session).setQuota, update: true},
		"GETACL":       {fn: (*session).getACL, update: true},
		"SETACL":       {fn: (*session).setACL, update: true},
		"DELETEACL":    {fn: (*session).deleteACL, update: true},
		"MYRIGHTS":     {fn: (*session).myRights, update: true},
		"LISTRIGHTS":   {fn: (*session).listRights, update: true},
	}
}

// uidCommands may follow UID (RFC 9051 §6.4.9; UID EXPUNGE RFC 4315,
// UID MOVE RFC 6851, UID SORT/THREAD RFC 5256).
var uidCommands = []string{"FETCH", "STORE", "SEARCH", "COPY", "MOVE", "EXPUNGE", "SORT", "THREAD"}

// dispatch runs one command; it reports true at LOGOUT.
func (s *session) dispatch(cmd *wire.Command) bool {
	name, args, uid := cmd.Name, cmd.Args, false
	if name == "UID" {
		if len(args) == 0 || args[0].Kind != wire.Atom || !slices.Contains(uidCommands, strings.ToUpper(args[0].Text)) {
			s.reply(cmd.Tag, "BAD", "UID must be followed by FETCH, STORE, SEARCH, COPY, MOVE, EXPUNGE, SORT or THREAD.")
			return false
		}
		name, args, uid = strings.ToUpper(args[0].Text), args[1:], true
	}
	if name == "LOGOUT" {
		s.bw.WriteString("* BYE Courier-IMAP server shutting down\r\n")
		s.reply(cmd.Tag, "OK", "LOGOUT completed")
		return true
	}
	h, ok := handlers[name]
	if !ok {
		switch name {
		case "LOGIN", "AUTHENTICATE", "STARTTLS":
			s.reply(cmd.Tag, "BAD", "Already logged in.")
		default:
			s.reply(cmd.Tag, "BAD", "Unknown command "+strconv.Quote(name)+".")
		}
		return false
	}
	if h.selected && s.mb == nil {
		s.reply(cmd.Tag, "BAD", "No mailbox is selected.")
		return false
	}
	s.sent = nil
	s.refreshed = false
	text, err := h.fn(s, cmd.Tag, args, uid)
	if name != "SELECT" && name != "EXAMINE" && !s.refreshed {
		// SELECT has just read the mailbox, and STORE and IDLE report
		// what changed themselves.
		s.updateKeeping(!h.update && !uid)
	}
	var ie *imapError
	switch {
	case err == nil:
		s.reply(cmd.Tag, "OK", text)
	case errors.As(err, &ie):
		s.reply(cmd.Tag, ie.status, ie.text)
	default:
		s.log.Error(fmt.Sprintf("user=%s: %s failed: %v", s.user, name, err))
		s.reply(cmd.Tag, "NO", "Error: "+err.Error())
	}
	return false
}

// update sends what changed in the selected mailbox since the last
// report: expunges (VANISHED under QRESYNC), EXISTS, RECENT and flag
// changes made by others.
func (s *session) update() { s.updateKeeping(false) }

// updateKeeping is update; with keep, expunges wait for a later command
// (RFC 9051 §7.5.1).
func (s *session) updateKeeping(keep bool) {
	if s.mb == nil {
		return
	}
	refresh := s.mb.Refresh
	if keep {
		refresh = s.mb.RefreshKeeping
	}
	ch, err := refresh()
	s.refreshed = err == nil
	if errors.Is(err, mailbox.ErrUIDValidityChanged) {
		// RFC 9051 §2.3.1.1: the session cannot go on with it.
		s.bw.WriteString("* OK [CLOSED] The mailbox was rebuilt by another program (new UIDVALIDITY); select it again\r\n")
		s.mb.Close()
		s.mb = nil
		return
	}
	if err != nil {
		s.log.Warn(fmt.Sprintf("user=%s: rescanning %s: %v", s.user, s.mb.Name, err))
		return
	}
	s.report(ch)
}

// report writes the untagged responses for a set of changes.
func (s *session) report(ch mailbox.Changes) {
	if len(ch.Expunged) > 0 {
		if s.qresync {
			var set imap.UIDSet
			for _, u := range ch.ExpungedUIDs {
				set.AddNum(imap.UID(u))
			}
			fmt.Fprintf(s.bw, "* VANISHED %s\r\n", set.String())
		} else {
			for _, n := range ch.Expunged {
				fmt.Fprintf(s.bw, "* %d EXPUNGE\r\n", n)
			}
		}
	}
	if ch.Added > 0 || len(ch.Expunged) > 0 {
		fmt.Fprintf(s.bw, "* %d EXISTS\r\n", ch.Exists)
		if ch.Added > 0 {
			fmt.Fprintf(s.bw, "* %d RECENT\r\n", ch.Recent)
		}
	}
	if len(ch.Updated) == 0 {
		return
	}
	msgs := s.mb.Messages()
	for _, uid := range ch.Updated {
		i, ok := slices.BinarySearchFunc(msgs, uid, func(m mailbox.Msg, u uint32) int { return int(int64(m.UID) - int64(u)) })
		if !ok {
			continue
		}
		m := msgs[i]
		flags := flagsOf(m)
		if s.sent != nil && s.sent[uid] == flagString(flags) || slices.Contains(s.silent, uid) {
			continue
		}
		s.writeFlags(uint32(i+1), m, flags, true)
	}
}

// writeFlags writes "* n FETCH (UID u FLAGS (...) MODSEQ (m))".
func (s *session) writeFlags(seq uint32, m mailbox.Msg, flags []imap.Flag, withUID bool) {
	fmt.Fprintf(s.bw, "* %d FETCH (", seq)
	if withUID {
		fmt.Fprintf(s.bw, "UID %d ", m.UID)
	}
	s.bw.WriteString("FLAGS ")
	s.w.Flags(flags)
	if s.condstore {
		fmt.Fprintf(s.bw, " MODSEQ (%d)", m.ModSeq)
	}
	s.bw.WriteString(")\r\n")
	if s.sent == nil {
		s.sent = map[uint32]string{}
	}
	s.sent[m.UID] = flagString(flags)
}

// flagsOf is a message's flags with \Recent.
func flagsOf(m mailbox.Msg) []imap.Flag {
	if !m.Recent {
		return m.Flags
	}
	return append(slices.Clip(m.Flags), flagRecent)
}

func flagString(f []imap.Flag) string {
	var b strings.Builder
	for _, x := range f {
		b.WriteString(string(x))
		b.WriteByte(' ')
	}
	return b.String()
}

func (s *session) capability(tag string, args []wire.Token, _ bool) (string, error) {
	fmt.Fprintf(s.bw, "* CAPABILITY %s\r\n", strings.Join(s.caps, " "))
	return "CAPABILITY completed", nil
}

func (s *session) noop(tag string, args []wire.Token, _ bool) (string, error) {
	return "NOOP completed", nil
}

func (s *session) id(tag string, args []wire.Token, _ bool) (string, error) {
	fmt.Fprintf(s.bw, "* ID %s\r\n", idResponse)
	return "ID completed", nil
}

// enable is RFC 5161 ENABLE.
func (s *session) enable(tag string, args []wire.Token, _ bool) (string, error) {
	if len(args) == 0 {
		return "", bad("ENABLE needs at least one capability.")
	}
	var on []string
	for _, a := range args {
		if a.Kind != wire.Atom {
			return "", bad("ENABLE takes capability names.")
		}
		switch c := strings.ToUpper(a.Text); c {
		case "CONDSTORE":
			if has(s.caps, c) && !s.condstore {
				s.condstore = true
				on = append(on, c)
			}
		case "QRESYNC":
			if has(s.caps, c) && !s.qresync {
				s.qresync, s.condstore = true, true
				on = append(on, c)
			}
		case "UTF8=ACCEPT":
			if !s.utf8 {
				s.utf8, s.w.UTF8 = true, true
				on = append(on, c)
			}
		case "IMAP4REV2":
			if has(s.caps, c) {
				on = append(on, c)
			}
		}
	}
	s.bw.WriteString("* ENABLED")
	for _, c := range on {
		s.bw.WriteString(" " + c)
	}
	s.bw.WriteString("\r\n")
	return "ENABLE completed", nil
}

func (s *session) namespace(tag string, args []wire.Token, _ bool) (string, error) {
	s.bw.WriteString("* NAMESPACE ((\"INBOX.\" \".\")) NIL NIL\r\n")
	return "NAMESPACE completed", nil
}

// mailboxArg is a mailbox name argument in UTF-8.
// IMAP4rev2 clients send UTF-8 names (RFC 9051 §5.1) whether or not
// UTF8=ACCEPT is enabled; 8-bit bytes cannot be modified UTF-7, so such a
// name is taken as UTF-8.
func (s *session) mailboxArg(t wire.Token) (string, error) {
	text, _ := t.AString()
	name, err := wire.MailboxName(t, s.utf8 || !isASCII(text) && utf8.ValidString(text))
	if err != nil {
		return "", bad("%v", err)
	}
	return name, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// storeError maps the mailbox layer's errors to responses (RFC 5530
// codes).
func storeError(err error, name string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, mailbox.ErrNonExistent):
		return no("[NONEXISTENT] Mailbox %s does not exist.", name)
	case errors.Is(err, mailbox.ErrExists):
		return no("[ALREADYEXISTS] Mailbox %s already exists.", name)
	case errors.Is(err, mailbox.ErrInvalidName):
		return no("[CANNOT] Invalid mailbox name %s.", name)
	case errors.Is(err, mailbox.ErrInbox), errors.Is(err, mailbox.ErrReserved):
		return no("[CANNOT] %v.", err)
	case errors.Is(err, mailbox.ErrReadOnly):
		return no("[READ-ONLY] The mailbox is read-only.")
	}
	return err
}
