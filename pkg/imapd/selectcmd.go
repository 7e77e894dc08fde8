package imapd

import (
	"errors"
	"fmt"
	"slices"

	"github.com/emersion/go-imap/v2"

	"github.com/gocourier/courier/pkg/imapd/mailbox"
	"github.com/gocourier/courier/pkg/imapd/wire"
)

// systemFlags are the flags the original lists in FLAGS, in its order.
var systemFlags = []imap.Flag{imap.FlagDraft, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagSeen}

// qresyncParams are the parameters of SELECT (QRESYNC (...)) (RFC 7162
// §3.2.5).
type qresyncParams struct {
	uidValidity uint32
	modSeq      uint64
	known       imap.UIDSet
	hasKnown    bool
}

// selectCmd is SELECT and EXAMINE (RFC 9051 §6.3.2, §6.3.3), with
// CONDSTORE and QRESYNC parameters (RFC 7162 §3.1.8, §3.2.5).
func (s *session) selectCmd(tag string, args []wire.Token, _ bool) (string, error) {
	return s.open(args, false)
}

func (s *session) examine(tag string, args []wire.Token, _ bool) (string, error) {
	return s.open(args, true)
}

func (s *session) open(args []wire.Token, readOnly bool) (string, error) {
	if len(args) == 0 {
		return "", bad("SELECT needs a mailbox name.")
	}
	name, err := s.mailboxArg(args[0])
	if err != nil {
		return "", err
	}
	var qr *qresyncParams
	if len(args) > 1 {
		if len(args) != 2 || args[1].Kind != wire.List {
			return "", bad("SELECT takes a mailbox and a list of parameters.")
		}
		if qr, err = s.selectParams(args[1].List); err != nil {
			return "", err
		}
	}
	if s.mb != nil {
		s.mb.Close()
		s.mb = nil
		if s.qresync {
			s.bw.WriteString("* OK [CLOSED] Previous mailbox closed\r\n")
		}
	}
	mb, err := s.store.Select(name, readOnly)
	if err != nil {
		return "", storeError(err, name)
	}
	s.mb = mb
	s.searchRes = nil
	// The warm-up's readers would compete with this answer for the
	// CPUs.
	s.afterReply = func() { warm(mb) }

	msgs := mb.Messages()
	kw := mb.Keywords()
	s.bw.WriteString("* FLAGS (")
	for _, k := range kw {
		s.bw.WriteString(k + " ")
	}
	s.bw.WriteString("\\Draft \\Answered \\Flagged \\Deleted \\Seen \\Recent)\r\n")
	if readOnly {
		s.bw.WriteString("* OK [PERMANENTFLAGS ()] No permanent flags permitted\r\n")
	} else {
		s.bw.WriteString("* OK [PERMANENTFLAGS (")
		for _, k := range kw {
			s.bw.WriteString(k + " ")
		}
		if s.store.KeywordsEnabled() {
			s.bw.WriteString("\\* ")
		}
		s.bw.WriteString("\\Draft \\Answered \\Flagged \\Deleted \\Seen)] Limited\r\n")
	}
	recent := 0
	unseen := 0
	for i, m := range msgs {
		if m.Recent {
			recent++
		}
		if unseen == 0 && !slices.Contains(m.Flags, imap.FlagSeen) {
			unseen = i + 1
		}
	}
	fmt.Fprintf(s.bw, "* %d EXISTS\r\n* %d RECENT\r\n", len(msgs), recent)
	fmt.Fprintf(s.bw, "* OK [UIDVALIDITY %d] Ok\r\n", mb.UIDValidity)
	fmt.Fprintf(s.bw, "* OK [UIDNEXT %d] Ok\r\n", mb.UIDNext())
	if unseen > 0 {
		fmt.Fprintf(s.bw, "* OK [UNSEEN %d] Message %d is the first unseen\r\n", unseen, unseen)
	}
	if s.condstore {
		fmt.Fprintf(s.bw, "* OK [HIGHESTMODSEQ %d] Ok\r\n", mb.HighestModSeq())
	}
	if has(s.caps, "ACL") {
		rights, err := s.store.MyRights(name, s.user)
		if err == nil {
			fmt.Fprintf(s.bw, "* OK [MYRIGHTS \"%s\"] ACL\r\n", rights)
		}
	}
	if qr != nil && qr.uidValidity == mb.UIDValidity {
		s.resync(qr)
	}
	if readOnly {
		return "[READ-ONLY] Ok", nil
	}
	return "[READ-WRITE] Ok", nil
}

