package aliases

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"

	"github.com/gocourier/courier/pkg/config"
)

// Rewrite is how a delivery module completes an address without a domain
// before it is stored (Courier's per-module rewrite functions).
type Rewrite int

const (
	// AppendDefaultDomain adds "@defaultdomain" to an address that has
	// neither '@' nor '!': modules local and dsn.
	AppendDefaultDomain Rewrite = iota
	// KeepDomainless leaves such addresses alone: modules esmtp and fax.
	KeepDomainless
)

// ModuleRewrite returns the rewrite rule of a module named on the
// makealiases command line, and false for a module whose alias rewriting
// this implementation does not have (uucp, which turns bang paths around)
// or that does not exist.
func ModuleRewrite(module string) (Rewrite, bool) {
	switch module {
	case "local", "dsn":
		return AppendDefaultDomain, true
	case "esmtp", "fax":
		return KeepDomainless, true
	}
	return 0, false
}

// Config holds what canonicalising an alias file depends on.
type Config struct {
	// DefaultDomain is appended to addresses without a domain (control
	// file defaultdomain, else me, else the host name).
	DefaultDomain string
	// IsLocal reports whether a domain is one of "locals" (not a hosted
	// domain); the local part of such addresses is lower-cased when
	// LocalLowercase is set, and "postmaster" always. Nil means only
	// DefaultDomain is local.
	IsLocal func(domain string) bool
	// LocalLowercase is set when the control file locallowercase exists.
	LocalLowercase bool
	// Rewrite is the module's rule for domain-less addresses.
	Rewrite Rewrite
	// ProgramPrefix is the local part prefix of the stand-in address of a
	// "/path" or "| command" alias: ".xalias/", or ".xalias-P/" for
	// protocol P. Empty means such aliases get no stand-in address and no
	// instruction file (what makealiases -chk does).
	ProgramPrefix string
}

func (c *Config) isLocal(domain string) bool {
	if c.IsLocal != nil {
		return c.IsLocal(domain)
	}
	return strings.EqualFold(domain, c.DefaultDomain)
}

// Source is one alias source file.
type Source struct {
	Name string
	Data []byte
}

// ReadSources reads the alias source at path: one file, or a directory
// whose non-hidden regular files are read in name order (spec §1; the
// original's makealiases concatenates "$dir/*").
func ReadSources(path string) ([]Source, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		return []Source{{path, data}}, nil
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var out []Source
	for _, n := range names {
		p := filepath.Join(path, n)
		st, err := os.Stat(p)
		if err != nil || !st.Mode().IsRegular() {
			// Dangling links and subdirectories are not part of the
			// list, as "test -f" skips them in the original.
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		out = append(out, Source{p, data})
	}
	return out, nil
}

// Program is the delivery instruction of a "/path" or "| command" alias,
// written to aliasdir/.courier-:xalias/<File> (dot-courier.md §1.6).
type Program struct {
	File    string // escaped canonical alias name
	Content string // one instruction line per definition, each ending in "\n"
}

// Parse reads alias sources (spec §1) into a Table: canonical names,
// members in order, sub-aliases expanded. Any error stops everything; the
// error names the file and line.
func Parse(srcs []Source, cfg Config) (*Table, error) {
	p := &parser{cfg: cfg, defs: map[string][]string{}, progs: map[string]int{}}
	for _, s := range srcs {
		if err := p.source(s); err != nil {
			return nil, err
		}
	}
	return newTable(p.order, p.defs, p.programs), nil
}

type parser struct {
	cfg      Config
	order    []string
	defs     map[string][]string
	programs []Program
	progs    map[string]int
}

// lines splits data into lines and removes "#" comments and trailing
// blanks, as the original's aliasexp does before anything else.
func lines(data []byte) []string {
	ls := strings.Split(string(data), "\n")
	if len(ls) > 0 && ls[len(ls)-1] == "" {
		ls = ls[:len(ls)-1]
	}
	for i, l := range ls {
		if j := strings.IndexByte(l, '#'); j >= 0 {
			l = l[:j]
		}
		ls[i] = strings.TrimRightFunc(l, func(r rune) bool { return r < utf8.RuneSelf && isSpace(byte(r)) })
	}
	return ls
}

// source handles one file. A line that starts with a blank continues the
// previous one; any other line, blank and comment-only lines included,
// ends it (so a comment inside a continued list ends the list).
func (p *parser) source(s Source) error {
	var logical string
	start := 0
	for i, l := range lines(s.Data) {
		if l != "" && (l[0] == ' ' || l[0] == '\t') {
			if strings.TrimSpace(logical) == "" {
				start = i + 1
			}
			logical += l
			continue
		}
		if err := p.entry(logical, s.Name, start); err != nil {
			return err
		}
		logical, start = l, i+1
	}
	return p.entry(logical, s.Name, start)
}

func syntaxErr(file string, line int, format string, args ...any) error {
	return &config.Error{File: file, Line: line, Reason: fmt.Sprintf(format, args...)}
}

func (p *parser) entry(text, file string, line int) error {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil
	}
	name, rest, ok := strings.Cut(text, ":")
	if !ok {
		return syntaxErr(file, line, "syntax error: %q is not \"alias: address, ...\"", text)
	}
	canon, err := p.normalize(tokenize(name))
	if err != nil {
		return syntaxErr(file, line, "alias name: %v", err)
	}
	if canon == "" {
		return syntaxErr(file, line, "syntax error: empty alias name before ':'")
	}
	if _, seen := p.defs[canon]; !seen {
		p.order = append(p.order, canon)
		p.defs[canon] = nil
	}
	rest = strings.TrimLeftFunc(rest, func(r rune) bool { return r < utf8.RuneSelf && isSpace(byte(r)) })
	switch {
	case strings.HasPrefix(rest, "/") || strings.HasPrefix(rest, "|"):
		p.program(canon, rest)
		return nil
	case strings.HasPrefix(rest, ":include:"):
		path := rest[len(":include:"):]
		if !strings.HasPrefix(path, "/") {
			return syntaxErr(file, line, ":include: needs an absolute pathname, not %q", path)
		}
		data, err := readRegular(path)
		if err != nil {
			return syntaxErr(file, line, "alias %s: %v", canon, err)
		}
		for i, l := range lines(data) {
			if err := p.list(canon, l); err != nil {
				return syntaxErr(path, i+1, "%v (included for alias %s from %s:%d)", err, canon, file, line)
			}
		}
		return nil
	}
	if err := p.list(canon, rest); err != nil {
		return syntaxErr(file, line, "alias %s: %v", canon, err)
	}
	return nil
}

