package imapd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/gocourier/courier/pkg/imapd/fetch"
	"github.com/gocourier/courier/pkg/imapd/mailbox"
	"github.com/gocourier/courier/pkg/imapd/search"
	"github.com/gocourier/courier/pkg/imapd/wire"
	"github.com/gocourier/courier/pkg/maildir"
)

// view is one message of the selected mailbox as FETCH and SEARCH see it.
type view struct {
	mb      *mailbox.Mailbox
	seq     uint32
	m       mailbox.Msg
	seenSet bool // this FETCH set \Seen

	scanned bool // inf is known
	inf     *msgInfo
}

func (v *view) SeqNum() uint32 { return v.seq }
func (v *view) UID() uint32    { return v.m.UID }
func (v *view) ModSeq() uint64 { return v.m.ModSeq }
func (v *view) Flags() []imap.Flag {
	f := flagsOf(v.m)
	if v.seenSet && !slices.Contains(f, imap.FlagSeen) {
		f = append(slices.Clip(f), imap.FlagSeen)
	}
	return f
}
func (v *view) InternalDate() time.Time {
	t, _ := v.mb.InternalDate(v.m.UID)
	return t
}
func (v *view) Open() (io.ReadCloser, error) { return v.mb.Open(v.m.UID) }

// FileSize is the size of the message file (search.FileSizer).
func (v *view) FileSize() int64 {
	st, err := v.mb.Stat(v.m.UID)
	if err != nil {
		return v.Size()
	}
	return st.Size()
}

// selectMessages resolves a sequence set (or a UID set under UID, or "$")
// to views of the selected mailbox.
func (s *session) selectMessages(t wire.Token, uid bool) ([]*view, error) {
	if t.Kind != wire.Atom {
		return nil, bad("Bad message set.")
	}
	msgs := s.mb.Messages()
	var match func(i int, m mailbox.Msg) bool
	if t.Text == "$" {
		res := s.searchRes
		match = func(_ int, m mailbox.Msg) bool { return res.Contains(imap.UID(m.UID)) }
	} else if uid {
		set, err := wire.ParseUIDSet(t.Text)
		if err != nil {
			return nil, bad("%v", err)
		}
		var ranges [][2]uint32
		for _, r := range set {
			ranges = append(ranges, [2]uint32{uint32(r.Start), uint32(r.Stop)})
		}
		max := uint32(0)
		if len(msgs) > 0 {
			max = msgs[len(msgs)-1].UID
		}
		match = func(_ int, m mailbox.Msg) bool { return wire.InRanges(ranges, m.UID, max) }
	} else {
		set, err := wire.ParseSeqSet(t.Text)
		if err != nil {
			return nil, bad("%v", err)
		}
		var ranges [][2]uint32
		for _, r := range set {
			if (r.Start > uint32(len(msgs)) && r.Start != 0) || r.Stop > uint32(len(msgs)) {
				return nil, bad("Invalid message sequence number %s (the mailbox has %d messages).", t.Text, len(msgs))
			}
			ranges = append(ranges, [2]uint32{r.Start, r.Stop})
		}
		max := uint32(len(msgs))
		match = func(i int, _ mailbox.Msg) bool { return wire.InRanges(ranges, uint32(i+1), max) }
	}
	var out []*view
	var views []view // allocated in blocks rather than one by one
	for i, m := range msgs {
		if match(i, m) {
			if len(views) == cap(views) {
				views = make([]view, 0, min(len(msgs)-i, 64))
			}
			views = append(views, view{mb: s.mb, seq: uint32(i + 1), m: m})
			out = append(out, &views[len(views)-1])
		}
	}
	return out, nil
}

