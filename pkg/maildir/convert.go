package maildir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/gocourier/courier/pkg/maildir/mutf7"
)

// SubscriptionsFile lists the IMAP folders a user subscribed to, one IMAP
// name ("INBOX.Sent") a line.
const SubscriptionsFile = "courierimapsubscribed"

// UTF8Plan is the conversion of a maildir from the pre-Unicode folder
// naming (modified UTF-7 on disk, Courier before 1.0) to UTF-8, as
// maildirmake --checkutf8 reports it and --convutf8 carries it out
// (maildirmake(1) "CONVERTING PRE-UNICODE FORMAT MAILDIRS").
type UTF8Plan struct {
	Root string
	// Renames maps IMAP names "INBOX.<old>" to "INBOX.<new>".
	Renames [][2]string
	// Subscriptions are the changed lines of courierimapsubscribed, old
	// and new; HaveSubscriptions reports whether that file exists.
	Subscriptions     [][2]string
	HaveSubscriptions bool
	subscribed        []string // the converted file, line by line
}

// convertName converts one IMAP name. A name that already has non-ASCII
// UTF-8 in it was converted before and stays as it is (Courier's tool
// garbles such names when run twice; this one is idempotent).
func convertName(name string) (string, error) {
	for i := 0; i < len(name); i++ {
		if name[i] >= 0x80 {
			if utf8.ValidString(name) {
				return name, nil
			}
			break
		}
	}
	u, err := mutf7.Decode(name)
	if err != nil {
		return "", err
	}
	if rest, ok := strings.CutPrefix(u, "INBOX."); ok {
		if err := ValidFolderName(rest); err != nil {
			return "", err
		}
	}
	return u, nil
}

// PlanUTF8 works out the conversion of the maildir root. Every name that
// cannot be converted is reported in the joined error, each as
// "<name>: does not appear to be valid modified-UTF7"; the plan is then
// not to be applied.
func PlanUTF8(root string) (*UTF8Plan, error) {
	p := &UTF8Plan{Root: root}
	var errs []error
	folders, err := Folders(root)
	if err != nil {
		return nil, err
	}
	targets := map[string]bool{}
	for _, f := range folders {
		old := "INBOX." + f
		conv, err := convertName(old)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: does not appear to be valid modified-UTF7 (%v)", old, err))
			continue
		}
		if conv == old {
			continue
		}
		target := filepath.Join(root, "."+strings.TrimPrefix(conv, "INBOX."))
		if _, err := os.Lstat(target); err == nil || targets[target] {
			errs = append(errs, fmt.Errorf("%s: cannot be renamed to %s, which exists", old, conv))
			continue
		}
		targets[target] = true
		p.Renames = append(p.Renames, [2]string{old, conv})
	}
	data, err := os.ReadFile(filepath.Join(root, SubscriptionsFile))
	switch {
	case err == nil:
		p.HaveSubscriptions = true
		text := string(data)
		if text != "" && !strings.HasSuffix(text, "\n") {
			errs = append(errs, fmt.Errorf("%s: the last line is not terminated by a newline", SubscriptionsFile))
		}
		for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
			if text == "" {
				break
			}
			conv, err := convertName(line)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %s: does not appear to be valid modified-UTF7 (%v)", SubscriptionsFile, line, err))
				continue
			}
			if conv != line {
				p.Subscriptions = append(p.Subscriptions, [2]string{line, conv})
			}
			p.subscribed = append(p.subscribed, conv)
		}
	case !errors.Is(err, os.ErrNotExist):
		return nil, err
	}
	sort.Slice(p.Renames, func(i, j int) bool { return p.Renames[i][0] < p.Renames[j][0] })
	return p, errors.Join(errs...)
}

// Apply renames the folders and rewrites courierimapsubscribed (keeping its
// mode, and its owner when run as root). It stops at the first failure and
// reports what was done.
func (p *UTF8Plan) Apply() error {
	for i, r := range p.Renames {
		from := filepath.Join(p.Root, "."+strings.TrimPrefix(r[0], "INBOX."))
		to := filepath.Join(p.Root, "."+strings.TrimPrefix(r[1], "INBOX."))
		if err := os.Rename(from, to); err != nil {
			return fmt.Errorf("renaming %s to %s failed after %d of %d renames: %w", r[0], r[1], i, len(p.Renames), err)
		}
	}
	if !p.HaveSubscriptions {
		return nil
	}
	file := filepath.Join(p.Root, SubscriptionsFile)
	st, err := os.Stat(file)
	if err != nil {
		return err
	}
	content := strings.Join(p.subscribed, "\n")
	if len(p.subscribed) > 0 {
		content += "\n"
	}
	tmp := file + ".new"
	if err := os.WriteFile(tmp, []byte(content), st.Mode().Perm()); err != nil {
		return err
	}
	if err := os.Chmod(tmp, st.Mode().Perm()); err != nil {
		os.Remove(tmp)
		return err
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 {
		if err := os.Chown(tmp, int(sys.Uid), int(sys.Gid)); err != nil {
			os.Remove(tmp)
			return err
		}
	}
	if err := os.Rename(tmp, file); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
