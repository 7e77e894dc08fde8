package config

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/test/testenv"
)

const oldImapd = `##VERSION: old
#
# imapd created from imapd.dist

##NAME: ADDRESS:0
#
# Address to listen on (old text).

ADDRESS=0

##NAME: MAXDAEMONS:0
#
#  Maximum number of IMAP servers started (old text)

MAXDAEMONS=80

##NAME: PORT:1

PORT=143

##NAME: IMAP_CAPABILITY:2
#
# capabilities

IMAP_CAPABILITY="IMAP4rev1 IDLE X-MINE"

##NAME: IMAP_PROXY:0

IMAP_PROXY="1

##NAME: DEFDOMAIN:0
#
#DEFDOMAIN="@example.com"

DEFDOMAIN="@mine.example"

##NAME: OLDVAR:0
# gone in the new release

OLDVAR=something
`

const newImapd = `##VERSION: new
#
# imapd created from imapd.dist

##NAME: ADDRESS:0
#
# Address to listen on (new text).

ADDRESS=0

##NAME: MAXDAEMONS:0
#
#  Maximum number of IMAP servers started (new text)

MAXDAEMONS=40

##NAME: PORT:1

PORT=143

##NAME: IMAP_CAPABILITY:3
#
# capabilities, now with AUTH=PLAIN

IMAP_CAPABILITY="IMAP4rev1 IDLE AUTH=PLAIN"

##NAME: IMAP_PROXY:0

IMAP_PROXY=0

##NAME: DEFDOMAIN:0
#
#DEFDOMAIN="@example.com"

##NAME: NEW_VAR:0
#
# A new setting.

NEW_VAR=1
`

const mergedImapd = `##VERSION: new
#
# imapd created from imapd.dist

##NAME: ADDRESS:0
#
# Address to listen on (new text).

ADDRESS=0

##NAME: MAXDAEMONS:0
#
#  Maximum number of IMAP servers started (new text)

MAXDAEMONS=80

##NAME: PORT:1

PORT=143

##NAME: IMAP_CAPABILITY:3
#
# capabilities, now with AUTH=PLAIN

IMAP_CAPABILITY="IMAP4rev1 IDLE AUTH=PLAIN"

##NAME: IMAP_PROXY:0

IMAP_PROXY=0

##NAME: DEFDOMAIN:0
#
#DEFDOMAIN="@example.com"

DEFDOMAIN="@mine.example"

##NAME: NEW_VAR:0
#
# A new setting.

NEW_VAR=1
`

