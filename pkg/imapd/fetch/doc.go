// Package fetch owns the IMAP FETCH command's data items: it parses the
// attributes a client asks for (RFC 9051 §6.4.5, BINARY from RFC 3516,
// MODSEQ and the CHANGEDSINCE/VANISHED modifiers from RFC 7162) and renders
// one message's untagged FETCH response (RFC 9051 §7.5.2), including the
// ENVELOPE and BODYSTRUCTURE syntax, body sections, partial fetches and
// decoded BINARY sections.
//
// Messages are stored with LF line ends (maildir); everything this package
// sends, and every size it reports, counts CRLF line ends, as the original
// Courier does. Whole-message sections are streamed from the message file
// rather than held in memory.
//
// Caller: the IMAP session layer (pkg/imapd), for FETCH and UID FETCH.
package fetch