// fetch is FETCH and UID FETCH (RFC 9051 §6.4.5, RFC 7162 CHANGEDSINCE
// and VANISHED).
func (s *session) fetch(tag string, args []wire.Token, uid bool) (string, error) {
	if len(args) < 2 {
		return "", bad("FETCH takes a message set and data items.")
	}
	req, err := fetch.Parse(args[1:])
	if err != nil {
		return "", bad("%v", err)
	}
	if req.CondStore() {
		s.condstore = true
	}
	if req.Vanished && (!uid || !s.qresync) {
		return "", bad("VANISHED needs UID FETCH and ENABLE QRESYNC.")
	}
	views, err := s.selectMessages(args[0], uid)
	if err != nil {
		return "", err
	}
	if req.HasChangedSince {
		since := req.Options.ChangedSince
		if req.Vanished {
			set, _ := wire.ParseUIDSet(args[0].Text)
			if out := within(s.mb.VanishedSince(since), set); len(out) > 0 {
				fmt.Fprintf(s.bw, "* VANISHED (EARLIER) %s\r\n", out.String())
			}
		}
		views = slices.DeleteFunc(views, func(v *view) bool { return v.m.ModSeq <= since })
	}
	if req.SetsSeen() && !s.mb.ReadOnly {
		var unseen []uint32
		for _, v := range views {
			if !slices.Contains(v.m.Flags, imap.FlagSeen) {
				unseen = append(unseen, v.m.UID)
			}
		}
		if len(unseen) > 0 {
			changed, _, err := s.mb.Store(unseen, imap.StoreFlagsAdd, []imap.Flag{imap.FlagSeen}, 0)
			if err != nil {
				s.log.Warn(fmt.Sprintf("user=%s: setting \\Seen in %s: %v", s.user, s.mb.Name, err))
			}
			for _, v := range views {
				v.seenSet = slices.Contains(changed, v.m.UID)
			}
		}
	}
	stop := prefetch(views, req, s.utf8)
	defer stop()
	failed := 0
	for _, v := range views {
		_, err := fetch.Write(s.bw, req, v, fetch.Options{UID: uid, CondStore: s.condstore, UTF8: s.utf8, SeenSet: v.seenSet})
		switch {
		case errors.Is(err, fetch.ErrUnknownCTE):
			return "", no("[UNKNOWN-CTE] Message %d has a content transfer encoding this server cannot decode.", v.seq)
		case errors.Is(err, os.ErrNotExist) || errors.Is(err, maildir.ErrNoMessage):
			failed++
			continue
		case err != nil:
			return "", fmt.Errorf("message %d: %w", v.seq, err)
		}
		if v.seenSet {
			if s.sent == nil {
				s.sent = map[uint32]string{}
			}
			s.sent[v.m.UID] = flagString(v.Flags())
		}
	}
	if failed > 0 {
		return "", no("%d messages were removed by another session while being fetched.", failed)
	}
	return "FETCH completed.", nil
}

// within returns the UIDs of vanished (expunged UIDs, as
// Mailbox.VanishedSince gives them) that lie in set: QRESYNC reports only
// those the client asked about (RFC 7162 §3.2.5.1, §3.2.6).
func within(vanished, set imap.UIDSet) imap.UIDSet {
	var out imap.UIDSet
	for _, r := range vanished {
		for u := r.Start; u != 0 && u <= r.Stop; u++ {
			if set.Contains(u) {
				out.AddNum(u)
			}
		}
	}
	return out
}

// storeCmd is STORE and UID STORE (RFC 9051 §6.4.6, RFC 7162
// UNCHANGEDSINCE).
func (s *session) storeCmd(tag string, args []wire.Token, uid bool) (string, error) {
	if len(args) < 3 {
		return "", bad("STORE takes a message set, an action and flags.")
	}
	views, err := s.selectMessages(args[0], uid)
	if err != nil {
		return "", err
	}
	rest := args[1:]
	var unchangedSince uint64
	if rest[0].Kind == wire.List {
		l := rest[0].List
		if len(l) != 2 || !l[0].Is("UNCHANGEDSINCE") {
			return "", bad("STORE modifier must be (UNCHANGEDSINCE modseq).")
		}
		n, ok := number64(l[1])
		if !ok {
			return "", bad("UNCHANGEDSINCE needs a number.")
		}
		unchangedSince, s.condstore = n, true
		rest = rest[1:]
	}
	if len(rest) < 2 || rest[0].Kind != wire.Atom {
		return "", bad("STORE takes FLAGS, +FLAGS or -FLAGS and flags.")
	}
	action := strings.ToUpper(rest[0].Text)
	silent := strings.HasSuffix(action, ".SILENT")
	var op imap.StoreFlagsOp
	switch strings.TrimSuffix(action, ".SILENT") {
	case "FLAGS":
		op = imap.StoreFlagsSet
	case "+FLAGS":
		op = imap.StoreFlagsAdd
	case "-FLAGS":
		op = imap.StoreFlagsDel
	default:
		return "", bad("Unknown STORE action %s.", rest[0].Text)
	}
	var flagTokens []wire.Token
	if len(rest) == 2 && rest[1].Kind == wire.List {
		flagTokens = rest[1].List
	} else {
		flagTokens = rest[1:]
	}
	var flags []imap.Flag
	for _, f := range flagTokens {
		if f.Kind != wire.Atom {
			return "", bad("Bad flag in STORE.")
		}
		if strings.EqualFold(f.Text, "\\Recent") {
			continue
		}
		flags = append(flags, canonicalFlag(f.Text))
	}
	if s.mb.ReadOnly {
		return "", no("[READ-ONLY] The mailbox is read-only.")
	}
	uids := make([]uint32, len(views))
	for i, v := range views {
		uids[i] = v.m.UID
	}
	changed, failed, err := s.mb.Store(uids, op, flags, unchangedSince)
	if err != nil {
		return "", storeError(err, s.mb.Name)
	}
	if silent {
		// RFC 9051 §6.4.6: no FETCH for the messages this command
		// changed; others' changes are still reported.
		s.silent = changed
	}
	s.updateKeeping(!uid)
	s.silent = nil
	if len(failed) > 0 {
		var set imap.NumSet
		if uid {
			var u imap.UIDSet
			for _, x := range failed {
				u.AddNum(imap.UID(x))
			}
			set = u
		} else {
			var q imap.SeqSet
			for _, v := range views {
				if slices.Contains(failed, v.m.UID) {
					q.AddNum(v.seq)
				}
			}
			set = q
		}
		return fmt.Sprintf("[MODIFIED %s] Conditional STORE failed for some messages.", set.String()), nil
	}
	return "STORE completed.", nil
}

