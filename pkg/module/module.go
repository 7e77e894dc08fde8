// Package module owns the line protocol between the scheduler (courierd) and
// its transport modules (courierlocal, courierdsn, courieresmtp), and the
// module.<name> configuration files that declare them (spec
// queue-and-courierd.md §3, "Transport-module protocol"; docs/modules.md).
//
// The scheduler writes one line per delivery to a module's standard input:
//
//	<inode>\t<queue id>\t<sender>\t<delivery id>\t<host>\t<index>\t<address>[\t<index>\t<address>...]
//
// The module appends its results (I, S, F, D records) to the message's
// control file itself and then answers with the delivery id alone on a line,
// optionally followed by a tab and text. Only then does the scheduler re-read
// the control file: the control file, not the pipe, carries the outcome, so a
// crash of either side loses no result that was recorded.
//
// Callers: pkg/scheduler formats lines with Delivery.Line and reads replies
// with ParseReply; the module programs read lines with Serve; the scheduler
// and showmodules read the module files with ReadConfigs.
package module

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Recipient is one recipient of a delivery: its index (the 0-based number
// of its r record in the control file) and its address.
type Recipient struct {
	Index   int
	Address string
}

// Delivery is one line of the protocol: one attempt to deliver a message to
// one or more recipients that share a host.
type Delivery struct {
	Inode      uint64 // the control file's inode: msgs/<inode%100>/C<inode>
	QueueID    string // the message's queue id, for log lines
	Sender     string // envelope sender, "" for <>
	ID         string // delivery id, echoed back when the delivery is done
	Host       string // what the module's routing chose (domain, local name, "final"/"delay" for dsn)
	Recipients []Recipient
}

// ParseDelivery parses one line without its newline. Lines with fewer than
// seven columns are refused (the original ignores lines with fewer than six;
// a line without any recipient is of no use either).
func ParseDelivery(line string) (Delivery, error) {
	var d Delivery
	f := strings.Split(line, "\t")
	if len(f) < 7 {
		return d, fmt.Errorf("delivery line has %d columns, need at least 7: %q", len(f), clip(line))
	}
	if (len(f)-5)%2 != 0 {
		return d, fmt.Errorf("delivery line has a recipient index without an address: %q", clip(line))
	}
	ino, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil || ino == 0 {
		return d, fmt.Errorf("delivery line: bad inode %q", clip(f[0]))
	}
	if f[3] == "" || strings.ContainsAny(f[3], " \r") {
		return d, fmt.Errorf("delivery line: bad delivery id %q", clip(f[3]))
	}
	d = Delivery{Inode: ino, QueueID: f[1], Sender: f[2], ID: f[3], Host: f[4]}
	for i := 5; i < len(f); i += 2 {
		n, err := strconv.Atoi(f[i])
		if err != nil || n < 0 {
			return Delivery{}, fmt.Errorf("delivery line: bad recipient index %q", clip(f[i]))
		}
		if f[i+1] == "" {
			return Delivery{}, fmt.Errorf("delivery line: empty address for recipient %d", n)
		}
		d.Recipients = append(d.Recipients, Recipient{Index: n, Address: f[i+1]})
	}
	return d, nil
}

// ErrField is returned by Line for a field that would break the line.
var ErrField = errors.New("field contains a tab or newline")

// Line formats the delivery as one protocol line without its newline.
func (d Delivery) Line() (string, error) {
	var b strings.Builder
	fields := []string{strconv.FormatUint(d.Inode, 10), d.QueueID, d.Sender, d.ID, d.Host}
	for _, r := range d.Recipients {
		fields = append(fields, strconv.Itoa(r.Index), r.Address)
	}
	for i, f := range fields {
		if strings.ContainsAny(f, "\t\n") {
			return "", fmt.Errorf("delivery %s: %q: %w", d.ID, f, ErrField)
		}
		if i > 0 {
			b.WriteByte('\t')
		}
		b.WriteString(f)
	}
	return b.String(), nil
}

// Reply is a module's answer: the delivery id and the optional text after
// the first tab.
type Reply struct {
	ID   string
	Text string
}

// ParseReply parses one reply line without its newline. Like the original
// courierd, which reads the digits and ignores the rest, it takes the id up
// to the first tab or space.
func ParseReply(line string) (Reply, error) {
	id, text, _ := strings.Cut(line, "\t")
	id, _, _ = strings.Cut(id, " ")
	if id == "" {
		return Reply{}, fmt.Errorf("module reply without a delivery id: %q", clip(line))
	}
	return Reply{ID: id, Text: text}, nil
}

// Deferral is the reply text with which the dsn module says a report could
// not be queued and should be tried again later.
const Deferral = "defer"

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
