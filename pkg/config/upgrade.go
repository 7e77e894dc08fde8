package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// This file is Courier's sysconftool, the install-configure step: every
// configuration file is installed as X.dist, and X is created from it or, on
// an upgrade, rebuilt from it section by section so that the admin's
// settings survive (sections are described in sections.go):
//
//   - a section of X.dist whose NAME is in X with the same REVISION keeps the
//     admin's setting lines from X, under the new comment text;
//   - a section whose REVISION changed is reset to the new default (the
//     setting changed meaning);
//   - a section new in X.dist is added with its default;
//   - a section of X missing from X.dist is obsolete and dropped;
//   - an admin's setting that no longer parses is reset to the default.
//
// The lines before the first ##NAME (the header, with ##VERSION) come from
// X.dist. A file without ##NAME sections is only copied when X is missing.

// ChangeKind says what an upgrade does with one section.
type ChangeKind int

const (
	Unchanged    ChangeKind = iota // the admin's setting is the default
	Kept                           // the admin changed the setting: kept
	Reset                          // the section's revision changed: new default
	ResetInvalid                   // the admin's setting does not parse: new default
	Added                          // new in the .dist: default added
	Obsolete                       // gone from the .dist: removed
)

// Change is the report of one section of an upgrade.
type Change struct {
	File    string // base name of the file upgraded ("imapd")
	Section string // section NAME, or "header" for the lines before the first ##NAME
	Kind    ChangeKind
	Detail  string
}

// String is the line sysconftool prints: "imapd: MAXDAEMONS: kept your setting (MAXDAEMONS=80)".
func (c Change) String() string { return c.File + ": " + c.Section + ": " + c.Detail }

// Merge rebuilds the configuration file target (current content old) from
// its new distribution file dist (content distData). It returns the new
// content and one Change per section. Errors in distData, or a malformed
// ##NAME marker in old, are errors; a setting of old that does not parse is
// reset and reported.
func Merge(target string, old []byte, dist string, distData []byte) ([]byte, []Change, error) {
	if err := checkDist(dist, distData); err != nil {
		return nil, nil, err
	}
	dHeader, dSecs, _ := SplitSections(dist, distData)
	oHeader, oSecs, err := SplitSections(target, old)
	if err != nil {
		return nil, nil, fmt.Errorf("%w (fix the marker line, or move %s away to start from %s)", err, target, dist)
	}
	base := filepath.Base(target)
	var changes []Change
	note := func(section string, k ChangeKind, format string, args ...any) {
		changes = append(changes, Change{File: base, Section: section, Kind: k, Detail: fmt.Sprintf(format, args...)})
	}

	var out []string
	for _, l := range dHeader.Body {
		out = append(out, l.Text)
	}
	if oHeader.settingsText() != "" && oHeader.settingsText() != dHeader.settingsText() {
		note("header", Reset, "the lines before the first ##NAME now come from %s; yours were %s",
			filepath.Base(dist), summary(&oHeader))
	}

	// The k-th section called NAME in the .dist matches the k-th section
	// called NAME in the old file (Debian's pop3d-ssl has two
	// TLS_STARTTLS_PROTOCOL sections).
	byName := map[string][]int{}
	for i, s := range oSecs {
		byName[s.Name] = append(byName[s.Name], i)
	}
	used := make([]bool, len(oSecs))
	seen := map[string]int{}
	for i := range dSecs {
		d := &dSecs[i]
		k := seen[d.Name]
		seen[d.Name]++
		if k >= len(byName[d.Name]) {
			if len(d.Settings()) > 0 {
				note(d.Name, Added, "new setting, default added (%s)", summary(d))
			} else {
				note(d.Name, Added, "new setting, default added")
			}
			out = appendSection(out, d, nil)
			continue
		}
		oi := byName[d.Name][k]
		used[oi] = true
		o := &oSecs[oi]
		same := o.settingsText() == d.settingsText()
		switch {
		case o.Revision != d.Revision && same:
			note(d.Name, Unchanged, "unchanged default (revision %d -> %d)", o.Revision, d.Revision)
			out = appendSection(out, d, nil)
		case o.Revision != d.Revision:
			if len(o.Settings()) == 0 {
				note(d.Name, Reset, "reset to the new default (revision %d -> %d); you had it commented out", o.Revision, d.Revision)
			} else {
				note(d.Name, Reset, "reset to the new default (revision %d -> %d); your old value was %s", o.Revision, d.Revision, summary(o))
			}
			out = appendSection(out, d, nil)
		case same:
			note(d.Name, Unchanged, "unchanged default")
			out = appendSection(out, d, nil)
		default:
			if err := checkSection(o); err != nil {
				note(d.Name, ResetInvalid, "reset to the new default: your setting does not parse (%v); it was %s", err, summary(o))
				out = appendSection(out, d, nil)
				continue
			}
			note(d.Name, Kept, "kept your setting (%s)", summary(o))
			out = appendSection(out, d, o)
		}
	}
	for i := range oSecs {
		if !used[i] {
			note(oSecs[i].Name, Obsolete, "obsolete, removed (was %s)", summary(&oSecs[i]))
		}
	}
	if len(out) == 0 {
		return nil, changes, nil
	}
	return []byte(strings.Join(out, "\n") + "\n"), changes, nil
}

