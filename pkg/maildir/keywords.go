package maildir

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// IMAP keywords (spec/maildir.md §5; Courier's README.imapkeywords and
// maildirkeywords2.c). They live in courierimapkeywords/ of each maildir
// directory, without locks:
//
//   - ":list" is the settled state: the keyword names one a line, an empty
//     line, then "<unique>:<index> <index>..." for each message that has
//     keywords.
//   - A client that changes a message's keywords writes the complete new
//     set (one keyword a line; empty for none) into tmp/ and renames it to
//     "<unique>"; that file wins over everything else.
//   - Readers fold the updates into ":list" and rename each "<unique>" to
//     ".<N>.<unique>", N being the current 5-minute period plus one; such
//     older updates still override ":list" until a later reader, in a later
//     period, sees it alone and removes it. Update files of messages that
//     are gone are removed after 15 minutes; ".tmp.<time>..." scratch files
//     after 2 minutes.

// KeywordsDir is the keyword directory of a maildir directory.
const KeywordsDir = "courierimapkeywords"

const (
	kwListFile   = ":list"
	kwPeriod     = 300 // seconds in one update period
	kwStaleAfter = 15 * 60
	kwScratchAge = 120
)

// Keywords maps the unique names of messages to their keywords. A message
// without keywords is absent.
type Keywords map[string][]string

// ParseKeywordList parses courierimapkeywords/:list.
func ParseKeywordList(file string, data []byte) (Keywords, error) {
	kw := Keywords{}
	if len(data) == 0 {
		return kw, nil
	}
	if data[len(data)-1] != '\n' {
		return nil, &ParseError{file, bytes.Count(data, []byte{'\n'}) + 1, "last line is not terminated by a newline (truncated file?)"}
	}
	lines := strings.Split(string(data[:len(data)-1]), "\n")
	var names []string
	i := 0
	for ; i < len(lines) && lines[i] != ""; i++ {
		if err := checkKeyword(lines[i]); err != nil {
			return nil, &ParseError{file, i + 1, err.Error()}
		}
		names = append(names, lines[i])
	}
	if i == len(lines) {
		return nil, &ParseError{file, i, "no empty line after the keyword names"}
	}
	for i++; i < len(lines); i++ {
		msg, idx, ok := strings.Cut(lines[i], ":")
		if !ok || msg == "" || strings.ContainsAny(msg, "/\x00") {
			return nil, &ParseError{file, i + 1, fmt.Sprintf("want \"<message>:<index> ...\", have %q", lines[i])}
		}
		if _, dup := kw[msg]; dup {
			return nil, &ParseError{file, i + 1, fmt.Sprintf("message %s is listed twice", msg)}
		}
		var set []string
		for _, f := range strings.Split(idx, " ") {
			n, err := strconv.Atoi(f)
			if err != nil || n < 0 || n >= len(names) || f[0] == '+' {
				return nil, &ParseError{file, i + 1, fmt.Sprintf("keyword index %q is not one of 0 to %d", f, len(names)-1)}
			}
			set = append(set, names[n])
		}
		kw[msg] = normalizeKeywords(set)
	}
	return kw, nil
}

// checkKeyword accepts what can be stored one a line: a non-empty name
// without control characters.
func checkKeyword(k string) error {
	if k == "" {
		return fmt.Errorf("empty keyword")
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] == 0x7f {
			return fmt.Errorf("keyword %q: control character at offset %d", k, i)
		}
	}
	return nil
}

func normalizeKeywords(set []string) []string {
	sort.Strings(set)
	out := set[:0]
	for i, k := range set {
		if i == 0 || k != set[i-1] {
			out = append(out, k)
		}
	}
	return out
}

