// Package submit owns the one path by which mail enters the queue: the
// original's "submit" program (spec queue-and-courierd.md §2 and the end of
// §7). It canonicalises the envelope (the default domain for domain-less
// addresses of the local and dsn modules, lower-case domains), refuses the
// reserved local addresses that only alias expansion may produce, expands
// aliases (aliases-<module>.dat, then aliases.dat; aliases-and-control-files.md
// §1), reads the header block, adds the headers submit adds (Received:,
// Date:, Message-ID:, "To: undisclosed-recipients: ;"), rewrites address
// headers with the default domain, enforces sizelimit and the header limits,
// and writes the message through pkg/queue, whose Commit is the promise
// behind an SMTP 250 and sendmail's exit 0.
//
// Callers: the sendmail program (package sendmail below this one), the DSN
// module (courierdsn) and courieresmtpd. Each opens a Submitter with Open and
// calls Submit per message; courieresmtpd checks RCPT addresses with Check.
//
// Alias recipients and DSNs (spec §7, action "relayed" with
// "250 Ok - delivered to alias."): as the original does, an alias of several
// addresses is kept in the envelope as a recipient of its own, with its
// ORCPT and NOTIFY, and is recorded as delivered ("I<n> R 250 Ok - delivered
// to alias." and "S<n> <time> r") in the control file before the message is
// committed, so the scheduler never sees it pending; its members are added
// with NOTIFY=NEVER and no ORCPT (private-list semantics). An alias of one
// address is replaced by that address, which keeps the NOTIFY and gets the
// alias as ORCPT when none was given.
//
// Deliberate differences from the original: no batchsize splitting into
// several control files (one control file per message; the scheduler
// batches recipients per delivery with MAXRCPT), no filters, no bofh
// checks, and no 8-bit to quoted-printable conversion (the 8 and m records
// are set when the data or the header has 8-bit bytes, so that the outbound
// module can decide).
package submit
