package maildir

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// warnStamp is the file in the main maildir whose age limits quota
// warnings to one a day.
const warnStamp = "quotawarn"

// warnInterval is how often the warning may repeat.
const warnInterval = 24 * time.Hour

// QuotaWarning delivers the quota warning of deliverquota -w
// (maildirquota.c maildir_deliver_quota_warning): when the maildir of dir
// (a folder means its main maildir, where the warning goes) has a quota
// and is at least percent full, and no warning went out in the last 24
// hours, it copies the message file into new/ with "Date:" and
// "Message-Id: <time.overquota@host>" headers put in front, named with
// "_warn". msgFile is the -W file; when it is empty or cannot be opened
// defaultFile (/etc/courier/quotawarnmsg) is used. It returns the path of
// the delivered warning, or "" when none was due.
//
// The warning is delivered even to a full maildir, and counts towards the
// quota only if it fits, as in Courier; its file mode is Courier's 0644.
func QuotaWarning(dir string, percent int, msgFile, defaultFile string) (string, error) {
	if percent < 0 {
		return "", nil
	}
	root := QuotaRoot(dir)
	q, err := loadQuota(root, QuotaSpec{})
	if err != nil || q == nil {
		return "", err
	}
	pct, err := q.check(Usage{})
	if err != nil && !errors.Is(err, ErrOverQuota) {
		return "", err
	}
	if pct < percent {
		return "", nil
	}
	var f *os.File
	if msgFile != "" {
		f, err = os.Open(msgFile)
	}
	if f == nil {
		f, err = os.Open(defaultFile)
	}
	if err != nil {
		return "", fmt.Errorf("maildir %s is %d%% full but no quota warning can be sent: %w", root, pct, err)
	}
	defer f.Close()

	stamp := filepath.Join(root, warnStamp)
	now := time.Now()
	st, err := os.Stat(stamp)
	if err == nil && now.Before(st.ModTime().Add(warnInterval)) {
		return "", nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("quota warning for %s: %w", root, err)
	}
	if err := os.WriteFile(stamp, []byte{0}, 0o644); err != nil {
		return "", fmt.Errorf("quota warning for %s: %w", root, err)
	}

	host, err := os.Hostname()
	if err != nil {
		host = "localhost"
	}
	header := fmt.Sprintf("Date: %s\nMessage-Id: <%d.overquota@%s>\n",
		now.Format("Mon, 02 Jan 2006 15:04:05 -0700"), now.Unix(), host)
	d := &Dir{Path: root, Root: root}
	p, err := d.Create(io.MultiReader(bytes.NewReader([]byte(header)), f), DeliverOptions{Uniq: "warn", NoQuota: true, Mode: 0o644})
	if err != nil {
		return "", fmt.Errorf("quota warning for %s: %w", root, err)
	}
	p.quotaFree = CheckQuota(root, QuotaSpec{}, Usage{p.size, 1}) != nil
	path, err := p.Commit()
	if err != nil {
		p.Abort()
		return "", fmt.Errorf("quota warning for %s: %w", root, err)
	}
	return path, nil
}
