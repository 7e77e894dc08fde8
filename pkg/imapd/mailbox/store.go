package mailbox

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gocourier/courier/pkg/maildir"
)

// Errors the session maps to response codes (RFC 9051 §7.1).
var (
	// ErrNonExistent: the mailbox does not exist (NO [NONEXISTENT], or
	// [TRYCREATE] for APPEND, COPY and MOVE).
	ErrNonExistent = errors.New("mailbox does not exist")
	// ErrExists: the mailbox exists already (NO [ALREADYEXISTS]).
	ErrExists = errors.New("mailbox already exists")
	// ErrInvalidName: not a name this server can store (NO [CANNOT]).
	ErrInvalidName = errors.New("invalid mailbox name")
	// ErrReadOnly: the mailbox was selected read-only (EXAMINE).
	ErrReadOnly = errors.New("mailbox is read-only")
	// ErrInbox: INBOX cannot be deleted (NO [CANNOT]).
	ErrInbox = errors.New("INBOX cannot be deleted")
	// ErrReserved: the Trash folder cannot be deleted or renamed, as in
	// Courier (imapd.c is_reserved).
	ErrReserved = errors.New("this folder is reserved")
	// ErrUIDValidityChanged: another program rebuilt the UID map of the
	// selected mailbox; the session must close it (RFC 9051 §2.3.1.1).
	ErrUIDValidityChanged = errors.New("the mailbox's UIDVALIDITY changed")
)

// Store is the IMAP view of one user's maildir. It holds no open files;
// one Store may serve several sessions of the same user at once.
type Store struct {
	// Root is the main maildir (INBOX), an absolute path.
	Root string
	// Getenv reads the IMAP_* settings (spec/imap-pop3.md §1) and
	// MAILDIRQUOTA.
	Getenv func(string) string
	// Log receives what an administrator should hear about but that no
	// command can answer: a STORE's renames that failed after its answer.
	// Nil means slog.Default().
	Log *slog.Logger
}

// Open returns the Store for the maildir root after checking that it is
// one.
func Open(root string, getenv func(string) string) (*Store, error) {
	if !filepath.IsAbs(root) {
		return nil, fmt.Errorf("maildir %q is not an absolute path", root)
	}
	if _, err := maildir.OpenDir(root); err != nil {
		return nil, err
	}
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	return &Store{Root: filepath.Clean(root), Getenv: getenv}, nil
}

func (s *Store) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// useLocks reports IMAP_USELOCKS: Courier locks unless it is set to
// something other than 1.
func (s *Store) useLocks() bool {
	v := s.Getenv("IMAP_USELOCKS")
	return v == "" || v == "1"
}

// keywordsEnabled reports IMAP_KEYWORDS (on unless 0).
func (s *Store) keywordsEnabled() bool { return s.Getenv("IMAP_KEYWORDS") != "0" }

// KeywordsEnabled reports whether keywords are stored (IMAP_KEYWORDS is
// not 0); the session then lists \* in PERMANENTFLAGS.
func (s *Store) KeywordsEnabled() bool { return s.keywordsEnabled() }

// quotaOverride is MAILDIRQUOTA, the account's quota from authlib.
func (s *Store) quotaOverride() maildir.QuotaSpec {
	q, err := maildir.ParseQuotaSpec(s.Getenv("MAILDIRQUOTA"))
	if err != nil {
		return maildir.QuotaSpec{}
	}
	return q
}

// TrashName is the IMAP name of the Trash folder (IMAP_TRASHFOLDERNAME,
// default Trash).
func (s *Store) TrashName() string {
	t := s.Getenv("IMAP_TRASHFOLDERNAME")
	if t == "" {
		t = "Trash"
	}
	return "INBOX." + t
}

// folder is one mailbox on disk.
type folder struct {
	name string // canonical IMAP name
	rest string // folder name without "INBOX.", "" for INBOX
	path string
}

