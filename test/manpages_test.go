package test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gocourier/courier/test/testenv"
)

// manPage is one docs/man source: its file, section and the names its NAME
// section gives (the first is the page's own, the others are installed as
// .so links to it).
type manPage struct {
	file    string
	section string
	names   []string
	text    string
}

var manHeader = regexp.MustCompile(`^% ([A-Z0-9.-]+) ([158]) "[^"]+" "courier-go" "[^"]+"$`)

// readManPages parses every docs/man/*.md page, checking the shape that
// scripts/install.sh relies on.
func readManPages(t *testing.T, repo string) map[string]manPage {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repo, "docs/man/*.md"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manual pages in docs/man: %v", err)
	}
	byName := map[string]manPage{}
	for _, f := range files {
		base := filepath.Base(f)
		if base == "README.md" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		lines := strings.Split(text, "\n")
		m := manHeader.FindStringSubmatch(lines[0])
		if m == nil {
			t.Errorf("%s: first line %q is not a title block like %% NAME 8 \"December 2026\" \"courier-go\" \"Courier mail server\"", base, lines[0])
			continue
		}
		stem := strings.TrimSuffix(base, ".md")
		name, section := stem[:strings.LastIndex(stem, ".")], stem[strings.LastIndex(stem, ".")+1:]
		if m[2] != section || m[1] != strings.ToUpper(name) {
			t.Errorf("%s: title block says %s(%s)", base, m[1], m[2])
		}
		var names []string
		for i, l := range lines {
			if l == "# NAME" && i+2 < len(lines) {
				head, _, ok := strings.Cut(lines[i+2], ` \- `)
				if !ok {
					head, _, ok = strings.Cut(lines[i+2], " - ")
				}
				if ok {
					for _, n := range strings.Split(head, ",") {
						names = append(names, strings.ReplaceAll(strings.TrimSpace(n), `\`, ""))
					}
				}
			}
		}
		if len(names) == 0 || names[0] != name {
			t.Errorf("%s: the NAME section must start with %q: got %q", base, name, names)
			continue
		}
		for _, sec := range []string{"# NAME", "# DESCRIPTION", "# SEE ALSO"} {
			if !strings.Contains(text, "\n"+sec+"\n") {
				t.Errorf("%s: no %s section", base, sec)
			}
		}
		if section != "5" && !strings.Contains(text, "\n# SYNOPSIS\n") {
			t.Errorf("%s: no # SYNOPSIS section", base)
		}
		p := manPage{file: base, section: section, names: names, text: text}
		for _, n := range names {
			if prev, dup := byName[n+"."+section]; dup {
				t.Errorf("%s(%s) is named by both %s and %s", n, section, prev.file, base)
			}
			byName[n+"."+section] = p
		}
	}
	return byName
}

// installedPrograms reads pkg/layout/programs.tab: every program and link
// name that make install puts on the system.
func installedPrograms(t *testing.T, repo string) (programs map[string]string) {
	t.Helper()
	f, err := os.Open(filepath.Join(repo, "pkg/layout/programs.tab"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	programs = map[string]string{} // installed name -> cmd/ program
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 5 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		programs[fields[0]] = fields[0]
		if fields[4] != "-" {
			for _, l := range strings.Split(fields[4], ",") {
				programs[l] = fields[0]
			}
		}
	}
	return programs
}

// TestManualPages checks that every installed program and every
// configuration file has a manual page, that every cmd/ program is
// installed, that every page converts, and that every program and link name
// answers --help.
func TestManualPages(t *testing.T) {
	repo, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	pages := readManPages(t, repo)
	programs := installedPrograms(t, repo)

	dirs, _ := filepath.Glob(filepath.Join(repo, "cmd/*"))
	for _, d := range dirs {
		if _, ok := programs[filepath.Base(d)]; !ok {
			t.Errorf("cmd/%s is not in pkg/layout/programs.tab, so make install leaves it out", filepath.Base(d))
		}
	}
	for name := range programs {
		if _, ok := pages[name+".8"]; ok {
			continue
		}
		if _, ok := pages[name+".1"]; ok {
			continue
		}
		t.Errorf("installed program %s has no manual page: add docs/man/%s.8.md (or name it in another page's NAME section)", name, name)
	}
	dists, _ := filepath.Glob(filepath.Join(repo, "etc/*.dist"))
	for _, d := range dists {
		name := strings.TrimSuffix(filepath.Base(d), ".dist")
		if _, ok := pages[name+".5"]; !ok {
			t.Errorf("configuration file %s has no manual page in section 5", name)
		}
	}

	// Every page converts with the converter make install uses, and its
	// SEE ALSO names pages we have or the system's.
	seeAlso := regexp.MustCompile(`\*\*([a-zA-Z0-9._-]+)\*\*\(([1-8])\)`)
	external := map[string]bool{"syslog.3": true, "crypt.3": true, "openssl.1": true, "systemd.unit.5": true, "maildir.5": true, "pam.8": true, "passwd.5": true, "shadow.5": true, "init.8": true, "systemctl.1": true, "swaks.1": true, "mutt.1": true, "mbsync.1": true, "fetchmail.1": true}
	seen := map[string]bool{}
	for _, p := range pages {
		if seen[p.file] {
			continue
		}
		seen[p.file] = true
		cmd := exec.Command("go", "tool", "go-md2man", "-in", filepath.Join(repo, "docs/man", p.file))
		cmd.Dir = repo
		out, err := cmd.Output()
		if err != nil || !strings.Contains(string(out), ".TH ") {
			t.Errorf("go-md2man %s: %v", p.file, err)
		}
		_, after, _ := strings.Cut(p.text, "\n# SEE ALSO\n")
		for _, m := range seeAlso.FindAllStringSubmatch(after, -1) {
			ref := m[1] + "." + m[2]
			if _, ok := pages[ref]; !ok && !external[ref] {
				t.Errorf("%s: SEE ALSO names %s(%s), which has no page here", p.file, m[1], m[2])
			}
		}
	}

	// --help under every installed name: it exits 0 and prints a usage
	// text naming the program.
	dir := t.TempDir()
	for name, prog := range programs {
		bin := testenv.Build(t, prog)
		link := filepath.Join(dir, name)
		if err := os.Symlink(bin, link); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(link, "--help").CombinedOutput()
		if err != nil {
			t.Errorf("%s --help: %v\n%s", name, err, out)
			continue
		}
		if !strings.HasPrefix(string(out), "Usage: ") || !strings.Contains(string(out), name) {
			t.Errorf("%s --help does not print a usage naming it:\n%s", name, out)
		}
	}
}
