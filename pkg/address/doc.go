// Package address owns mail addresses: their syntax on the SMTP envelope
// (RFC 5321, RFC 6531) and in message headers (RFC 5322, RFC 6532), the
// MAIL FROM and RCPT TO parameters (RFC 5321 4.1.2, RFC 1870, RFC 6152,
// RFC 3461, RFC 4954, RFC 6533), their formatting, and Courier's rules that
// decide whether an address is local and which account and extension it
// names (spec dot-courier.md §1, aliases-and-control-files.md §2).
//
// Callers: courieresmtpd parses MAIL and RCPT with ParseMailFrom and
// ParseRcptTo; sendmail parses its arguments and the To/Cc/Bcc headers with
// ParseHeaderList and adds the default domain with AddDefaultDomain; the
// queue stores Address values; local delivery and aliases resolve local
// recipients with Rules. The package reads no files: pkg/config reads the
// control files and hands their contents over as values (DomainList,
// DomainDB, Rules), so everything here is pure and safe for concurrent use.
//
// Two representations are deliberate. The envelope types (Address, Path,
// Domain) are validated and normalised: a domain is lower-case, held both as
// A-labels (ACE, what Courier writes in Delivered-To and what DNS sees) and
// as U-labels (what Courier stores). Header mailboxes (Mailbox) keep the text
// as written, because a header is rewritten in place and must not be
// normalised behind the author's back; Mailbox.Address turns one into an
// envelope Address when sendmail takes recipients from the header.
//
// Why not net/mail for headers: net/mail rejects forms that RFC 5322 3.4 and
// 4.4 require a reader to accept and that Courier accepts (source routes
// "<@a,@b:u@d>", comments inside an addr-spec such as the RFC 5322 A.5
// examples, a leading comment before a mailbox, "john . doe @ example . com",
// domain literals "[IPv6:...]"), it flattens groups, and it has no notion of
// the domain-less addresses ("joe", "Joe <joe>") that sendmail must complete
// with the default domain. The header parser here accepts everything
// net/mail accepts (checked by FuzzParseHeaderList against net/mail) plus
// those forms.
package address
