package authlib

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Replies that are not an account (spec/authdaemon.md §3).
const (
	ReplyFail = "FAIL\n" // permanent failure: every module rejected
	ReplyOK   = "OK\n"   // PASSWD succeeded
	replyEnd  = ".\n"    // end of an account or of an enumeration
)

// maxReply bounds an account reply the client accepts, maxLine one line
// of it; real replies are a few hundred bytes.
const (
	maxReply = 64 << 10
	maxLine  = 16 << 10
)

// Account is the answer to a successful PRE or AUTH: the keys of §3 in the
// order the daemon writes them.
type Account struct {
	Username string // USERNAME: a system account; the caller finds its uid with getpwnam
	UID      uint32 // UID, when HasUID (userdb, SQL, LDAP accounts)
	HasUID   bool
	GID      uint32 // GID
	Home     string // HOME (may be empty)
	Address  string // ADDRESS: the canonical login id
	// Name is the full name. The daemon side may hold a whole gecos field;
	// the wire carries only the text before its first comma (NAME).
	Name    string
	HasName bool   // a NAME line is present (it may be empty: "NAME=")
	Maildir string // MAILDIR, "" when the default maildir applies
	Quota   string // QUOTA: maildir quota, e.g. "1000000S"
	Passwd  string // PASSWD: the encrypted password, when the module has it
	Passwd2 string // PASSWD2: the cleartext password of a successful AUTH login
	Options Options
}

// AppendAccount appends the reply for a to b: KEY=value lines in the
// original's order, then ".". A value is cut at a newline, which would
// otherwise end the line early and corrupt the reply.
func AppendAccount(b []byte, a *Account) []byte {
	kv := func(k, v string) {
		if i := strings.IndexByte(v, '\n'); i >= 0 {
			v = v[:i]
		}
		b = append(b, k...)
		b = append(b, '=')
		b = append(b, v...)
		b = append(b, '\n')
	}
	if a.Username != "" {
		kv("USERNAME", a.Username)
	} else if a.HasUID {
		kv("UID", strconv.FormatUint(uint64(a.UID), 10))
	}
	kv("GID", strconv.FormatUint(uint64(a.GID), 10))
	kv("HOME", a.Home)
	if a.Address != "" {
		kv("ADDRESS", a.Address)
	}
	if a.HasName {
		name, _, _ := strings.Cut(a.Name, ",")
		kv("NAME", name)
	}
	if a.Maildir != "" {
		kv("MAILDIR", a.Maildir)
	}
	if a.Quota != "" {
		kv("QUOTA", a.Quota)
	}
	if a.Passwd != "" {
		kv("PASSWD", a.Passwd)
	}
	if a.Passwd2 != "" {
		kv("PASSWD2", a.Passwd2)
	}
	if len(a.Options) > 0 {
		kv("OPTIONS", a.Options.String())
	}
	return append(b, replyEnd...)
}

// ErrFail is the permanent failure: the daemon answered FAIL (no module
// knows the account, or the password is wrong). Test with errors.Is.
var ErrFail = errors.New("authentication failed")

// ErrTemporary is matched (errors.Is) by every error that is not a
// permanent failure: the daemon closed the connection without a reply (a
// module had a temporary failure), is not running, timed out, or answered
// something unreadable. Callers should answer with a temporary error
// ("try again later"), not a rejected login.
var ErrTemporary = errors.New("temporary authentication failure")

// TemporaryError is a temporary failure with its cause.
type TemporaryError struct {
	Op  string // what the client was doing: "connect", "write", "read"
	Err error
}

func (e *TemporaryError) Error() string {
	return "authdaemon: " + e.Op + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *TemporaryError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrTemporary) true.
func (e *TemporaryError) Is(target error) bool { return target == ErrTemporary }

func tempErr(op string, err error) error { return &TemporaryError{Op: op, Err: err} }

// errNoReply is the cause when the daemon closes without answering.
var errNoReply = errors.New("authdaemond closed the connection without a reply (a module failed temporarily; see the authdaemond log)")