// checkSection checks that a section's statements are valid, without
// reading sourced files.
func checkSection(s *Section) error {
	ev := &evaluator{vf: newVarFile(), syntaxOnly: true}
	return ev.section(s)
}

// summary is a section's settings on one line, for reports.
func summary(s *Section) string {
	var parts []string
	for _, l := range s.Settings() {
		parts = append(parts, strings.ReplaceAll(strings.TrimSpace(l.Text), "\n", `\n`))
	}
	if len(parts) == 0 {
		return "not set"
	}
	return strings.Join(parts, "; ")
}

// appendSection writes the .dist section d; with admin != nil the admin's
// setting lines replace d's, where d has its settings (or, when d has none,
// after its comment text).
func appendSection(out []string, d *Section, admin *Section) []string {
	out = append(out, d.Marker)
	if admin == nil {
		for _, l := range d.Body {
			out = append(out, l.Text)
		}
		return out
	}
	var settings []string
	for _, l := range admin.Settings() {
		settings = append(settings, l.Text)
	}
	first := -1
	for i, l := range d.Body {
		if l.Setting {
			first = i
			break
		}
	}
	if first >= 0 {
		for _, l := range d.Body[:first] {
			out = append(out, l.Text)
		}
		out = append(out, settings...)
		for _, l := range d.Body[first:] {
			if !l.Setting {
				out = append(out, l.Text)
			}
		}
		return out
	}
	k := len(d.Body)
	for k > 0 && strings.TrimSpace(d.Body[k-1].Text) == "" {
		k--
	}
	for _, l := range d.Body[:k] {
		out = append(out, l.Text)
	}
	if len(settings) > 0 {
		if k > 0 {
			out = append(out, "")
		}
		out = append(out, settings...)
	}
	for _, l := range d.Body[k:] {
		out = append(out, l.Text)
	}
	return out
}

// UpgradeAction is what an upgrade does with the file as a whole.
type UpgradeAction int

const (
	Create   UpgradeAction = iota // X is missing: copy X.dist
	Rebuild                       // X rebuilt from X.dist, keeping the admin's settings
	UpToDate                      // merging changes nothing
	KeepFile                      // X.dist has no sections: X is kept as it is
)

// UpgradePlan is what upgrading one X.dist will do; Apply does it.
type UpgradePlan struct {
	Dist    string // the .dist file
	Target  string // the file created or upgraded (Dist without ".dist"; a symlink's target)
	Changes []Change
	// Output is the new content of Target, nil when Target stays as it is.
	Output []byte
	Action UpgradeAction

	exists bool
	old    []byte
	mode   fs.FileMode
	uid    int
	gid    int
}

