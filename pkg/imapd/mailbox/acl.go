package mailbox

import (
	"sort"
	"strings"

	"github.com/gocourier/courier/pkg/maildir"
)

// ACLs (RFC 4314), kept as Courier keeps them (spec/maildir.md §6;
// maildiracltcpp.C): each folder's courierimapacl; a folder without one
// inherits its parent's (up to INBOX), and INBOX without one gives
// "owner" and "administrators" every right (maildir.ACLAll). The owner
// always has the right to administer. Left out: hierarchy ACLs of names
// without a folder (courierimaphieracl), group membership (only the
// identifiers owner, anyone and user=<login> apply to the session's
// user), and the checks of SETACL that keep the owner from locking
// himself out.

// ACL returns the access control list of a mailbox (GETACL).
func (s *Store) ACL(name string) ([]maildir.ACLEntry, error) {
	f, _, err := s.open(name)
	if err != nil {
		return nil, err
	}
	return s.aclOf(f.name)
}

func (s *Store) aclOf(name string) ([]maildir.ACLEntry, error) {
	for {
		f, err := s.folderOf(name)
		if err != nil {
			return nil, err
		}
		acl, ok, err := (&maildir.Dir{Path: f.path}).ReadACL()
		if err != nil {
			return nil, err
		}
		if ok {
			return acl, nil
		}
		if f.rest == "" {
			return []maildir.ACLEntry{{Identifier: "owner", Rights: maildir.ACLAll}, {Identifier: "administrators", Rights: maildir.ACLAll}}, nil
		}
		i := strings.LastIndexByte(name, '.')
		name = name[:i]
	}
}

// MyRights returns the rights of the logged-in user (the owner; login is
// the AUTHENTICATED name) on a mailbox (MYRIGHTS), RFC 4314 letters in
// ASCII order.
func (s *Store) MyRights(name, login string) (string, error) {
	acl, err := s.ACL(name)
	if err != nil {
		return "", err
	}
	mine := func(id string) bool {
		return id == "owner" || id == "anyone" || login != "" && id == "user="+login
	}
	var have [128]bool
	for _, e := range acl {
		if mine(e.Identifier) {
			for i := 0; i < len(e.Rights); i++ {
				have[e.Rights[i]&0x7f] = true
			}
		}
	}
	for _, e := range acl {
		if strings.HasPrefix(e.Identifier, "-") && mine(e.Identifier[1:]) {
			for i := 0; i < len(e.Rights); i++ {
				have[e.Rights[i]&0x7f] = false
			}
		}
	}
	have['a'] = true
	var b []byte
	for c := 'a'; c <= 'z'; c++ {
		if have[c] {
			b = append(b, byte(c))
		}
	}
	return string(b), nil
}

// SetACL sets (or with rights "", removes: DELETEACL) the rights of one
// identifier on a mailbox (SETACL, RFC 4314 §3.1), writing the folder's
// courierimapacl. "+r"/"-r" add to or take from the current rights. The
// legacy right "d" stands for "xte" (imapd.c fix_acl_delete).
func (s *Store) SetACL(name, identifier, rights string) error {
	f, d, err := s.open(name)
	if err != nil {
		return err
	}
	acl, err := s.aclOf(f.name)
	if err != nil {
		return err
	}
	mode := byte(0)
	if rights != "" && (rights[0] == '+' || rights[0] == '-') {
		mode, rights = rights[0], rights[1:]
	}
	if strings.Contains(rights, "d") {
		rights = strings.ReplaceAll(rights, "d", "") + "xte"
	}
	var cur string
	var out []maildir.ACLEntry
	for _, e := range acl {
		if e.Identifier == identifier {
			cur = e.Rights
			continue
		}
		out = append(out, e)
	}
	switch mode {
	case '+':
		rights = cur + rights
	case '-':
		rights = strings.Map(func(r rune) rune {
			if strings.ContainsRune(rights, r) {
				return -1
			}
			return r
		}, cur)
	}
	rights = normalizeRights(rights)
	if rights != "" {
		out = append(out, maildir.ACLEntry{Identifier: identifier, Rights: rights})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Identifier < out[j].Identifier })
	return d.WriteACL(out)
}

// normalizeRights sorts rights and drops duplicates and non-letters.
func normalizeRights(r string) string {
	var have [128]bool
	for i := 0; i < len(r); i++ {
		if r[i] >= 'a' && r[i] <= 'z' {
			have[r[i]] = true
		}
	}
	var b []byte
	for c := byte('a'); c <= 'z'; c++ {
		if have[c] {
			b = append(b, c)
		}
	}
	return string(b)
}

// RFC2086Rights shows RFC 4314 rights as the ACL1 view Courier prints
// (observed "aceilrstwx" → "acdilrsw"): e, t and x fold into d; p, k and
// other new rights are left out.
func RFC2086Rights(r string) string {
	var out []byte
	for _, c := range []byte("acdilrsw") {
		switch {
		case c == 'd' && strings.ContainsAny(r, "dtex"):
			out = append(out, c)
		case c != 'd' && strings.IndexByte(r, c) >= 0:
			out = append(out, c)
		}
	}
	return string(out)
}
