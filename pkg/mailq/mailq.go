// Package mailq owns the queue administration commands that read or poke
// queued messages: `mailq [-sort] [-batch]` (spec queue-and-courierd.md §5),
// `cancelmsg <qid> [reason…]` and `courier flush [qid]` (§4), with the
// original's output, messages, exit codes and permission rules.
//
// Callers: cmd/sendmail runs Main when invoked as mailq (or with -bp),
// cmd/cancelmsg runs Cancel, cmd/courier runs Flush. The queue format itself
// belongs to pkg/queue; this package only reads control files, appends cancel
// records and writes trigger lines.
package mailq

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/pkg/queue"
)

// VersionLine is what `courier --version` prints and what showmodules names
// each module with, in the shape of the original's COURIER_COPYRIGHT.
const VersionLine = "GoCourier 0.2 Copyright 2026 The GoCourier Authors"

// Message is one queued message as mailq shows it.
type Message struct {
	Size       int64     // D file size
	ID         string    // the M record
	Date       time.Time // D file mtime
	User       string    // owner name of the D file, "" if unknown
	UID        int       // owner of the D file
	Sender     string    // s record, "" for <>
	Recipients []Recipient
}

// Recipient is one r record with mailq's status: "done" (S record), "fail"
// (F record) or "" (pending or deferred: the original does not tell them
// apart).
type Recipient struct {
	Status  string
	Address string
}

// ListOptions select what List returns.
type ListOptions struct {
	// UID is the caller's real uid: 0 sees every message, anyone else only
	// those whose D file it owns (spec §5).
	UID int
	// Sort orders by D file mtime, oldest first (-sort); otherwise the order
	// is the directory scan order, as the original's.
	Sort bool
	// Warn receives control files that cannot be read or parsed (skipped).
	Warn func(error)
}

// List reads the queued messages under root (the localstatedir) the way the
// original mailq does: every msgs/<digits>/C* file, in directory order.
func List(root string, o ListOptions) ([]Message, error) {
	msgs := filepath.Join(root, "msgs")
	top, err := readNames(msgs)
	if err != nil {
		return nil, err
	}
	warn := o.Warn
	if warn == nil {
		warn = func(error) {}
	}
	users := map[int]string{}
	type candidate struct {
		ctl, data string
		mtime     int64
	}
	var sorted []candidate
	var out []Message
	for _, d := range top {
		if d == "" || strings.Trim(d, "0123456789") != "" {
			continue
		}
		names, err := readNames(filepath.Join(msgs, d))
		if err != nil {
			continue
		}
		for _, n := range names {
			if !strings.HasPrefix(n, "C") {
				continue
			}
			ctl := filepath.Join(msgs, d, n)
			data := filepath.Join(msgs, d, "D"+n[1:])
			if o.Sort {
				st, err := os.Stat(data)
				if err != nil || !visible(st, o.UID) {
					continue
				}
				// The original prepends to a list and sorts it with glibc's
				// (stable) merge sort: equal times come out in reverse scan
				// order.
				sorted = append(sorted, candidate{ctl, data, st.ModTime().Unix()})
				continue
			}
			c, err := load(ctl)
			if err != nil {
				warn(err)
				continue
			}
			st, err := os.Stat(data)
			if err != nil || !visible(st, o.UID) {
				continue
			}
			out = append(out, message(c, st, users))
		}
	}
	if !o.Sort {
		return out, nil
	}
	for i, j := 0, len(sorted)-1; i < j; i, j = i+1, j-1 {
		sorted[i], sorted[j] = sorted[j], sorted[i]
	}
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].mtime < sorted[j].mtime })
	for _, s := range sorted {
		st, err := os.Stat(s.data)
		if err != nil {
			continue
		}
		c, err := load(s.ctl)
		if err != nil {
			warn(err)
			continue
		}
		out = append(out, message(c, st, users))
	}
	return out, nil
}

func visible(st fs.FileInfo, uid int) bool {
	return uid == 0 || owner(st) == uid
}

func owner(st fs.FileInfo) int {
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		return int(sys.Uid)
	}
	return -1
}

// load parses a control file. A torn last line (an append cut short by a
// crash, which the scheduler's recovery repairs) does not hide the message.
func load(path string) (*queue.Control, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := queue.ParseControl(path, data)
	var pe *queue.ParseError
	if errors.As(err, &pe) && pe.Torn {
		c, err = queue.ParseControl(path, data[:strings.LastIndexByte(string(data), '\n')+1])
	}
	return c, err
}