// PlanUpgrade reads dist (X.dist) and X and works out the upgrade, writing
// nothing.
func PlanUpgrade(dist string) (*UpgradePlan, error) {
	if !strings.HasSuffix(dist, ".dist") || len(filepath.Base(dist)) == len(".dist") {
		return nil, fmt.Errorf("%s: not a .dist file (want X.dist, which creates or upgrades X)", dist)
	}
	distData, err := readLimited(dist)
	if err != nil {
		return nil, err
	}
	dst, err := os.Stat(dist)
	if err != nil {
		return nil, err
	}
	p := &UpgradePlan{Dist: dist, Target: strings.TrimSuffix(dist, ".dist")}
	if r, err := filepath.EvalSymlinks(p.Target); err == nil {
		p.Target = r
	}
	st, err := os.Stat(p.Target)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := checkDist(dist, distData); err != nil {
			return nil, err
		}
		p.Output = distData
		p.mode, p.uid, p.gid = fileOwner(dst)
		p.Action = Create
		return p, nil
	case err != nil:
		return nil, err
	case !st.Mode().IsRegular():
		return nil, fmt.Errorf("%s: not a regular file; cannot upgrade it from %s", p.Target, dist)
	}
	p.exists = true
	p.mode, p.uid, p.gid = fileOwner(st)
	if p.old, err = readLimited(p.Target); err != nil {
		return nil, err
	}
	_, dSecs, err := SplitSections(dist, distData)
	if err != nil {
		return nil, err
	}
	if len(dSecs) == 0 {
		p.Action = KeepFile
		return p, nil
	}
	out, changes, err := Merge(p.Target, p.old, dist, distData)
	if err != nil {
		return nil, err
	}
	p.Changes = changes
	if bytes.Equal(out, p.old) {
		p.Action = UpToDate
		return p, nil
	}
	p.Output = out
	p.Action = Rebuild
	return p, nil
}

// checkDist validates a .dist file that has sections (a VAR file); others
// may be in any format and are only copied.
func checkDist(dist string, data []byte) error {
	header, sections, err := SplitSections(dist, data)
	if err != nil || len(sections) == 0 {
		return err
	}
	if err := checkSection(&header); err != nil {
		return err
	}
	for i := range sections {
		if err := checkSection(&sections[i]); err != nil {
			return err
		}
	}
	return nil
}

// Summary is the closing report line for the file.
func (p *UpgradePlan) Summary(dryRun bool) string {
	base, distBase := filepath.Base(p.Target), filepath.Base(p.Dist)
	switch p.Action {
	case Create:
		if dryRun {
			return fmt.Sprintf("%s: would be created from %s (dry run: nothing written)", base, distBase)
		}
		return fmt.Sprintf("%s: created from %s", base, distBase)
	case Rebuild:
		if dryRun {
			return fmt.Sprintf("%s: would be upgraded from %s (dry run: nothing written)", base, distBase)
		}
		return fmt.Sprintf("%s: upgraded from %s; your previous file is %s.bak", base, distBase, base)
	case UpToDate:
		return fmt.Sprintf("%s: already up to date with %s", base, distBase)
	}
	return fmt.Sprintf("%s: kept your file (%s has no ##NAME sections to merge)", base, distBase)
}

// Apply writes the plan: the old file is saved as X.bak, then X is replaced
// atomically (temporary file, fsync, rename), keeping its mode and owner; a
// new X gets the mode and owner of X.dist.
func (p *UpgradePlan) Apply() error {
	if p.Output == nil {
		return nil
	}
	if p.exists {
		if err := writeAtomic(p.Target+".bak", p.old, p.mode, p.uid, p.gid); err != nil {
			return err
		}
	}
	return writeAtomic(p.Target, p.Output, p.mode, p.uid, p.gid)
}

func fileOwner(st fs.FileInfo) (fs.FileMode, int, int) {
	mode := st.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return mode, int(s.Uid), int(s.Gid)
	}
	return mode, -1, -1
}

func writeAtomic(path string, data []byte, mode fs.FileMode, uid, gid int) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".sysconftool-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Chmod(mode); err != nil {
		return err
	}
	if uid >= 0 {
		st, err := f.Stat()
		if err != nil {
			return err
		}
		if _, u, g := fileOwner(st); u != uid || g != gid {
			if err := f.Chown(uid, gid); err != nil {
				return fmt.Errorf("%s: cannot give it owner %d and group %d like the file it replaces: %w (run sysconftool as root)", path, uid, gid, err)
			}
		}
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// UpgradeFiles is the sysconftool program: for each X.dist it creates or
// upgrades X and prints one line per section and a summary line to out.
// With dryRun it only prints what it would do. Problems go to errOut; it
// returns how many files failed.
func UpgradeFiles(dists []string, dryRun bool, out, errOut io.Writer) int {
	failed := 0
	for _, d := range dists {
		p, err := PlanUpgrade(d)
		if err == nil {
			for _, c := range p.Changes {
				fmt.Fprintln(out, c.String())
			}
			if dryRun {
				fmt.Fprintln(out, p.Summary(true))
				continue
			}
			if err = p.Apply(); err == nil {
				fmt.Fprintln(out, p.Summary(false))
				continue
			}
		}
		fmt.Fprintf(errOut, "sysconftool: %v\n", err)
		failed++
	}
	return failed
}
