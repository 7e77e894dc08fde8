package userdb

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// PasswdOptions are pw2userdb's options.
type PasswdOptions struct {
	Passwd   string // default /etc/passwd
	Shadow   string // default /etc/shadow; read when it is a regular file
	NoShadow bool   // ignore the shadow file
	NoUID    bool   // no reverse "NNN=" records
	Domain   string // appended as "@domain" to account names
}

// readColonFile reads passwd(5)/shadow(5) lines, skipping "#" comments and
// empty lines, split at ":".
func readColonFile(path string, fn func(line int, fields []string) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		if l == "" || l[0] == '#' {
			continue
		}
		if err := fn(n, strings.Split(l, ":")); err != nil {
			return err
		}
	}
	return sc.Err()
}

// Pw2Userdb converts a passwd file (and its shadow file) to userdb text
// on w, in the passwd file's order (spec/userdb.md §5):
//
//	name[@domain]<TAB>uid=U|gid=G|home=H[|shell=S][|systempw=P][|gecos=C]
//	U=<TAB>name
//
// As in the original, "|" in the gecos becomes "."; the password comes
// from the shadow file, else from the passwd file unless it is "x"; the
// reverse record names the account without the domain. Unlike the
// original, only the first account of a uid gets a reverse record, since
// makeuserdb refuses a second record of the same name, and a passwd line
// whose other fields contain "|" or control characters is an error
// (file:line) rather than a broken record.
func Pw2Userdb(o PasswdOptions, w io.Writer) error {
	if o.Passwd == "" {
		o.Passwd = "/etc/passwd"
	}
	if o.Shadow == "" {
		o.Shadow = "/etc/shadow"
	}
	type account struct{ name, uid, gid, home, shell, gecos, pw string }
	var accounts []*account
	byName := map[string]*account{}
	err := readColonFile(o.Passwd, func(line int, f []string) error {
		for len(f) < 7 {
			f = append(f, "")
		}
		a := &account{name: f[0], uid: f[2], gid: f[3], gecos: strings.ReplaceAll(f[4], "|", "."), home: f[5], shell: f[6]}
		if f[1] != "x" {
			a.pw = f[1]
		}
		for _, v := range []string{a.name, a.uid, a.gid, a.gecos, a.home, a.shell, a.pw} {
			if strings.Contains(v, "|") || controlChar(v) != "" {
				return &LineError{File: o.Passwd, Line: line, Reason: fmt.Sprintf("account %q has | or a control character in a field", a.name)}
			}
		}
		if a.name == "" {
			return &LineError{File: o.Passwd, Line: line, Reason: "empty account name"}
		}
		if prev, dup := byName[a.name]; dup {
			*prev = *a // the last line of a name wins, as in the original
			return nil
		}
		accounts = append(accounts, a)
		byName[a.name] = a
		return nil
	})
	if err != nil {
		return err
	}
	if fi, err := os.Stat(o.Shadow); err == nil && fi.Mode().IsRegular() && !o.NoShadow {
		err := readColonFile(o.Shadow, func(line int, f []string) error {
			if len(f) < 2 {
				return nil
			}
			if strings.Contains(f[1], "|") || controlChar(f[1]) != "" {
				return &LineError{File: o.Shadow, Line: line, Reason: fmt.Sprintf("password of %q contains | or a control character", f[0])}
			}
			if a, ok := byName[f[0]]; ok {
				a.pw = f[1]
			}
			return nil
		})
		if err != nil {
			return err
		}
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	domain := ""
	if o.Domain != "" {
		domain = "@" + o.Domain
	}
	bw := bufio.NewWriter(w)
	reverse := map[string]bool{}
	for _, a := range accounts {
		fmt.Fprintf(bw, "%s%s\tuid=%s|gid=%s|home=%s", a.name, domain, a.uid, a.gid, a.home)
		if a.shell != "" {
			bw.WriteString("|shell=" + a.shell)
		}
		if a.pw != "" {
			bw.WriteString("|systempw=" + a.pw)
		}
		if a.gecos != "" {
			bw.WriteString("|gecos=" + a.gecos)
		}
		bw.WriteString("\n")
		if !o.NoUID && !reverse[a.uid] {
			reverse[a.uid] = true
			fmt.Fprintf(bw, "%s=\t%s\n", a.uid, a.name)
		}
	}
	return bw.Flush()
}
