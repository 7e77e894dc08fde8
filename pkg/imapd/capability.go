package imapd

import (
	"github.com/emersion/go-imap/v2"

	"slices"
	"strings"
)

// capabilities assembles the CAPABILITY list as the original's
// imapcapability() does (spec imap-pop3.md §3): IMAP_CAPABILITY_TLS under
// TLS when set, else IMAP_CAPABILITY, else IMAP4rev1; then ACL, ID,
// STARTTLS (and LOGINDISABLED) while possible, XCOURIEROUTBOX,
// XMAGICTRASH, ENABLE and UTF8=ACCEPT. ID is always offered (the original
// only with IMAP_ID_FIELDS): this server answers it.
func capabilities(getenv func(string) string, tls, startTLS bool) []string {
	list := getenv("IMAP_CAPABILITY")
	if v := getenv("IMAP_CAPABILITY_TLS"); tls && strings.TrimSpace(v) != "" {
		list = v
	}
	caps := strings.Fields(list)
	if len(caps) == 0 {
		caps = []string{"IMAP4rev1"}
	}
	add := func(c ...string) {
		for _, x := range c {
			if !slices.ContainsFunc(caps, func(y string) bool { return strings.EqualFold(x, y) }) {
				caps = append(caps, x)
			}
		}
	}
	if getenv("IMAP_ACL") == "1" {
		add("ACL", "ACL2=UNION")
	}
	add("ID")
	if startTLS {
		add("STARTTLS")
		if getenv("IMAP_TLS_REQUIRED") == "1" {
			add("LOGINDISABLED")
		}
	}
	if o := getenv("OUTBOX"); o != "" {
		add("XCOURIEROUTBOX=INBOX" + o)
	}
	if getenv("IMAP_MOVE_EXPUNGE_TO_TRASH") == "1" {
		add("XMAGICTRASH")
	}
	add("ENABLE", "UTF8=ACCEPT")
	return caps
}

// has reports whether the list holds capability c.
func has(caps []string, c string) bool {
	return slices.ContainsFunc(caps, func(x string) bool { return strings.EqualFold(x, c) })
}

// flagRecent is IMAP4rev1's \Recent (RFC 3501 §2.3.2), which go-imap v2
// (IMAP4rev2) does not name.
const flagRecent imap.Flag = `\Recent`