// FormatKeywordList writes the :list content for kw; nil when no message
// has keywords (Courier then removes the file).
func FormatKeywordList(kw Keywords) []byte {
	index := map[string]int{}
	var names []string
	msgs := make([]string, 0, len(kw))
	for m, set := range kw {
		if len(set) == 0 {
			continue
		}
		msgs = append(msgs, m)
		for _, k := range set {
			if _, ok := index[k]; !ok {
				index[k] = 0
				names = append(names, k)
			}
		}
	}
	if len(names) == 0 {
		return nil
	}
	sort.Strings(names)
	sort.Strings(msgs)
	var b bytes.Buffer
	for i, k := range names {
		index[k] = i
		b.WriteString(k + "\n")
	}
	b.WriteByte('\n')
	for _, m := range msgs {
		b.WriteString(m + ":")
		for j, k := range kw[m] {
			if j > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(strconv.Itoa(index[k]))
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// kwUpdate tracks the update files of one message during a scan.
type kwUpdate struct {
	highestN    int64 // newest ".N." update older than the current period
	highestT    int64 // newest update of the current period or later
	total       int   // update files seen
	foundNewest bool  // a plain "<unique>" file exists
}

// ReadKeywords returns the keywords of the messages of d (every message in
// new/ and cur/), folding pending updates into :list and cleaning up as
// Courier's imapd does on every scan.
func (d *Dir) ReadKeywords() (Keywords, error) {
	for try := 0; ; try++ {
		kw, retry, err := d.readKeywords(time.Now())
		if !retry || try >= 10 {
			return kw, err
		}
	}
}

// uniques lists the unique names of the messages in new/ and cur/.
func (d *Dir) uniques() (map[string]bool, error) {
	out := map[string]bool{}
	for _, sub := range []string{"cur", "new"} {
		names, err := d.Files(sub)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			u, _, _ := strings.Cut(n, ":")
			out[u] = true
		}
	}
	return out, nil
}

func (d *Dir) readKeywords(now time.Time) (Keywords, bool, error) {
	dir := filepath.Join(d.Path, KeywordsDir)
	// The messages present are listed only when a keyword needs them: a
	// folder without keywords (the common case) is not listed here.
	var presentSet map[string]bool
	var listErr error
	present := func(unique string) bool {
		if presentSet == nil && listErr == nil {
			presentSet, listErr = d.uniques()
		}
		return presentSet[unique]
	}
	listPath := filepath.Join(dir, kwListFile)
	kw := Keywords{}
	update := false
	switch data, err := os.ReadFile(listPath); {
	case err == nil:
		if kw, err = ParseKeywordList(listPath, data); err != nil {
			return nil, false, err
		}
		for m := range kw {
			if !present(m) {
				delete(kw, m) // stale: the message is gone
				update = true
			}
		}
	case errors.Is(err, os.ErrNotExist):
		// No list yet; the directory may still hold updates.
	default:
		return nil, false, err
	}

	t := now.Unix()
	tn := t / kwPeriod
	names, err := readNames(dir)
	if errors.Is(err, os.ErrNotExist) {
		// No keywords yet: the directory is made by the first keyword
		// set (SetKeywords), not by every reader (a folder's first
		// SELECT paid for a mkdir).
		return kw, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("cannot read keywords: %w", err)
	}
	updates := map[string]*kwUpdate{}
	for _, name := range names {
		if name[0] == ':' {
			continue
		}
		var msg string
		var x int64
		if name[0] != '.' {
			msg = name
		} else if rest, ok := strings.CutPrefix(name, ".tmp."); ok {
			if ts := leadingNumber(rest); ts == 0 || ts < t-kwScratchAge {
				os.Remove(filepath.Join(dir, name)) // a writer died
			}
			continue
		} else {
			num, m, ok := strings.Cut(name[1:], ".")
			n, err := strconv.ParseInt(num, 10, 64)
			if !ok || err != nil || n <= 0 {
				continue // not ours
			}
			msg, x = m, n
		}
		if !present(msg) {
			if st, err := os.Stat(filepath.Join(dir, name)); err == nil && st.ModTime().Unix() < t-kwStaleAfter {
				os.Remove(filepath.Join(dir, name))
			}
			continue
		}
		u := updates[msg]
		if u == nil {
			u = &kwUpdate{}
			updates[msg] = u
		}
		if name[0] != '.' {
			x = tn + 1
			u.foundNewest = true
		}
		u.total++
		switch {
		case x >= tn:
			u.highestT = max(u.highestT, x)
		case x > u.highestN:
			if u.highestN > 0 {
				os.Remove(filepath.Join(dir, "."+strconv.FormatInt(u.highestN, 10)+"."+msg))
			}
			u.highestN = x
		}
	}

	for msg, u := range updates {
		n := max(u.highestN, u.highestT)
		p := filepath.Join(dir, "."+strconv.FormatInt(n, 10)+"."+msg)
		if u.foundNewest {
			p = filepath.Join(dir, msg)
		}
		set, err := readKeywordFile(p)
		if errors.Is(err, os.ErrNotExist) {
			return nil, true, nil // renamed under us: start over
		}
		if err != nil {
			return nil, false, err
		}
		if !equalKeywords(set, kw[msg]) {
			update = true
			if len(set) == 0 {
				delete(kw, msg)
			} else {
				kw[msg] = set
			}
		}
	}

	if listErr != nil {
		// Without the list of messages nothing may be cleaned up.
		return nil, false, listErr
	}
	if update {
		if content := FormatKeywordList(kw); content == nil {
			if err := os.Remove(listPath); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, false, err
			}
		} else if err := writeViaTmp(d.Path, "", listPath, content, 0o644, true); err != nil {
			return nil, false, fmt.Errorf("cannot write %s: %w", listPath, err)
		}
	}
	for msg, u := range updates {
		switch {
		case u.foundNewest:
			os.Rename(filepath.Join(dir, msg), filepath.Join(dir, "."+strconv.FormatInt(tn+1, 10)+"."+msg))
		case u.total == 1 && u.highestN > 0:
			os.Remove(filepath.Join(dir, "."+strconv.FormatInt(u.highestN, 10)+"."+msg))
		}
	}
	return kw, false, nil
}

// leadingNumber parses the decimal digits at the start of s (0 if none).
func leadingNumber(s string) int64 {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	n, _ := strconv.ParseInt(s[:i], 10, 64)
	return n
}

// readKeywordFile reads an update file: one keyword a line, up to the end
// or an empty line.
func readKeywordFile(p string) ([]string, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var set []string
	sc := bufio.NewScanner(f)
	for sc.Scan() && sc.Text() != "" {
		if err := checkKeyword(sc.Text()); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		set = append(set, sc.Text())
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return normalizeKeywords(set), nil
}

func equalKeywords(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// MakeKeywordsDir creates courierimapkeywords/ with the maildir's mode
// (SetKeywords does; imapd's IDLE watch needs it to watch).
func (d *Dir) MakeKeywordsDir() error {
	dir := filepath.Join(d.Path, KeywordsDir)
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil
		}
		return fmt.Errorf("cannot create %s: %w", dir, err)
	}
	if st, err := os.Stat(d.Path); err == nil {
		os.Chmod(dir, st.Mode().Perm())
	}
	return nil
}

// SetKeywords replaces the keywords of one message (by its file name or
// unique part) with set, as an IMAP STORE does: the whole set goes into a
// file in tmp/, renamed to courierimapkeywords/<unique> in one step. The
// last writer wins.
func (d *Dir) SetKeywords(message string, set []string) error {
	unique := message
	if i := strings.IndexByte(unique, ':'); i >= 0 {
		unique = unique[:i]
	}
	if unique == "" || strings.ContainsAny(unique, "/\x00") {
		return fmt.Errorf("%q is not a message file name", message)
	}
	var b strings.Builder
	for _, k := range normalizeKeywords(append([]string(nil), set...)) {
		if err := checkKeyword(k); err != nil {
			return err
		}
		b.WriteString(k + "\n")
	}
	if err := d.MakeKeywordsDir(); err != nil {
		return err
	}
	dst := filepath.Join(d.Path, KeywordsDir, unique)
	if err := writeViaTmp(d.Path, "", dst, []byte(b.String()), 0o644, true); err != nil {
		return fmt.Errorf("cannot store the keywords of %s: %w", unique, err)
	}
	return nil
}
