#!/bin/sh
# make run: builds the suite with the sandbox layout, installs it into one
# directory (default ./run), configures it from etc/*.dist for the sandbox
# (high ports on 127.0.0.1, the invoking user as mail user), creates the demo
# account demo@example.test, and starts the supervisor in the foreground.
# Ctrl-C stops everything. Run again to restart; the configuration, the demo
# account and its mail are kept.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
root=${1:-$here/run}
cd "$here"

make -s build LAYOUT=sandbox BUILDDIR=build/sandbox >/dev/null
scripts/install.sh build/sandbox/bin sandbox "$root" >/dev/null
eval "$(build/sandbox/bin/courier-config -layout=sandbox -root="$root" | sed -n 's/^\([a-z]*\)=\(.*\)$/cfg_\1='"'"'\2'"'"'/p')"
etc=$cfg_sysconfdir
mkdir -p "$cfg_localstatedir" "$cfg_rundir" "$root/home"

# Configuration: create or upgrade from the .dist files, then point the
# sandbox's settings at its own tree and ports.
if ls "$etc"/*.dist >/dev/null 2>&1; then
	"$cfg_sbindir/sysconftool" "$etc"/*.dist > "$root/var/sysconftool.log"
fi
setvar() { # file name value: replace NAME=... (or append it) in a VAR=value file
	f="$etc/$1"
	[ -f "$f" ] || return 0
	if grep -q "^$2=" "$f"; then
		awk -v n="$2" -v v="$3" 'index($0, n "=") == 1 { print n "=" v; next } { print }' "$f" > "$f.sandbox"
		cat "$f.sandbox" > "$f" && rm -f "$f.sandbox"
	else
		printf '%s=%s\n' "$2" "$3" >> "$f"
	fi
}
setvar authdaemonrc authmodulelist '"authuserdb"'
setvar authdaemonrc authdaemonvar "$cfg_authdaemonvar"
for f in esmtpd esmtpd-msa esmtpd-ssl imapd imapd-ssl pop3d pop3d-ssl; do
	setvar "$f" MAILUSER "$cfg_mailuser"
	setvar "$f" MAILGROUP "$cfg_mailgroup"
done
setvar esmtpd PORT 10025
setvar esmtpd ADDRESS 127.0.0.1
setvar esmtpd-msa PORT 10587
setvar esmtpd-msa ADDRESS 127.0.0.1
setvar esmtpd-ssl SSLPORT 10465
setvar esmtpd-ssl SSLADDRESS 127.0.0.1
setvar imapd PORT 10143
setvar imapd ADDRESS 127.0.0.1
setvar imapd-ssl SSLPORT 10993
setvar imapd-ssl SSLADDRESS 127.0.0.1
setvar pop3d PORT 10110
setvar pop3d ADDRESS 127.0.0.1
setvar pop3d-ssl SSLPORT 10995
setvar pop3d-ssl SSLADDRESS 127.0.0.1

# The host calls itself localhost; example.test is a hosted domain whose
# accounts are userdb's "name@example.test".
[ -s "$etc/me" ] || echo localhost > "$etc/me"
[ -s "$etc/defaultdomain" ] || echo example.test > "$etc/defaultdomain"
[ -s "$etc/locals" ] || echo localhost > "$etc/locals"
[ -s "$etc/hosteddomains" ] || echo example.test > "$etc/hosteddomains"
"$cfg_sbindir/makehosteddomains" >/dev/null
# SMTP: the access database (127.0.0.1 may relay), a self-signed
# certificate for STARTTLS and SMTPS, and the submission and SMTPS ports on.
if [ -x "$cfg_sbindir/makesmtpaccess" ]; then
	"$cfg_sbindir/makesmtpaccess" >/dev/null
fi
if [ -x "$cfg_sbindir/mkesmtpdcert" ] && [ ! -e "$etc/esmtpd.pem" ]; then
	"$cfg_sbindir/mkesmtpdcert" >/dev/null 2>&1
	# As root courieresmtpd runs as the mail user, which reads the key.
	if [ "$(id -u)" = 0 ] && [ -e "$etc/esmtpd.pem" ]; then
		chgrp "$cfg_mailgroup" "$etc/esmtpd.pem" && chmod 0640 "$etc/esmtpd.pem"
	fi
fi
setvar esmtpd-msa ESMTPDSTART YES
[ -e "$etc/esmtpd.pem" ] && setvar esmtpd-ssl ESMTPDSSLSTART YES
setvar esmtpd BOFHCHECKDNS 0
# IMAP and POP3: the (empty) IMAP access database and the certificates of
# STARTTLS/STLS and ports 10993/10995; the -ssl servers run only with one.
if [ -x "$cfg_sbindir/makeimapaccess" ]; then
	mkdir -p "$etc/imapaccess"
	"$cfg_sbindir/makeimapaccess" >/dev/null
fi
for svc in imapd pop3d; do
	if [ -x "$cfg_sbindir/mk${svc}cert" ] && [ ! -e "$etc/$svc.pem" ]; then
		"$cfg_sbindir/mk${svc}cert" >/dev/null 2>&1
		# As root the login stage runs as the mail user, which reads the key.
		if [ "$(id -u)" = 0 ] && [ -e "$etc/$svc.pem" ]; then
			chgrp "$cfg_mailgroup" "$etc/$svc.pem" && chmod 0640 "$etc/$svc.pem"
		fi
	fi
done
[ -e "$etc/imapd.pem" ] || setvar imapd-ssl IMAPDSSLSTART NO
[ -e "$etc/pop3d.pem" ] || setvar pop3d-ssl POP3DSSLSTART NO
# As root the scheduler runs as the mail user, which owns the queue.
[ "$(id -u)" = 0 ] && chown -R "$cfg_mailuser:$cfg_mailgroup" "$cfg_localstatedir"

# The demo account: a real userdb account made with the userdb tools.
demo=demo@example.test
if [ ! -s "$root/demo.password" ] || ! "$cfg_sbindir/userdb" -show "$demo" >/dev/null 2>&1; then
	pw=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
	home="$root/home/demo"
	mkdir -p "$home/Maildir/cur" "$home/Maildir/new" "$home/Maildir/tmp"
	chmod -R go-rwx "$home"
	# The mailbox belongs to the mail user: the invoking user, or the
	# courier user when make run is started as root (uid 0 never owns one).
	uid=$(id -u "$cfg_mailuser") gid=$(id -g "$cfg_mailuser")
	[ "$(id -u)" = 0 ] && chown -R "$uid:$gid" "$home"
	"$cfg_sbindir/userdb" "$demo" set "uid=$uid" "gid=$gid" "home=$home" "mail=$home/Maildir" >/dev/null
	printf '%s\n' "$pw" | "$cfg_sbindir/userdbpw" -md5 | "$cfg_sbindir/userdb" "$demo" set systempw >/dev/null
	printf '%s\n' "$pw" > "$root/demo.password"
	chmod 600 "$root/demo.password"
fi
"$cfg_sbindir/makeuserdb" >/dev/null

pw=$(cat "$root/demo.password")
rel=$root
case "$root" in "$PWD"/*) rel=./${root#"$PWD"/} ;; esac
cat <<MSG
Sandbox installed in $root (configuration: $rel/etc, logs on this terminal).
Demo account: $demo, password $pw (also in $rel/demo.password)

Try it:
MSG
[ -x "$cfg_sbindir/authdaemond" ] && echo "  authdaemond  $rel/var/authdaemon/socket   $rel/sbin/authtest -s imap $demo $pw"
[ -x "$cfg_sbindir/sendmail" ] && echo "  local mail   echo 'Subject: hi' | $rel/sbin/sendmail $demo    (then ls $rel/home/demo/Maildir/new)"
[ -x "$cfg_sbindir/courieresmtpd" ] && echo "  SMTP         127.0.0.1:10025  swaks --server 127.0.0.1:10025 --to $demo"
[ -x "$cfg_sbindir/courieresmtpd" ] && [ -e "$etc/esmtpd.pem" ] && echo "  SMTPS        127.0.0.1:10465  swaks --server 127.0.0.1:10465 --tls-on-connect --to $demo"
[ -x "$cfg_sbindir/courieresmtpd" ] && echo "  submission   127.0.0.1:10587  swaks --server 127.0.0.1:10587 --tls --to $demo --auth-user $demo --auth-password $pw"
[ -x "$cfg_bindir/imapd" ] && echo "  IMAP         127.0.0.1:10143  curl -s --url imap://127.0.0.1:10143/INBOX --user $demo:$pw"
[ -x "$cfg_bindir/imapd" ] && [ -e "$etc/imapd.pem" ] && echo "  IMAPS        127.0.0.1:10993  curl -sk --url imaps://127.0.0.1:10993/INBOX --user $demo:$pw"
[ -x "$cfg_libexecdir/courierpop3d" ] && echo "  POP3         127.0.0.1:10110  curl -s --url pop3://127.0.0.1:10110/ --user $demo:$pw"
[ -x "$cfg_libexecdir/courierpop3d" ] && [ -e "$etc/pop3d.pem" ] && echo "  POP3S        127.0.0.1:10995  curl -sk --url pop3s://127.0.0.1:10995/ --user $demo:$pw"
echo "Ctrl-C stops everything."
echo
exec "$cfg_sbindir/courierd"
