// Package aliases owns Courier's mail aliases (spec
// aliases-and-control-files.md §1): the source syntax of
// /etc/courier/aliases (lists, continuation lines, comments, :include:,
// "/path" and "| command" targets, "@domain: user" virtual domains), the
// canonical form makealiases gives every name and address, the expansion
// of aliases listed inside aliases, the compiled aliases.dat layout, and
// the instruction files of program aliases in aliasdir/.courier-:xalias
// (dot-courier.md §1.6).
//
// Callers: the makealiases program (Makealiases, Make), and submit, which
// resolves recipients through a Searcher on the compiled databases.
//
// The original compiles in three programs (aliasexp, aliascombine,
// aliascreate) joined by pipes; here Parse does the first, newTable the
// other two, with the same names, recipients, records and instruction
// files (tested against the installed original). Deliberate differences:
//
//   - -dump prints aliases in source order (the original: GDBM hash
//     order), and an alias that lists other aliases gets its recipients in
//     depth-first source order, each once (the original's order follows
//     the hash order, and it can repeat an address when an alias in a loop
//     lists itself);
//   - errors read "file:line: reason" with the line where the entry starts
//     (the original names the line after it), and everything stops at the
//     first one;
//   - an empty alias name, the null address "<>" and :include: of anything
//     but a regular file are errors; a last line without a newline is
//     read (the original drops it);
//   - -dump changes nothing (the original's script still rewrites the
//     instruction file directory);
//   - -tmp names a lock file held while building, as the database itself
//     is written next to its final name (pkg/dbfile);
//   - -chk (checking each recipient with submit -vrfy) is not available,
//     and the uucp module's address rewriting is not implemented.
package aliases
