package queue

import (
	"os"
	"strings"
	"testing"
)

// TestRewrite replaces the control file of a submission in progress: the
// committed file has the new envelope (shorter than the first one, so a
// leftover tail would show) and the extra records, and parses back.
func TestRewrite(t *testing.T) {
	q := openTest(t, t.TempDir())
	env := testEnvelope("a-rather-long-sender-address@example.test")
	s, err := q.Begin(env)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte("Subject: x\n\n\xe9\n")); err != nil {
		t.Fatal(err)
	}
	env2 := testEnvelope("s@example.test")
	env2.EightBit = true
	if err := s.Rewrite(env2, Info(1, InfoReply, "250 Ok - delivered to alias."), Delivered(1, s.ID().Time, SuccessRelayed)); err != nil {
		t.Fatal(err)
	}
	if err := s.Rewrite(env2, Record{}); err == nil {
		t.Error("a zero Record was accepted")
	}
	if err := s.Rewrite(env2, Info(1, InfoReply, "250 Ok - delivered to alias."), Delivered(1, s.ID().Time, SuccessRelayed)); err != nil {
		t.Fatal(err)
	}
	id, err := s.Commit()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(q.ControlPath(id.Inode))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(raw), "\nI1 R 250 Ok - delivered to alias.\nS1 "+secs(id.Time)+" r\n") {
		t.Errorf("control file does not end with the rewritten records:\n%s", raw)
	}
	c, err := q.Load(id.Inode)
	if err != nil {
		t.Fatal(err)
	}
	if c.Sender != "s@example.test" || !c.EightBit || c.Recipients[1].Status != StatusDelivered || c.Recipients[1].SuccessSuffix != SuccessRelayed || c.Recipients[0].Status != StatusPending {
		t.Errorf("loaded %+v", c)
	}
	if err := s.Rewrite(env2); err == nil {
		t.Error("rewrite after commit accepted")
	}
}
