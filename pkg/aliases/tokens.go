package aliases

import "strings"

// token is one lexical token of Courier's RFC 822 tokenizer, which the
// original aliasexp runs over every alias name and address list: typ is 0
// for an atom, '"' for a quoted string (text holds what was between the
// quotes, backslashes included), '(' for a comment (text holds the
// parentheses), or the special character itself.
type token struct {
	typ  byte
	text string
}

// specials are the characters that end an atom and stand as tokens of their
// own in Courier's tokenizer (a superset of RFC 5322 3.2.3 specials: Courier
// also splits at % ! ? = and /).
const specials = "<>@,;:.[]()%!\"\\?=/"

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func (t token) isWord() bool { return t.typ == 0 || t.typ == '"' || t.typ == '(' }

// tokenize splits s the way Courier's rfc822 tokenizer does. Malformed
// input never fails here: an unterminated quoted string or comment becomes
// a quoted string of the rest, a stray ')' or '\' is dropped, and so is a
// '<' inside brackets or a '>' outside them. The syntax check that follows
// rejects what cannot be an address.
func tokenize(s string) []token {
	var out []token
	inBracket := false
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case isSpace(c):
			i++
		case c == '(':
			start, level := i, 0
			for {
				if i >= len(s) {
					out = append(out, token{'"', s[start:]})
					return out
				}
				if s[i] == '(' {
					level++
				}
				if s[i] == ')' {
					level--
					if level == 0 {
						i++
						break
					}
				}
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				i++
			}
			out = append(out, token{'(', s[start:i]})
		case c == '"':
			i++
			start := i
			for i < len(s) && s[i] != '"' {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				i++
			}
			out = append(out, token{'"', s[start:i]})
			if i < len(s) {
				i++
			}
		case c == '\\' || c == ')':
			i++
		case c == '=' && i+1 < len(s) && s[i+1] == '?':
			if n := encodedWord(s[i:]); n > 0 {
				out = append(out, token{0, s[i : i+n]})
				i += n
				continue
			}
			out = append(out, token{'=', "="})
			i++
		case strings.IndexByte(specials, c) >= 0:
			if (c == '<' && inBracket) || (c == '>' && !inBracket) {
				i++
				continue
			}
			if c == '<' {
				inBracket = true
			}
			if c == '>' {
				inBracket = false
			}
			out = append(out, token{c, s[i : i+1]})
			if c == '<' && i+1 < len(s) && s[i+1] == '>' {
				// "<>": the null address, an empty atom.
				out = append(out, token{0, ""})
			}
			i++
		default:
			start := i
			for i < len(s) && !isSpace(s[i]) && strings.IndexByte(specials, s[i]) < 0 {
				i++
			}
			out = append(out, token{0, s[start:i]})
		}
	}
	return out
}

// encodedWord returns the length of an RFC 2047 encoded word "=?...?=" at
// the start of s, or 0 when there is none; the tokenizer keeps one whole.
func encodedWord(s string) int {
	j := 2
	for ; j < len(s); j++ {
		if s[j] == '?' && j+1 < len(s) && s[j+1] == '=' {
			break
		}
		if s[j] == '?' || s[j] == '=' {
			continue
		}
		if strings.IndexByte(specials, s[j]) >= 0 || isSpace(s[j]) {
			break
		}
	}
	if j+1 < len(s) && s[j] == '?' && s[j+1] == '=' {
		return j + 2
	}
	return 0
}

// printTokens writes tokens back as text: a blank between two adjacent
// words, quoted strings in quotes, everything else as it was.
func printTokens(ts []token) string {
	var b strings.Builder
	prevWord := false
	for _, t := range ts {
		w := t.isWord()
		if w && prevWord {
			b.WriteByte(' ')
		}
		switch t.typ {
		case 0, '(':
			b.WriteString(t.text)
		case '"':
			b.WriteByte('"')
			for i := 0; i < len(t.text); i++ {
				c := t.text[i]
				if c == '\\' && i+1 < len(t.text) {
					b.WriteByte(c)
					i++
					b.WriteByte(t.text[i])
					continue
				}
				if c == '"' {
					b.WriteByte('\\')
				}
				b.WriteByte(c)
			}
			b.WriteByte('"')
		default:
			b.WriteByte(t.typ)
		}
		prevWord = w
	}
	return b.String()
}

// splitAddresses cuts an address list into the token sequences of its
// addresses the way Courier's rfc822 address parser does (RFC 5322 3.4):
// "name <addr>" gives addr, group names "name:" and the ';' that ends a
// group are dropped, spurious commas are skipped, comments around an
// old-style address are dropped, and two adjacent words start a new
// address ("foo bar" is two addresses).
func splitAddresses(ts []token) [][]token {
	var out [][]token
	for len(ts) > 0 {
		i := 0
		for i < len(ts) && (ts[i].typ == 0 || ts[i].typ == '"') {
			i++
		}
		if i < len(ts) && ts[i].typ == ':' {
			ts = ts[i+1:]
			continue
		}
		if ts[0].typ == ',' || ts[0].typ == ';' {
			ts = ts[1:]
			continue
		}
		i = 0
		for i < len(ts) && ts[i].typ != ';' && ts[i].typ != ',' && ts[i].typ != '<' {
			i++
		}
		if i < len(ts) && ts[i].typ == '<' {
			ts = ts[i+1:]
			j := 0
			for j < len(ts) && ts[j].typ != '>' {
				j++
			}
			out = append(out, ts[:j])
			ts = ts[j:]
			if len(ts) > 0 {
				ts = ts[1:]
			}
			continue
		}
		prevWord := false
		i = 0
	scan:
		for ; i < len(ts); i++ {
			switch ts[i].typ {
			case ',', ';':
				break scan
			case '(':
				continue
			case 0, '"':
				if prevWord {
					break scan
				}
				prevWord = true
			default:
				prevWord = false
			}
		}
		if i == 0 {
			ts = ts[1:]
			continue
		}
		var addr []token
		for _, t := range ts[:i] {
			if t.typ != '(' {
				addr = append(addr, t)
			}
		}
		out = append(out, addr)
		ts = ts[i:]
	}
	return out
}

// syntaxOK is Courier's check of a rewritten address (rw_syntaxchk): no
// < > ; ( ) anywhere, no @ : . next to each other or at either end, no
// blank or control character inside a word. A leading '@' is allowed
// (virtual domain names and source routes), so the caller skips it.
func syntaxOK(ts []token) bool {
	if len(ts) == 0 {
		return true
	}
	run := 1
	for _, t := range ts {
		switch t.typ {
		case '<', '>', ';', '(', ')':
			return false
		case '@', ':', '.':
			run++
			if run > 1 {
				return false
			}
		case 0, '"':
			for i := 0; i < len(t.text); i++ {
				if isSpace(t.text[i]) || t.text[i] < ' ' {
					return false
				}
			}
			run = 0
		default:
			run = 0
		}
	}
	return run == 0
}