var wantReport = []string{
	"imapd: ADDRESS: unchanged default",
	"imapd: MAXDAEMONS: kept your setting (MAXDAEMONS=80)",
	"imapd: PORT: unchanged default",
	`imapd: IMAP_CAPABILITY: reset to the new default (revision 2 -> 3); your old value was IMAP_CAPABILITY="IMAP4rev1 IDLE X-MINE"`,
	`imapd: IMAP_PROXY: reset to the new default: your setting does not parse (DIR/imapd:29: unterminated double quote); it was IMAP_PROXY="1`,
	`imapd: DEFDOMAIN: kept your setting (DEFDOMAIN="@mine.example")`,
	"imapd: NEW_VAR: new setting, default added (NEW_VAR=1)",
	"imapd: OLDVAR: obsolete, removed (was OLDVAR=something)",
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestUpgrade(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "imapd")
	testenv.WriteFile(t, target, oldImapd, 0o640)
	testenv.WriteFile(t, target+".dist", newImapd, 0o644)

	var out, errOut bytes.Buffer
	if n := UpgradeFiles([]string{target + ".dist"}, false, &out, &errOut); n != 0 {
		t.Fatalf("UpgradeFiles failed: %s", errOut.String())
	}
	want := strings.ReplaceAll(strings.Join(wantReport, "\n"), "DIR", dir) +
		"\nimapd: upgraded from imapd.dist; your previous file is imapd.bak\n"
	if out.String() != want {
		t.Errorf("report\n got:\n%s\nwant:\n%s", out.String(), want)
	}
	if got := readFile(t, target); got != mergedImapd {
		t.Errorf("upgraded file\n got:\n%s\nwant:\n%s", got, mergedImapd)
	}
	if got := readFile(t, target+".bak"); got != oldImapd {
		t.Errorf("imapd.bak is not the old file:\n%s", got)
	}
	for _, p := range []string{target, target + ".bak"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o640 {
			t.Errorf("%s: mode %v, want 0640 (the old file's)", p, st.Mode())
		}
	}
	// The result is a valid VAR file with the expected values.
	vf, err := ReadVarFile(target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{"MAXDAEMONS": "80", "IMAP_PROXY": "0", "NEW_VAR": "1", "DEFDOMAIN": "@mine.example"} {
		if got := vf.Value(name, "<unset>"); got != v {
			t.Errorf("%s = %q, want %q", name, got, v)
		}
	}
	if _, ok := vf.Get("OLDVAR"); ok {
		t.Error("obsolete OLDVAR still set")
	}
	// No temporary files are left behind.
	ents, _ := os.ReadDir(dir)
	if len(ents) != 3 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %q, want imapd, imapd.bak, imapd.dist", names)
	}

	// Running again changes nothing and writes nothing.
	testenv.WriteFile(t, target+".bak", "marker\n", 0o600)
	out.Reset()
	if n := UpgradeFiles([]string{target + ".dist"}, false, &out, &errOut); n != 0 {
		t.Fatalf("second run failed: %s", errOut.String())
	}
	if !strings.HasSuffix(out.String(), "imapd: already up to date with imapd.dist\n") {
		t.Errorf("second run report:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "imapd: MAXDAEMONS: kept your setting (MAXDAEMONS=80)\n") {
		t.Errorf("second run does not report the kept setting:\n%s", out.String())
	}
	if got := readFile(t, target+".bak"); got != "marker\n" {
		t.Error("an up-to-date file was backed up again")
	}
}

func TestUpgradeDryRun(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "imapd")
	testenv.WriteFile(t, target, oldImapd, 0o640)
	testenv.WriteFile(t, target+".dist", newImapd, 0o644)
	testenv.WriteFile(t, filepath.Join(dir, "pop3d.dist"), newImapd, 0o644)

	var out, errOut bytes.Buffer
	if n := UpgradeFiles([]string{target + ".dist", filepath.Join(dir, "pop3d.dist")}, true, &out, &errOut); n != 0 {
		t.Fatalf("dry run failed: %s", errOut.String())
	}
	want := strings.ReplaceAll(strings.Join(wantReport, "\n"), "DIR", dir) +
		"\nimapd: would be upgraded from imapd.dist (dry run: nothing written)" +
		"\npop3d: would be created from pop3d.dist (dry run: nothing written)\n"
	if out.String() != want {
		t.Errorf("report\n got:\n%s\nwant:\n%s", out.String(), want)
	}
	if got := readFile(t, target); got != oldImapd {
		t.Error("dry run changed imapd")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 3 {
		t.Errorf("dry run created files: %d entries", len(ents))
	}
}

func TestUpgradeCreatesMissingFile(t *testing.T) {
	dir := t.TempDir()
	dist := filepath.Join(dir, "authdaemonrc.dist")
	testenv.WriteFile(t, dist, newImapd, 0o640)
	var out, errOut bytes.Buffer
	if n := UpgradeFiles([]string{dist}, false, &out, &errOut); n != 0 {
		t.Fatal(errOut.String())
	}
	if out.String() != "authdaemonrc: created from authdaemonrc.dist\n" {
		t.Errorf("report: %q", out.String())
	}
	target := filepath.Join(dir, "authdaemonrc")
	if readFile(t, target) != newImapd {
		t.Error("created file differs from the .dist")
	}
	if st, _ := os.Stat(target); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want the .dist's 0640", st.Mode())
	}
	if _, err := os.Stat(target + ".bak"); err == nil {
		t.Error("a .bak was made for a new file")
	}
}

