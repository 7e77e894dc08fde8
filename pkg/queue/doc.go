// Package queue owns Courier's durable mail queue on disk: the directory
// layout under the localstatedir (msgs/, msgq/, tmp/, tmp/broken/,
// tmp/trigger), the queue id, the control file format (its record letters,
// written by submission and then only appended to), submission of new
// messages, crash recovery and the scan of queued messages.
// See spec queue-and-courierd.md §1 (layout, records) and §3 (trigger FIFO),
// and DESIGN.md §3 (durability).
//
// Callers: courieresmtpd, sendmail and the DSN writer submit mail with
// Queue.Submit or Queue.Begin/Submission.Commit; the scheduler (courierd)
// runs Queue.Recover at startup, lists work with Queue.Scan, reads a message
// with Queue.Load, records delivery results with Queue.Append (courierlocal
// with Queue.AppendSyncLater) and Queue.Reschedule, and deletes finished
// mail with Queue.Remove; mailq and cancelmsg use Scan, Load and Append.
//
// Durability contract (DESIGN.md §3): a submission writes its data file and
// control file (delivered messages' files from tmp/free/, named in
// tmp/<T>/, pool.go; else new ones, unnamed (O_TMPFILE) or in tmp/<T>/
// where that is not possible), fsyncs both, links or moves them into
// msgs/<N>/ (data first, so a control file in msgs/ always has its data),
// links the control file into msgq/<T>/, and
// fsyncs msgs/<N> (concurrent commits of one process share that fsync; the
// msgq/ link, an index, is remade by Recover if a crash loses it); only
// then does Commit return the queue id, the promise behind the SMTP 250 and
// sendmail's exit 0. State changes are single
// appended lines written with one write(2) and fsynced; local delivery's
// results are fsynced without the caller waiting (AppendSyncLater).
//
// The package reads no configuration: the caller passes queuetime, warntime
// and faxqueuetime (parsed with config.ParseDuration) in Options.
package queue
