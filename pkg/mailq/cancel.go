package mailq

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gocourier/courier/pkg/layout"
	"github.com/gocourier/courier/pkg/queue"
)

// Texts of the original (spec §4), kept byte for byte.
const (
	msgCancelled     = "Message scheduled for cancellation."
	msgNotFound      = "Message not found."
	msgNoSuchMessage = "No such message."
	msgFlushRoot     = "courier flush can be executed only by the superuser."
	defaultReason    = "Message cancelled."
)

var errNotFound = errors.New("not found")

// find loads the message named by qid and checks that its M record is
// exactly qid (the original compares the strings, so a lower-case id is not
// found).
func find(q *queue.Queue, qid string) (*queue.Control, uint64, error) {
	id, err := queue.ParseQueueID(qid)
	if err != nil {
		return nil, 0, errNotFound
	}
	c, err := q.Load(id.Inode)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, 0, errNotFound
		}
		return nil, 0, err
	}
	if c.ID.String() != qid {
		return nil, 0, errNotFound
	}
	return c, id.Inode, nil
}

// Cancel is `cancelmsg <qid> [reason…]` (spec §4): each reason becomes one X
// record (default "Message cancelled."), then "FLUSH <qid>" goes to the
// trigger so courierd fails the undelivered recipients at once. args are the
// arguments after the program name. Exit 0 with no arguments or on success,
// 1 with "Message not found." for an unknown id, a message of another user
// (unless the caller's real uid is 0), or one already cancelled.
func Cancel(args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "--help" || args[0] == "-help" || args[0] == "-h") {
		fmt.Fprint(stdout, cancelUsage)
		return 0
	}
	return cancel(layout.Current().LocalstateDir, os.Getuid(), args, stdout, stderr)
}

const cancelUsage = `Usage: cancelmsg <queue-id> [reason...]

Cancel a queued message: every recipient not yet delivered fails, and the
sender gets a delivery status notification carrying the reasons (one line
each; default "Message cancelled."). The queue id is the one mailq shows.
Users may cancel only the messages they submitted.
`

func cancel(root string, uid int, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return 0
	}
	q, err := queue.Open(root, queue.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "cancelmsg: %v\n", err)
		return 1
	}
	qid := args[0]
	c, inode, err := find(q, qid)
	if err == nil && uid != 0 {
		st, serr := os.Stat(q.ControlPath(inode))
		if serr != nil || owner(st) != uid {
			err = errNotFound
		}
	}
	if err == nil && c.Cancelled() {
		err = errNotFound
	}
	if err != nil {
		if err != errNotFound {
			fmt.Fprintf(stderr, "cancelmsg: %v\n", err)
		}
		fmt.Fprintln(stderr, msgNotFound)
		return 1
	}
	reasons := args[1:]
	if len(reasons) == 0 {
		reasons = []string{defaultReason}
	}
	recs := make([]queue.Record, len(reasons))
	for i, r := range reasons {
		recs[i] = queue.CancelRequest(r)
	}
	if err := q.Append(inode, recs...); err != nil {
		fmt.Fprintf(stderr, "cancelmsg: %v\n", err)
		return 1
	}
	if err := q.Trigger("FLUSH " + qid + "\n"); errors.Is(err, queue.ErrNoScheduler) {
		fmt.Fprintln(stderr, "cancelmsg: courierd is not running; the message is cancelled when it starts.")
	} else if err != nil {
		fmt.Fprintf(stderr, "cancelmsg: %v; the message is cancelled at the next queue run.\n", err)
	}
	fmt.Fprintln(stdout, msgCancelled)
	return 0
}

// Flush is `courier flush [qid]` (spec §4): "FLUSH\n" (every message) or
// "FLUSH<qid>\n" to the trigger. args are the arguments after "flush".
// Only the superuser may flush, or in a sandbox tree the user who owns the
// queue. Exit 1 with "No such message." for an unknown id, and when no
// courierd reads the trigger (the original says nothing then).
func Flush(args []string, stdout, stderr io.Writer) int {
	return flush(layout.Current().LocalstateDir, os.Getuid(), args, stderr)
}

func flush(root string, uid int, args []string, stderr io.Writer) int {
	if uid != 0 {
		st, err := os.Stat(root)
		if err != nil || owner(st) != uid {
			fmt.Fprintln(stderr, msgFlushRoot)
			return 1
		}
	}
	q, err := queue.Open(root, queue.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "courier: %v\n", err)
		return 1
	}
	line := "FLUSH\n"
	if len(args) > 0 {
		if _, _, err := find(q, args[0]); err != nil {
			if err != errNotFound {
				fmt.Fprintf(stderr, "courier: %v\n", err)
			}
			fmt.Fprintln(stderr, msgNoSuchMessage)
			return 1
		}
		line = "FLUSH" + args[0] + "\n"
	}
	if err := q.Trigger(line); errors.Is(err, queue.ErrNoScheduler) {
		fmt.Fprintln(stderr, "courier: courierd is not running: nothing was flushed (start it with courier start).")
		return 1
	} else if err != nil {
		fmt.Fprintf(stderr, "courier: %v\n", err)
		return 1
	}
	return 0
}