func message(c *queue.Control, st fs.FileInfo, users map[int]string) Message {
	uid := owner(st)
	name, ok := users[uid]
	if !ok {
		if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
			name = u.Username
		}
		users[uid] = name
	}
	m := Message{Size: st.Size(), ID: c.ID.String(), Date: st.ModTime(), User: name, UID: uid, Sender: c.Sender}
	for _, r := range c.Recipients {
		s := ""
		switch r.Status {
		case queue.StatusDelivered:
			s = "done"
		case queue.StatusFailed:
			s = "fail"
		}
		m.Recipients = append(m.Recipients, Recipient{Status: s, Address: r.Address})
	}
	return m
}

// FormatSize is mailq's size column: bytes below 1 KiB, then KiB with one
// truncated decimal ("5.1K"), then MiB with two ("1.55M").
func FormatSize(n int64) string {
	switch {
	case n < 1024:
		return strconv.FormatInt(n, 10)
	case n < 1024*1024:
		return fmt.Sprintf("%d.%dK", n/1024, n%1024*10/1024)
	default:
		return fmt.Sprintf("%d.%02dM", n/(1024*1024), n%(1024*1024)*100/(1024*1024))
	}
}

// The queue id column: (8+16+4)*2+3 characters wide, the original's
// (sizeof(ino_t)+sizeof(time_t)*2+sizeof(pid_t))*2+3 on 64-bit Linux.
const idWidth = 59

// Write prints msgs in mailq's layout (or the -batch one), trailer included.
func Write(w io.Writer, msgs []Message, batch bool) error {
	var b strings.Builder
	three := func(a, id, date string) {
		if batch {
			fmt.Fprintf(&b, "%s;%s;%s;", a, id, date)
		} else {
			fmt.Fprintf(&b, "%16s %-*s %s\n", a, idWidth, id, date)
		}
	}
	two := func(a, v string) {
		if batch {
			fmt.Fprintf(&b, "%s;%s;", a, v)
		} else {
			fmt.Fprintf(&b, "%-16s %s\n", a, v)
		}
	}
	if !batch {
		three("Size            ", "Queue ID", "Date")
		two("User", "From")
		two("Status", "Recipient")
		two("----------------", "---------------------------------------------------------")
	}
	for _, m := range msgs {
		three(fmt.Sprintf("%-16.16s", FormatSize(m.Size)), m.ID, m.Date.Format("Jan 02 15:04"))
		two(m.User, m.Sender)
		for _, r := range m.Recipients {
			two(r.Status, r.Address)
		}
		b.WriteString("\n")
	}
	if batch {
		fmt.Fprintf(&b, "messages: %d\n", len(msgs))
	} else {
		fmt.Fprintf(&b, "%4d messages.\n", len(msgs))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Args are the options the original's argument parser (cargs) accepts for
// one program: "-name" or "-name=value"; "-" ends the options, and so does
// the first argument not starting with "-". Anything else is
// "<prog>: ERR: Invalid argument: <arg>" and exit 1.
func parseArgs(prog string, args []string, names ...string) (map[string]string, []string, error) {
	set := map[string]string{}
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			break
		}
		if a == "-" {
			i++
			break
		}
		found := false
		for _, n := range names {
			if v, ok := strings.CutPrefix(a[1:], n); ok && (v == "" || v[0] == '=') {
				set[n] = strings.TrimPrefix(v, "=")
				found = true
				break
			}
		}
		if !found {
			return nil, nil, fmt.Errorf("%s: ERR: Invalid argument: %s", prog, a)
		}
	}
	return set, args[i:], nil
}

// Main is `mailq [-sort] [-batch]`. args are the arguments after the program
// name. It lists the queue at layout.Current().LocalstateDir as the caller's
// real uid may see it; exit 0, or 1 for a bad option or an unreadable queue.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "--help" || args[0] == "-help" || args[0] == "-h") {
		fmt.Fprint(stdout, usage)
		return 0
	}
	return run(layout.Current().LocalstateDir, os.Getuid(), args, stdout, stderr)
}

const usage = `Usage: mailq [-sort] [-batch]

List the messages in the mail queue: size, queue id, arrival date, owner,
sender, and each recipient with its status (done, fail, or blank while it is
still pending). The superuser sees every message, anyone else only those
they submitted.

  -sort   oldest message first (default: the order of the queue directories)
  -batch  one line per message, fields separated by ";"
`

func run(root string, uid int, args []string, stdout, stderr io.Writer) int {
	opts, _, err := parseArgs("mailq", args, "sort", "batch")
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	_, sortFlag := opts["sort"]
	_, batch := opts["batch"]
	msgs, err := List(root, ListOptions{UID: uid, Sort: sortFlag, Warn: func(err error) {
		fmt.Fprintf(stderr, "mailq: skipping a control file: %v\n", err)
	}})
	if err != nil {
		fmt.Fprintf(stderr, "mailq: cannot read the mail queue: %v\n", err)
		return 1
	}
	if err := Write(stdout, msgs, batch); err != nil {
		fmt.Fprintf(stderr, "mailq: %v\n", err)
		return 1
	}
	return 0
}

func readNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}
