package maildir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"
)

// folderMarker is the empty file that tells delivery agents a directory is
// a folder, whose quota lives in the parent (maildir(5)).
const folderMarker = "maildirfolder"

// hierAclDir holds the ACLs of hierarchy nodes that have no directory; a
// folder rename carries its entries along (maildirrename.c).
const hierAclDir = "courierimaphieracl"

// Make creates a maildir: the directory (mode perm), tmp/, new/ and cur/
// (mode subdirPerm), and for a folder the empty maildirfolder file (0600),
// as maildirmake does (maildirmake2.c maildir_make). The modes are set
// exactly, whatever the umask; os.ModeSticky is honoured (shared folders).
// It fails if path exists. On failure nothing is left behind.
func Make(path string, perm, subdirPerm os.FileMode, folder bool) (err error) {
	if err := os.Mkdir(path, perm); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(path)
		}
	}()
	if err := os.Chmod(path, perm); err != nil {
		return err
	}
	for _, sub := range []string{"tmp", "new", "cur"} {
		p := filepath.Join(path, sub)
		if err := os.Mkdir(p, subdirPerm); err != nil {
			return err
		}
		if err := os.Chmod(p, subdirPerm); err != nil {
			return err
		}
	}
	if folder {
		f, err := os.OpenFile(filepath.Join(path, folderMarker), os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		if err := f.Chmod(0o600); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

// MkdirAll creates path and any missing parents like mkdir -p (mode 0700),
// then its cur/, new/ and tmp/ (tmp/ last: deliveries start there, so its
// presence means the maildir is complete). Existing directories are fine.
// This is deliverquota -c (maildirmkdir.c).
func MkdirAll(path string) error {
	if err := os.MkdirAll(path, 0o700); err != nil {
		return err
	}
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.Mkdir(filepath.Join(path, sub), 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	return nil
}

// ValidFolderName checks a folder name as stored on disk (spec/maildir.md
// §1; maildir(5) "Folder name encoding"): UTF-8 without control
// characters and without '/', components separated by '.' and none of them
// empty (so no leading, trailing or doubled '.'), at most 254 bytes so that
// ".<name>" fits a directory entry. The name excludes the "INBOX." an IMAP
// client sees.
func ValidFolderName(name string) error {
	if name == "" {
		return fmt.Errorf("empty folder name")
	}
	if len(name) > 254 {
		return fmt.Errorf("folder name %q is longer than 254 bytes", name)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("folder name %q is not valid UTF-8", name)
	}
	for i, r := range name {
		switch {
		case r == '/':
			return fmt.Errorf("folder name %q: '/' is not allowed", name)
		case r < 0x20 || r == 0x7f:
			return fmt.Errorf("folder name %q: control character %U at offset %d is not allowed", name, r, i)
		}
	}
	for _, c := range strings.Split(name, ".") {
		if c == "" {
			return fmt.Errorf("folder name %q: empty hierarchy level (leading, trailing or doubled '.')", name)
		}
	}
	return nil
}

// FolderPath returns the directory of folder name in the main maildir root.
func FolderPath(root, name string) (string, error) {
	if err := ValidFolderName(name); err != nil {
		return "", err
	}
	return filepath.Join(root, "."+name), nil
}

// OpenFolder returns the Dir of folder name ("" for INBOX, the main
// maildir itself) of the main maildir root.
func OpenFolder(root, name string) (*Dir, error) {
	if name == "" {
		return OpenDir(root)
	}
	p, err := FolderPath(root, name)
	if err != nil {
		return nil, err
	}
	d, err := OpenDir(p)
	if err != nil {
		return nil, err
	}
	d.Root = root
	return d, nil
}

// CreateFolder creates folder name in the main maildir root, with the
// permissions maildirmake -f gives (0700, maildirfolder 0600).
func CreateFolder(root, name string) error {
	p, err := FolderPath(root, name)
	if err != nil {
		return err
	}
	if err := Make(p, 0o700, 0o700, true); err != nil {
		return fmt.Errorf("cannot create folder %s: %w", name, err)
	}
	return nil
}

// Folders lists the folder names of the main maildir root, sorted: every
// ".<name>" entry whose cur/ can be searched (maildirlist.c). Names are
// returned as stored, in UTF-8, without "INBOX.". Intermediate hierarchy
// levels without a directory of their own are not listed; the IMAP layer
// derives them.
func Folders(root string) ([]string, error) {
	names, err := readNames(root)
	if err != nil {
		return nil, fmt.Errorf("cannot list the folders of %s: %w", root, err)
	}
	var out []string
	for _, n := range names {
		if len(n) < 2 || n[0] != '.' || n == ".." {
			continue
		}
		st, err := os.Stat(filepath.Join(root, n, "cur"))
		if err != nil || !st.IsDir() {
			continue
		}
		out = append(out, n[1:])
	}
	sort.Strings(out)
	return out, nil
}

// DeleteFolder removes folder name of the main maildir root with its
// messages. Its subfolders (name.sub) stay, as in Courier. The quota is
// recounted afterwards. A folder that is a symbolic link loses only the
// link.
func DeleteFolder(root, name string) error {
	p, err := FolderPath(root, name)
	if err != nil {
		return err
	}
	st, err := os.Lstat(p)
	if err != nil {
		return fmt.Errorf("cannot delete folder %s: %w", name, err)
	}
	if st.Mode()&os.ModeSymlink != 0 {
		if err := os.Remove(p); err != nil {
			return fmt.Errorf("cannot delete folder %s: %w", name, err)
		}
		return nil
	}
	// cur/ first: without it the folder no longer lists, so a reader
	// never sees it half deleted.
	if err := os.RemoveAll(filepath.Join(p, "cur")); err != nil {
		return fmt.Errorf("cannot delete folder %s: %w", name, err)
	}
	if err := os.RemoveAll(p); err != nil {
		return fmt.Errorf("cannot delete folder %s: %w", name, err)
	}
	return Recalculate(root)
}

// RenameFolder renames folder oldName to newName in the main maildir root
// together with its subfolders (oldName.x becomes newName.x) and their
// hierarchy ACL entries, as IMAP RENAME does (maildirrename.c). oldName
// itself need not exist if it has subfolders. No destination may exist
// yet; if one rename fails, those already done are undone. The quota is
// recounted afterwards, since Trash may have been involved.
func RenameFolder(root, oldName, newName string) error {
	if err := ValidFolderName(oldName); err != nil {
		return err
	}
	if err := ValidFolderName(newName); err != nil {
		return err
	}
	if newName == oldName || strings.HasPrefix(newName, oldName+".") {
		return fmt.Errorf("cannot rename folder %s to %s: a folder cannot move into itself", oldName, newName)
	}
	type move struct{ from, to string }
	var moves []move
	names, err := readNames(root)
	if err != nil {
		return fmt.Errorf("cannot rename folder %s: %w", oldName, err)
	}
	for _, n := range names {
		if len(n) < 2 || n[0] != '.' || n == ".." {
			continue
		}
		rest, ok := strings.CutPrefix(n[1:], oldName)
		if !ok || rest != "" && rest[0] != '.' {
			continue
		}
		if _, err := os.Stat(filepath.Join(root, n, "cur")); err != nil {
			continue
		}
		to := filepath.Join(root, "."+newName+rest)
		if _, err := os.Lstat(to); err == nil {
			return fmt.Errorf("cannot rename folder %s to %s: folder %s exists", oldName, newName, newName+rest)
		}
		moves = append(moves, move{filepath.Join(root, n), to})
	}
	if len(moves) == 0 {
		return fmt.Errorf("cannot rename folder %s: %w", oldName, fs.ErrNotExist)
	}
	aclDir := filepath.Join(root, hierAclDir)
	if acls, err := readNames(aclDir); err == nil {
		for _, n := range acls {
			rest, ok := strings.CutPrefix(n, oldName)
			if n[0] == '.' || !ok || rest != "" && rest[0] != '.' {
				continue
			}
			moves = append(moves, move{filepath.Join(aclDir, n), filepath.Join(aclDir, newName+rest)})
		}
	}
	sort.Slice(moves, func(i, j int) bool { return moves[i].from < moves[j].from })
	for i, m := range moves {
		if err := os.Rename(m.from, m.to); err != nil {
			for j := i - 1; j >= 0; j-- {
				os.Rename(moves[j].to, moves[j].from)
			}
			return fmt.Errorf("cannot rename folder %s to %s: %w", oldName, newName, err)
		}
	}
	if err := syncDir(root); err != nil {
		return fmt.Errorf("folder %s renamed to %s, but %s could not be synced: %w", oldName, newName, root, err)
	}
	return Recalculate(root)
}

// EscapeFolderName writes characters that Courier's "modified UTF-8" folder
// encoding cannot keep as three-digit octal escapes "\ooo": control
// characters, '.', '/', ':', '\' and '~'. maildirmake -F stores the name
// typed in the locale's character set this way, so "a.b" becomes one level
// named "a\056b" rather than two (observed with Debian's maildirmake).
func EscapeFolderName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || strings.IndexByte("./:\\~", c) >= 0 {
			fmt.Fprintf(&b, "\\%03o", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// LocaleCharset returns the character set of the locale named by the
// environment (LC_ALL, then LC_CTYPE, then LANG), as one of "UTF-8",
// "ISO-8859-1", "US-ASCII", or the codeset as written when it is none of
// these.
func LocaleCharset(getenv func(string) string) string {
	loc := ""
	for _, v := range []string{"LC_ALL", "LC_CTYPE", "LANG"} {
		if loc = getenv(v); loc != "" {
			break
		}
	}
	codeset := ""
	if i := strings.IndexByte(loc, '.'); i >= 0 {
		codeset = loc[i+1:]
	}
	if i := strings.IndexByte(codeset, '@'); i >= 0 {
		codeset = codeset[:i]
	}
	switch norm := strings.ToLower(strings.ReplaceAll(codeset, "-", "")); {
	case norm == "utf8":
		return "UTF-8"
	case norm == "iso88591" || norm == "latin1":
		return "ISO-8859-1"
	case codeset == "" || norm == "ascii" || norm == "usascii" || norm == "ansi_x3.41968":
		return "US-ASCII"
	default:
		return codeset
	}
}

// ToUTF8 converts s from charset (as LocaleCharset names it) to UTF-8.
func ToUTF8(s, charset string) (string, error) {
	switch charset {
	case "UTF-8":
		if !utf8.ValidString(s) {
			return "", fmt.Errorf("%q is not valid UTF-8", s)
		}
		return s, nil
	case "ISO-8859-1":
		r := make([]rune, len(s))
		for i := 0; i < len(s); i++ {
			r[i] = rune(s[i])
		}
		return string(r), nil
	case "US-ASCII":
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 {
				return "", fmt.Errorf("%q has a byte beyond US-ASCII at offset %d", s, i)
			}
		}
		return s, nil
	}
	return "", fmt.Errorf("character set %s is not supported (use a UTF-8 or ISO-8859-1 locale)", charset)
}
