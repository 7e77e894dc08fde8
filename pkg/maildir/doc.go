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
//     stores flags (Dir.SetFlags), appends (Dir.Create then
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
//   - Delivery (§2): the message is written into tmp/ under a name opened
//     with O_EXCL, fsynced, hard-linked into new/ (renamed across
//     devices), and new/ is fsynced before the delivery counts as done. A
//     delivery killed at any point leaves at most a file in tmp/, which
//     readers purge after 36 hours (Dir.PurgeTmp).
//   - Folders (§1): ".<name>" directories of the main maildir holding a
//     maildirfolder file, hierarchy separated by '.', names in UTF-8.
//   - Quotas (§3): the maildirsize file and the maildirquota rules, see
//     quota.go; the quota warning of deliverquota -w (QuotaWarning).
//   - Filesystem-shared folders (§7): shared-maildirs (AddShared).
//
// Not here: courierimapuiddb, courierimapkeywords, courierimapacl and
// courierpop3dsizelist (§4-§6, spec/imap-pop3.md §4) belong to the IMAP
// and POP3 servers' own storage code.
package maildir
