// Package userdb owns courier-authlib's userdb (spec/userdb.md): the text
// source (/etc/courier/userdb, one file or a directory of files), its
// record and field model, the compiled pair userdb.dat / userdbshadow.dat,
// and the operations of the userdb, makeuserdb and pw2userdb commands.
//
// Callers:
//   - authdaemond's userdb module reads accounts with OpenDB / Lookup /
//     Enumerate and changes passwords with ChangePassword;
//   - cmd/makeuserdb calls Source.Compile, cmd/userdb calls Set, Unset,
//     Delete, Names and Show, cmd/pw2userdb calls Pw2Userdb.
//
// The compiled files are dbfile databases (bbolt) with the keys and values
// of the original GDBM files: userdb.dat maps an account name to its
// non-password fields plus "_=<location>", userdbshadow.dat to its *pw
// fields only; reverse uid records "NNN=" map a uid to "name|_=".
//
// Where the text format is concerned this package is stricter than the
// original, which passed any line to makedat: lines without a TAB (stored
// by makedat as junk keys), empty names, control characters, empty or
// repeated fields and non-numeric uid/gid values are refused with
// file:line messages, and nothing is written then. ParseLine documents the
// exact rules.
package userdb
