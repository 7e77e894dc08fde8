// Package maildir owns everything about how mail sits on disk: Courier's
// Maildir++ layout (spec/maildir.md), shared by every program that
// delivers or reads mail, so that the original Courier and this suite can
// serve the same maildirs side by side.
//
// Callers:
//   - courierlocal (local delivery, spec/dot-courier.md §6) and
//     deliverquota deliver with Dir.Deliver and map *QuotaError to a
//     temporary failure ("Maildir over quota.", EX_TEMPFAIL);
//   - imapd lists and manages folders (Folders, CreateFolder,
//     DeleteFolder, RenameFolder), moves new mail to cur/ (Dir.ScanNew),
//     keeps UIDs and keywords (UIDDB, Dir.ReadKeywords), stores flags
//     (Dir.SetFlags, Dir.SetKeywords), appends (Dir.Create then
//     Pending.CommitCur), expunges (Dir.Remove), purges tmp/ and Trash
//     (Dir.PurgeTmp, Dir.PurgeOlder) and reports GETQUOTAROOT (GetQuota);
//   - pop3d lists INBOX (Dir.ScanNew, Dir.Messages) and deletes
//     (Dir.Remove);
//   - maildirmake creates maildirs and folders (Make, CreateFolder), sets
//     quotas (SetQuota) and shared-folder links (AddShared, DelShared), and
//     converts pre-Unicode folder names (PlanUTF8; the modified UTF-7
//     codec is in the sub-package mutf7, which imapd uses too).
//
// What it implements, with the spec sections:
//
//   - Message file names (§2): "<time>.M<usec>P<pid>V<dev>I<ino>[_<n>].
//     <host>,S=<size>" with dev and inode in 16 upper-case hex digits
//     (Name, ParseName); the ":2,<flags>" info with flags in ASCII order
//     (Flags).
//
//   - Delivery (§2): the message is written into tmp/ under a name opened
//     with O_EXCL, fsynced, hard-linked into new/ (renamed across
//     devices), and new/ is fsynced before the delivery counts as done. A
//     delivery killed at any point leaves at most a file in tmp/, which
//     readers purge after 36 hours (Dir.PurgeTmp).
//
//   - Folders (§1): ".<name>" directories of the main maildir holding a
//     maildirfolder file, hierarchy separated by '.', names in UTF-8.
//
//   - Quotas (§3): the maildirsize file and the maildirquota rules, see
//     quota.go; the quota warning of deliverquota -w (QuotaWarning).
//
//   - Filesystem-shared folders (§7): shared-maildirs (AddShared).
//
//   - IMAP's files shared with Courier's imapd: the UID map
//     courierimapuiddb (§4: UIDDB, Dir.ReadUIDDB, Dir.WriteUIDDB,
//     UIDDB.Sync) and the keywords in courierimapkeywords/ (§5:
//     Dir.ReadKeywords, Dir.SetKeywords).
//
//   - IMAP's access control lists in courierimapacl (§6: ParseACL,
//     Dir.ReadACL, Dir.WriteACL); copies and moves between folders with
//     the quota kept (Dir.CopyMessages, Dir.MoveMessages).
//
//   - POP3's courierpop3dsizelist (spec/imap-pop3.md §4: POP3List).
//
// Not here yet: courierimaphieracl (§6; RenameFolder carries hierarchy ACL
// files along).
package maildir