// selectParams reads (CONDSTORE) and (QRESYNC (uidvalidity modseq
// [known-uids [seq-match]])).
func (s *session) selectParams(list []wire.Token) (*qresyncParams, error) {
	var qr *qresyncParams
	for i := 0; i < len(list); i++ {
		switch {
		case list[i].Is("CONDSTORE"):
			s.condstore = true
		case list[i].Is("QRESYNC"):
			if !s.qresync {
				return nil, bad("QRESYNC must be enabled first (ENABLE QRESYNC).")
			}
			if i+1 >= len(list) || list[i+1].Kind != wire.List {
				return nil, bad("QRESYNC takes a list: (uidvalidity modseq [known-uids])")
			}
			p := list[i+1].List
			i++
			if len(p) < 2 || len(p) > 4 {
				return nil, bad("QRESYNC takes (uidvalidity modseq [known-uids [seq-match]])")
			}
			v, ok1 := p[0].Number()
			ms, ok2 := number64(p[1])
			if !ok1 || !ok2 || v == 0 || ms == 0 {
				return nil, bad("QRESYNC: uidvalidity and modseq must be positive numbers")
			}
			qr = &qresyncParams{uidValidity: v, modSeq: ms}
			if len(p) > 2 && p[2].Kind == wire.Atom {
				set, err := wire.ParseUIDSet(p[2].Text)
				if err != nil {
					return nil, bad("QRESYNC known UIDs: %v", err)
				}
				qr.known, qr.hasKnown = set, true
			}
		default:
			return nil, bad("Unknown SELECT parameter.")
		}
	}
	return qr, nil
}

// resync sends what changed since the client's modseq (RFC 7162 §3.2.5):
// VANISHED (EARLIER) and FETCH responses.
func (s *session) resync(qr *qresyncParams) {
	vanished := s.mb.VanishedSince(qr.modSeq)
	if qr.hasKnown {
		vanished = within(vanished, qr.known)
	}
	if len(vanished) > 0 {
		fmt.Fprintf(s.bw, "* VANISHED (EARLIER) %s\r\n", vanished.String())
	}
	changed := s.mb.ChangedSince(qr.modSeq)
	msgs := s.mb.Messages()
	for i, m := range msgs {
		if slices.Contains(changed, m.UID) {
			s.writeFlags(uint32(i+1), m, flagsOf(m), true)
		}
	}
}

func number64(t wire.Token) (uint64, bool) {
	if t.Kind != wire.Atom || t.Text == "" {
		return 0, false
	}
	var n uint64
	for _, c := range t.Text {
		if c < '0' || c > '9' || n > (1<<63)/10 {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// closeCmd is CLOSE (RFC 9051 §6.4.1): expunge silently unless read-only,
// then no mailbox is selected.
func (s *session) closeCmd(tag string, args []wire.Token, _ bool) (string, error) {
	if !s.mb.ReadOnly {
		if _, err := s.mb.Expunge(nil); err != nil && !errors.Is(err, mailbox.ErrReadOnly) {
			s.log.Warn(fmt.Sprintf("user=%s: CLOSE of %s could not expunge: %v", s.user, s.mb.Name, err))
		}
	}
	s.mb.Close()
	s.mb = nil
	return "CLOSE completed", nil
}

// unselect is RFC 3691 UNSELECT.
func (s *session) unselect(tag string, args []wire.Token, _ bool) (string, error) {
	s.mb.Close()
	s.mb = nil
	return "UNSELECT completed", nil
}
