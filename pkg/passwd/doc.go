// Package passwd owns password hashes: checking a cleartext password against
// every stored format courier-authlib accepts (Check), making new hashes for
// userdbpw and for password changes (Hash, SameScheme), and the precomputed
// HMAC keys of the CRAM-MD5/SHA1/SHA256 SASL mechanisms (HMACKey,
// CheckCRAM). Formats are those of spec/authdaemon.md §4 and spec/userdb.md
// §4; CRAM is RFC 2195 over HMAC (RFC 2104).
//
// Callers: pkg/userdb (password changes), cmd/userdbpw, and authdaemond's
// modules (pkg/auth), which check LOGIN passwords with Check and CRAM
// responses with CheckCRAM.
//
// Implementation choices:
//
//   - md5-crypt, sha-crypt, bcrypt and yescrypt use the key functions of
//     github.com/go-crypt/x, the low layer of github.com/go-crypt/crypt.
//     The high layer's decoders are not used because they do not follow
//     crypt(3) on the edges that matter for a drop-in verifier (salt
//     truncation to 8/16 characters, "rounds=" handling, output compared as
//     a whole string as authlib does with strcmp); this package parses the
//     settings itself and lets the library compute the keys.
//   - Traditional DES crypt is written here (descrypt.go): crypto/des cannot
//     apply the salt, which swaps bits of the E expansion inside every
//     round, and the Go implementations that exist are cgo wrappers around
//     libc's crypt(3), which DESIGN.md §1 rules out for programs that parse
//     network input (authdaemond). It is checked against libxcrypt's output
//     in the tests.
//   - The HMAC keys are hash chaining states after one block, which no
//     library exposes directly. Instead of a hand-written MD5/SHA
//     compression function, the package hashes the padded key block with
//     crypto/md5, crypto/sha1 or crypto/sha256 and reads or replaces the
//     state words in the digest's encoding.BinaryMarshaler form, which the
//     standard library documents as a way to save and resume a hash. The
//     tests compare the result with crypto/hmac and with the real userdbpw.
package passwd