func TestUpgradeNonSectioned(t *testing.T) {
	dir := t.TempDir()
	dist := filepath.Join(dir, "module.esmtp.dist")
	testenv.WriteFile(t, dist, "NAME=esmtp\nMAXDELS=40\n", 0o644)
	var out, errOut bytes.Buffer
	if n := UpgradeFiles([]string{dist}, false, &out, &errOut); n != 0 {
		t.Fatal(errOut.String())
	}
	if out.String() != "module.esmtp: created from module.esmtp.dist\n" {
		t.Errorf("report: %q", out.String())
	}
	target := filepath.Join(dir, "module.esmtp")
	testenv.WriteFile(t, target, "NAME=esmtp\nMAXDELS=10\n", 0o644)
	testenv.WriteFile(t, dist, "NAME=esmtp\nMAXDELS=50\n", 0o644)
	out.Reset()
	if n := UpgradeFiles([]string{dist}, false, &out, &errOut); n != 0 {
		t.Fatal(errOut.String())
	}
	if out.String() != "module.esmtp: kept your file (module.esmtp.dist has no ##NAME sections to merge)\n" {
		t.Errorf("report: %q", out.String())
	}
	if readFile(t, target) != "NAME=esmtp\nMAXDELS=10\n" {
		t.Error("a non-sectioned file was changed")
	}
}

func TestUpgradeErrors(t *testing.T) {
	dir := t.TempDir()
	notDist := filepath.Join(dir, "imapd.conf")
	testenv.WriteFile(t, notDist, newImapd, 0o644)
	badDist := filepath.Join(dir, "bad.dist")
	testenv.WriteFile(t, badDist, "##NAME: A:0\nA=$(hostname)\n", 0o644)
	badMarker := filepath.Join(dir, "marker")
	testenv.WriteFile(t, badMarker, "##NAME: A\nA=1\n", 0o644)
	testenv.WriteFile(t, badMarker+".dist", "##NAME: A:0\nA=2\n", 0o644)

	cases := []struct{ arg, want string }{
		{notDist, "sysconftool: " + notDist + ": not a .dist file"},
		{filepath.Join(dir, "missing.dist"), "sysconftool: open " + filepath.Join(dir, "missing.dist") + ": no such file or directory"},
		{badDist, "sysconftool: " + badDist + ":2: command substitution $(...) is not supported"},
		{badMarker + ".dist", "sysconftool: " + badMarker + ":1: bad section marker"},
	}
	for _, tc := range cases {
		var out, errOut bytes.Buffer
		if n := UpgradeFiles([]string{tc.arg}, false, &out, &errOut); n != 1 {
			t.Errorf("%s: %d failures, want 1", tc.arg, n)
		}
		if !strings.HasPrefix(errOut.String(), tc.want) {
			t.Errorf("%s: error %q, want prefix %q", tc.arg, errOut.String(), tc.want)
		}
	}
	if readFile(t, badMarker) != "##NAME: A\nA=1\n" {
		t.Error("file with a bad marker was changed")
	}
	if _, err := os.Stat(filepath.Join(dir, "bad")); err == nil {
		t.Error("a broken .dist was installed")
	}
}

func TestMergeLayout(t *testing.T) {
	dist := `# header
##NAME: GROUP:0
# two settings
MAILUSER=courier
MAILGROUP=courier
# after

##NAME: COMMENTED:0
#
# COMMENTED=1

##NAME: DUP:0
DUP=1
##NAME: DUP:0
DUP=2
##NAME: MULTI:0
MULTI=./Maildir
`
	old := `##NAME: GROUP:0
MAILUSER=mail
MAILGROUP=mail
##NAME: COMMENTED:0
COMMENTED=1
##NAME: DUP:0
DUP=10
##NAME: DUP:0
DUP=20
##NAME: MULTI:0
MULTI="|| dotforward
./Maildir"
`
	want := `# header
##NAME: GROUP:0
# two settings
MAILUSER=mail
MAILGROUP=mail
# after

##NAME: COMMENTED:0
#
# COMMENTED=1

COMMENTED=1

##NAME: DUP:0
DUP=10
##NAME: DUP:0
DUP=20
##NAME: MULTI:0
MULTI="|| dotforward
./Maildir"
`
	got, changes, err := Merge("courierd", []byte(old), "courierd.dist", []byte(dist))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("merged\n got:\n%s\nwant:\n%s", got, want)
	}
	var report []string
	for _, c := range changes {
		report = append(report, c.String())
	}
	wantReport := []string{
		"courierd: GROUP: kept your setting (MAILUSER=mail; MAILGROUP=mail)",
		"courierd: COMMENTED: kept your setting (COMMENTED=1)",
		"courierd: DUP: kept your setting (DUP=10)",
		"courierd: DUP: kept your setting (DUP=20)",
		`courierd: MULTI: kept your setting (MULTI="|| dotforward\n./Maildir")`,
	}
	if strings.Join(report, "\n") != strings.Join(wantReport, "\n") {
		t.Errorf("report\n got:\n%s\nwant:\n%s", strings.Join(report, "\n"), strings.Join(wantReport, "\n"))
	}
	if changes[1].Kind != Kept || changes[0].Section != "GROUP" {
		t.Errorf("changes = %+v", changes)
	}
}

