package imapd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/gocourier/courier/pkg/imapd/mailbox"
	"github.com/gocourier/courier/pkg/imapd/wire"
	"github.com/gocourier/courier/pkg/maildir"
)

func (s *session) create(tag string, args []wire.Token, _ bool) (string, error) {
	if len(args) != 1 {
		return "", bad("CREATE takes a mailbox name.")
	}
	name, err := s.mailboxArg(args[0])
	if err != nil {
		return "", err
	}
	if err := s.store.Create(name); err != nil {
		return "", storeError(err, name)
	}
	// The original echoes the name as the client sent it.
	if sent, _ := args[0].AString(); !strings.ContainsAny(sent, "\"\\\r\n") {
		return "\"" + sent + "\" created.", nil
	}
	return "Folder created.", nil
}

func (s *session) deleteCmd(tag string, args []wire.Token, _ bool) (string, error) {
	if len(args) != 1 {
		return "", bad("DELETE takes a mailbox name.")
	}
	name, err := s.mailboxArg(args[0])
	if err != nil {
		return "", err
	}
	if s.mb != nil && s.mb.Name == name {
		return "", no("[INUSE] Close the mailbox before deleting it.")
	}
	if err := s.store.Delete(name); err != nil {
		return "", storeError(err, name)
	}
	return "Folder deleted.", nil
}

func (s *session) rename(tag string, args []wire.Token, _ bool) (string, error) {
	if len(args) != 2 {
		return "", bad("RENAME takes two mailbox names.")
	}
	from, err := s.mailboxArg(args[0])
	if err != nil {
		return "", err
	}
	to, err := s.mailboxArg(args[1])
	if err != nil {
		return "", err
	}
	if err := s.store.Rename(from, to); err != nil {
		return "", storeError(err, from)
	}
	return "Folder renamed.", nil
}

func (s *session) subscribe(tag string, args []wire.Token, _ bool) (string, error) {
	return s.subscription(args, true)
}

func (s *session) unsubscribe(tag string, args []wire.Token, _ bool) (string, error) {
	return s.subscription(args, false)
}

func (s *session) subscription(args []wire.Token, on bool) (string, error) {
	if len(args) != 1 {
		return "", bad("SUBSCRIBE and UNSUBSCRIBE take a mailbox name.")
	}
	name, err := s.mailboxArg(args[0])
	if err != nil {
		return "", err
	}
	if on {
		err = s.store.Subscribe(name)
	} else {
		err = s.store.Unsubscribe(name)
	}
	if err != nil {
		return "", storeError(err, name)
	}
	if on {
		return "Subscribed.", nil
	}
	return "Unsubscribed.", nil
}

// listOptions are LIST-EXTENDED's selection and return options (RFC 5258
// §3, RFC 6154 §5, RFC 5819).
type listOptions struct {
	subscribed, recursive, specialOnly     bool // selection
	retSubscribed, retChildren, retSpecial bool
	status                                 []string
}

func (s *session) lsub(tag string, args []wire.Token, _ bool) (string, error) {
	return s.listing(args, true)
}

func (s *session) list(tag string, args []wire.Token, _ bool) (string, error) {
	return s.listing(args, false)
}