// searchRequest is a parsed SEARCH: ESEARCH return options (RFC 4731,
// RFC 5182 SAVE) and the criteria.
type searchRequest struct {
	ret      []string // nil: a plain SEARCH response
	esearch  bool
	criteria *imap.SearchCriteria
}

func (s *session) parseSearch(args []wire.Token) (*searchRequest, error) {
	r := &searchRequest{}
	if len(args) > 1 && args[0].Is("RETURN") && args[1].Kind == wire.List {
		r.esearch = true
		for _, o := range args[1].List {
			opt := strings.ToUpper(o.Text)
			switch opt {
			case "MIN", "MAX", "ALL", "COUNT", "SAVE":
				r.ret = append(r.ret, opt)
			default:
				return nil, bad("Unknown SEARCH return option %s.", o.Text)
			}
		}
		if len(r.ret) == 0 {
			r.ret = []string{"ALL"}
		}
		args = args[2:]
	}
	c, _, err := search.ParseCriteria(args, s.utf8)
	var bc *search.BadCharsetError
	if errors.As(err, &bc) {
		return nil, no("[BADCHARSET (%s)] Charset %s is not supported.", strings.Join(search.Charsets, " "), bc.Charset)
	}
	if err != nil {
		return nil, bad("%v", err)
	}
	search.ResolveSearchRes(c, s.searchRes)
	r.criteria = c
	return r, nil
}

// matches runs criteria over the selected mailbox.
func (s *session) matches(c *imap.SearchCriteria) ([]search.Message, error) {
	msgs := s.mb.Messages()
	all := make([]search.Message, len(msgs))
	views := make([]view, len(msgs)) // one allocation for a search of every message
	for i, m := range msgs {
		views[i] = view{mb: s.mb, seq: uint32(i + 1), m: m}
		all[i] = &views[i]
	}
	return search.Search(c, all)
}

// search is SEARCH and UID SEARCH (RFC 9051 §6.4.4, RFC 4731 ESEARCH,
// RFC 7162 MODSEQ).
func (s *session) search(tag string, args []wire.Token, uid bool) (string, error) {
	req, err := s.parseSearch(args)
	if err != nil {
		return "", err
	}
	if hasModSeq(req.criteria) {
		s.condstore = true
	}
	found, err := s.matches(req.criteria)
	if err != nil {
		return "", err
	}
	num := func(m search.Message) uint32 {
		if uid {
			return m.UID()
		}
		return m.SeqNum()
	}
	var highest uint64
	for _, m := range found {
		highest = max(highest, m.ModSeq())
	}
	if slices.Contains(req.ret, "SAVE") {
		s.searchRes = nil
		for _, m := range found {
			s.searchRes.AddNum(imap.UID(m.UID()))
		}
	}
	if !req.esearch {
		s.bw.WriteString("* SEARCH")
		for _, m := range found {
			s.bw.WriteString(" " + strconv.FormatUint(uint64(num(m)), 10))
		}
		if hasModSeq(req.criteria) && len(found) > 0 {
			fmt.Fprintf(s.bw, " (MODSEQ %d)", highest)
		}
		s.bw.WriteString("\r\n")
		return "SEARCH completed.", nil
	}
	if len(req.ret) == 1 && req.ret[0] == "SAVE" {
		return "SEARCH completed.", nil
	}
	fmt.Fprintf(s.bw, "* ESEARCH (TAG %q)", tag)
	if uid {
		s.bw.WriteString(" UID")
	}
	for _, o := range req.ret {
		switch {
		case o == "MIN" && len(found) > 0:
			fmt.Fprintf(s.bw, " MIN %d", num(found[0]))
		case o == "MAX" && len(found) > 0:
			fmt.Fprintf(s.bw, " MAX %d", num(found[len(found)-1]))
		case o == "COUNT":
			fmt.Fprintf(s.bw, " COUNT %d", len(found))
		case o == "ALL" && len(found) > 0:
			var set imap.SeqSet
			for _, m := range found {
				set.AddNum(num(m))
			}
			fmt.Fprintf(s.bw, " ALL %s", set.String())
		}
	}
	if hasModSeq(req.criteria) && len(found) > 0 {
		fmt.Fprintf(s.bw, " MODSEQ %d", highest)
	}
	s.bw.WriteString("\r\n")
	return "SEARCH completed.", nil
}

