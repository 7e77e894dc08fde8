package search

import "strings"

// BaseSubject returns the base subject of a Subject: field value as RFC
// 5256 §2.1 extracts it, for SORT SUBJECT and THREAD: encoded words
// decoded, white space runs made single spaces, "Re:", "Fw:", "Fwd:",
// "[blob]" prefixes, "(fwd)" trailers and "[fwd: ...]" wrappers removed.
// The result is case-mapped (RFC 5256 §3 compares base subjects with
// i;unicode-casemap, RFC 5255 §4.2), so equal subjects are equal strings.
func BaseSubject(s string) string {
	b, _ := baseSubject(s)
	return b
}

// baseSubject also reports whether the subject was a reply or a forward:
// whether a subj-refwd, "(fwd)" or "[fwd:" was removed, which REFERENCES
// threading needs (RFC 5256 §3, step 5).
func baseSubject(s string) (string, bool) {
	// (1) Decode encoded words; tabs and line breaks become spaces and
	// runs of spaces one space.
	s = strings.Join(strings.FieldsFunc(casemap(decodeHeader(s)), func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\r' || r == '\n'
	}), " ")
	reply := false
	for {
		// (2) Remove subj-trailer: "(fwd)" or WSP, repeatedly.
		for {
			if strings.HasSuffix(s, " ") {
				s = s[:len(s)-1]
			} else if strings.HasSuffix(s, "(fwd)") {
				s = s[:len(s)-len("(fwd)")]
				reply = true
			} else {
				break
			}
		}
		// (3), (4), (5): remove subj-leader, then a subj-blob that does
		// not leave the subject empty, until neither applies.
		for {
			if strings.HasPrefix(s, " ") {
				s = s[1:]
				continue
			}
			if n := refwdLeader(s); n > 0 {
				s = s[n:]
				reply = true
				continue
			}
			if n := blob(s); n > 0 && n < len(s) {
				s = s[n:]
				continue
			}
			break
		}
		// (6) Unwrap "[fwd: ...]" and start again from (2).
		if strings.HasPrefix(s, "[fwd:") && strings.HasSuffix(s, "]") {
			s = s[len("[fwd:") : len(s)-1]
			reply = true
			continue
		}
		return s, reply
	}
}

// blob returns the length of the subj-blob at the start of s:
// "[" *BLOBCHAR "]" *WSP, or 0.
func blob(s string) int {
	if !strings.HasPrefix(s, "[") {
		return 0
	}
	end := strings.IndexAny(s[1:], "[]\x00")
	if end < 0 || s[1+end] != ']' {
		return 0
	}
	n := end + 2
	for n < len(s) && s[n] == ' ' {
		n++
	}
	return n
}

// refwdLeader returns the length of the subj-leader at the start of s
// made of *subj-blob subj-refwd, where subj-refwd is
// ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"; or 0.
func refwdLeader(s string) int {
	n := 0
	for b := blob(s); b > 0; b = blob(s[n:]) {
		n += b
	}
	switch {
	case strings.HasPrefix(s[n:], "re"):
		n += 2
	case strings.HasPrefix(s[n:], "fwd"):
		n += 3
	case strings.HasPrefix(s[n:], "fw"):
		n += 2
	default:
		return 0
	}
	for n < len(s) && s[n] == ' ' {
		n++
	}
	n += blob(s[n:])
	if n < len(s) && s[n] == ':' {
		return n + 1
	}
	return 0
}
