// Package track owns Courier's backscatter tracking files, track/<H> under the
// localstatedir (spec queue-and-courierd.md §1 and §8): one file per hour
// (H = Unix time / 3600), appended lines "<time> <kind><address>" where kind is
// F (failed), D (deferred) or A (accepted, or cleared by the admin).
//
// Callers: the scheduler records the results of messages with a T record
// (Record); courieresmtpd asks Lookup at RCPT TO and answers 556 for a
// failed and 456 for a deferred address; `courier clear` and `courier show
// all` use Clear, ClearAll and List.
//
// Rules kept from the original (libs/comtrack.c, libs/comctlfile.c,
// submit.C): files of the current hour and the Window hours before it are
// read; a listed address blocks RCPT for Window (2 h) after its record; a new
// F or D record for an address that is already listed is written at most once
// per half window (1 h); a success writes A only for a listed address; the
// domain part of an address is lower-cased, the local part kept.
//
// One deliberate difference: records are applied oldest first, so the latest
// record of an address decides. The original reads the newest hour first, so
// an A written by `courier clear` in this hour is overridden by an F of an
// earlier hour and the address stays listed; ours is cleared, as courier(8)
// documents.
package track

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Record kinds (spec §8).
const (
	Failed   byte = 'F'
	Deferred byte = 'D'
	Accepted byte = 'A'
)

// Window is how long a failure or deferral keeps an address listed
// (TRACK_NHOURS in the original).
const Window = 2 * time.Hour

// Tracker is the track/ directory of one queue.
type Tracker struct {
	dir string
	// Logger receives malformed lines met by Lookup (which has no error
	// result); default slog.Default().
	Logger *slog.Logger
}

// Open returns the tracker of the queue at localstatedir. Nothing is read or
// created until a method needs it; queue.Open creates track/ with its mode.
func Open(localstatedir string) *Tracker {
	return &Tracker{dir: filepath.Join(localstatedir, "track")}
}

// Dir is the track directory.
func (t *Tracker) Dir() string { return t.dir }

// Entry is one line of a track file.
type Entry struct {
	Time    time.Time
	Kind    byte
	Address string
}

// ParseLine parses one track line (without its newline): decimal Unix time,
// one space, a kind letter, the address. Kinds other than F, D and A are
// accepted (the original keeps STARTTLS and verification records in the same
// files); an empty address is not.
func ParseLine(line string) (Entry, error) {
	sp := strings.IndexByte(line, ' ')
	if sp < 0 {
		return Entry{}, errors.New("no space after the time")
	}
	if sp == 0 || sp > 19 {
		return Entry{}, fmt.Errorf("bad time %q", line[:sp])
	}
	for i := 0; i < sp; i++ {
		if line[i] < '0' || line[i] > '9' {
			return Entry{}, fmt.Errorf("bad time %q", line[:sp])
		}
	}
	secs, err := strconv.ParseInt(line[:sp], 10, 64)
	if err != nil {
		return Entry{}, fmt.Errorf("bad time %q", line[:sp])
	}
	rest := line[sp+1:]
	if rest == "" {
		return Entry{}, errors.New("no record kind")
	}
	kind := rest[0]
	if !(kind >= 'A' && kind <= 'Z' || kind >= 'a' && kind <= 'z') {
		return Entry{}, fmt.Errorf("bad record kind %q", rest[:1])
	}
	addr := rest[1:]
	if addr == "" {
		return Entry{}, errors.New("no address")
	}
	if strings.ContainsAny(addr, "\n\x00") {
		return Entry{}, errors.New("control character in the address")
	}
	return Entry{Time: time.Unix(secs, 0), Kind: kind, Address: addr}, nil
}

// Line formats e as it is stored, without the newline.
func (e Entry) Line() string {
	return strconv.FormatInt(e.Time.Unix(), 10) + " " + string(e.Kind) + e.Address
}

// Normalize is the form addresses are stored and compared in: the domain (after
// the last @) lower-cased, the local part unchanged (udomainlower).
func Normalize(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return addr
	}
	return addr[:at+1] + strings.ToLower(addr[at+1:])
}

// ParseFile parses a whole track file. Malformed lines are skipped and each is
// reported in the returned error as "file:line: reason"; the good entries are
// returned in file order either way. An unterminated last line (a write in
// progress) is ignored.
func ParseFile(name string, data []byte) ([]Entry, error) {
	var out []Entry
	var errs []error
	text := string(data)
	if i := strings.LastIndexByte(text, '\n'); i+1 < len(text) {
		text = text[:i+1]
	}
	n := 0
	for text != "" {
		n++
		i := strings.IndexByte(text, '\n')
		line := text[:i]
		text = text[i+1:]
		e, err := ParseLine(line)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %v", name, n, err))
			continue
		}
		out = append(out, e)
	}
	return out, errors.Join(errs...)
}

func hourOf(now time.Time) int64 { return now.Unix() / 3600 }

func (t *Tracker) path(hour int64) string {
	return filepath.Join(t.dir, strconv.FormatInt(hour, 10))
}

// read returns the entries of the window around now, oldest hour first.
func (t *Tracker) read(now time.Time) ([]Entry, error) {
	cur := hourOf(now)
	var all []Entry
	var errs []error
	for h := cur - int64(Window/time.Hour); h <= cur; h++ {
		p := t.path(h)
		data, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("track: %w", err))
			continue
		}
		es, err := ParseFile(p, data)
		if err != nil {
			errs = append(errs, err)
		}
		all = append(all, es...)
	}
	return all, errors.Join(errs...)
}

