package maildir

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// QuotaSpec is a Maildir++ quota: the first line of maildirsize, or the
// MAILDIRQUOTA / authlib QUOTA value, written "<n>S,<n>C" (spec/maildir.md
// §3). Zero means no limit of that kind.
type QuotaSpec struct {
	Bytes    int64 // "S": total size of the messages
	Messages int64 // "C": number of messages
}

// IsZero reports whether the spec sets no limit at all.
func (q QuotaSpec) IsZero() bool { return q.Bytes == 0 && q.Messages == 0 }

// String formats the spec as Courier writes it: "1000000S,500C", "5C",
// "" for no limit.
func (q QuotaSpec) String() string {
	var parts []string
	if q.Bytes > 0 {
		parts = append(parts, strconv.FormatInt(q.Bytes, 10)+"S")
	}
	if q.Messages > 0 {
		parts = append(parts, strconv.FormatInt(q.Messages, 10)+"C")
	}
	return strings.Join(parts, ",")
}

// ParseQuotaSpec parses a quota specification: a comma-separated list of
// items "<digits>S" (bytes) and "<digits>C" (messages); a later item of the
// same kind replaces an earlier one, as in Courier. Unlike Courier, which
// skips what it cannot read, anything else is an error, and so is a spec
// that sets no limit (Courier then silently leaves the maildir alone).
func ParseQuotaSpec(s string) (QuotaSpec, error) {
	var q QuotaSpec
	if err := parseQuotaItems(s, &q); err != nil {
		return QuotaSpec{}, err
	}
	if q.IsZero() {
		return QuotaSpec{}, fmt.Errorf("quota %q sets no limit (want e.g. 1000000S,500C)", s)
	}
	return q, nil
}

func parseQuotaItems(s string, q *QuotaSpec) error {
	if strings.TrimSpace(s) == "" {
		return fmt.Errorf("empty quota (want e.g. 1000000S,500C)")
	}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if len(item) < 2 {
			return fmt.Errorf("quota item %q: want <number>S or <number>C", item)
		}
		v, err := parseDecimal(item[:len(item)-1])
		if err != nil {
			return fmt.Errorf("quota item %q: %v", item, err)
		}
		switch item[len(item)-1] {
		case 'S':
			q.Bytes = v
		case 'C':
			q.Messages = v
		default:
			return fmt.Errorf("quota item %q: unit %q is neither S (bytes) nor C (messages)", item, item[len(item)-1])
		}
	}
	return nil
}

// Usage is a byte and message count: the sum of maildirsize's data lines, or
// one line of it.
type Usage struct {
	Bytes    int64
	Messages int64
}

// SizeFile is the parsed content of a maildirsize file.
type SizeFile struct {
	Quota QuotaSpec
	Usage Usage // sum of the data lines (may be negative in a damaged file)
	Lines int   // number of data lines after the quota line
}

// ParseError is a malformed line of a file this package reads.
type ParseError struct {
	File string
	Line int
	Msg  string
}

func (e *ParseError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// ParseSizeFile parses a maildirsize file (spec/maildir.md §3). Line 1 is
// the quota spec (empty means no limit: Courier itself writes an empty line
// when it recounts a file whose spec it could not read); every further line
// is "<bytes> <messages>", two signed decimal numbers separated by blanks
// (Courier writes them "%12d %12d"). Every line ends with a newline. A zero
// length file is a maildirsize without limits. file names the file in
// errors.
func ParseSizeFile(file string, data []byte) (*SizeFile, error) {
	sf := &SizeFile{}
	if len(data) == 0 {
		return sf, nil
	}
	lineNo := 0
	for len(data) > 0 {
		lineNo++
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return nil, &ParseError{file, lineNo, "last line is not terminated by a newline (truncated file?)"}
		}
		line := string(data[:i])
		data = data[i+1:]
		if lineNo == 1 {
			if strings.TrimSpace(line) == "" {
				continue
			}
			var q QuotaSpec
			if err := parseQuotaItems(line, &q); err != nil {
				return nil, &ParseError{file, lineNo, err.Error()}
			}
			sf.Quota = q
			continue
		}
		u, err := parseUsageLine(line)
		if err != nil {
			return nil, &ParseError{file, lineNo, err.Error()}
		}
		if !addFits(sf.Usage.Bytes, u.Bytes) || !addFits(sf.Usage.Messages, u.Messages) {
			return nil, &ParseError{file, lineNo, "the running total overflows 64 bits"}
		}
		sf.Usage.Bytes += u.Bytes
		sf.Usage.Messages += u.Messages
		sf.Lines++
	}
	return sf, nil
}

func parseUsageLine(line string) (Usage, error) {
	f := strings.Fields(line)
	if len(f) != 2 {
		return Usage{}, fmt.Errorf("want two numbers \"<bytes> <messages>\", have %q", line)
	}
	b, err := parseSigned(f[0])
	if err != nil {
		return Usage{}, fmt.Errorf("byte count: %v", err)
	}
	m, err := parseSigned(f[1])
	if err != nil {
		return Usage{}, fmt.Errorf("message count: %v", err)
	}
	return Usage{b, m}, nil
}

// addFits reports whether a+b does not overflow an int64.
func addFits(a, b int64) bool {
	s := a + b
	return (b >= 0) == (s >= a)
}

func parseSigned(s string) (int64, error) {
	neg := strings.HasPrefix(s, "-")
	v, err := parseDecimal(strings.TrimPrefix(s, "-"))
	if neg {
		v = -v
	}
	return v, err
}

// usageLine formats one data line exactly as Courier appends it.
func usageLine(u Usage) []byte {
	return fmt.Appendf(nil, "%12d %12d\n", u.Bytes, u.Messages)
}