// listing is LIST (RFC 9051 §6.3.9 with RFC 5258 LIST-EXTENDED, RFC 5819
// LIST-STATUS, RFC 6154 SPECIAL-USE) and LSUB (RFC 3501 §6.3.9).
func (s *session) listing(args []wire.Token, lsub bool) (string, error) {
	var opt listOptions
	if !lsub && len(args) > 0 && args[0].Kind == wire.List {
		for _, o := range args[0].List {
			switch {
			case o.Is("SUBSCRIBED"):
				opt.subscribed, opt.retSubscribed = true, true
			case o.Is("RECURSIVEMATCH"):
				opt.recursive = true
			case o.Is("SPECIAL-USE"):
				opt.specialOnly, opt.retSpecial = true, true
			case o.Is("REMOTE"):
			default:
				return "", bad("Unknown LIST selection option.")
			}
		}
		if opt.recursive && !opt.subscribed {
			return "", bad("RECURSIVEMATCH needs another selection option.")
		}
		args = args[1:]
	}
	if len(args) < 2 {
		return "", bad("LIST takes a reference and a mailbox pattern.")
	}
	ref, ok := args[0].AString()
	if !ok {
		return "", bad("Bad LIST reference.")
	}
	var patterns []string
	if args[1].Kind == wire.List && !lsub {
		for _, p := range args[1].List {
			v, ok := p.AString()
			if !ok {
				return "", bad("Bad LIST pattern.")
			}
			patterns = append(patterns, v)
		}
	} else {
		v, ok := args[1].AString()
		if !ok {
			return "", bad("Bad LIST pattern.")
		}
		patterns = []string{v}
	}
	args = args[2:]
	if len(args) > 0 {
		if lsub || len(args) != 2 || !args[0].Is("RETURN") || args[1].Kind != wire.List {
			return "", bad("LIST return options are RETURN (...).")
		}
		ret := args[1].List
		for i := 0; i < len(ret); i++ {
			switch {
			case ret[i].Is("SUBSCRIBED"):
				opt.retSubscribed = true
			case ret[i].Is("CHILDREN"):
				opt.retChildren = true
			case ret[i].Is("SPECIAL-USE"):
				opt.retSpecial = true
			case ret[i].Is("STATUS") && i+1 < len(ret) && ret[i+1].Kind == wire.List:
				for _, a := range ret[i+1].List {
					opt.status = append(opt.status, strings.ToUpper(a.Text))
				}
				i++
			default:
				return "", bad("Unknown LIST return option.")
			}
		}
	}
	if !s.utf8 {
		// The reference and patterns are modified UTF-7 on the wire.
		for i, p := range patterns {
			if d, err := wire.MailboxName(wire.Token{Kind: wire.Quoted, Text: p}, false); err == nil {
				patterns[i] = d
			}
		}
		if d, err := wire.MailboxName(wire.Token{Kind: wire.Quoted, Text: ref}, false); err == nil && ref != "" {
			ref = d
		}
	}
	cmd := "LIST"
	if lsub {
		cmd = "LSUB"
	}
	if len(patterns) == 1 && patterns[0] == "" {
		// RFC 9051 §6.3.9: the hierarchy delimiter.
		fmt.Fprintf(s.bw, "* %s (\\Noselect) \".\" \"\"\r\n", cmd)
		return cmd + " completed", nil
	}
	infos, err := s.store.List()
	if err != nil {
		return "", err
	}
	for _, in := range infos {
		match := slices.ContainsFunc(patterns, func(p string) bool { return imapserver.MatchList(in.Name, '.', ref, p) })
		if !match {
			continue
		}
		if lsub || opt.subscribed {
			if !in.Subscribed {
				continue
			}
		} else if in.NonExistent {
			continue
		}
		if opt.specialOnly && in.SpecialUse == "" {
			continue
		}
		var attrs []string
		if in.NonExistent {
			attrs = append(attrs, "\\NonExistent")
		}
		if in.NoSelect && !in.NonExistent {
			attrs = append(attrs, "\\Noselect")
		}
		if in.HasChildren {
			attrs = append(attrs, "\\HasChildren")
		} else {
			attrs = append(attrs, "\\HasNoChildren")
		}
		if in.Marked {
			attrs = append(attrs, "\\Marked")
		} else if in.Unmarked {
			attrs = append(attrs, "\\Unmarked")
		}
		if (opt.retSubscribed || opt.subscribed) && in.Subscribed && !lsub {
			attrs = append(attrs, "\\Subscribed")
		}
		if in.SpecialUse != "" && !lsub {
			attrs = append(attrs, in.SpecialUse)
		}
		fmt.Fprintf(s.bw, "* %s (%s) \".\" ", cmd, strings.Join(attrs, " "))
		s.w.Mailbox(in.Name)
		s.bw.WriteString("\r\n")
		if len(opt.status) > 0 && !in.NoSelect && !in.NonExistent {
			if err := s.writeStatus(in.Name, opt.status); err != nil {
				s.log.Warn(fmt.Sprintf("user=%s: LIST-STATUS of %s: %v", s.user, in.Name, err))
			}
		}
	}
	return cmd + " completed", nil
}

