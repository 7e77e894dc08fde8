package submit

import (
	"strings"

	"github.com/gocourier/courier/pkg/address"
	"github.com/gocourier/courier/pkg/aliases"
	"github.com/gocourier/courier/pkg/queue"
)

// rcpt is a recipient of the control file being built; alias marks an alias
// of several addresses, recorded as delivered by its expansion.
type rcpt struct {
	queue.Recipient
	alias bool
}

// canonical turns an address as given into the form the queue stores
// (address.Address.String: the local part as written, the domain in lower
// case U-labels). A domain-less address gets the default domain when the
// module's rewriting adds it (local, dsn); for the others only the special
// "Postmaster" is completed (RFC 5321 4.1.1.3).
func (s *Submitter) canonical(module, raw string) (address.Address, error) {
	a := strings.TrimSpace(raw)
	if strings.HasPrefix(a, "<") && strings.HasSuffix(a, ">") {
		a = a[1 : len(a)-1]
	}
	if a == "" {
		return address.Address{}, &Error{Code: 513, Addr: raw, Text: "Syntax error: empty address."}
	}
	if !strings.Contains(a, "@") {
		rw, _ := aliases.ModuleRewrite(module)
		if rw == aliases.AppendDefaultDomain || strings.EqualFold(a, "postmaster") {
			a += "@" + s.defDomain.String()
		} else {
			return address.Address{}, &Error{Code: 513, Addr: raw, Text: "Syntax error: <" + raw + "> has no domain."}
		}
	}
	addr, err := address.ParseAddress(a, true)
	if err != nil {
		reason := err.Error()
		if ae, ok := err.(*address.Error); ok {
			reason = ae.Reason
		}
		return address.Address{}, &Error{Code: 513, Addr: raw, Text: "Syntax error in <" + raw + ">: " + reason + "."}
	}
	return addr, nil
}

// TripleBounce is the sender of a DSN about a message whose own sender was
// <>: "#@[]", which is never bounced again (spec §7). It is not an address
// and is stored as it is.
const TripleBounce = "#@[]"

// canonicalSender is the s record for a sender as given ("" stays <>).
func (s *Submitter) canonicalSender(module, raw string) (string, error) {
	switch strings.TrimSpace(raw) {
	case "", "<>":
		return "", nil
	case TripleBounce:
		return TripleBounce, nil
	}
	a, err := s.canonical(module, raw)
	if err != nil {
		e := err.(*Error)
		e.Code = 517
		return "", e
	}
	return a.String(), nil
}

// checkLocal refuses local addresses whose local part starts with '.':
// only makealiases makes such addresses (".xalias/..."), for its program
// and mailbox aliases, and only alias expansion may queue them.
func (s *Submitter) checkLocal(raw string, a address.Address) error {
	// Other addresses need not know whether they are local, which may
	// take the domain databases.
	if !strings.HasPrefix(a.Local, ".") {
		return nil
	}
	rules, err := s.rules()
	if err != nil {
		return controlFilesError(err)
	}
	if res, ok := rules.Resolve(a); ok && res.Reserved {
		return &Error{Code: 550, Addr: raw, Text: "<" + a.String() + ">: addresses starting with '.' are reserved for the mail system."}
	}
	return nil
}

// headerRecipients collects the recipients of To:, Cc: and Bcc: (Bcc:
// alone with bccOnly), in header order.
func (s *Submitter) headerRecipients(module string, h *Header, bccOnly bool) ([]queue.Recipient, error) {
	rw, _ := aliases.ModuleRewrite(module)
	dom := s.defDomain
	if rw != aliases.AppendDefaultDomain {
		dom = address.Domain{}
	}
	var out []queue.Recipient
	for _, f := range h.Fields {
		if !(f.Is("Bcc") || !bccOnly && (f.Is("To") || f.Is("Cc"))) {
			continue
		}
		mbs, err := address.ParseHeaderList(f.Value())
		if err != nil {
			return nil, &Error{Code: 513, Addr: f.Value(), Text: "Syntax error in the " + f.Name + ": header: " + reason(err) + "."}
		}
		for _, mb := range mbs {
			if mb.Null {
				continue
			}
			a, err := mb.Envelope(dom)
			if err != nil {
				return nil, &Error{Code: 513, Addr: mb.Local + "@" + mb.Domain, Text: "Syntax error in the " + f.Name + ": header: " + reason(err) + "."}
			}
			out = append(out, queue.Recipient{Address: a.String()})
		}
	}
	return out, nil
}

