package maildir

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ACLFile holds the IMAP access control list of a maildir directory
// (spec/maildir.md §6; Courier's maildiracl): one "<identifier> <rights>"
// line per entry, rights being RFC 4314 letters.
const ACLFile = "courierimapacl"

// ACLAll is every right Courier knows (maildiraclt.h ACL_ALL): what the
// owner and the administrators get on INBOX when no ACL file exists.
const ACLAll = "aceilrstwx"

// ACLEntry is one line of courierimapacl. Identifier is "owner",
// "anyone", "anonymous", "administrators", "user=<login>",
// "group=<name>", each possibly prefixed by "-" for negative rights.
type ACLEntry struct {
	Identifier string
	Rights     string
}

// ParseACL parses a courierimapacl file. Courier splits each line at its
// first space and skips further spaces; an empty identifier, a control
// character, or a right that is not a lower-case letter is reported with
// its line.
func ParseACL(file string, data []byte) ([]ACLEntry, error) {
	if len(data) == 0 {
		return nil, nil
	}
	if data[len(data)-1] != '\n' {
		return nil, &ParseError{file, bytes.Count(data, []byte{'\n'}) + 1, "last line is not terminated by a newline (truncated file?)"}
	}
	var out []ACLEntry
	for i, line := range strings.Split(string(data[:len(data)-1]), "\n") {
		id, rights, _ := strings.Cut(line, " ")
		rights = strings.TrimLeft(rights, " ")
		if id == "" || id == "-" {
			return nil, &ParseError{file, i + 1, fmt.Sprintf("want \"<identifier> <rights>\", have %q", line)}
		}
		for j := 0; j < len(id); j++ {
			if id[j] < 0x20 || id[j] == 0x7f {
				return nil, &ParseError{file, i + 1, fmt.Sprintf("identifier %q: control character at offset %d", id, j)}
			}
		}
		for j := 0; j < len(rights); j++ {
			if rights[j] < 'a' || rights[j] > 'z' {
				return nil, &ParseError{file, i + 1, fmt.Sprintf("rights %q: %q is not a right (a lower-case letter)", rights, rights[j])}
			}
		}
		out = append(out, ACLEntry{id, rights})
	}
	return out, nil
}

// FormatACL writes the file content for acl.
func FormatACL(acl []ACLEntry) []byte {
	var b bytes.Buffer
	for _, e := range acl {
		b.WriteString(e.Identifier + " " + e.Rights + "\n")
	}
	return b.Bytes()
}

// ReadACL reads the ACL of d; ok is false when d has no ACL file.
func (d *Dir) ReadACL() (acl []ACLEntry, ok bool, err error) {
	p := filepath.Join(d.Path, ACLFile)
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	acl, err = ParseACL(p, data)
	return acl, err == nil, err
}

// WriteACL replaces the ACL of d (a file in tmp/ renamed over
// courierimapacl).
func (d *Dir) WriteACL(acl []ACLEntry) error {
	for _, e := range acl {
		if e.Identifier == "" || strings.ContainsAny(e.Identifier, " \n") {
			return fmt.Errorf("ACL identifier %q cannot be stored", e.Identifier)
		}
		if strings.ContainsAny(e.Rights, " \n") {
			return fmt.Errorf("ACL rights %q cannot be stored", e.Rights)
		}
	}
	p := filepath.Join(d.Path, ACLFile)
	if err := writeViaTmp(d.Path, "imapacl_"+strconv.FormatUint(collisions.Add(1), 10), p, FormatACL(acl), 0o644, true); err != nil {
		return fmt.Errorf("cannot write the ACL %s: %w", p, err)
	}
	return nil
}
