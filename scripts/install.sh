#!/bin/sh
# Installs the built programs, their manual pages, the directories, the
# .dist configuration files, the init script and the systemd units into a
# layout, and writes the permissions list.
#
#   scripts/install.sh BINDIR LAYOUT [ROOT] [PERMS]
#
# BINDIR holds the programs built for LAYOUT (make build) and BINDIR/../man
# the manual pages (scripts/man.sh). ROOT is DESTDIR for the system layouts
# (default /) and the tree itself for the sandbox layout. Where each program
# goes is read from pkg/layout/programs.tab, the same table the programs use
# to find each other.
#
# PERMS (default BINDIR/../permissions.dat) receives one line for every
# installed file and directory: "path mode owner group", the path as on the
# target system, like the original's make install-perms. As root the owners
# and groups are applied; as another user (a DESTDIR for a package) they are
# only listed, for the packager to apply.
set -eu
bin=$1 layout=$2 root=${3:-}
[ -n "$root" ] || root=/
perms=${4:-$bin/../permissions.dat}
here=$(cd "$(dirname "$0")/.." && pwd)
[ -x "$bin/courier-config" ] || { echo "install: $bin/courier-config missing: run make build first" >&2; exit 1; }
eval "$("$bin/courier-config" -layout="$layout" -root="$root" | sed -n 's/^\([a-z]*\)=\(.*\)$/cfg_\1='"'"'\2'"'"'/p')"
# The same directories as the installed system sees them (no DESTDIR), for
# the paths written into the init script and the units.
sysroot=/
[ "$layout" = sandbox ] && sysroot=$root
eval "$("$bin/courier-config" -layout="$layout" -root="$sysroot" | sed -n 's/^\([a-z]*\)=\(.*\)$/sys_\1='"'"'\2'"'"'/p')"

asroot=no
[ "$(id -u)" = 0 ] && asroot=yes
owners_ok=no
if [ "$asroot" = yes ] && getent group "$cfg_mailgroup" >/dev/null && getent passwd "$cfg_mailuser" >/dev/null; then
	owners_ok=yes
fi
if [ "$asroot" = yes ] && [ "$owners_ok" = no ] && [ "$layout" != sandbox ]; then
	echo "install: NOTE: the user and group $cfg_mailuser:$cfg_mailgroup do not exist, so the queue, the sockets' directory and the setgid programs keep root's ownership; create them (adduser --system --group $cfg_mailuser) and run make install again" >&2
fi

: > "$perms.tmp"
# apply PATH MODE OWNER GROUP: sets the mode and, as root, the owner. OWNER
# and GROUP are "root" or "mail" (the layout's mail user or group).
# list PATH MODE OWNER GROUP: adds the path, as the installed system sees
# it, to the permissions list.
apply() {
	# chown first: it clears the setgid bit.
	if [ "$layout" != sandbox ] && [ "$asroot" = yes ] && { [ "$owners_ok" = yes ] || [ "$3$4" = rootroot ]; }; then
		chown "$(who "$3" "$cfg_mailuser"):$(who "$4" "$cfg_mailgroup")" "$1"
	fi
	chmod "$2" "$1"
}
list() {
	printf '/%s %s %s %s\n' "${1#"$root"}" "$2" "$(who "$3" "$cfg_mailuser")" "$(who "$4" "$cfg_mailgroup")" |
		sed 's|^//*|/|' >> "$perms.tmp"
}
who() {
	if [ "$1" = mail ]; then echo "$2"; else echo "$1"; fi
}

# dir PATH MODE OWNER GROUP
dir() {
	mkdir -p "$1"
	apply "$@"
	list "$@"
}

# put DEST MODE OWNER GROUP: writes standard input to a new file renamed
# into place, so that a running program (or a symlink left by a package) is
# replaced, not written through.
put() {
	p_dest=$1
	p_tmp="$(dirname "$p_dest")/.$(basename "$p_dest").new"
	cat > "$p_tmp"
	apply "$p_tmp" "$2" "$3" "$4"
	mv -f "$p_tmp" "$p_dest"
	list "$@"
}

# file SRC DEST MODE OWNER GROUP: put a copy of SRC.
file() {
	f_src=$1
	shift
	put "$@" < "$f_src"
}

