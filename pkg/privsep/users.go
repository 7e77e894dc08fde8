package privsep

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// The system account files. They are read directly, the way Go's os/user
// reads them when built without cgo (as every network-facing program of the
// suite is); NSS sources such as LDAP are not consulted for the accounts the
// daemons run as. Mail accounts come from authdaemond, not from here.
const (
	passwdFile = "/etc/passwd"
	groupFile  = "/etc/group"
)

// User is one /etc/passwd entry.
type User struct {
	Name     string
	UID, GID uint32
	Home     string
	Shell    string
}

// ErrNotFound is wrapped by the lookup errors when the account does not
// exist (as opposed to an unreadable or malformed account file).
var ErrNotFound = errors.New("no such account")

// ParseID parses a decimal uid or gid as the original accepts them on its
// command lines (-user=105). It rejects signs, spaces, and 4294967295, which
// is (uid_t)-1 ("no change") to the kernel.
func ParseID(s string) (uint32, bool) {
	if s == "" || len(s) > 10 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 0xFFFFFFFF {
		return 0, false
	}
	return uint32(n), true
}

// LookupUser finds a user by name, or by uid when name is all digits (as the
// original's -user= options do).
func LookupUser(name string) (User, error) { return lookupUser(passwdFile, name) }

// LookupGroup returns the gid of a group given by name, or by number when
// the name is all digits. A number need not have a /etc/group entry.
func LookupGroup(name string) (uint32, error) { return lookupGroup(groupFile, name) }

// UserGroups returns the supplementary groups initgroups(3) would give the
// user: gid first, then every group of /etc/group that lists name as a
// member, without duplicates.
func UserGroups(name string, gid uint32) ([]uint32, error) {
	return userGroups(groupFile, name, gid)
}

// CredentialFor returns the credential a process running as u gets from a
// login: u's uid and primary gid, and its supplementary groups.
func CredentialFor(u User) (Credential, error) {
	groups, err := UserGroups(u.Name, u.GID)
	if err != nil {
		return Credential{}, err
	}
	return Credential{UID: u.UID, GID: u.GID, Groups: groups}, nil
}

// ParsePasswdLine parses one /etc/passwd line:
// name:password:uid:gid:gecos:home:shell.
func ParsePasswdLine(line string) (User, error) {
	f := strings.Split(line, ":")
	if len(f) != 7 {
		return User{}, fmt.Errorf("has %d colon-separated fields, want 7 (name:password:uid:gid:gecos:home:shell)", len(f))
	}
	if f[0] == "" {
		return User{}, errors.New("empty user name")
	}
	uid, ok := ParseID(f[2])
	if !ok {
		return User{}, fmt.Errorf("user %q: uid %q is not a decimal number below 4294967295", f[0], f[2])
	}
	gid, ok := ParseID(f[3])
	if !ok {
		return User{}, fmt.Errorf("user %q: gid %q is not a decimal number below 4294967295", f[0], f[3])
	}
	return User{Name: f[0], UID: uid, GID: gid, Home: f[5], Shell: f[6]}, nil
}

// Group is one /etc/group entry.
type Group struct {
	Name    string
	GID     uint32
	Members []string
}

// ParseGroupLine parses one /etc/group line: name:password:gid:member,member.
func ParseGroupLine(line string) (Group, error) {
	f := strings.Split(line, ":")
	if len(f) != 4 {
		return Group{}, fmt.Errorf("has %d colon-separated fields, want 4 (name:password:gid:members)", len(f))
	}
	if f[0] == "" {
		return Group{}, errors.New("empty group name")
	}
	gid, ok := ParseID(f[2])
	if !ok {
		return Group{}, fmt.Errorf("group %q: gid %q is not a decimal number below 4294967295", f[0], f[2])
	}
	g := Group{Name: f[0], GID: gid}
	if f[3] != "" {
		for _, m := range strings.Split(f[3], ",") {
			if m = strings.TrimSpace(m); m != "" {
				g.Members = append(g.Members, m)
			}
		}
	}
	return g, nil
}

