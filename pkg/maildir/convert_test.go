package maildir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPlanUTF8(t *testing.T) {
	d := newMaildir(t)
	for _, f := range []string{"R&AOk-sum&AOk-", "Plain", "Caf&AOk-.Sub", "Déjà"} {
		if err := Make(filepath.Join(d.Path, "."+f), 0o700, 0o700, true); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(d.Path, SubscriptionsFile), []byte("INBOX.R&AOk-sum&AOk-\nINBOX\n"), 0o600)
	p, err := PlanUTF8(d.Path)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Renames) != 2 || p.Renames[0] != [2]string{"INBOX.Caf&AOk-.Sub", "INBOX.Café.Sub"} || p.Renames[1] != [2]string{"INBOX.R&AOk-sum&AOk-", "INBOX.Résumé"} {
		t.Errorf("renames %q (Déjà is UTF-8 already and stays)", p.Renames)
	}
	if !p.HaveSubscriptions || len(p.Subscriptions) != 1 {
		t.Errorf("subscriptions %q", p.Subscriptions)
	}
	if err := p.Apply(); err != nil {
		t.Fatal(err)
	}
	got, _ := Folders(d.Path)
	if strings.Join(got, "|") != "Café.Sub|Déjà|Plain|Résumé" {
		t.Errorf("folders %q", got)
	}
	if s := fileText(t, filepath.Join(d.Path, SubscriptionsFile)); s != "INBOX.Résumé\nINBOX\n" {
		t.Errorf("subscriptions file %q", s)
	}
	if st, _ := os.Stat(filepath.Join(d.Path, SubscriptionsFile)); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v not kept", st.Mode().Perm())
	}
	// Done: nothing left to do.
	if p, err := PlanUTF8(d.Path); err != nil || len(p.Renames)+len(p.Subscriptions) != 0 {
		t.Errorf("second plan %+v %v", p, err)
	}
	// Clashes and bad names are reported, all of them.
	for _, f := range []string{"X&AOk-", "Xé", "Bad&Zm9v", "Slash&AC8-"} {
		if err := Make(filepath.Join(d.Path, "."+f), 0o700, 0o700, true); err != nil {
			t.Fatal(err)
		}
	}
	_, err = PlanUTF8(d.Path)
	for _, want := range []string{"INBOX.X&AOk-: cannot be renamed to INBOX.Xé, which exists", "INBOX.Bad&Zm9v: does not appear", "INBOX.Slash&AC8-: does not appear"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}