// status is STATUS (RFC 9051 §6.3.11, RFC 8438 SIZE, RFC 7162
// HIGHESTMODSEQ).
func (s *session) status(tag string, args []wire.Token, _ bool) (string, error) {
	if len(args) != 2 || args[1].Kind != wire.List {
		return "", bad("STATUS takes a mailbox and a list of items.")
	}
	name, err := s.mailboxArg(args[0])
	if err != nil {
		return "", err
	}
	var items []string
	for _, a := range args[1].List {
		if a.Kind != wire.Atom {
			return "", bad("Bad STATUS item.")
		}
		items = append(items, strings.ToUpper(a.Text))
	}
	if err := s.writeStatus(name, items); err != nil {
		return "", storeError(err, name)
	}
	return "STATUS Completed.", nil
}

// statusItems are the STATUS data items (RFC 9051 §6.3.11, RFC 8438
// SIZE, RFC 7162 HIGHESTMODSEQ) and their values.
var statusItems = map[string]func(mailbox.Status) any{
	"MESSAGES":      func(st mailbox.Status) any { return st.Messages },
	"RECENT":        func(st mailbox.Status) any { return st.Recent },
	"UIDNEXT":       func(st mailbox.Status) any { return st.UIDNext },
	"UIDVALIDITY":   func(st mailbox.Status) any { return st.UIDValidity },
	"UNSEEN":        func(st mailbox.Status) any { return st.Unseen },
	"SIZE":          func(st mailbox.Status) any { return st.Size },
	"HIGHESTMODSEQ": func(st mailbox.Status) any { return st.HighestModSeq },
	"DELETED":       func(st mailbox.Status) any { return st.Deleted },
}

func (s *session) writeStatus(name string, items []string) error {
	for _, it := range items {
		if statusItems[it] == nil {
			return bad("Unknown STATUS item %s.", it)
		}
	}
	st, err := s.store.Status(name, slices.Contains(items, "SIZE"))
	if err != nil {
		return err
	}
	s.bw.WriteString("* STATUS ")
	s.w.Mailbox(name)
	s.bw.WriteString(" (")
	for i, it := range items {
		if i > 0 {
			s.bw.WriteByte(' ')
		}
		fmt.Fprintf(s.bw, "%s %d", it, statusItems[it](st))
	}
	s.bw.WriteString(")\r\n")
	return nil
}

// appendCmd is APPEND (RFC 9051 §6.3.12, RFC 4315 APPENDUID), and the
// Outbox: a message appended to it is also mailed (spec imap-pop3.md §3).
func (s *session) appendCmd(tag string, args []wire.Token, _ bool) (string, error) {
	if len(args) < 2 {
		return "", bad("APPEND takes a mailbox, optional flags and date, and a message literal.")
	}
	name, err := s.mailboxArg(args[0])
	if err != nil {
		return "", err
	}
	rest := args[1:]
	var flags []imap.Flag
	if rest[0].Kind == wire.List {
		for _, f := range rest[0].List {
			if f.Kind != wire.Atom || strings.EqualFold(f.Text, "\\Recent") {
				return "", bad("Bad flag in APPEND.")
			}
			flags = append(flags, canonicalFlag(f.Text))
		}
		rest = rest[1:]
	}
	date := time.Now()
	if len(rest) > 0 && rest[0].Kind == wire.Quoted {
		d, err := time.Parse("_2-Jan-2006 15:04:05 -0700", rest[0].Text)
		if err != nil {
			return "", bad("Bad APPEND date-time %q.", rest[0].Text)
		}
		date = d
		rest = rest[1:]
	}
	if len(rest) != 1 || rest[0].Kind != wire.Literal {
		return "", bad("APPEND needs the message as a literal.")
	}
	lit := rest[0].Lit
	if lit.Size == 0 {
		return "", no("Cannot append an empty message.")
	}
	if s.isOutbox(name) {
		if err := s.sendOutbox(lit.Open()); err != nil {
			return "", no("%v", err)
		}
	}
	uidv, uid, err := s.store.Append(name, lit.Open(), flags, date)
	if errors.Is(err, mailbox.ErrNonExistent) {
		return "", no("[TRYCREATE] Mailbox %s does not exist.", name)
	}
	if errors.Is(err, maildir.ErrOverQuota) {
		return "", no("[OVERQUOTA] The mailbox is over its quota.")
	}
	if err != nil {
		return "", storeError(err, name)
	}
	return fmt.Sprintf("[APPENDUID %d %d] APPEND Ok.", uidv, uid), nil
}

