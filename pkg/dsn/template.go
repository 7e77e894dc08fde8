package dsn

import "strings"

// maxKeyword is how much of a placeholder name the original keeps (a 64-byte
// buffer); longer names are cut, also when echoed back as literal text.
const maxKeyword = 63

// Substitute expands the placeholders of dsnheader.txt (spec §7, part 1):
// "[#NAME#]" with NAME made of ASCII letters, digits and '_' is replaced by
// vars[NAME], or by nothing for a name vars does not have. Anything that is
// not a complete placeholder is copied as it is. The text is used up to its
// first NUL byte, as the original (a C string) does.
func Substitute(tmpl string, vars map[string]string) string {
	if i := strings.IndexByte(tmpl, 0); i >= 0 {
		tmpl = tmpl[:i]
	}
	var b strings.Builder
	b.Grow(len(tmpl) + 64)
	i := 0
	for i < len(tmpl) {
		c := tmpl[i]
		i++
		if c != '[' || i >= len(tmpl) || tmpl[i] != '#' {
			b.WriteByte(c)
			continue
		}
		i++
		start := i
		for i < len(tmpl) && isKeywordByte(tmpl[i]) {
			i++
		}
		kw := tmpl[start:i]
		if len(kw) > maxKeyword {
			kw = kw[:maxKeyword]
		}
		if i >= len(tmpl) || tmpl[i] != '#' {
			b.WriteString("[#")
			b.WriteString(kw)
			continue
		}
		i++
		if i >= len(tmpl) || tmpl[i] != ']' {
			b.WriteString("[#")
			b.WriteString(kw)
			b.WriteByte('#')
			continue
		}
		i++
		b.WriteString(vars[kw])
	}
	return b.String()
}

func isKeywordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// expandDelayed expands dsndelayed.txt, which the original passes to printf
// with this host's name as the one argument: "%s" becomes me and "%%" a
// single '%'. Any other '%' is kept as it is (the original's behaviour for
// those is undefined).
func expandDelayed(tmpl, me string) string {
	if !strings.Contains(tmpl, "%") {
		return tmpl
	}
	var b strings.Builder
	for i := 0; i < len(tmpl); i++ {
		if tmpl[i] == '%' && i+1 < len(tmpl) {
			switch tmpl[i+1] {
			case 's':
				b.WriteString(me)
				i++
				continue
			case '%':
				b.WriteByte('%')
				i++
				continue
			}
		}
		b.WriteByte(tmpl[i])
	}
	return b.String()
}