// state folds entries into each address's latest F, D or A record.
func state(entries []Entry) map[string]Entry {
	m := make(map[string]Entry)
	for _, e := range entries {
		switch e.Kind {
		case Failed, Deferred, Accepted:
			m[e.Address] = e
		}
	}
	return m
}

func (t *Tracker) logger() *slog.Logger {
	if t.Logger != nil {
		return t.Logger
	}
	return slog.Default()
}

// latest is the address's latest F/D/A record in the window.
func (t *Tracker) latest(addr string, now time.Time) (Entry, bool, error) {
	entries, err := t.read(now)
	e, ok := state(entries)[Normalize(addr)]
	return e, ok, err
}

// Lookup says whether addr is listed: kind Failed or Deferred, for Window
// after its latest record. courieresmtpd answers 556 Address unavailable /
// 456 Address temporarily unavailable (spec §8). Unreadable files and
// malformed lines are logged and skipped, so a damaged file never blocks mail.
func (t *Tracker) Lookup(addr string, now time.Time) (kind byte, ok bool) {
	e, found, err := t.latest(addr, now)
	if err != nil {
		t.logger().Warn("backscatter tracking: skipping unreadable records", "err", err)
	}
	if !found || e.Kind == Accepted || e.Time.Before(now.Add(-Window)) {
		return 0, false
	}
	return e.Kind, true
}

// Record notes a delivery result of a tracked message (one with a T record)
// for addr: Failed, Deferred or Accepted. As the original does, a failure or
// deferral of an address listed by a record younger than half the Window
// adds nothing, and Accepted is written only when the address is listed.
func (t *Tracker) Record(addr string, kind byte, now time.Time) error {
	switch kind {
	case Failed, Deferred, Accepted:
	default:
		return fmt.Errorf("track: record kind %q is not F, D or A", kind)
	}
	e, found, err := t.latest(addr, now)
	if err != nil {
		t.logger().Warn("backscatter tracking: skipping unreadable records", "err", err)
	}
	listed := found && e.Kind != Accepted
	if kind == Accepted {
		if !listed {
			return nil
		}
	} else if listed && !e.Time.Before(now.Add(-Window/2)) {
		return nil
	}
	return t.write(Entry{Time: now, Kind: kind, Address: Normalize(addr)})
}

// Clear writes an A record for addr (`courier clear <addr>`), listed or not.
func (t *Tracker) Clear(addr string, now time.Time) error {
	return t.write(Entry{Time: now, Kind: Accepted, Address: Normalize(addr)})
}

// ClearAll writes an A record for every listed address (`courier clear all`).
// The addresses are those List returns, so a malformed line is reported and
// the rest are still cleared.
func (t *Tracker) ClearAll(now time.Time) error {
	addrs, err := t.List(now)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	var b strings.Builder
	for _, a := range addrs {
		b.WriteString(Entry{Time: now, Kind: Accepted, Address: a}.Line())
		b.WriteByte('\n')
	}
	if b.Len() > 0 {
		errs = append(errs, t.writeLines(now, b.String()))
	}
	return errors.Join(errs...)
}

// List returns the listed addresses (latest record F or D, within the window
// of files), sorted (`courier show all`). Malformed lines are skipped and
// reported in the error; the list is complete otherwise.
func (t *Tracker) List(now time.Time) ([]string, error) {
	entries, err := t.read(now)
	var out []string
	for addr, e := range state(entries) {
		if e.Kind != Accepted {
			out = append(out, addr)
		}
	}
	sort.Strings(out)
	return out, err
}

func (t *Tracker) write(e Entry) error {
	return t.writeLines(e.Time, e.Line()+"\n")
}

// writeLines appends lines to the file of now's hour in one write(2) with
// O_APPEND, so concurrent writers (scheduler, courier clear) never interleave
// within a line. A new hour's file is the moment to delete files that have
// left the window. The original refuses to create files in a track
// directory owned by another uid (so root never leaves root-owned files for
// the courier user); so do we, with an error saying what to do.
func (t *Tracker) writeLines(now time.Time, lines string) error {
	st, err := os.Stat(t.dir)
	if err != nil {
		return fmt.Errorf("track: %w (queue.Open creates it; is this the queue directory?)", err)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != os.Geteuid() {
		return fmt.Errorf("track: %s belongs to uid %d, this process runs as uid %d: run it as the owner of the queue (the courier user)", t.dir, sys.Uid, os.Geteuid())
	}
	p := t.path(hourOf(now))
	if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
		t.purge(now)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("track: %w", err)
	}
	_, werr := f.Write([]byte(lines))
	cerr := f.Close()
	if werr != nil {
		return fmt.Errorf("track: appending to %s: %w", p, werr)
	}
	if cerr != nil {
		return fmt.Errorf("track: closing %s: %w", p, cerr)
	}
	return nil
}

// Purge deletes hour files older than the window (courierd does this at
// startup, trackpurge). Names that are not numbers are left alone.
func (t *Tracker) Purge(now time.Time) error {
	return t.purge(now)
}

func (t *Tracker) purge(now time.Time) error {
	names, err := readNames(t.dir)
	if err != nil {
		return fmt.Errorf("track: %w", err)
	}
	oldest := hourOf(now) - int64(Window/time.Hour) - 1
	var errs []error
	for _, n := range names {
		h, err := strconv.ParseInt(n, 10, 64)
		if err != nil || h >= oldest {
			continue
		}
		if err := os.Remove(filepath.Join(t.dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("track: %w", err))
		}
	}
	return errors.Join(errs...)
}

func readNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}
