package access

import (
	"fmt"
	"strings"
)

// Verdict is what an access entry says about a client.
type Verdict struct {
	Deny bool
	Vars []string // "NAME=value", in the order given

	// Key is the database key of the entry that decided (for logs), ""
	// when no entry applied.
	Key string
	// Local is set when the entry that denied the client is the one for
	// the local address and port (-accesslocal): the original closes
	// such a connection without the -denymsg text.
	Local bool
}

// ParseValue reads an access value (tcpd.c doallowaccess): "deny"
// (anything after it is ignored, as the original does), or an optional
// "allow" and then comma-separated items NAME=value or NAME (meaning
// NAME=""), where "..." or '...' quote commas and are removed and blanks
// around an item are dropped. Unlike the original, which exports whatever
// it finds, a malformed item is an error: a name that is not a variable
// name, an unterminated quote, a misplaced or mis-cased allow or deny.
func ParseValue(v string) (Verdict, error) {
	s := strings.TrimSpace(v)
	if strings.HasPrefix(s, "deny") {
		return Verdict{Deny: true}, nil
	}
	if rest, ok := strings.CutPrefix(s, "allow"); ok {
		s = strings.TrimLeft(rest, " \t")
		if s != "" && s[0] != ',' {
			return Verdict{}, fmt.Errorf("value %q: expected a comma after \"allow\"", v)
		}
		s = strings.TrimPrefix(s, ",")
	}
	var out Verdict
	var item strings.Builder
	var quote byte
	for i := 0; i <= len(s); i++ {
		if i < len(s) {
			c := s[i]
			switch {
			case quote != 0 && c == quote:
				quote = 0
				continue
			case quote != 0:
				item.WriteByte(c)
				continue
			case c == '"' || c == '\'':
				quote = c
				continue
			case c != ',':
				item.WriteByte(c)
				continue
			}
		} else if quote != 0 {
			return Verdict{}, fmt.Errorf("value %q: the %c quote is not closed", v, quote)
		}
		it := strings.TrimSpace(item.String())
		item.Reset()
		if it == "" {
			continue
		}
		name, val, _ := strings.Cut(it, "=")
		name = strings.TrimRight(name, " \t")
		switch l := strings.ToLower(name); {
		case l == "allow" || l == "deny":
			return Verdict{}, fmt.Errorf("value %q: %q must come first, in lower case", v, l)
		case !validName(name):
			return Verdict{}, fmt.Errorf("value %q: %q is not a variable name (letters, digits and _, not starting with a digit)", v, name)
		}
		out.Vars = append(out.Vars, name+"="+val)
	}
	return out, nil
}

func validName(n string) bool {
	if n == "" || (n[0] >= '0' && n[0] <= '9') {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