func TestMergeRevisionChanges(t *testing.T) {
	dist := "##NAME: A:2\nA=new\n##NAME: B:1\n# B=1\n##NAME: C:1\nC=1\n"
	old := "##NAME: A:1\n# A=x\n##NAME: B:0\nB=7\n##NAME: C:0\nC=1\n##NAME: D:0\n# nothing set\n"
	got, changes, err := Merge("f", []byte(old), "f.dist", []byte(dist))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != dist {
		t.Errorf("merged %q, want the .dist", got)
	}
	want := []struct {
		kind ChangeKind
		line string
	}{
		{Reset, "f: A: reset to the new default (revision 1 -> 2); you had it commented out"},
		{Reset, "f: B: reset to the new default (revision 0 -> 1); your old value was B=7"},
		{Unchanged, "f: C: unchanged default (revision 0 -> 1)"},
		{Obsolete, "f: D: obsolete, removed (was not set)"},
	}
	if len(changes) != len(want) {
		t.Fatalf("changes = %q", changes)
	}
	for i, w := range want {
		if changes[i].Kind != w.kind || changes[i].String() != w.line {
			t.Errorf("change %d = %v %q, want %v %q", i, changes[i].Kind, changes[i], w.kind, w.line)
		}
	}
}

func TestMergeOldFileWithoutSections(t *testing.T) {
	got, changes, err := Merge("esmtpd", []byte("PORT=2525\n"), "esmtpd.dist", []byte("# h\n##NAME: PORT:1\nPORT=smtp\n"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "# h\n##NAME: PORT:1\nPORT=smtp\n" {
		t.Errorf("merged: %q", got)
	}
	want := []string{
		"esmtpd: header: the lines before the first ##NAME now come from esmtpd.dist; yours were PORT=2525",
		"esmtpd: PORT: new setting, default added (PORT=smtp)",
	}
	if len(changes) != 2 || changes[0].String() != want[0] || changes[1].String() != want[1] || changes[1].Kind != Added {
		t.Errorf("changes = %q", changes)
	}
}

// TestUpgradeDebianImapd upgrades the real Debian imapd (as the admin's
// file, with a changed setting) from a modified copy playing the new .dist.
func TestUpgradeDebianImapd(t *testing.T) {
	testenv.NeedPackage(t, "courier-imap", "/etc/courier/imapd")
	orig, err := os.ReadFile("/etc/courier/imapd")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	target := filepath.Join(dir, "imapd")
	admin := strings.Replace(string(orig), "\nMAXDAEMONS=40\n", "\nMAXDAEMONS=80\n", 1)
	if admin == string(orig) {
		t.Fatal("Debian imapd has no MAXDAEMONS=40 line to change")
	}
	testenv.WriteFile(t, target, admin, 0o644)

	dist := string(orig)
	replace := func(old, new string) {
		t.Helper()
		if !strings.Contains(dist, old) {
			t.Fatalf("Debian imapd has no %q", old)
		}
		dist = strings.Replace(dist, old, new, 1)
	}
	replace("##VERSION: ", "##VERSION: upgraded ")
	replace("##NAME: IMAP_CAPABILITY:1\n", "##NAME: IMAP_CAPABILITY:2\n")
	replace("##NAME: IMAP_PROXY:0\n", "##NAME: IMAP_PROXY:1\n")
	replace("\nIMAP_CAPABILITY=\"IMAP4rev1 ", "\nIMAP_CAPABILITY=\"IMAP4rev1 MOVE ")
	replace("#  Maximum number of IMAP servers started\n", "#  Maximum number of IMAP server processes\n")
	replace("##NAME: IMAP_PROXY_FOREIGN:0\n", "##NAME: IMAP_NEWTHING:0\n#\n# A new knob.\n\nIMAP_NEWTHING=yes\n\n##NAME: IMAP_PROXY_FOREIGN:0\n")
	i := strings.Index(dist, "##NAME: IMAP_OBSOLETE_CLIENT:0")
	j := strings.Index(dist, "##NAME: IMAP_UMASK:0")
	dist = dist[:i] + dist[j:]
	testenv.WriteFile(t, target+".dist", dist, 0o644)

	var out, errOut bytes.Buffer
	if n := UpgradeFiles([]string{target + ".dist"}, false, &out, &errOut); n != 0 {
		t.Fatal(errOut.String())
	}
	report := out.String()
	for _, line := range []string{
		"imapd: MAXDAEMONS: kept your setting (MAXDAEMONS=80)\n",
		"imapd: IMAP_CAPABILITY: reset to the new default (revision 1 -> 2); your old value was IMAP_CAPABILITY=\"IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT THREAD=REFERENCES SORT QUOTA IDLE\"\n",
		"imapd: IMAP_NEWTHING: new setting, default added (IMAP_NEWTHING=yes)\n",
		"imapd: IMAP_OBSOLETE_CLIENT: obsolete, removed (was IMAP_OBSOLETE_CLIENT=0)\n",
		"imapd: PORT: unchanged default\n",
		"imapd: IMAP_PROXY: unchanged default (revision 0 -> 1)\n",
		"imapd: upgraded from imapd.dist; your previous file is imapd.bak\n",
	} {
		if !strings.Contains(report, line) {
			t.Errorf("report lacks %q:\n%s", line, report)
		}
	}
	got := readFile(t, target)
	if !strings.Contains(got, "#  Maximum number of IMAP server processes\n#\n\nMAXDAEMONS=80\n") {
		t.Error("MAXDAEMONS section does not have the new comment and the admin's value")
	}
	if !strings.HasPrefix(got, "##VERSION: upgraded ") {
		t.Error("header does not come from the new .dist")
	}
	vf, err := ReadVarFile(target, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := vf.Value("IMAP_CAPABILITY", ""); !strings.HasPrefix(v, "IMAP4rev1 MOVE ") {
		t.Errorf("IMAP_CAPABILITY = %q, want the new default", v)
	}
	if v := vf.Value("IMAP_CAPABILITY_TLS", ""); !strings.HasPrefix(v, "IMAP4rev1 MOVE ") {
		t.Errorf("IMAP_CAPABILITY_TLS = %q, want it built from the new IMAP_CAPABILITY", v)
	}
	if _, ok := vf.Get("IMAP_OBSOLETE_CLIENT"); ok {
		t.Error("obsolete IMAP_OBSOLETE_CLIENT still set")
	}
	// Every other setting is as in the admin's file.
	old, err := ParseVarFile("old", []byte(admin), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range old.Names() {
		switch n {
		case "IMAP_CAPABILITY", "IMAP_CAPABILITY_TLS", "IMAP_OBSOLETE_CLIENT":
			continue
		}
		if a, b := old.Value(n, "<unset>"), vf.Value(n, "<unset>"); a != b {
			t.Errorf("%s changed from %q to %q", n, a, b)
		}
	}
	if readFile(t, target+".bak") != admin {
		t.Error("imapd.bak is not the admin's file")
	}
}

// debianUpgradeFiles are the files of Debian's Courier 1.0.16 packages
// that make install-configure upgrades from our etc/*.dist.
var debianUpgradeFiles = []string{"esmtpd", "esmtpd-msa", "esmtpd-ssl", "imapd", "imapd-ssl", "pop3d", "pop3d-ssl", "courierd", "authdaemonrc"}

// ourOwnSettings are the variables our .dist files add to Debian's files
// on an upgrade, each with the value courier-go uses when it is unset, so
// that adding them changes nothing.
var ourOwnSettings = map[string]string{
	"MINUID":            "1",   // courierd: pkg/local and pkg/login default to 1
	"ESMTP_RESOLVER":    "",    // courierd: empty means /etc/resolv.conf
	"ESMTP_INFLOWDELAY": "1",   // esmtpd: pkg/smtpd's default delay
	"LOGIN_CACHE_TTL":   "300", // authdaemonrc: authdaemon.DefaultLoginCacheTTL
}

// TestUpgradeDebianFiles runs install-configure's upgrade over Debian's own
// configuration files with our etc/*.dist: every setting of Debian's file
// must survive (no section dropped as obsolete, none reset to our default),
// and the merged files, alone and in the orders the start scripts source
// them, must give every variable Debian's files set the same value.
func TestUpgradeDebianFiles(t *testing.T) {
	testenv.NeedPackage(t, "courier-mta", "/etc/courier/esmtpd", "/etc/courier/courierd")
	dir := t.TempDir()
	var files []string
	for _, f := range debianUpgradeFiles {
		data, err := os.ReadFile("/etc/courier/" + f)
		if err != nil {
			// authdaemonrc is readable by root and group courier only.
			t.Logf("not checking %s: %v", f, err)
			continue
		}
		dist, err := os.ReadFile(filepath.Join("..", "..", "etc", f+".dist"))
		if err != nil {
			t.Fatal(err)
		}
		testenv.WriteFile(t, filepath.Join(dir, f), string(data), 0o644)
		testenv.WriteFile(t, filepath.Join(dir, f+".dist"), string(dist), 0o644)
		files = append(files, f)
	}
	for _, f := range files {
		p, err := PlanUpgrade(filepath.Join(dir, f+".dist"))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, c := range p.Changes {
			switch c.Kind {
			case Unchanged, Kept, Added:
				// Added: our own sections, checked with ourOwnSettings below.
			default:
				t.Errorf("Debian's setting not kept: %s", c)
			}
		}
		if err := p.Apply(); err != nil {
			t.Fatal(err)
		}

		// Section by section: the settings of Debian's k-th section NAME
		// are those of the merged file's k-th section NAME, as written.
		deb, _ := os.ReadFile("/etc/courier/" + f)
		merged := readFile(t, filepath.Join(dir, f))
		_, dSecs, err := SplitSections(f, deb)
		if err != nil {
			t.Fatal(err)
		}
		_, mSecs, err := SplitSections(f, []byte(merged))
		if err != nil {
			t.Fatal(err)
		}
		byName := map[string][]*Section{}
		for i := range mSecs {
			byName[mSecs[i].Name] = append(byName[mSecs[i].Name], &mSecs[i])
		}
		seen := map[string]int{}
		for i := range dSecs {
			d := &dSecs[i]
			k := seen[d.Name]
			seen[d.Name]++
			if k >= len(byName[d.Name]) {
				t.Errorf("%s: section %s (%s) dropped", f, d.Name, summary(d))
				continue
			}
			m := byName[d.Name][k]
			if m.Revision != d.Revision {
				t.Errorf("%s: section %s has revision %d in etc/%s.dist, %d in Debian's file: the admin's value would be reset", f, d.Name, m.Revision, f, d.Revision)
			}
			if m.settingsText() != d.settingsText() {
				t.Errorf("%s: section %s is %s after the upgrade, Debian's was %s", f, d.Name, summary(m), summary(d))
			}
		}
	}

	pre := debianScriptVars(t)
	chains := [][]string{{"courierd"}, {"authdaemonrc"}, {"esmtpd"}, {"esmtpd", "esmtpd-msa"}, {"esmtpd", "esmtpd-ssl"},
		{"imapd"}, {"imapd", "imapd-ssl"}, {"imapd-ssl", "imapd"}, {"pop3d"}, {"pop3d", "pop3d-ssl"}, {"pop3d-ssl", "pop3d"}}
	for _, chain := range chains {
		var debPaths, ourPaths []string
		for _, f := range chain {
			if !slices.Contains(files, f) {
				debPaths = nil
				break
			}
			debPaths = append(debPaths, "/etc/courier/"+f)
			ourPaths = append(ourPaths, filepath.Join(dir, f))
		}
		if debPaths == nil {
			continue
		}
		name := strings.Join(chain, " + ")
		deb, err := ReadVarFiles(debPaths, pre)
		if err != nil {
			t.Fatalf("%s: Debian's: %v", name, err)
		}
		ours, err := ReadVarFiles(ourPaths, pre)
		if err != nil {
			t.Fatalf("%s: upgraded: %v", name, err)
		}
		for _, n := range deb.Names() {
			if a, b := deb.Value(n, "<unset>"), ours.Value(n, "<unset>"); a != b {
				t.Errorf("%s: %s=%q after the upgrade, Debian's file gives %q", name, n, b, a)
			}
		}
		for _, n := range ours.Names() {
			if _, ok := deb.Get(n); ok {
				continue
			}
			want, ok := ourOwnSettings[n]
			if v := ours.Value(n, ""); !ok || v != want {
				t.Errorf("%s: the upgrade sets %s=%q, which Debian's file does not set: that changes behaviour", name, n, v)
			}
		}
	}
}

// TestUpgradeKeepsOwner checks that an upgraded file keeps its owner and
// group, and that a new file gets the .dist's.
func TestUpgradeKeepsOwner(t *testing.T) {
	testenv.NeedRoot(t)
	dir := t.TempDir()
	target := filepath.Join(dir, "authdaemonrc")
	testenv.WriteFile(t, target, oldImapd, 0o640)
	testenv.WriteFile(t, target+".dist", newImapd, 0o644)
	if err := os.Chown(target, 12345, 54321); err != nil {
		t.Fatal(err)
	}
	newDist := filepath.Join(dir, "new.dist")
	testenv.WriteFile(t, newDist, newImapd, 0o604)
	if err := os.Chown(newDist, 0, 54322); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if n := UpgradeFiles([]string{target + ".dist", newDist}, false, &out, &errOut); n != 0 {
		t.Fatal(errOut.String())
	}
	for _, c := range []struct {
		path     string
		uid, gid uint32
		mode     os.FileMode
	}{
		{target, 12345, 54321, 0o640},
		{target + ".bak", 12345, 54321, 0o640},
		{filepath.Join(dir, "new"), 0, 54322, 0o604},
	} {
		st, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		s := st.Sys().(*syscall.Stat_t)
		if s.Uid != c.uid || s.Gid != c.gid || st.Mode().Perm() != c.mode {
			t.Errorf("%s: %d:%d %v, want %d:%d %v", c.path, s.Uid, s.Gid, st.Mode().Perm(), c.uid, c.gid, c.mode)
		}
	}
}

func TestUpgradeFollowsSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real-imapd")
	testenv.WriteFile(t, real, oldImapd, 0o644)
	if err := os.Symlink(real, filepath.Join(dir, "imapd")); err != nil {
		t.Fatal(err)
	}
	testenv.WriteFile(t, filepath.Join(dir, "imapd.dist"), newImapd, 0o644)
	var out, errOut bytes.Buffer
	if n := UpgradeFiles([]string{filepath.Join(dir, "imapd.dist")}, false, &out, &errOut); n != 0 {
		t.Fatal(errOut.String())
	}
	if l, err := os.Readlink(filepath.Join(dir, "imapd")); err != nil || l != real {
		t.Errorf("symlink replaced: %q, %v", l, err)
	}
	if readFile(t, real) != mergedImapd {
		t.Error("symlink target not upgraded")
	}
}

func BenchmarkMergeImapd(b *testing.B) {
	data, err := os.ReadFile("/etc/courier/imapd")
	if err != nil {
		b.Skip("no /etc/courier/imapd: install the Debian package courier-imap")
	}
	admin := bytes.Replace(data, []byte("\nMAXDAEMONS=40\n"), []byte("\nMAXDAEMONS=80\n"), 1)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, _, err := Merge("imapd", admin, "imapd.dist", data); err != nil {
			b.Fatal(err)
		}
	}
}

// debianScriptVars are the variables the Debian layout sets before a
// configuration file is read, as courierd does.
func debianScriptVars(t *testing.T) map[string]string {
	t.Helper()
	l, err := layout.ForPreset("debian", "")
	if err != nil {
		t.Fatal(err)
	}
	return l.ScriptVars()
}
