// Package sendmail is Courier's sendmail program (spec
// queue-and-courierd.md §6, sendmail(1)): the command line, the return
// address and From: rules of local submission, -n, -bs (courieresmtpd on
// stdin/stdout), -bp (mailq) and rmail, on top of pkg/submit, which queues
// the message. cmd/sendmail calls Main; pkg/mailq serves the mailq name.
//
// Recipients come from the arguments, else from To:, Cc: and Bcc: (Bcc:
// then removed): the original always behaves as with -oi -t. Exit codes are
// those of sysexits.h; 0 only once the message is fsynced in the queue.
package sendmail

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/gocourier/courier/pkg/address"
	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/pkg/mailq"
	"github.com/gocourier/courier/pkg/queue"
	"github.com/gocourier/courier/pkg/submit"
)

// Exit codes (sysexits.h).
const (
	ExOK          = 0
	ExUsage       = 64 // bad command line
	ExDataErr     = 65 // the message itself is refused (size, header)
	ExNoUser      = 67 // a bad or refused address
	ExUnavailable = 69 // -bs without courieresmtpd
	ExCantCreat   = 73 // the queue cannot be written
	ExIOErr       = 74 // reading the message failed
	ExTempFail    = 75 // try again later
	ExNoPerm      = 77 // not allowed (rmail by another user than uucp)
)

// ReceivedFrom is the f record of locally submitted mail, as the original
// writes it.
const ReceivedFrom = "dns; localhost (localhost [127.0.0.1])"

const usage = `Usage: sendmail [option...] [--] [address...]
       rmail [-f sender] address...
       mailq [-sort] [-batch]

Reads a message on standard input and queues it for its recipients: the
addresses given, else those of the To:, Cc: and Bcc: headers (Bcc: removed).

  -f address    envelope sender (return address); -f '' or -f '<>' for none
  -r address    the same as -f
  -F name       the name in the From: header
  -N dsn        delivery status notifications: never, or success,fail,delay
  -R full|hdrs  return the whole message or only its headers in notifications
  -V envid      envelope id returned in notifications
  -S level      minimum security for relaying: NONE or STARTTLS
  -verp         variable envelope return path
  -bcc          take recipients from Bcc: only
  -n            print the rewritten message instead of sending it
  -bs           speak ESMTP on standard input and output (courieresmtpd)
  -bp           list the mail queue (as mailq)
  -t -i -oi -o* -q* and other sendmail flags are accepted and ignored.

Environment: MAILSUSER, MAILUSER, LOGNAME, USER, MAILSHOST, MAILHOST,
MAILNAME, NAME set the return address and the From: header.
Exit status 0 once the message is safely queued; sysexits.h codes otherwise.
`

// Main runs the program called name ("sendmail" or "rmail"; mailq is
// pkg/mailq) with args (without the program name) and returns its exit code.
func Main(name string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	prog := filepath.Base(name)
	rmail := prog == "rmail"
	if !rmail {
		prog = "sendmail"
	}
	a, err := ParseArgs(args, rmail)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return ExUsage
	}
	if a.Help {
		io.WriteString(stdout, usage)
		return ExOK
	}
	if a.ListQueue {
		return mailq.Main(nil, stdout, stderr)
	}
	if a.SMTP {
		return execESMTP(stderr)
	}
	id := currentIdentity()
	if rmail {
		return runRmail(a, id, stdin, stderr)
	}
	return run(a, id, stdin, stdout, stderr)
}

func currentIdentity() identity {
	return identity{getenv: os.Getenv, passwd: sync.OnceValues(func() (string, string) {
		u, err := user.LookupId(strconv.Itoa(os.Getuid()))
		if err != nil {
			return "nobody", ""
		}
		gecos, _, _ := strings.Cut(u.Name, ",")
		return u.Username, gecos
	})}
}

// execESMTP replaces sendmail with courieresmtpd talking to stdin and
// stdout, with the environment the original's wrapper gives it: the
// connection looks like one from localhost by "uid N", allowed to relay.
func execESMTP(stderr io.Writer) int {
	path := layout.Current().ProgramPath("courieresmtpd")
	if _, err := os.Stat(path); err != nil {
		fmt.Fprintf(stderr, "sendmail: -bs runs the ESMTP server %s, which is not installed (%v)\n", path, err)
		return ExUnavailable
	}
	env := []string{
		"TCPREMOTEIP=127.0.0.1", "TCPREMOTEHOST=localhost",
		"TCPREMOTEINFO=uid " + strconv.Itoa(os.Getuid()),
		"RELAYCLIENT=", "FAXRELAYCLIENT=", "TCPREMOTEPORT=N/A",
	}
	err := syscall.Exec(path, []string{"sendmail"}, env)
	fmt.Fprintf(stderr, "sendmail: cannot run %s: %v\n", path, err)
	return ExUnavailable
}