// scanAccounts calls fn with every account line of path (blank lines,
// comments and NIS "+"/"-" entries skipped) and its line number, until fn
// returns true or an error.
func scanAccounts(path string, fn func(line string, n int) (bool, error)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "" || line[0] == '#' || line[0] == '+' || line[0] == '-' {
			continue
		}
		done, err := fn(line, n)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s:%d: %w", path, n+1, err)
	}
	return nil
}

func lookupUser(path, name string) (User, error) {
	if name == "" {
		return User{}, errors.New("empty user name")
	}
	uid, byID := ParseID(name)
	var found User
	ok := false
	err := scanAccounts(path, func(line string, n int) (bool, error) {
		field0, rest, _ := strings.Cut(line, ":")
		if !byID && field0 != name {
			return false, nil
		}
		u, err := ParsePasswdLine(line)
		if err != nil {
			if byID {
				// Another user's broken line cannot be the one
				// asked for unless its uid field says so.
				f := strings.Split(rest, ":")
				if len(f) < 2 || f[1] != name {
					return false, nil
				}
			}
			return false, fmt.Errorf("%s:%d: %v", path, n, err)
		}
		if byID && u.UID != uid {
			return false, nil
		}
		found, ok = u, true
		return true, nil
	})
	if err != nil {
		return User{}, fmt.Errorf("looking up user %q: %w", name, err)
	}
	if !ok {
		if byID {
			return User{}, fmt.Errorf("uid %d has no entry in %s: %w", uid, path, ErrNotFound)
		}
		return User{}, fmt.Errorf("user %q has no entry in %s: %w", name, path, ErrNotFound)
	}
	return found, nil
}

func lookupGroup(path, name string) (uint32, error) {
	if name == "" {
		return 0, errors.New("empty group name")
	}
	if gid, ok := ParseID(name); ok {
		return gid, nil
	}
	var gid uint32
	ok := false
	err := scanAccounts(path, func(line string, n int) (bool, error) {
		if field0, _, _ := strings.Cut(line, ":"); field0 != name {
			return false, nil
		}
		g, err := ParseGroupLine(line)
		if err != nil {
			return false, fmt.Errorf("%s:%d: %v", path, n, err)
		}
		gid, ok = g.GID, true
		return true, nil
	})
	if err != nil {
		return 0, fmt.Errorf("looking up group %q: %w", name, err)
	}
	if !ok {
		return 0, fmt.Errorf("group %q has no entry in %s: %w", name, path, ErrNotFound)
	}
	return gid, nil
}

func userGroups(path, name string, gid uint32) ([]uint32, error) {
	groups := []uint32{gid}
	err := scanAccounts(path, func(line string, n int) (bool, error) {
		if !strings.Contains(line, name) {
			return false, nil
		}
		g, err := ParseGroupLine(line)
		if err != nil {
			// Only a line that may list this user matters; any
			// other broken line is skipped, as the C library does.
			f := strings.Split(line, ":")
			for _, m := range strings.Split(f[len(f)-1], ",") {
				if strings.TrimSpace(m) == name {
					return false, fmt.Errorf("%s:%d: %v", path, n, err)
				}
			}
			return false, nil
		}
		for _, m := range g.Members {
			if m == name && !containsID(groups, g.GID) {
				groups = append(groups, g.GID)
			}
		}
		return false, nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the groups of user %q: %w", name, err)
	}
	return groups, nil
}

func containsID(list []uint32, id uint32) bool {
	for _, x := range list {
		if x == id {
			return true
		}
	}
	return false
}

// MailCredential is the identity of the courier mail user: the user and
// group the layout names (layout MailUser, MailGroup), with that group as
// its only supplementary group. The scheduler, the dsn module, the queue
// tools and the alias directory's deliveries run as it.
func MailCredential(user, group string) (Credential, error) {
	u, err := LookupUser(user)
	if err != nil {
		return Credential{}, fmt.Errorf("the mail user %q: %w", user, err)
	}
	gid, err := LookupGroup(group)
	if err != nil {
		return Credential{}, fmt.Errorf("the mail group %q: %w", group, err)
	}
	return Credential{UID: u.UID, GID: gid, Groups: []uint32{gid}}, nil
}
