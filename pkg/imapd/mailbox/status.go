package mailbox

import (
	"github.com/gocourier/courier/pkg/maildir"
	"os"
	"path/filepath"
)

// Status is the STATUS of a mailbox (RFC 9051 §6.3.11; SIZE RFC 8438;
// HIGHESTMODSEQ RFC 7162 §3.1.2.2; DELETED RFC 9051).
type Status struct {
	Messages      uint32
	Recent        uint32
	Unseen        uint32
	Deleted       uint32
	UIDNext       uint32
	UIDValidity   uint32
	HighestModSeq uint64
	// Size is the sum of RFC822.SIZE; only filled when asked for, since
	// it may mean reading every message once.
	Size int64
}

// Status reports on a mailbox without selecting it. As Courier's STATUS
// (imapd.c, imapscan_maildir with leavenew), messages in new/ stay there
// and count as recent and unseen, and UIDNEXT counts them as if they had
// their UIDs already. When some are waiting, the modseq store is bumped
// once, so that the HIGHESTMODSEQ reported is below the modseq they will
// get when a session takes them.
func (s *Store) Status(name string, withSize bool) (Status, error) {
	f, d, err := s.open(name)
	if err != nil {
		return Status{}, err
	}
	unlock, err := s.lock(f)
	if err != nil {
		return Status{}, err
	}
	st, err := s.scanLocked(f, false)
	var highest uint64
	if err == nil {
		highest = st.highest
		if len(st.waiting) > 0 {
			st.c.ms.Highest++
			st.c.pub.Store(nil)
			highest = st.c.ms.Highest
			err = st.c.writeModSeq(st.entries)
		}
	}
	unlock()
	if err != nil {
		return Status{}, err
	}
	out := Status{
		Messages:      uint32(len(st.entries) + len(st.waiting)),
		Recent:        uint32(len(st.fresh) + len(st.waiting)),
		UIDNext:       st.uidNext + uint32(len(st.waiting)),
		UIDValidity:   st.uidValidity,
		HighestModSeq: highest,
	}
	for _, e := range st.entries {
		if !e.flags.Has(maildir.FlagSeen) {
			out.Unseen++
		}
		if e.flags.Has(maildir.FlagTrashed) {
			out.Deleted++
		}
	}
	for _, w := range st.waiting {
		n, _ := maildir.ParseName(w)
		if !n.Flags().Has(maildir.FlagSeen) {
			out.Unseen++
		}
		if n.Flags().Has(maildir.FlagTrashed) {
			out.Deleted++
		}
	}
	if withSize {
		for _, e := range st.entries {
			path := filepath.Join(d.Path, "cur", e.file)
			if n, err := messageSize(d, e.unique, openOr(d, path, e.unique)); err == nil {
				out.Size += n
			}
		}
		for _, w := range st.waiting {
			n, _ := maildir.ParseName(w)
			if size, err := messageSize(d, n.Unique, openOr(d, filepath.Join(d.Path, "new", w), n.Unique)); err == nil {
				out.Size += size
			}
		}
	}
	return out, nil
}

// openOr opens path, else the message of d with that unique name
// wherever it went meanwhile.
func openOr(d *maildir.Dir, path, unique string) func() (*os.File, error) {
	return func() (*os.File, error) {
		if f, err := os.Open(path); err == nil {
			return f, nil
		}
		f, _, err := d.Open(unique)
		return f, err
	}
}