// canonicalFlag spells system flags as RFC 9051 does; keywords are kept.
func canonicalFlag(f string) imap.Flag {
	for _, sf := range append(systemFlags, flagRecent) {
		if strings.EqualFold(f, string(sf)) {
			return sf
		}
	}
	return imap.Flag(f)
}

// isOutbox says whether name is the Outbox folder (OUTBOX=.Outbox).
func (s *session) isOutbox(name string) bool {
	o := s.getenv("OUTBOX")
	return o != "" && strings.EqualFold(name, "INBOX"+o)
}

// sendOutbox mails a message appended to the Outbox: $SENDMAIL -oi -t -f
// <login address>, with $HEADERFROM: <login> added in front.
func (s *session) sendOutbox(r io.Reader) error {
	prog := s.getenv("SENDMAIL")
	if prog == "" {
		prog = "/usr/sbin/sendmail"
	}
	from := s.getenv("AUTHADDR")
	if from == "" {
		from = s.user
	}
	header := s.getenv("HEADERFROM")
	if header == "" {
		header = "X-IMAP-Sender"
	}
	msg, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	cmd := exec.Command(prog, "-oi", "-t", "-f", from)
	cmd.Stdin = io.MultiReader(strings.NewReader(header+": "+s.user+"\n"), bytes.NewReader(bytes.ReplaceAll(msg, []byte("\r\n"), []byte("\n"))))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		s.log.Warn(fmt.Sprintf("user=%s: Outbox message not sent: %s: %v %s", s.user, prog, err, out.String()))
		return fmt.Errorf("message not sent: %s", strings.TrimSpace(firstLine(out.String(), err.Error())))
	}
	s.log.Info(fmt.Sprintf("user=%s: Outbox message sent", s.user))
	return nil
}

func firstLine(s, def string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if s == "" {
		return def
	}
	return s
}

// getQuota and getQuotaRoot are RFC 9208 (2087) on the maildir quota:
// one root, "ROOT", as the original (spec imap-pop3.md §3).
func (s *session) getQuotaRoot(tag string, args []wire.Token, _ bool) (string, error) {
	if len(args) != 1 {
		return "", bad("GETQUOTAROOT takes a mailbox name.")
	}
	name, err := s.mailboxArg(args[0])
	if err != nil {
		return "", err
	}
	s.bw.WriteString("* QUOTAROOT ")
	s.w.Mailbox(name)
	s.bw.WriteString(" \"ROOT\"\r\n")
	if err := s.writeQuota(); err != nil {
		return "", err
	}
	return "GETQUOTAROOT Ok.", nil
}

func (s *session) getQuota(tag string, args []wire.Token, _ bool) (string, error) {
	if len(args) != 1 {
		return "", bad("GETQUOTA takes a quota root.")
	}
	if r, _ := args[0].AString(); r != "ROOT" {
		return "", no("No such quota root.")
	}
	if err := s.writeQuota(); err != nil {
		return "", err
	}
	return "GETQUOTA Ok.", nil
}