func run(a *Args, id identity, stdin io.Reader, stdout, stderr io.Writer) int {
	in := bufio.NewReaderSize(stdin, 64<<10)
	h, err := submit.ReadHeader(in, submit.DefaultLimits)
	if err != nil {
		return fail(stderr, err)
	}
	id.rewriteFrom(h, a)
	if a.ToStdout {
		w := bufio.NewWriter(stdout)
		h.WriteTo(w)
		if h.Separated {
			w.WriteString("\n")
		}
		if _, err := io.Copy(w, in); err != nil {
			fmt.Fprintf(stderr, "sendmail: reading the message: %v\n", err)
			return ExIOErr
		}
		if err := w.Flush(); err != nil {
			fmt.Fprintf(stderr, "sendmail: writing the message: %v\n", err)
			return ExIOErr
		}
		return ExOK
	}
	rcpts, err := argRecipients(a.Recipients)
	if err != nil {
		return fail(stderr, err)
	}
	env := queue.Envelope{
		Sender:       id.envelopeSender(a),
		ReceivedFrom: ReceivedFrom,
		EnvID:        address.XtextEncode(a.EnvID),
		Ret:          a.Ret,
		Recipients:   rcpts,
		VERP:         a.VERP,
		Security:     a.Security,
		Env:          []string{"TCPREMOTEIP=127.0.0.1"},
		Source:       "local",
	}
	m := &submit.Message{
		Module:        "local",
		Envelope:      env,
		Trace:         &submit.Trace{Ident: "uid " + strconv.Itoa(os.Getuid())},
		AddHeaders:    true,
		FromHeaders:   true,
		BccOnly:       a.BccOnly,
		DefaultNotify: a.Notify,
		Header:        h,
	}
	return queueMessage(m, in, stderr)
}

// runRmail is rmail for UUCP: only the uucp user may run it, with
// UU_MACHINE and UU_USER set; the sender is -f as given, and no header is
// rewritten (sendmail(1) RMAIL).
func runRmail(a *Args, id identity, stdin io.Reader, stderr io.Writer) int {
	if account, _ := id.passwd(); account != "uucp" {
		fmt.Fprintln(stderr, "rmail: permission denied.")
		return ExNoPerm
	}
	machine, uuUser := os.Getenv("UU_MACHINE"), os.Getenv("UU_USER")
	if machine == "" || uuUser == "" {
		fmt.Fprintln(stderr, "rmail: UU_MACHINE!UU_USER required.")
		return ExNoPerm
	}
	rcpts, err := argRecipients(a.Recipients)
	if err != nil {
		return fail(stderr, err)
	}
	m := &submit.Message{
		Module: "uucp",
		Envelope: queue.Envelope{
			Sender:       a.Sender,
			ReceivedFrom: "unknown; uucp (" + machine + "!" + uuUser + ")",
			EnvID:        address.XtextEncode(a.EnvID),
			Ret:          a.Ret,
			Recipients:   rcpts,
			VERP:         a.VERP,
			Env:          []string{"TCPREMOTEIP=127.0.0.1"},
			Source:       "uucp",
		},
		Trace:         &submit.Trace{},
		AddHeaders:    true,
		DefaultNotify: a.Notify,
	}
	return queueMessage(m, bufio.NewReaderSize(stdin, 64<<10), stderr)
}

func queueMessage(m *submit.Message, body io.Reader, stderr io.Writer) int {
	s, err := submit.Open(layout.Current())
	if err != nil {
		return fail(stderr, err)
	}
	defer s.Close()
	if _, err := s.Submit(m, body); err != nil {
		return fail(stderr, err)
	}
	return ExOK
}

// argRecipients reads the address arguments; each may be a list ("a, b")
// or have a display name ("Joe <joe>"), as the original's tokenizer allows.
func argRecipients(args []string) ([]queue.Recipient, error) {
	var out []queue.Recipient
	for _, arg := range args {
		mbs, err := address.ParseHeaderList(arg)
		if err == nil && len(mbs) == 0 {
			err = errors.New("no address")
		}
		if err != nil {
			reason := err.Error()
			var ae *address.Error
			if errors.As(err, &ae) {
				reason = ae.Reason
			}
			return nil, &submit.Error{Code: 513, Addr: arg, Text: "Syntax error: " + reason}
		}
		for _, mb := range mbs {
			if mb.Null {
				continue
			}
			a := address.FormatLocal(mb.Local)
			if mb.Domain != "" {
				a += "@" + mb.Domain
			}
			out = append(out, queue.Recipient{Address: a})
		}
	}
	return out, nil
}

// fail prints why nothing was queued and picks the exit code.
func fail(stderr io.Writer, err error) int {
	var se *submit.Error
	if errors.As(err, &se) {
		switch {
		case se.Addr != "":
			fmt.Fprintf(stderr, "sendmail: %s: invalid address: %s\n", se.Addr, se)
		default:
			fmt.Fprintf(stderr, "sendmail: message not queued: %s\n", se)
		}
		switch {
		case se.Temporary():
			return ExTempFail
		case se.Addr != "" || se.Code == 511:
			return ExNoUser
		default:
			return ExDataErr
		}
	}
	fmt.Fprintf(stderr, "sendmail: message not queued: %v\n", err)
	switch {
	case errors.Is(err, submit.ErrRead):
		return ExIOErr
	case errors.Is(err, fs.ErrPermission):
		return ExNoPerm
	case errors.Is(err, fs.ErrNotExist):
		return ExCantCreat
	default:
		return ExTempFail
	}
}
