package aliases

import (
	"bufio"
	"io"
	"os"
	"strings"

	"github.com/gocourier/courier/pkg/dbfile"
)

// Table is a compiled alias source: every alias with the final list of its
// recipients, sub-aliases expanded.
type Table struct {
	names    []string
	members  map[string][]string
	programs []Program
}

// newTable expands the definitions. An alias whose definitions are all
// empty is no alias: its name stays an ordinary address wherever it is
// listed (Debian's empty "postmaster:" makes root@me go to postmaster@me).
// The recipients of an alias are the members, in order, of every alias
// reachable from it that are not aliases themselves, plus an alias listed
// inside its own definition ("foo: foo, bar" keeps foo). Loops end where
// an alias is met the second time, as in the original's aliascreate, so
// "a: b, x" with "b: a, y" gives both a and b the recipients x and y.
func newTable(order []string, defs map[string][]string, programs []Program) *Table {
	t := &Table{members: map[string][]string{}, programs: programs}
	isAlias := func(n string) bool { return len(defs[n]) > 0 }
	for _, name := range order {
		if !isAlias(name) {
			continue
		}
		seen := map[string]bool{}
		visited := map[string]bool{name: true}
		var out []string
		var walk func(a string)
		walk = func(a string) {
			for _, m := range defs[a] {
				if m == a || !isAlias(m) {
					if !seen[m] {
						seen[m] = true
						out = append(out, m)
					}
					continue
				}
				if !visited[m] {
					visited[m] = true
					walk(m)
				}
			}
		}
		walk(name)
		if len(out) > 0 {
			t.names = append(t.names, name)
			t.members[name] = out
		}
	}
	return t
}

// Names returns the aliases in the order of their first definition.
func (t *Table) Names() []string { return append([]string(nil), t.names...) }

// Members returns the recipients of an alias (nil when there is none).
func (t *Table) Members(name string) []string {
	return append([]string(nil), t.members[name]...)
}

// Programs returns the instruction files of "/path" and "| command" aliases.
func (t *Table) Programs() []Program { return append([]Program(nil), t.programs...) }

// dumpChunk is how many recipients one paragraph of makealiases -dump
// holds (the original's MAXDUMPCNT, 100-1): longer lists continue in
// another paragraph "alias: ..." so the output can be fed back in.
const dumpChunk = 99

// Dump writes the table in makealiases -dump format: one paragraph per
// alias, "alias: a, b, ...", lines wrapped before they pass 76 columns
// with an eight-blank indent, a blank line after each paragraph.
func (t *Table) Dump(w io.Writer) error {
	bw := bufio.NewWriter(w)
	for _, name := range t.names {
		line, sep, cnt := "", name+":", 0
		for _, m := range t.members[name] {
			if cnt >= dumpChunk {
				bw.WriteString(line + "\n\n")
				line, sep, cnt = name, ":", 1
			} else {
				cnt++
				if len(line)+len(m) > 76 {
					bw.WriteString(line + sep + "\n")
					line, sep = "        "+m, ","
					continue
				}
			}
			line += sep + " " + m
			sep = ","
		}
		bw.WriteString(line + "\n\n")
	}
	return bw.Flush()
}

// maxRecord is the record size the original's aliases.dat writer aims at:
// a list is spread over several records, the next one started when adding
// an address would make the current one reach this many bytes.
const maxRecord = 512

// recordKey is the key of record n (0 = the first) of an alias: the name,
// then for n > 0 a newline and n in hexadecimal, least significant digit
// first (the original's AliasRecord::mkrecname).
func recordKey(name string, n int) string {
	if n == 0 {
		return name
	}
	const digits = "0123456789ABCDEF"
	b := []byte(name + "\n")
	for {
		b = append(b, digits[n%16])
		n /= 16
		if n == 0 {
			break
		}
	}
	return string(b)
}

// Records returns the aliases.dat records of the table, key and value, in
// the layout of the original (spec §1): value = recipients each followed by
// "\n", split over "<alias>", "<alias>\n1", ... as recordKey says.
func (t *Table) Records() [][2]string {
	var out [][2]string
	for _, name := range t.names {
		n, cur := 0, ""
		for _, m := range t.members[name] {
			if cur != "" && len(cur)+len(m) >= maxRecord {
				out = append(out, [2]string{recordKey(name, n), cur})
				n, cur = n+1, ""
			}
			cur += m + "\n"
		}
		out = append(out, [2]string{recordKey(name, n), cur})
	}
	return out
}

// WriteDB replaces the database at path with the table's records; readers
// see the old or the new file, never a mix (pkg/dbfile).
func (t *Table) WriteDB(path string, perm os.FileMode) error {
	w, err := dbfile.Create(path, perm)
	if err != nil {
		return err
	}
	for _, r := range t.Records() {
		if err := w.Put(r[0], r[1]); err != nil {
			w.Abort()
			return err
		}
	}
	return w.Commit()
}

// joinLines splits a record value into its addresses.
func joinLines(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, a := range strings.Split(v, "\n") {
			if a != "" {
				out = append(out, a)
			}
		}
	}
	return out
}
