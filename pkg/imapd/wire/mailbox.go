package wire

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/gocourier/courier/pkg/maildir/mutf7"
)

// MailboxName returns the UTF-8 name of the mailbox argument t (an
// astring: atom, quoted string or literal; NIL is the name "NIL"). Without
// UTF8=ACCEPT the name is modified UTF-7 (RFC 9051 §5.1.3) and is decoded;
// with it the name is UTF-8 as sent (RFC 6855 §3). INBOX is
// case-insensitive (RFC 9051 §5.1), and so is the first component of
// "INBOX.<name>", as Courier matches it (its hierarchy delimiter is '.').
func MailboxName(t Token, utf8Enabled bool) (string, error) {
	var name string
	switch t.Kind {
	case Atom, Quoted, NIL:
		name = t.Text
	case Literal:
		s, ok := t.String()
		if !ok {
			return "", errors.New("mailbox name: cannot read the literal")
		}
		name = s
	default:
		return "", errors.New("mailbox name: a list is not a mailbox name")
	}
	if utf8Enabled {
		if !utf8.ValidString(name) {
			return "", fmt.Errorf("mailbox name %q is not valid UTF-8", name)
		}
		for i := 0; i < len(name); i++ {
			if name[i] < 0x20 || name[i] == 0x7f {
				return "", fmt.Errorf("mailbox name %q has control character 0x%02x", name, name[i])
			}
		}
	} else {
		var err error
		if name, err = mutf7.Decode(name); err != nil {
			return "", fmt.Errorf("mailbox name is not valid modified UTF-7: %v", err)
		}
	}
	switch {
	case strings.EqualFold(name, "INBOX"):
		return "INBOX", nil
	case len(name) > len("INBOX.") && strings.EqualFold(name[:len("INBOX.")], "INBOX."):
		return "INBOX." + name[len("INBOX."):], nil
	}
	return name, nil
}