// canon splits an IMAP name (UTF-8) into its canonical form and the
// folder name on disk. INBOX is case-insensitive (RFC 9051 §5.1), also as
// the first level of "INBOX.x", as Courier treats it.
func canon(name string) (imapName, rest string, err error) {
	if strings.EqualFold(name, "INBOX") {
		return "INBOX", "", nil
	}
	if len(name) > 6 && strings.EqualFold(name[:6], "INBOX.") {
		rest = name[6:]
		if err := maildir.ValidFolderName(rest); err != nil {
			return "", "", fmt.Errorf("%w: %v", ErrInvalidName, err)
		}
		return "INBOX." + rest, rest, nil
	}
	return "", "", fmt.Errorf("%w: %q is outside the personal namespace \"INBOX.\"", ErrInvalidName, name)
}

func (s *Store) folderOf(name string) (*folder, error) {
	imapName, rest, err := canon(name)
	if err != nil {
		return nil, err
	}
	p := s.Root
	if rest != "" {
		p = filepath.Join(s.Root, "."+rest)
	}
	return &folder{name: imapName, rest: rest, path: p}, nil
}

// open returns the existing folder with its Dir.
func (s *Store) open(name string) (*folder, *maildir.Dir, error) {
	f, err := s.folderOf(name)
	if err != nil {
		return nil, nil, err
	}
	d, err := maildir.OpenFolder(s.Root, f.rest)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("%s: %w", f.name, ErrNonExistent)
		}
		return nil, nil, err
	}
	d.Quota = s.quotaOverride()
	return f, d, nil
}

// lock locks a folder for a scan or an update.
func (s *Store) lock(f *folder) (func(), error) { return lockFolder(f.path, s.useLocks()) }

// Info is one LIST entry.
type Info struct {
	// Name is the IMAP name in UTF-8: "INBOX" or "INBOX.Sent".
	Name string
	// NoSelect: a hierarchy level without a folder of its own (RFC 9051
	// §7.3.1 \Noselect).
	NoSelect bool
	// HasChildren: some folder lies below (RFC 3348); otherwise the
	// session reports \HasNoChildren.
	HasChildren bool
	// Subscribed is in courierimapsubscribed (RFC 5258 \Subscribed).
	Subscribed bool
	// NonExistent: subscribed but not there (RFC 5258 \NonExistent);
	// only LIST (SUBSCRIBED) and LSUB report these.
	NonExistent bool
	// Marked and Unmarked (RFC 9051 §7.3.1): whether INBOX (every folder
	// with IMAP_CHECK_ALL_FOLDERS=1) has a message in new/ or an unseen
	// one, as Courier's mailboxlist.c decides. Both false: not checked.
	Marked, Unmarked bool
	// SpecialUse is the RFC 6154 attribute of a well-known top-level
	// name (\Sent \Drafts \Trash \Junk \Archive), "" for none.
	SpecialUse string
}

// specialUse maps well-known folder names to RFC 6154 attributes.
func (s *Store) specialUse(name string) string {
	if name == s.TrashName() {
		return `\Trash`
	}
	switch strings.TrimPrefix(name, "INBOX.") {
	case "Sent", "Sent Items", "Sent Messages":
		return `\Sent`
	case "Drafts":
		return `\Drafts`
	case "Trash", "Deleted Items", "Deleted Messages":
		return `\Trash`
	case "Junk", "Spam":
		return `\Junk`
	case "Archive", "Archives":
		return `\Archive`
	}
	return ""
}

