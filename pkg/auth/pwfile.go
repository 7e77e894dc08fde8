package auth

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// PasswdEntry is one line of /etc/passwd, with the password of /etc/shadow
// when one was read.
type PasswdEntry struct {
	Name, Passwd       string
	UID, GID           uint32
	Gecos, Home, Shell string
}

// ParsePasswd parses passwd(5) data. Like the C library it skips lines it
// cannot read (NIS "+" lines, wrong field counts, bad numbers) rather than
// refusing the whole file; each skipped line is reported as "file:line:
// reason" in the second result so the daemon can tell the admin.
func ParsePasswd(name string, data []byte) ([]PasswdEntry, []error) {
	var out []PasswdEntry
	var bad []error
	for i, line := range bytes.Split(data, []byte{'\n'}) {
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		f := strings.Split(string(line), ":")
		if len(f) != 7 || f[0] == "" || f[0][0] == '+' || f[0][0] == '-' {
			bad = append(bad, fmt.Errorf("%s:%d: not a passwd entry (want 7 colon-separated fields)", name, i+1))
			continue
		}
		uid, err1 := strconv.ParseUint(f[2], 10, 32)
		gid, err2 := strconv.ParseUint(f[3], 10, 32)
		if err1 != nil || err2 != nil {
			bad = append(bad, fmt.Errorf("%s:%d: bad uid %q or gid %q", name, i+1, f[2], f[3]))
			continue
		}
		out = append(out, PasswdEntry{Name: f[0], Passwd: f[1], UID: uint32(uid), GID: uint32(gid), Gecos: f[4], Home: f[5], Shell: f[6]})
	}
	return out, bad
}

// ParseShadow parses shadow(5) data into name → encrypted password.
func ParseShadow(name string, data []byte) (map[string]string, []error) {
	out := map[string]string{}
	var bad []error
	for i, line := range bytes.Split(data, []byte{'\n'}) {
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		f := strings.Split(string(line), ":")
		if len(f) < 2 || f[0] == "" {
			bad = append(bad, fmt.Errorf("%s:%d: not a shadow entry", name, i+1))
			continue
		}
		if _, dup := out[f[0]]; !dup {
			out[f[0]] = f[1]
		}
	}
	return out, bad
}

// pwFiles reads /etc/passwd (and /etc/shadow) on demand and again whenever
// either file changes, so a lookup costs a stat, not a parse.
type pwFiles struct {
	passwd, shadow string // shadow "" for authpwd
	warn           func(error)

	mu     sync.Mutex
	stamp  [2]fileStamp
	list   []PasswdEntry
	byName map[string]int
}

type fileStamp struct {
	ino, size int64
	mtime     time.Time
}

func stampOf(path string) (fileStamp, error) {
	if path == "" {
		return fileStamp{}, nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	st := fileStamp{size: fi.Size(), mtime: fi.ModTime()}
	if s, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = int64(s.Ino)
	}
	return st, nil
}

// load returns the current entries, re-reading the files when they
// changed (a password change replaces /etc/shadow: the next lookup must
// see the new hash, so every lookup pays two stats).
func (p *pwFiles) load() ([]PasswdEntry, map[string]int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var st [2]fileStamp
	var err error
	if st[0], err = stampOf(p.passwd); err != nil {
		return nil, nil, err
	}
	shadow := p.shadow
	if st[1], err = stampOf(shadow); errors.Is(err, fs.ErrPermission) {
		// Not root (a sandbox): the accounts without their passwords.
		shadow = ""
	} else if err != nil {
		return nil, nil, err
	}
	if p.byName != nil && st == p.stamp {
		return p.list, p.byName, nil
	}
	data, err := os.ReadFile(p.passwd)
	if err != nil {
		return nil, nil, err
	}
	list, bad := ParsePasswd(p.passwd, data)
	if shadow != "" {
		sdata, err := os.ReadFile(shadow)
		if errors.Is(err, fs.ErrPermission) {
			sdata = nil
		} else if err != nil {
			return nil, nil, err
		}
		sh, sbad := ParseShadow(shadow, sdata)
		bad = append(bad, sbad...)
		for i := range list {
			if pw, ok := sh[list[i].Name]; ok {
				list[i].Passwd = pw
			}
		}
	}
	if p.warn != nil {
		for _, e := range bad {
			p.warn(e)
		}
	}
	byName := make(map[string]int, len(list))
	for i, e := range list {
		if _, dup := byName[e.Name]; !dup {
			byName[e.Name] = i
		}
	}
	p.list, p.byName, p.stamp = list, byName, st
	return list, byName, nil
}

func (p *pwFiles) lookup(name string) (PasswdEntry, bool, error) {
	list, byName, err := p.load()
	if err != nil {
		return PasswdEntry{}, false, err
	}
	i, ok := byName[name]
	if !ok {
		return PasswdEntry{}, false, nil
	}
	return list[i], true, nil
}
