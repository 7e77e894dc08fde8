package services

import (
	"fmt"
	"strings"
)

// splitWords splits a setting the way the original wrapper scripts' shell
// splits it when it substitutes the setting unquoted into the couriertcpd
// command line (TCPDOPTS="-nodnslookup -noidentlookup" is two arguments,
// BLACKLISTS='-block=zen.spamhaus.org,BLOCK2 -block=cbl.abuseat.org,BLOCK2'
// two more): blanks separate words, and the inner `sh -c` of the scripts
// honours '…', "…" and backslash quoting inside the value.
//
// What that shell would do beyond quoting cannot be reproduced faithfully
// without running a shell, so it is refused with the reason: $ and `…`
// expansions, the operators ; & | < > ( ), and a word starting with #
// (which would turn the rest of the command line — port and program
// included — into a comment). Glob characters are kept literally, which is
// what the shell does when, as with these options, no file matches them.
func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unterminated ' quote at offset %d", i)
			}
			cur.WriteString(s[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case c == '"':
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				switch s[j] {
				case '\\':
					// In double quotes a backslash only escapes $ ` " \ and newline.
					if j+1 < len(s) && strings.IndexByte("$`\"\\\n", s[j+1]) >= 0 {
						j++
						if s[j] != '\n' {
							cur.WriteByte(s[j])
						}
						continue
					}
					cur.WriteByte('\\')
				case '$', '`':
					return nil, fmt.Errorf("%q at offset %d: shell expansion is not supported in a command-line setting", s[j], j)
				default:
					cur.WriteByte(s[j])
				}
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unterminated \" quote at offset %d", i)
			}
			i = j
			inWord = true
		case c == '\\':
			if i+1 >= len(s) {
				return nil, fmt.Errorf("backslash at the end of the value")
			}
			i++
			if s[i] != '\n' {
				cur.WriteByte(s[i])
				inWord = true
			}
		case c == '$' || c == '`':
			return nil, fmt.Errorf("%q at offset %d: shell expansion is not supported in a command-line setting", c, i)
		case strings.IndexByte(";&|<>()", c) >= 0:
			return nil, fmt.Errorf("%q at offset %d: shell operators are not supported in a command-line setting (quote it if it belongs to an option)", c, i)
		case c == '#' && !inWord:
			return nil, fmt.Errorf("word starting with # at offset %d would comment out the rest of the command line", i)
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