// List returns every mailbox: INBOX, each folder, each hierarchy level
// that has no folder of its own, and each subscribed name that does not
// exist; sorted by name. The session matches patterns.
func (s *Store) List() ([]Info, error) {
	folders, err := maildir.Folders(s.Root)
	if err != nil {
		return nil, err
	}
	subs, _ := s.Subscriptions()
	subscribed := map[string]bool{}
	for _, n := range subs {
		if c, _, err := canon(n); err == nil {
			subscribed[c] = true
		}
	}
	infos := map[string]*Info{"INBOX": {Name: "INBOX"}}
	for _, f := range folders {
		name := "INBOX." + f
		infos[name] = &Info{Name: name}
	}
	for _, f := range folders {
		// Every level above a folder has children; levels without a
		// folder are \Noselect (mailboxlist.c hier_entry).
		name := "INBOX." + f
		for i := len(name) - 1; i > 0; i-- {
			if name[i] != '.' {
				continue
			}
			parent := name[:i]
			p := infos[parent]
			if p == nil {
				p = &Info{Name: parent, NoSelect: true}
				infos[parent] = p
			}
			p.HasChildren = true
		}
	}
	checkAll := s.Getenv("IMAP_CHECK_ALL_FOLDERS") == "1"
	for name, info := range infos {
		info.Subscribed = subscribed[name]
		if !info.NoSelect {
			info.SpecialUse = s.specialUse(name)
			if name == "INBOX" || checkAll {
				f, _ := s.folderOf(name)
				info.Marked = hasNewMessages(f.path)
				info.Unmarked = !info.Marked
			}
		}
	}
	for name := range subscribed {
		if infos[name] == nil {
			infos[name] = &Info{Name: name, Subscribed: true, NonExistent: true}
		}
	}
	out := make([]Info, 0, len(infos))
	for _, info := range infos {
		out = append(out, *info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// hasNewMessages: a file in new/, or one in cur/ without S
// (mailboxlist.c hasnewmsgs).
func hasNewMessages(dir string) bool {
	for _, sub := range []string{"new", "cur"} {
		d, err := os.Open(filepath.Join(dir, sub))
		if err != nil {
			continue
		}
		names, _ := d.Readdirnames(-1)
		d.Close()
		for _, n := range names {
			if n[0] == '.' {
				continue
			}
			i := strings.LastIndexByte(n, ':')
			if i < 0 || !strings.HasPrefix(n[i:], ":2,") || !strings.Contains(n[i:], "S") {
				return true
			}
		}
	}
	return false
}

// Create creates a mailbox (RFC 9051 §6.3.4). A name ending in the
// separator only declares a hierarchy level: nothing is made, as in
// Courier. The new folder gets its UID map at once, fixing its
// UIDVALIDITY.
func (s *Store) Create(name string) error {
	if strings.HasSuffix(name, ".") {
		if _, _, err := canon(strings.TrimSuffix(name, ".")); err != nil {
			return err
		}
		return nil
	}
	f, err := s.folderOf(name)
	if err != nil {
		return err
	}
	if f.rest == "" {
		return fmt.Errorf("INBOX: %w", ErrExists)
	}
	if _, err := os.Lstat(f.path); err == nil {
		return fmt.Errorf("%s: %w", f.name, ErrExists)
	}
	if err := maildir.CreateFolder(s.Root, f.rest); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s: %w", f.name, ErrExists)
		}
		return err
	}
	_, err = s.scan(f, false)
	return err
}

// Delete removes a mailbox with its messages (RFC 9051 §6.3.5); folders
// below it stay. INBOX and the Trash folder cannot be deleted.
func (s *Store) Delete(name string) error {
	f, err := s.folderOf(name)
	if err != nil {
		return err
	}
	if f.rest == "" {
		return ErrInbox
	}
	if f.name == s.TrashName() {
		return fmt.Errorf("%s: %w", f.name, ErrReserved)
	}
	if _, err := os.Stat(filepath.Join(f.path, "cur")); err != nil {
		return fmt.Errorf("%s: %w", f.name, ErrNonExistent)
	}
	defer s.forgetFolders()
	return maildir.DeleteFolder(s.Root, f.rest)
}

// Rename renames a mailbox and the folders below it (RFC 9051 §6.3.6).
// As Courier does, the renamed folders lose their UID maps (and modseq
// stores) and get a new UIDVALIDITY. Renaming INBOX moves its messages
// into a new folder of the new name and leaves INBOX empty.
func (s *Store) Rename(oldName, newName string) error {
	from, err := s.folderOf(oldName)
	if err != nil {
		return err
	}
	to, err := s.folderOf(newName)
	if err != nil {
		return err
	}
	if to.rest == "" {
		return fmt.Errorf("INBOX: %w", ErrExists)
	}
	if _, err := os.Lstat(to.path); err == nil {
		return fmt.Errorf("%s: %w", to.name, ErrExists)
	}
	if from.name == s.TrashName() {
		return fmt.Errorf("%s: %w", from.name, ErrReserved)
	}
	defer s.forgetFolders()
	if from.rest == "" {
		return s.renameInbox(to)
	}
	if err := maildir.RenameFolder(s.Root, from.rest, to.rest); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: %w", from.name, ErrNonExistent)
		}
		return err
	}
	folders, err := maildir.Folders(s.Root)
	if err != nil {
		return err
	}
	for _, f := range folders {
		if f == to.rest || strings.HasPrefix(f, to.rest+".") {
			p := filepath.Join(s.Root, "."+f)
			os.Remove(filepath.Join(p, maildir.UIDDBFile))
			os.Remove(filepath.Join(p, ModSeqFile))
		}
	}
	return nil
}

