// Package smtpd owns courieresmtpd, the SMTP server (spec esmtp.md §1-5;
// RFC 5321, RFC 1870 SIZE, RFC 6152 8BITMIME, RFC 2920 PIPELINING, RFC 3461
// DSN, RFC 3207 STARTTLS, RFC 4954 AUTH, RFC 8314 implicit TLS), built on
// github.com/emersion/go-smtp. couriertcpd runs it as the mail user, either
// once per connection (exec mode: the connection on standard input and
// output, the per-connection variables in the environment) or as one
// long-running process that couriertcpd hands every connection to (pass
// mode, pkg/tcpd/handoff). Every per-connection decision (RELAYCLIENT,
// BLOCK, TCPREMOTEIP, SIZELIMIT, AUTH_REQUIRED, ...) reads the connection's
// environment, then the process's (the esmtpd configuration files), then
// the "opt" lines of the bofh control file.
//
// Callers: cmd/courieresmtpd (Main). In pass mode SIGHUP rereads the
// configuration for new connections; SIGTERM stops taking connections and
// lets the messages being received finish (at most 9 seconds: couriertcpd
// waits 10).
//
// At MAIL FROM it applies ESMTP_TLS_REQUIRED, AUTH_REQUIRED, the size limit
// (534 SIZE=Message too big.), the sender's syntax and the bofh rules
// badfrom, freemail and (BOFHCHECKDNS) the sender domain's DNS with badmx.
// At RCPT TO, as the original's submit does: BLOCK, maxrcpts, the syntax and
// aliases (pkg/submit Check), the percent hack (esmtppercentrelay), relaying
// (RELAYCLIENT, AUTH, local domains and esmtpacceptmailfor, else 513
// Relaying denied.), unknown local users (local.Verifier, 550 User <addr>
// unknown), the backscatter list (pkg/track, 556/456) and spam traps. After
// DATA the message is spooled (memory, then an unlinked file in the queue's
// tmp/) while pkg/rfc2045 checks its MIME structure as the original's submit
// does: more than 300 parts is refused with "550 Message MIME complexity
// exceeds the policy maximum.", MIME headers the original would standardize
// (no Content-Type, charset or Content-Transfer-Encoding, 8bit declared for
// 7-bit text) are rewritten as it rewrites them, and 8-bit bytes in any
// header make the message SMTPUTF8. The message is then queued with
// pkg/submit, on disk and fsynced before "250 Ok. <time>.<pid>". AUTH PLAIN, LOGIN, CRAM-MD5, CRAM-SHA1 and
// CRAM-SHA256 are checked by authdaemond (service "esmtp").
//
// SMTP smuggling (bare LF or bare CR around a dot) cannot end a message:
// go-smtp's DATA reader ends it only at CR LF "." CR LF, and every other
// byte sequence stays message text.
//
// Differences from the original, most of them because go-smtp writes
// those replies itself:
//   - the EHLO reply is go-smtp's: "250-Hello <helo>", then PIPELINING,
//     8BITMIME, ENHANCEDSTATUSCODES, CHUNKING, STARTTLS (before TLS, when a
//     certificate is configured), AUTH <mechanisms> (when ESMTPAUTH or,
//     under TLS, ESMTPAUTH_TLS names any), SMTPUTF8, DSN, SIZE (no number);
//     the original's "250-<me> Ok.", XVERP=Courier, XEXDATA and
//     XSECURITY=NONE,STARTTLS are missing, STARTTLS stays offered after a
//     MAIL command, and AUTH EXTERNAL is never offered;
//   - replies go-smtp writes carry its texts and enhanced status codes:
//     "250 2.0.0 Roger, accepting mail from <...>" after MAIL, "250 2.0.0
//     I'll make sure <...> gets this" after RCPT, "250 2.0.0 Session reset",
//     "354 Go ahead...", "235 2.0.0 Authentication succeeded", "221 2.0.0
//     Bye", 252 for VRFY and 502 for EXPN whatever BOFHNOVRFY and BOFHNOEXPN
//     say, 501/500 for syntax errors and unknown commands, "501 Negotiation
//     cancelled" when a client answers an AUTH challenge with "*", "503
//     Already authenticated" for a second AUTH, and a connection is closed
//     after more than three syntax errors;
//   - MAIL and RCPT parameters go-smtp does not know (VERP, SECURITY and
//     any other) are refused ("500 5.5.4 Unknown MAIL FROM argument")
//     instead of ignored, and RCPT TO:<Postmaster> without a domain is a
//     501 (the original answers 513 Syntax error. too);
//   - for implicit TLS (SMTPS) the Received line says "TLS: ..." where the
//     original, which learns it from couriertls, says "SSL: ...", and a
//     client that says HELO again after STARTTLS is still recorded by the
//     first greeting's kind (go-smtp does not tell HELO from EHLO, so the
//     server watches for the first one in the bytes it reads);
//   - BOFHCHECKHELO and the SPF options (BOFHSPF*) are not applied;
//   - a command or message line longer than 1 MiB closes the connection
//     (go-smtp's line limit), where the original accepts any length in DATA;
//   - relaying: addresses in local domains (locals, hosted domains) are
//     accepted without RELAYCLIENT like those of esmtpacceptmailfor; the
//     original accepts only esmtpacceptmailfor's (and me when that file is
//     missing), so hosted domains had to be listed twice there.
package smtpd
