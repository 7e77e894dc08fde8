// Package pop3d owns the POP3 server (RFC 1939, RFC 2449 CAPA, RFC 2595
// STLS, RFC 5034 AUTH, RFC 6856 UTF8), compatible with Courier's pop3d
// (spec/imap-pop3.md §4): the same replies, the same UIDLs kept in the same
// courierpop3dsizelist file (maildir.POP3List), so that a client moving
// between the real Courier and this server downloads nothing twice.
//
// Two callers, two halves, as in the original:
//   - ServeLogin is the pre-login dialogue run by courierpop3login's login
//     stage (pkg/login) as the mail user;
//   - Serve is a logged-in session over the account's maildir, run by
//     courierpop3d as the mailbox owner, one goroutine per session in pass
//     mode, or once on standard input for a pre-authenticated run.
//
// Deletions wait for QUIT (RFC 1939 §6) and go through maildir.Dir.Remove,
// which keeps maildirsize exact. Like the original, two sessions on one
// maildrop do not lock each other out: each sees the messages it listed,
// and a message removed by the other one answers "-ERR Can't open the
// message file - it's gone!".
package pop3d
