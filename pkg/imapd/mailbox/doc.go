// Package mailbox is the IMAP view of one user's maildir: the mailboxes
// (INBOX and its Maildir++ folders), their messages with UIDs, flags,
// keywords and mod-sequences, subscriptions, quota, ACLs and IDLE
// watching. The IMAP session of pkg/imapd calls it, running as the
// mailbox owner; everything about the files themselves is pkg/maildir.
//
// It stays compatible with Courier's imapd serving the same maildir
// (spec/maildir.md, spec/imap-pop3.md; imap/imapscanclient.c, imapd.c,
// mailboxlist.c):
//
//   - UIDs live in courierimapuiddb, updated only under Courier's folder
//     lock tmp/courier.lock (lock.go), so that both servers hand out the
//     same UIDs; new messages move from new/ to cur/ on SELECT and on
//     every rescan, and the session that moves them (or first gives them
//     a UID) sees them \Recent.
//   - Flags are the ":2,<letters>" of the file names, keywords are in
//     courierimapkeywords/ (IMAP_KEYWORDS=0 turns them off).
//   - Folder names are UTF-8 on disk; the IMAP names here are UTF-8 too
//     ("INBOX.Café"); the session converts from and to modified UTF-7.
//   - Subscriptions are courierimapsubscribed (one IMAP name a line);
//     ACLs are courierimapacl (acl.go).
//   - IMAP_TRASHFOLDERNAME, IMAP_EMPTYTRASH, IMAP_MOVE_EXPUNGE_TO_TRASH,
//     IMAP_CHECK_ALL_FOLDERS, IMAP_USELOCKS and MAILDIRQUOTA have
//     Courier's meaning.
//
// Courier has no CONDSTORE; our mod-sequences (RFC 7162) are kept in
// courierimapmodseq next to courierimapuiddb, whose format is documented
// at ModSeqFile. Changes Courier's imapd makes are noticed by the next
// scan (the state hash of a message differs) and given a new modseq then.
//
// A Store is the user's maildir; Select returns a Mailbox, a snapshot with
// stable sequence numbers that Refresh brings up to date and reports the
// differences of. Store, Expunge, Copy, Move and Append change the disk at
// once, but for a Store of system flags, which renames the files after it
// returns, under the folder lock (renames.go); the snapshot sees the
// changes (and reports them) with the next Refresh, which the session
// calls whenever it may send untagged responses.
package mailbox