// controlFilesError is the temporary refusal when the domain databases
// cannot be read.
func controlFilesError(err error) error {
	return &Error{Code: 451, Text: "Service temporarily unavailable: the control files cannot be read (" + err.Error() + ")."}
}

func reason(err error) string {
	if ae, ok := err.(*address.Error); ok {
		return ae.Reason
	}
	return err.Error()
}

// expand canonicalises the recipients, refuses reserved local addresses,
// replaces aliases by their members and drops duplicates as the original's
// submit does: a recipient is a duplicate when the same address with the
// same ORCPT is already listed, or, for NOTIFY=NEVER, when the address is.
// An address that is both a list member and a recipient of its own is
// delivered once, with the DSN options it was given as a recipient.
func (s *Submitter) expand(module string, in []queue.Recipient) ([]rcpt, error) {
	sr, err := s.searcher(module)
	if err != nil {
		return nil, err
	}
	var out []rcpt
	seenAddr := map[string]bool{}
	seenFull := map[string]bool{}
	member := map[string]int{} // list members without DSN, by address: index in out
	add := func(r queue.Recipient, isMember bool) {
		if i, ok := member[r.Address]; ok && !isMember && r.Notify != address.NotifyNever {
			// Listed explicitly too: one delivery, with this
			// recipient's DSN options.
			out[i].Recipient = r
			delete(member, r.Address)
			seenFull[r.Address+"\n"+r.ORCPT] = true
			return
		}
		full := r.Address + "\n" + r.ORCPT
		if seenFull[full] || r.Notify == address.NotifyNever && seenAddr[r.Address] {
			return
		}
		seenFull[full] = true
		seenAddr[r.Address] = true
		if isMember {
			member[r.Address] = len(out)
		}
		out = append(out, rcpt{Recipient: r})
	}
	for _, r := range in {
		a, err := s.canonical(module, r.Address)
		if err != nil {
			return nil, err
		}
		if err := s.checkLocal(r.Address, a); err != nil {
			return nil, err
		}
		r.Address = a.String()
		members, isAlias, err := sr.Expand(r.Address)
		if err != nil {
			return nil, &Error{Code: 451, Addr: r.Address, Text: "Service temporarily unavailable: alias lookup of <" + r.Address + "> failed (" + err.Error() + ")."}
		}
		switch {
		case !isAlias:
			add(r, false)
		case len(members) == 1:
			// The alias stands for one address: that address takes
			// its place and remembers it as the original recipient.
			if r.ORCPT == "" {
				r.ORCPT = r.Address
			}
			r.Address = members[0]
			add(r, false)
		default:
			// A list: the alias itself is recorded as delivered (so
			// NOTIFY=SUCCESS gives a "relayed" DSN); the members get
			// no DSNs of their own.
			out = append(out, rcpt{Recipient: r, alias: true})
			for _, m := range members {
				add(queue.Recipient{Address: m, Notify: address.NotifyNever}, true)
			}
		}
	}
	if len(out) == 0 {
		return nil, &Error{Code: 511, Text: "No recipients."}
	}
	return out, nil
}

// RcptResult is what Check finds out about a recipient.
type RcptResult struct {
	Address string   // canonical form, as the control file will hold it
	Local   bool     // its domain is delivered on this host (locals, hosteddomains)
	Alias   bool     // it is an alias (or in an aliased virtual domain)
	Members []string // the alias's recipients
}

// Check examines one recipient as Submit would (courieresmtpd's RCPT):
// syntax, the default domain, reserved local addresses, aliases. It does not
// look accounts up; local delivery reports unknown users.
func (s *Submitter) Check(module, raw string) (RcptResult, error) {
	a, err := s.canonical(module, raw)
	if err != nil {
		return RcptResult{}, err
	}
	if err := s.checkLocal(raw, a); err != nil {
		return RcptResult{}, err
	}
	res := RcptResult{Address: a.String()}
	rules, err := s.rules()
	if err != nil {
		return RcptResult{}, controlFilesError(err)
	}
	_, res.Local = rules.LocalDomain(a.Domain)
	sr, err := s.searcher(module)
	if err != nil {
		return RcptResult{}, err
	}
	if res.Members, res.Alias, err = sr.Expand(res.Address); err != nil {
		return RcptResult{}, &Error{Code: 451, Addr: res.Address, Text: "Service temporarily unavailable: alias lookup of <" + res.Address + "> failed (" + err.Error() + ")."}
	}
	return res, nil
}