func hasModSeq(c *imap.SearchCriteria) bool {
	if c == nil {
		return false
	}
	if c.ModSeq != nil {
		return true
	}
	for i := range c.Not {
		if hasModSeq(&c.Not[i]) {
			return true
		}
	}
	for i := range c.Or {
		if hasModSeq(&c.Or[i][0]) || hasModSeq(&c.Or[i][1]) {
			return true
		}
	}
	return false
}

// sortCmd is SORT (RFC 5256 §3).
func (s *session) sortCmd(tag string, args []wire.Token, uid bool) (string, error) {
	if s.getenv("IMAP_DISABLETHREADSORT") == "1" {
		return "", no("SORT is disabled on this server.")
	}
	if len(args) < 3 || args[0].Kind != wire.List {
		return "", bad("SORT takes (criteria), a charset and search keys.")
	}
	crit, err := search.ParseSort(args[0].List)
	if err != nil {
		return "", bad("%v", err)
	}
	found, err := s.searchWithCharset(args[1], args[2:])
	if err != nil {
		return "", err
	}
	sorted, err := search.Sort(crit, found)
	if err != nil {
		return "", err
	}
	s.bw.WriteString("* SORT")
	for _, m := range sorted {
		n := m.SeqNum()
		if uid {
			n = m.UID()
		}
		s.bw.WriteString(" " + strconv.FormatUint(uint64(n), 10))
	}
	s.bw.WriteString("\r\n")
	return "SORT completed.", nil
}

func (s *session) searchWithCharset(charset wire.Token, keys []wire.Token) ([]search.Message, error) {
	cs, ok := charset.AString()
	if !ok {
		return nil, bad("Bad charset.")
	}
	if _, err := search.CheckCharset(cs); err != nil {
		return nil, no("[BADCHARSET (%s)] Charset %s is not supported.", strings.Join(search.Charsets, " "), cs)
	}
	c, _, err := search.ParseCriteria(keys, s.utf8)
	if err != nil {
		return nil, bad("%v", err)
	}
	search.ResolveSearchRes(c, s.searchRes)
	return s.matches(c)
}

// thread is THREAD (RFC 5256 §3).
func (s *session) thread(tag string, args []wire.Token, uid bool) (string, error) {
	if s.getenv("IMAP_DISABLETHREADSORT") == "1" {
		return "", no("THREAD is disabled on this server.")
	}
	if len(args) < 3 || args[0].Kind != wire.Atom {
		return "", bad("THREAD takes an algorithm, a charset and search keys.")
	}
	alg := strings.ToUpper(args[0].Text)
	if !has(s.caps, "THREAD="+alg) {
		return "", bad("Unknown THREAD algorithm %s.", args[0].Text)
	}
	found, err := s.searchWithCharset(args[1], args[2:])
	if err != nil {
		return "", err
	}
	threads, err := search.Thread(alg, found)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(s.bw, "* THREAD %s\r\n", search.FormatThreads(threads, uid))
	return "THREAD completed.", nil
}

// copyCmd is COPY and UID COPY (RFC 9051 §6.4.7, RFC 4315 COPYUID).
func (s *session) copyCmd(tag string, args []wire.Token, uid bool) (string, error) {
	code, err := s.transfer(args, uid, false)
	if err != nil {
		return "", err
	}
	return code + "COPY completed.", nil
}

// move is MOVE and UID MOVE (RFC 6851): COPYUID in an untagged OK, then
// the expunges.
func (s *session) move(tag string, args []wire.Token, uid bool) (string, error) {
	code, err := s.transfer(args, uid, true)
	if err != nil {
		return "", err
	}
	if code != "" {
		fmt.Fprintf(s.bw, "* OK %sMoved\r\n", code)
	}
	return "MOVE completed.", nil
}

