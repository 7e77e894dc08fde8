package queue

import (
	"errors"
	"fmt"
)

// Rewrite replaces the control file of a submission that is not committed
// yet: env rendered again under the same queue id, followed by recs as
// Append would add them. Submission (pkg/submit) learns part of the envelope
// only from the data (8-bit content: the 8 and m records) and knows some
// results before the message is queued: a recipient that is an alias of
// several addresses is delivered by its expansion (spec §7, DSN action
// "relayed"), and its S record must be in the file before Commit makes the
// message visible, or the scheduler would try to deliver the alias itself.
// The control file has no queue name yet and is not fsynced, so replacing it
// in place is safe: a crash leaves at most a tmp/ file that Recover removes.
func (s *Submission) Rewrite(env *Envelope, recs ...Record) error {
	if s.finished {
		return errors.New("queue: rewrite of a finished submission")
	}
	ctl, err := ControlBytes(env, s.id, s.q.opt.Times)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if r.line == "" {
			return errors.New("queue: empty record (zero Record value)")
		}
		ctl = append(ctl, r.line...)
		ctl = append(ctl, '\n')
	}
	if err := s.c.Truncate(0); err != nil {
		return fmt.Errorf("queue: truncating control file %s: %w", s.c.Name(), err)
	}
	s.cOld = 0
	if _, err := s.c.WriteAt(ctl, 0); err != nil {
		return fmt.Errorf("queue: writing control file %s: %w", s.c.Name(), err)
	}
	s.cLen = int64(len(ctl))
	return nil
}
