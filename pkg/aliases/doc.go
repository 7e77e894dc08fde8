// Package aliases owns Courier's mail aliases (spec
// aliases-and-control-files.md §1): the source syntax of
// /etc/courier/aliases (lists, continuation lines, comments, :include:,
// "/path" and "| command" targets, "@domain: user" virtual domains), the
// canonical form makealiases gives every name and address, the expansion
// of aliases listed inside aliases, the compiled aliases.dat layout, and
// the instruction files of program aliases in aliasdir/.courier-:xalias
// (dot-courier.md §1.6).
//
// Callers: the makealiases program (Make), and submit, which resolves
// recipients through a Searcher on the compiled databases.
//
// The original compiles in three programs (aliasexp, aliascombine,
// aliascreate) joined by pipes; here Parse does the first, newTable the
// other two, with the same results: the same names, recipients and
// records. Two things are deliberately different: the order of aliases in
// -dump output follows the source (the original's follows GDBM's hash
// order), and the recipients of an alias that lists other aliases are in
// depth-first source order (the original's depends on that hash order too).
package aliases