// readRegular reads an :include: file, which must be a regular file: a
// device or a pipe would never end.
func readRegular(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	return io.ReadAll(f)
}

// program records a "/mailbox" or "| command" alias: the instruction goes
// to a file in the alias directory and the alias points at the address
// that delivers through that file.
func (p *parser) program(canon, instr string) {
	if p.cfg.ProgramPrefix == "" {
		return
	}
	f := EscapeName(canon)
	if i, ok := p.progs[f]; ok {
		p.programs[i].Content += instr + "\n"
	} else {
		p.progs[f] = len(p.programs)
		p.programs = append(p.programs, Program{File: f, Content: instr + "\n"})
	}
	p.defs[canon] = append(p.defs[canon], `"`+p.cfg.ProgramPrefix+f+`"@`+p.cfg.DefaultDomain)
}

// list adds the addresses of one address list to an alias. The members of
// a virtual domain ("@domain: user") are kept as written: they are
// prefixes, not addresses.
func (p *parser) list(canon, text string) error {
	for _, a := range splitAddresses(tokenize(text)) {
		if len(a) == 0 {
			continue
		}
		var m string
		if strings.HasPrefix(canon, "@") {
			m = printTokens(a)
		} else {
			var err error
			if m, err = p.normalize(a); err != nil {
				return err
			}
		}
		if m == "" {
			return errors.New("syntax error: empty address <>")
		}
		p.defs[canon] = append(p.defs[canon], m)
	}
	return nil
}

// normalize gives an address its canonical form (aliasexp's normalize):
// the module's rewrite, Courier's syntax check, local part lower-cased for
// local domains when locallowercase says so (postmaster always), domain in
// lower-case U-labels.
func (p *parser) normalize(ts []token) (string, error) {
	orig := printTokens(ts)
	rw := ts
	rest := ts
	if len(rest) > 0 && rest[0].typ == 0 && rest[0].text == "" {
		rest = rest[1:]
	}
	if len(rest) > 0 && p.cfg.Rewrite == AppendDefaultDomain {
		hasRoute := false
		for _, t := range ts {
			if t.typ == '!' || t.typ == '@' {
				hasRoute = true
				break
			}
		}
		if !hasRoute {
			rw = append(append([]token(nil), ts...), token{'@', "@"}, token{0, p.cfg.DefaultDomain})
		}
	}
	chk := rw
	if len(chk) > 0 && chk[0].typ == '@' {
		chk = chk[1:]
	}
	addr := printTokens(rw)
	if !syntaxOK(chk) {
		if orig == addr {
			return "", fmt.Errorf("syntax error in address %s", orig)
		}
		return "", fmt.Errorf("syntax error in address %s (%s)", orig, addr)
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 || p.cfg.isLocal(addr[at+1:]) {
		addr = p.lowerLocal(addr)
	}
	return domainUTF8(addr), nil
}

func (p *parser) lowerLocal(addr string) string {
	local, dom := addr, ""
	if at := strings.LastIndexByte(addr, '@'); at >= 0 {
		local, dom = addr[:at], addr[at:]
	}
	if p.cfg.LocalLowercase || strings.EqualFold(local, "postmaster") {
		return strings.ToLower(local) + dom
	}
	return addr
}

// domainUTF8 turns the domain after the last '@' into lower-case U-labels
// (Courier's udomainutf8); a domain that is not valid IDNA stays as it is
// apart from the case.
func domainUTF8(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return addr
	}
	dom := addr[at+1:]
	if strings.Contains(strings.ToLower(dom), "xn--") {
		if u, err := idna.Punycode.ToUnicode(dom); err == nil {
			dom = u
		}
	}
	return addr[:at+1] + strings.ToLower(dom)
}

// EscapeName is the file name makealiases gives the instruction file of a
// program or mailbox alias: the canonical alias name with each of / . - +
// " \ written as '+' and two lower-case hex digits.
func EscapeName(canon string) string {
	var b strings.Builder
	for i := 0; i < len(canon); i++ {
		c := canon[i]
		if strings.IndexByte("/.-+\"\\", c) >= 0 {
			b.WriteByte('+')
			s := strconv.FormatUint(uint64(c), 16)
			if len(s) < 2 {
				b.WriteByte('0')
			}
			b.WriteString(s)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