func (s *session) transfer(args []wire.Token, uid, move bool) (string, error) {
	if len(args) != 2 {
		return "", bad("COPY and MOVE take a message set and a mailbox.")
	}
	views, err := s.selectMessages(args[0], uid)
	if err != nil {
		return "", err
	}
	dest, err := s.mailboxArg(args[1])
	if err != nil {
		return "", err
	}
	if len(views) == 0 {
		return "", nil
	}
	uids := make([]uint32, len(views))
	for i, v := range views {
		uids[i] = v.m.UID
	}
	var uidv uint32
	var src, dst []uint32
	if move {
		uidv, src, dst, err = s.mb.Move(uids, dest)
	} else {
		uidv, src, dst, err = s.mb.Copy(uids, dest)
	}
	switch {
	case errors.Is(err, mailbox.ErrNonExistent):
		return "", no("[TRYCREATE] Mailbox %s does not exist.", dest)
	case errors.Is(err, maildir.ErrOverQuota):
		return "", no("[OVERQUOTA] The mailbox is over its quota.")
	case err != nil:
		return "", storeError(err, dest)
	}
	var a, b imap.UIDSet
	for i := range src {
		a.AddNum(imap.UID(src[i]))
		b.AddNum(imap.UID(dst[i]))
	}
	return fmt.Sprintf("[COPYUID %d %s %s] ", uidv, a.String(), b.String()), nil
}

// expunge is EXPUNGE and UID EXPUNGE (RFC 9051 §6.4.3, RFC 4315 §2.1).
func (s *session) expunge(tag string, args []wire.Token, uid bool) (string, error) {
	if s.mb.ReadOnly {
		return "", no("[READ-ONLY] The mailbox is read-only.")
	}
	var uids []uint32
	if uid {
		if len(args) != 1 {
			return "", bad("UID EXPUNGE takes a UID set.")
		}
		views, err := s.selectMessages(args[0], true)
		if err != nil {
			return "", err
		}
		uids = []uint32{}
		for _, v := range views {
			if slices.Contains(v.m.Flags, imap.FlagDeleted) {
				uids = append(uids, v.m.UID)
			}
		}
		if len(uids) == 0 {
			return "EXPUNGE completed.", nil
		}
	} else if len(args) > 0 {
		return "", bad("EXPUNGE takes no arguments.")
	}
	if _, err := s.mb.Expunge(uids); err != nil {
		return "", storeError(err, s.mb.Name)
	}
	return "EXPUNGE completed.", nil
}

// idle is RFC 2177 IDLE: changes are sent as they happen (inotify, and a
// rescan every IMAP_IDLE_TIMEOUT seconds) until the client sends DONE.
func (s *session) idle(tag string, args []wire.Token, _ bool) (string, error) {
	if len(args) > 0 {
		return "", bad("IDLE takes no arguments.")
	}
	// The watch comes first, so that nothing that happens after the
	// client hears "+" goes unseen.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var changes <-chan struct{}
	if s.mb != nil {
		if ch, err := s.store.Watch(ctx, s.mb.Name); err == nil {
			changes = ch
		} else {
			s.log.Warn(fmt.Sprintf("user=%s: IDLE in %s falls back to rescans: %v", s.user, s.mb.Name, err))
		}
	}
	s.bw.WriteString("+ entering idle mode\r\n")
	s.update()
	if err := s.bw.Flush(); err != nil {
		return "", err
	}
	every := 60 * time.Second
	if n, err := strconv.Atoi(s.getenv("IMAP_IDLE_TIMEOUT")); err == nil && n > 0 {
		every = time.Duration(n) * time.Second
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	type line struct {
		text string
		err  error
	}
	lines := make(chan line, 1)
	s.conn.SetReadDeadline(time.Now().Add(Idle))
	go func() {
		t, err := s.r.ReadLine()
		lines <- line{t, err}
	}()
	for {
		select {
		case <-changes:
			s.update()
		case <-tick.C:
			s.update()
		case l := <-lines:
			s.conn.SetReadDeadline(time.Time{})
			if l.err != nil {
				return "", l.err
			}
			// What happened since the last report is sent before
			// the tagged answer.
			s.refreshed = false
			if !strings.EqualFold(strings.TrimSpace(l.text), "DONE") {
				return "", bad("IDLE ends with DONE.")
			}
			return "IDLE completed.", nil
		}
		if err := s.bw.Flush(); err != nil {
			return "", err
		}
	}
}