// ReadReply reads the answer to a PRE or AUTH request: the account, or
// ErrFail, or a *TemporaryError. Unknown keys and lines without '=' are
// ignored, as the original client ignores them.
func ReadReply(br *bufio.Reader) (*Account, error) {
	a := &Account{}
	seen := false
	total := 0
	for {
		line, err := br.ReadSlice('\n')
		total += len(line)
		if err == bufio.ErrBufferFull {
			return nil, tempErr("read", fmt.Errorf("reply line longer than %d bytes", br.Size()))
		}
		if total > maxReply {
			return nil, tempErr("read", fmt.Errorf("reply longer than %d bytes", maxReply))
		}
		if err != nil {
			if err == io.EOF {
				if !seen && len(line) == 0 {
					err = errNoReply
				} else {
					err = errors.New("authdaemond reply ends before its final \".\" line")
				}
			}
			return nil, tempErr("read", err)
		}
		line = line[:len(line)-1]
		if !seen && string(line) == "FAIL" {
			return nil, ErrFail
		}
		seen = true
		if string(line) == "." {
			if a.Username == "" && !a.HasUID {
				return nil, tempErr("read", errors.New("authdaemond reply names neither USERNAME nor UID"))
			}
			return a, nil
		}
		k, v, ok := bytes.Cut(line, []byte{'='})
		if !ok {
			continue
		}
		if err := a.set(string(k), string(v)); err != nil {
			return nil, tempErr("read", err)
		}
	}
}

// ParseReply parses an account reply held in data.
func ParseReply(data []byte) (*Account, error) {
	return ReadReply(bufio.NewReaderSize(bytes.NewReader(data), maxLine))
}

func (a *Account) set(k, v string) error {
	num := func() (uint32, error) {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return 0, fmt.Errorf("authdaemond reply has a bad %s value %q", k, v)
		}
		return uint32(n), nil
	}
	var err error
	switch k {
	case "USERNAME":
		a.Username = v
	case "UID":
		a.UID, err = num()
		a.HasUID = true
	case "GID":
		a.GID, err = num()
	case "HOME":
		a.Home = v
	case "ADDRESS":
		a.Address = v
	case "NAME":
		a.Name, a.HasName = v, true
	case "MAILDIR":
		a.Maildir = v
	case "QUOTA":
		a.Quota = v
	case "PASSWD":
		a.Passwd = v
	case "PASSWD2":
		a.Passwd2 = v
	case "OPTIONS":
		a.Options = ParseOptions(v)
	}
	return err
}

// Option is one entry of an account's OPTIONS list (spec §5): name=value,
// or a bare name (Bare, value "").
type Option struct {
	Name, Value string
	Bare        bool
}

// Options is an account's option list, in order.
type Options []Option

// ParseOptions parses a comma-separated option list. Empty entries are
// dropped.
func ParseOptions(s string) Options {
	var o Options
	for _, item := range strings.Split(s, ",") {
		if item == "" {
			continue
		}
		name, value, ok := strings.Cut(item, "=")
		o = append(o, Option{Name: name, Value: value, Bare: !ok})
	}
	return o
}

// String returns the list in its wire form.
func (o Options) String() string {
	var b strings.Builder
	for i, opt := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(opt.Name)
		if !opt.Bare {
			b.WriteByte('=')
			b.WriteString(opt.Value)
		}
	}
	return b.String()
}

// Get returns the value of the first option named name.
func (o Options) Get(name string) (string, bool) {
	for _, opt := range o {
		if opt.Name == name {
			return opt.Value, true
		}
	}
	return "", false
}

// All returns the values of every option named name (group= repeats).
func (o Options) All(name string) []string {
	var v []string
	for _, opt := range o {
		if opt.Name == name {
			v = append(v, opt.Value)
		}
	}
	return v
}

// Int is the original's integer test of an option: atoi of its value,
// where a value starting with t, T, y or Y counts as 1; 0 when absent.
func (o Options) Int(name string) int {
	v, ok := o.Get(name)
	if !ok {
		return 0
	}
	if v != "" && strings.ContainsRune("tTyY", rune(v[0])) {
		return 1
	}
	return atoi(v)
}

