package sendmail

import (
	"strings"

	"github.com/gocourier/courier/pkg/address"
	"github.com/gocourier/courier/pkg/submit"
)

// identity is who runs sendmail, from the environment and the password
// file, with the original's precedence (sendmail(1) RETURN ADDRESS and
// SENDER ADDRESS).
type identity struct {
	getenv func(string) string // empty values count as unset, as in the original
	// passwd returns the login name of the real uid ("nobody" when
	// unknown) and its full name (the GECOS field up to its first comma).
	// It reads the password file, which most runs (-f and a From: field)
	// do not need.
	passwd func() (account, gecos string)
}

func (id identity) first(names ...string) string {
	for _, n := range names {
		if v := id.getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// envelopeSender is the return address: -f as given, else
// MAILSUSER/MAILUSER/LOGNAME/USER or the account, at MAILSHOST/MAILHOST
// when set (otherwise submit adds the default domain).
func (id identity) envelopeSender(a *Args) string {
	if a.HasSender {
		return a.Sender
	}
	user := id.first("MAILSUSER", "MAILUSER", "LOGNAME", "USER")
	if user == "" {
		user, _ = id.passwd()
	}
	if host := id.first("MAILSHOST", "MAILHOST"); host != "" {
		return user + "@" + host
	}
	return user
}

// rewriteFrom applies sendmail's From: rules to the header: the first From:
// gets MAILUSER as its local part, MAILHOST as its domain and -F (or
// MAILNAME, NAME) as its name, when those are set; further From: fields are
// dropped. Without a From:, one is added at the end:
// "<name> <user[@MAILHOST]>", user from MAILUSER/LOGNAME/USER or the account,
// name from -F, MAILNAME, NAME or the GECOS field.
func (id identity) rewriteFrom(h *submit.Header, a *Args) {
	host := id.getenv("MAILHOST")
	idx := -1
	out := h.Fields[:0]
	for _, f := range h.Fields {
		if f.Is("From") {
			if idx >= 0 {
				continue
			}
			idx = len(out)
		}
		out = append(out, f)
	}
	h.Fields = out
	if idx < 0 {
		// A new From: -F wins over MAILNAME and NAME.
		user := id.first("MAILUSER", "LOGNAME", "USER")
		if user == "" {
			user, _ = id.passwd()
		}
		name := a.FullName
		if !a.HasName {
			if name = id.first("MAILNAME", "NAME"); name == "" {
				_, name = id.passwd()
			}
		}
		h.Add("From", formatMailbox(name, user, host))
		return
	}
	// An existing From: MAILNAME and NAME win over -F.
	name, hasName := a.FullName, a.HasName
	if v := id.first("MAILNAME", "NAME"); v != "" {
		name, hasName = v, true
	}
	user := id.getenv("MAILUSER")
	if !hasName && user == "" && host == "" {
		return // nothing to change: the field stays as written
	}
	f := h.Fields[idx]
	mbs, err := address.ParseHeaderList(f.Value())
	if err != nil {
		return // not ours to repair; submit checks addresses it needs
	}
	var first *address.Mailbox
	for i := range mbs {
		if !mbs[i].Null {
			first = &mbs[i]
			break
		}
	}
	if first == nil {
		if !hasName {
			_, name = id.passwd()
		}
		if user == "" {
			user, _ = id.passwd()
		}
		h.Fields[idx] = submit.NewField(f.Name, formatMailbox(name, user, host))
		return
	}
	local := address.FormatLocal(first.Local)
	if user != "" {
		local = oneLine(user)
	}
	dom := first.Domain
	if host != "" {
		dom = oneLine(host)
	}
	if !hasName {
		name = first.Name
	}
	addr := local
	if dom != "" {
		addr += "@" + dom
	}
	if name == "" {
		h.Fields[idx] = submit.NewField(f.Name, addr)
		return
	}
	h.Fields[idx] = submit.NewField(f.Name, quoteName(name)+" <"+addr+">")
}

// formatMailbox is the original's new From: value: "name <user@host>", the
// name left out when empty, "@host" when host is empty.
func formatMailbox(name, user, host string) string {
	addr := oneLine(user)
	host = oneLine(host)
	if host != "" {
		addr += "@" + host
	}
	if name == "" {
		return "<" + addr + ">"
	}
	return quoteName(name) + " <" + addr + ">"
}

// quoteName writes a display name as atoms when it is only atoms and
// blanks (RFC 5322 3.2.3), otherwise as one quoted-string, as the original's
// tokenize_name does. Control characters become blanks so that the field
// stays one line.
func quoteName(name string) string {
	name = oneLine(name)
	atoms := true
	for _, r := range name {
		if r == ' ' || r >= 0x80 || r > ' ' && !strings.ContainsRune("()<>[]:;@\\,.\"", r) {
			continue
		}
		atoms = false
		break
	}
	if atoms {
		return name
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(name) + `"`
}

// oneLine turns control characters (from the environment or the password
// file) into blanks, so that a value cannot break the header's lines.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
