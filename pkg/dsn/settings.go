package dsn

import (
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gocourier/courier/pkg/controlfiles"
	"github.com/gocourier/courier/pkg/layout"
)

// DefaultLimit is the original's dsnlimit: messages of this size or larger are
// returned as headers only.
const DefaultLimit = 32768

// Texts are the administrator's wording of the report, one field per file in
// the configuration directory. The subjects are the first line of their file;
// the others are whole files, used as they are.
type Texts struct {
	Header        string // dsnheader.txt: starts with the text part's Content-Type; [#ME#], [#FROMTIME#], [#FROMMTA#] are replaced
	Footer        string // dsnfooter.txt
	Delivered     string // dsndelivered.txt: banner of successful local deliveries
	Relayed       string // dsnrelayed.txt: banner of deliveries to gateways without DSN support
	Failed        string // dsnfailed.txt: banner of failures
	Delayed       string // dsndelayed.txt: banner of a delay warning; "%s" is replaced by me (the original uses it as a printf format)
	SubjectNotice string // dsnsubjectnotice.txt: Subject of final reports and receipts
	SubjectWarn   string // dsnsubjectwarn.txt: Subject of delay warnings
}

// TextFiles lists the file of each Texts field, in the order the original reads
// them; every one must exist.
var TextFiles = []string{
	"dsnsubjectwarn.txt", "dsnsubjectnotice.txt", "dsnheader.txt", "dsnfooter.txt",
	"dsndelayed.txt", "dsnrelayed.txt", "dsndelivered.txt", "dsnfailed.txt",
}

// Settings are what Needed and Build need to know beyond the message itself.
type Settings struct {
	Me                 string // this host's name (the "me" file)
	DSNFrom            string // From: header of reports (first line of "dsnfrom", else the built-in default)
	Limit              int64  // dsnlimit: largest data file returned whole, exclusive
	ToAuthAddr         bool   // DSNTOAUTHADDR: report to the authenticated address (i record) when it has an '@'
	DefaultNotifyDelay bool   // DSNDEFAULTNOTIFYDELAY: warn about delays when NOTIFY was not given
	Texts              Texts
	Now                func() time.Time // the clock for Date: and Message-ID:; nil is time.Now
}

// LoadSettings reads the report settings the way the dsn module starts: the
// text files, dsnfrom and dsnlimit from l's configuration directory, me through
// controlfiles, and DSNTOAUTHADDR and DSNDEFAULTNOTIFYDELAY from environ
// ("NAME=value" strings, the environment courierd gives its modules). Both
// variables are on unless their value starts with "0", as in the original
// (Debian's courierd file sets DSNTOAUTHADDR=0). A missing text file is an
// error naming it: the original refuses to start without them.
func LoadSettings(l layout.Layout, environ []string) (Settings, error) {
	dir := l.SysconfDir
	files, err := controlfiles.Hosts(dir)
	if err != nil {
		return Settings{}, err
	}
	s := Settings{
		Me:                 files.Me,
		ToAuthAddr:         envFlag(environ, "DSNTOAUTHADDR"),
		DefaultNotifyDelay: envFlag(environ, "DSNDEFAULTNOTIFYDELAY"),
	}
	if s.Limit, err = files.Int("dsnlimit", DefaultLimit); err != nil {
		return Settings{}, err
	}
	ptrs := []*string{
		&s.Texts.SubjectWarn, &s.Texts.SubjectNotice, &s.Texts.Header, &s.Texts.Footer,
		&s.Texts.Delayed, &s.Texts.Relayed, &s.Texts.Delivered, &s.Texts.Failed,
	}
	for i, name := range TextFiles {
		path := filepath.Join(dir, name)
		data, err := os.ReadFile(path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return Settings{}, fmt.Errorf("%s: missing: the delivery status notifications need it (install the default from etc/dsn/%s)", path, name)
			}
			return Settings{}, fmt.Errorf("%s: %w", path, err)
		}
		*ptrs[i] = string(data)
		if i < 2 {
			*ptrs[i] = firstLine(string(data))
		}
	}
	from, err := os.ReadFile(filepath.Join(dir, "dsnfrom"))
	switch {
	case err == nil && strings.TrimSpace(firstLine(string(from))) != "":
		s.DSNFrom = firstLine(string(from))
	case err == nil || errors.Is(err, fs.ErrNotExist):
		s.DSNFrom = DefaultFrom(s.Me)
	default:
		return Settings{}, fmt.Errorf("%s: %w", filepath.Join(dir, "dsnfrom"), err)
	}
	return s, nil
}

// DefaultFrom is the From: of reports when there is no dsnfrom file: a display
// name naming this host (RFC 2047-encoded when it is not ASCII) and the
// address "<@>", which submission leaves untouched, as the original's does.
func DefaultFrom(me string) string {
	return "Mail Delivery System at " + mime.QEncoding.Encode("utf-8", me) + " <@>"
}

// firstLine is what the original's one-line reader keeps: at most 255 bytes
// of the first line, without its newline (blanks and a CR are kept).
func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 255 {
		s = s[:255]
	}
	return s
}

// envFlag is the original's test of a yes/no variable: on unless it is set
// and starts with '0'.
func envFlag(environ []string, name string) bool {
	v, ok := "", false
	for _, kv := range environ {
		if k, val, found := strings.Cut(kv, "="); found && k == name {
			v, ok = val, true
		}
	}
	return !ok || !strings.HasPrefix(v, "0")
}