# subst DEST MODE: standard input, a template, with the layout's
# directories filled in.
subst() {
	sed -e "s|@sysconfdir@|$sys_sysconfdir|g" -e "s|@sbindir@|$sys_sbindir|g" \
		-e "s|@bindir@|$sys_bindir|g" -e "s|@datadir@|$sys_datadir|g" \
		-e "s|@rundir@|$sys_rundir|g" -e "s|@libexecdir@|$sys_libexecdir|g" | put "$1" "$2" root root
}

for d in "$cfg_bindir" "$cfg_sbindir" "$cfg_libexecdir" "$cfg_datadir"; do
	dir "$d" 0755 root root
done
dir "$cfg_sysconfdir" 0755 root mail
dir "$cfg_localstatedir" 0750 mail mail
# A queue left by the original has msgs/ 0750 and msgq/ 0755 (its submit
# left the linking to courierd); ours links from the setgid sendmail too, so
# they and their subdirectories are group-writable (pkg/queue's modes).
for q in "$cfg_localstatedir/msgs" "$cfg_localstatedir/msgq"; do
	[ -d "$q" ] && find "$q" -type d -exec chmod 0770 {} +
done
dir "$cfg_rundir" 0775 root mail
dir "$cfg_authdaemonvar" 0750 root mail

n=0
while read -r name where mode group links; do
	case "$name" in '' | '#'*) continue ;; esac
	[ -f "$bin/$name" ] || continue
	case "$where" in
	bin) dest=$cfg_bindir ;;
	sbin) dest=$cfg_sbindir ;;
	libexec) dest=$cfg_libexecdir ;;
	*) echo "install: programs.tab: unknown directory kind $where for $name" >&2; exit 1 ;;
	esac
	[ "$group" = - ] && group=root
	file "$bin/$name" "$dest/$name" "$mode" root "$group"
	if [ "$links" != - ]; then
		for l in $(echo "$links" | tr ',' ' '); do
			ln -f "$dest/$name" "$dest/$l"
			list "$dest/$l" "$mode" root "$group"
		done
	fi
	n=$((n + 1))
done < "$here/pkg/layout/programs.tab"
# Names the original installs in another directory than the program's:
# the imapd start script is sbin/imapd (ours is the server itself, bin/imapd),
# and mailq is bin/mailq (ours is a name of sbin/sendmail). Symlinks, as
# Debian's are; the setgid bit of sendmail applies through them.
# crosslink NAME DIR TARGET
crosslink() {
	[ -f "$3" ] && [ "$(dirname "$3")" != "$2" ] || return 0
	ln -sf "$(realpath --relative-to="$2" "$3")" "$2/.$1.new"
	mv -f "$2/.$1.new" "$2/$1"
	list "$2/$1" 0777 root root
}
crosslink imapd "$cfg_sbindir" "$cfg_bindir/imapd"
crosslink mailq "$cfg_bindir" "$cfg_sbindir/sendmail"

for f in "$here"/etc/*.dist; do
	[ -f "$f" ] || continue
	base=$(basename "$f")
	mode=0644
	case "$base" in authdaemonrc.dist | esmtpauthclient.dist) mode=0640 ;; esac
	group=root
	[ "$mode" = 0640 ] && group=mail
	file "$f" "$cfg_sysconfdir/$base" "$mode" root "$group"
done
# Texts the admin edits in place (the delivery status notification wording):
# installed when missing, never overwritten.
for f in "$here"/etc/dsn/*; do
	[ -f "$f" ] || continue
	base=$(basename "$f")
	[ -e "$cfg_sysconfdir/$base" ] && continue
	file "$f" "$cfg_sysconfdir/$base" 0644 root root
done
# The access databases' text sources: a directory of files the admin edits,
# created when missing, never overwritten.
for d in "$here"/etc/*/; do
	base=$(basename "$d")
	[ "$base" = dsn ] && continue
	[ -e "$cfg_sysconfdir/$base" ] && continue
	dir "$cfg_sysconfdir/$base" 0755 root root
	for f in "$d"*; do
		[ -f "$f" ] && file "$f" "$cfg_sysconfdir/$base/$(basename "$f")" 0644 root root
	done
done