// renameInbox moves every message of INBOX into the new folder to
// (RFC 9051 §6.3.6: "the server MUST move all messages in INBOX to a new
// mailbox ... leaving INBOX empty").
func (s *Store) renameInbox(to *folder) error {
	if err := s.Create(to.name); err != nil {
		return err
	}
	inbox, err := s.Select("INBOX", false)
	if err != nil {
		return err
	}
	defer inbox.Close()
	var uids []uint32
	for _, m := range inbox.Messages() {
		uids = append(uids, m.UID)
	}
	if len(uids) == 0 {
		return nil
	}
	_, _, _, err = inbox.Move(uids, to.name)
	return err
}

// Subscriptions returns the names in courierimapsubscribed.
func (s *Store) Subscriptions() ([]string, error) {
	data, err := os.ReadFile(filepath.Join(s.Root, maildir.SubscriptionsFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return ParseSubscriptions(filepath.Join(s.Root, maildir.SubscriptionsFile), data)
}

// ParseSubscriptions parses courierimapsubscribed: one IMAP name a line
// (imapd.c subscribe). Empty lines are skipped. Lines that cannot be a
// mailbox name (invalid UTF-8, a control character) are left out and
// reported, each with its line, in the joined error; the valid names are
// returned all the same.
func ParseSubscriptions(file string, data []byte) ([]string, error) {
	var names []string
	var errs []error
	lines := strings.Split(string(data), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	for i, line := range lines {
		switch {
		case line == "":
			continue
		case !utf8.ValidString(line):
			errs = append(errs, &maildir.ParseError{File: file, Line: i + 1, Msg: fmt.Sprintf("%q is not valid UTF-8", line)})
			continue
		}
		bad := -1
		for j, r := range line {
			if r < 0x20 || r == 0x7f {
				bad = j
				break
			}
		}
		if bad >= 0 {
			errs = append(errs, &maildir.ParseError{File: file, Line: i + 1, Msg: fmt.Sprintf("%q: control character at offset %d", line, bad)})
			continue
		}
		names = append(names, line)
	}
	return names, errors.Join(errs...)
}

// sameSubscription compares names as Courier's sub_strcmp: a leading
// "inbox" in any case is the same.
func sameSubscription(a, b string) bool {
	if len(a) >= 5 && len(b) >= 5 && strings.EqualFold(a[:5], "inbox") && strings.EqualFold(b[:5], "inbox") {
		return a[5:] == b[5:]
	}
	return a == b
}

var subscribeMu sync.Mutex // our sessions' read-modify-write of the file

// Subscribe adds name to courierimapsubscribed unless it is there; the
// mailbox need not exist (RFC 9051 §6.3.7).
func (s *Store) Subscribe(name string) error {
	c, _, err := canon(strings.TrimSuffix(name, "."))
	if err != nil {
		return err
	}
	return s.editSubscriptions(func(lines []string) []string {
		for _, l := range lines {
			if sameSubscription(l, c) {
				return nil
			}
		}
		return append(lines, c)
	})
}

// Unsubscribe removes name from courierimapsubscribed (RFC 9051 §6.3.8).
func (s *Store) Unsubscribe(name string) error {
	c, _, err := canon(strings.TrimSuffix(name, "."))
	if err != nil {
		return err
	}
	return s.editSubscriptions(func(lines []string) []string {
		out := lines[:0:0]
		for _, l := range lines {
			if !sameSubscription(l, c) {
				out = append(out, l)
			}
		}
		if len(out) == len(lines) {
			return nil
		}
		return out
	})
}

// editSubscriptions rewrites the file through tmp/ when edit returns a
// new list (nil: no change). Lines are kept as they are, as Courier does.
func (s *Store) editSubscriptions(edit func([]string) []string) error {
	subscribeMu.Lock()
	defer subscribeMu.Unlock()
	p := filepath.Join(s.Root, maildir.SubscriptionsFile)
	data, err := os.ReadFile(p)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	var lines []string
	for _, l := range strings.Split(string(data), "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	lines = edit(lines)
	if lines == nil {
		return nil
	}
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	return maildir.WriteFile(s.Root, maildir.SubscriptionsFile, b.Bytes(), 0o600)
}

// Quota returns the quota of the maildir for GETQUOTAROOT (RFC 9208),
// with MAILDIRQUOTA overriding the file's limits; ok is false when there
// is none. Courier reports it as the root "ROOT" of every mailbox.
func (s *Store) Quota() (maildir.QuotaStatus, bool, error) {
	return maildir.GetQuota(s.Root, s.quotaOverride())
}

// PurgeTrash deletes old messages as IMAP_EMPTYTRASH says (imapd.c
// emptytrash): "Trash:7,Sent:30" is a list of folder:days; a bare number
// N means the Trash folder and N days; days below 1 count as 1. Courier
// does this at login and logout. It returns how many messages went.
func (s *Store) PurgeTrash() (int, error) {
	setting := s.Getenv("IMAP_EMPTYTRASH")
	if setting == "" {
		return 0, nil
	}
	type purge struct {
		folder string
		days   int
	}
	var todo []purge
	if !strings.ContainsAny(setting, ":,") {
		todo = append(todo, purge{strings.TrimPrefix(s.TrashName(), "INBOX."), atoiPrefix(setting)})
	} else {
		for _, item := range strings.Split(setting, ",") {
			name, days, ok := strings.Cut(item, ":")
			if !ok || name == "" {
				continue
			}
			todo = append(todo, purge{name, atoiPrefix(days)})
		}
	}
	total := 0
	var errs []error
	for _, p := range todo {
		d, err := maildir.OpenFolder(s.Root, p.folder)
		if err != nil {
			continue // no such folder: nothing to purge
		}
		n, err := d.PurgeOlder(time.Duration(max(p.days, 1)) * 24 * time.Hour)
		total += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}

// atoiPrefix is C's atoi: the leading digits, 0 if none.
func atoiPrefix(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	n, _ := strconv.Atoi(s[:i])
	return n
}

// forgetFolders drops the scan caches of the user's folders, after
// folders were deleted or renamed.
func (s *Store) forgetFolders() {
	caches.Range(func(k, _ any) bool {
		if p := k.(string); p != s.Root && strings.HasPrefix(p, s.Root+"/") {
			caches.Delete(k)
		}
		return true
	})
}