func (s *session) writeQuota() error {
	q, ok, err := s.store.Quota()
	if err != nil {
		return err
	}
	if !ok || q.Quota.IsZero() {
		s.bw.WriteString("* QUOTA \"ROOT\" ()\r\n")
		return nil
	}
	var parts []string
	if q.Quota.Bytes > 0 {
		parts = append(parts, fmt.Sprintf("STORAGE %d %d", (q.Usage.Bytes+1023)/1024, q.Quota.Bytes/1024))
	}
	if q.Quota.Messages > 0 {
		parts = append(parts, fmt.Sprintf("MESSAGE %d %d", q.Usage.Messages, q.Quota.Messages))
	}
	fmt.Fprintf(s.bw, "* QUOTA \"ROOT\" (%s)\r\n", strings.Join(parts, " "))
	return nil
}

func (s *session) setQuota(tag string, args []wire.Token, _ bool) (string, error) {
	return "", no("Quotas are set by the administrator (maildirmake -q).")
}

// ACL commands: RFC 4314.
func (s *session) getACL(tag string, args []wire.Token, _ bool) (string, error) {
	if len(args) != 1 {
		return "", bad("GETACL takes a mailbox name.")
	}
	name, err := s.mailboxArg(args[0])
	if err != nil {
		return "", err
	}
	acl, err := s.store.ACL(name)
	if err != nil {
		return "", storeError(err, name)
	}
	s.bw.WriteString("* ACL ")
	s.w.Mailbox(name)
	for _, e := range acl {
		s.bw.WriteByte(' ')
		s.w.String(e.Identifier)
		s.bw.WriteByte(' ')
		s.w.String(mailbox.RFC2086Rights(e.Rights))
	}
	s.bw.WriteString("\r\n")
	return "GETACL completed.", nil
}

func (s *session) setACL(tag string, args []wire.Token, _ bool) (string, error) {
	if len(args) != 3 {
		return "", bad("SETACL takes a mailbox, an identifier and rights.")
	}
	return s.changeACL(args[0], args[1], &args[2])
}

func (s *session) deleteACL(tag string, args []wire.Token, _ bool) (string, error) {
	if len(args) != 2 {
		return "", bad("DELETEACL takes a mailbox and an identifier.")
	}
	return s.changeACL(args[0], args[1], nil)
}

func (s *session) changeACL(mbox, ident wire.Token, rights *wire.Token) (string, error) {
	name, err := s.mailboxArg(mbox)
	if err != nil {
		return "", err
	}
	id, ok := ident.AString()
	if !ok || id == "" {
		return "", bad("Bad ACL identifier.")
	}
	r := ""
	if rights != nil {
		if r, ok = rights.AString(); !ok {
			return "", bad("Bad ACL rights.")
		}
	}
	if err := s.store.SetACL(name, id, r); err != nil {
		return "", storeError(err, name)
	}
	return "ACL updated.", nil
}

func (s *session) myRights(tag string, args []wire.Token, _ bool) (string, error) {
	if len(args) != 1 {
		return "", bad("MYRIGHTS takes a mailbox name.")
	}
	name, err := s.mailboxArg(args[0])
	if err != nil {
		return "", err
	}
	r, err := s.store.MyRights(name, s.user)
	if err != nil {
		return "", storeError(err, name)
	}
	s.bw.WriteString("* MYRIGHTS ")
	s.w.Mailbox(name)
	s.bw.WriteByte(' ')
	s.w.String(mailbox.RFC2086Rights(r))
	s.bw.WriteString("\r\n")
	return "MYRIGHTS completed.", nil
}

func (s *session) listRights(tag string, args []wire.Token, _ bool) (string, error) {
	if len(args) != 2 {
		return "", bad("LISTRIGHTS takes a mailbox and an identifier.")
	}
	name, err := s.mailboxArg(args[0])
	if err != nil {
		return "", err
	}
	id, _ := args[1].AString()
	s.bw.WriteString("* LISTRIGHTS ")
	s.w.Mailbox(name)
	s.bw.WriteByte(' ')
	s.w.String(id)
	s.bw.WriteString(" \"\" l r s w i p k x t e a c d\r\n")
	return "LISTRIGHTS completed.", nil
}