# Manual pages (scripts/man.sh made them), compressed as Debian's are, so
# that they replace the original's pages of the same name.
pages=0
if [ "$layout" != sandbox ] && [ -d "$bin/../man" ]; then
	for p in "$bin"/../man/*.[158]; do
		[ -f "$p" ] || continue
		sec=${p##*.}
		dir "$cfg_mandir/man$sec" 0755 root root
		gzip -9n < "$p" | put "$cfg_mandir/man$sec/$(basename "$p").gz" 0644 root root
		pages=$((pages + 1))
	done
fi

# Start and stop: the sysvinit script and the systemd units.
if [ "$layout" != sandbox ]; then
	subst "$cfg_datadir/courier.sysvinit" 0755 < "$here/scripts/courier.sysvinit.in"
	units=$cfg_datadir/systemd
	if [ "$layout" = debian ]; then
		dir "$root/etc/init.d" 0755 root root
		subst "$root/etc/init.d/courier" 0755 < "$here/scripts/courier.sysvinit.in"
		# Debian's scripts for each service (courier-mta, courier-imap, ...)
		# would start them outside courierd at boot: they hand over to
		# /etc/init.d/courier instead.
		while read -r unit service protect after description; do
			case "$unit" in '' | '#'* | courier) continue ;; esac
			sed -e "s|@name@|$unit|g" -e "s|@service@|$service|g" "$here/scripts/courier-service.sysvinit.in" |
				put "$root/etc/init.d/$unit" 0755 root root
		done < "$here/scripts/systemd/units.tab"
		# The suite has no mail filters: Debian's courierfilter script
		# would start the original's filter daemon for nothing.
		printf '#!/bin/sh\n# courier-go has no mail filters (courierfilter); written by make install.\n### BEGIN INIT INFO\n# Provides:          courierfilter\n# Required-Start:    $local_fs\n# Required-Stop:     $local_fs\n# Default-Start:     2 3 4 5\n# Default-Stop:      0 1 6\n# Short-Description: no mail filters in courier-go\n### END INIT INFO\nexit 0\n' |
			put "$root/etc/init.d/courierfilter" 0755 root root
		units=$root/lib/systemd/system
		# The run directories at boot. The file has the name of Debian's,
		# so that ours replaces it: Debian gives the authdaemon directory
		# to the courier user, ours keeps it root's, so that a server
		# running as courier cannot put its own socket in authdaemond's
		# place.
		dir "$root/usr/lib/tmpfiles.d" 0755 root root
		printf 'd %s 0775 root %s - -\nd %s 0750 root %s - -\n' "$sys_rundir" "$cfg_mailgroup" \
			"$sys_authdaemonvar" "$cfg_mailgroup" | put "$root/usr/lib/tmpfiles.d/courier-authdaemon.conf" 0644 root root
	fi
	dir "$units" 0755 root root
	all=
	while read -r unit service protect after description; do
		case "$unit" in '' | '#'*) continue ;; esac
		deps=
		[ "$after" = - ] || deps=$(echo "$after" | sed 's/\([^,]*\)/\1.service/g; s/,/ /g')
		# The first unit of all (the others are ordered after it) builds
		# the databases and certificates first, as the init script does.
		prestart='/^@prestart@$/d'
		[ "$service" = authdaemond ] && prestart="s|^@prestart@\$|ExecStartPre=$sys_datadir/courier.sysvinit prepare|"
		sed -e "s|@unit@|$unit|g" -e "s|@service@|$service|g" -e "s|@protect@|$protect|g" \
			-e "s|@deps@|$deps|g" -e "s|@description@|$description|g" -e "$prestart" \
			"$here/scripts/systemd/service.in" | subst "$units/$unit.service" 0644
		all="$all $unit.service"
	done < "$here/scripts/systemd/units.tab"
	sed "s|@units@|${all# }|g" "$here/scripts/systemd/courier.target.in" | subst "$units/courier.target" 0644
	if [ "$layout" = debian ]; then
		# Debian's courierfilter.service would start the original's
		# filter daemon: the suite has no mail filters.
		printf '# courier-go has no mail filters (courierfilter); written by make install
# over the unit of Debian'"'"'s courier-mta package.
[Unit]
Description=Courier mail filters (none in courier-go)

[Service]
Type=oneshot
ExecStart=/bin/true
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
' |
			put "$units/courierfilter.service" 0644 root root
	fi
fi

sort -u "$perms.tmp" > "$perms"
rm -f "$perms.tmp"
echo "install: $n programs installed into the $layout layout under $root ($pages manual pages); permissions list: $perms"
