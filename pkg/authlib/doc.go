// Package authlib owns the authdaemon socket protocol of courier-authlib
// (spec/authdaemon.md §2, §3): the request codec that authdaemond parses,
// the reply codec it writes, and the client that every other program of the
// suite uses to look up and authenticate accounts (imapd, pop3d,
// courieresmtpd, courierlocal, authtest, authenumerate, authpasswd).
//
// The wire format is byte-compatible with courier-authlib 0.71, so our
// client talks to the original authdaemond and the original client library
// (libcourierauth, used by maildrop, sqwebmail, the real authtest) talks to
// ours.
//
// A request is zero or more meta lines NAME=value, then one command:
//
//	PRE <module|.> <service> <userid>\n
//	AUTH <n>\n<service>\n<authtype>\n<authdata>        (n bytes after the first \n)
//	PASSWD <service>\t<userid>\t<oldpw>\t<newpw>\n
//	ENUMERATE\n
//
// A successful lookup is answered with KEY=value lines and a "." line; a
// permanent failure with "FAIL\n"; a temporary failure by closing the
// connection without a reply.
package authlib