// Enabled reports whether the option is set to a non-zero value, e.g.
// Enabled("disableimap").
func (o Options) Enabled(name string) bool { return o.Int(name) != 0 }

// atoi is C's atoi: leading blanks, an optional sign, then digits.
func atoi(s string) int {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' || n > 1<<30 {
			break
		}
		n = n*10 + int(c-'0')
	}
	if neg {
		return -n
	}
	return n
}

// MergeOptions is DEFAULTOPTIONS applied to an account (spec §5): the
// account's options, then each default whose name the account does not
// already have.
func MergeOptions(account, defaults Options) Options {
	out := append(Options(nil), account...)
	for _, d := range defaults {
		if _, ok := account.Get(d.Name); !ok {
			out = append(out, d)
		}
	}
	return out
}

// EnumEntry is one account of an ENUMERATE reply.
type EnumEntry struct {
	Module   string // the module that listed it ("authuserdb", ...)
	Name     string
	UID, GID uint32
	Home     string
	Maildir  string
	Options  Options
}

// AppendEnumModule appends the header that starts a module's accounts.
func AppendEnumModule(b []byte, module string) []byte {
	return append(append(append(b, "# "...), module...), "\n\n"...)
}

// AppendEnumEntry appends one account line. An entry whose fields hold a
// tab or newline cannot be written without corrupting the listing: it is
// left out and false returned.
func AppendEnumEntry(b []byte, e EnumEntry) ([]byte, bool) {
	opts := e.Options.String()
	for _, v := range []string{e.Name, e.Home, e.Maildir, opts} {
		if strings.ContainsAny(v, "\t\n") {
			return b, false
		}
	}
	b = append(b, e.Name...)
	b = append(b, '\t')
	b = strconv.AppendUint(b, uint64(e.UID), 10)
	b = append(b, '\t')
	b = strconv.AppendUint(b, uint64(e.GID), 10)
	b = append(b, '\t')
	b = append(b, e.Home...)
	b = append(b, '\t')
	b = append(b, e.Maildir...)
	b = append(b, '\t')
	b = append(b, opts...)
	return append(b, '\n'), true
}

// AppendEnumEnd appends the line that ends a complete enumeration.
func AppendEnumEnd(b []byte) []byte { return append(b, replyEnd...) }

// ReadEnumerate reads an ENUMERATE reply and calls fn for each account.
// Like the original client it ignores comment text after '#' (keeping the
// module name of "# name" headers) and skips entries with uid 0 or gid 0
// or unreadable numbers. A listing that ends without its "." line (a
// module aborted) is a *TemporaryError after the entries already passed
// to fn.
func ReadEnumerate(br *bufio.Reader, fn func(EnumEntry) error) error {
	module := ""
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			return tempErr("read", fmt.Errorf("enumeration line longer than %d bytes", br.Size()))
		}
		if err != nil {
			if err == io.EOF {
				err = errors.New("authdaemond ended the enumeration early (a module aborted it; see the authdaemond log)")
			}
			return tempErr("read", err)
		}
		s := string(line[:len(line)-1])
		if s == "." {
			return nil
		}
		if i := strings.IndexByte(s, '#'); i >= 0 {
			if i == 0 && strings.HasPrefix(s, "# ") {
				module = strings.TrimSpace(s[2:])
			}
			s = s[:i]
		}
		f := strings.Split(s, "\t")
		if len(f) < 4 {
			continue
		}
		uid, err1 := strconv.ParseUint(f[1], 10, 32)
		gid, err2 := strconv.ParseUint(f[2], 10, 32)
		if err1 != nil || err2 != nil || uid == 0 || gid == 0 {
			continue
		}
		e := EnumEntry{Module: module, Name: f[0], UID: uint32(uid), GID: uint32(gid), Home: f[3]}
		if len(f) > 4 {
			e.Maildir = f[4]
		}
		if len(f) > 5 {
			e.Options = ParseOptions(f[5])
		}
		if err := fn(e); err != nil {
			return err
		}
	}
}
