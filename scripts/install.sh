#!/bin/sh
# Installs the built programs, the directories and the .dist configuration
# files into a layout.
#
#   scripts/install.sh BINDIR LAYOUT [ROOT]
#
# BINDIR holds the programs built for LAYOUT (make build). ROOT is DESTDIR for
# the system layouts (default /) and the tree itself for the sandbox layout.
# Where each program goes is read from pkg/layout/programs.tab, the same table
# the programs use to find each other.
set -eu
bin=$1 layout=$2 root=${3:-}
[ -n "$root" ] || root=/
here=$(cd "$(dirname "$0")/.." && pwd)
[ -x "$bin/courier-config" ] || { echo "install: $bin/courier-config missing: run make build first" >&2; exit 1; }
eval "$("$bin/courier-config" -layout="$layout" -root="$root" | sed -n 's/^\([a-z]*\)=\(.*\)$/cfg_\1='"'"'\2'"'"'/p')"

asroot=no
[ "$(id -u)" = 0 ] && asroot=yes
mailgroup_ok=no
if [ "$asroot" = yes ] && getent group "$cfg_mailgroup" >/dev/null; then
	mailgroup_ok=yes
fi

mkdir -p "$cfg_bindir" "$cfg_sbindir" "$cfg_libexecdir" "$cfg_sysconfdir" "$cfg_datadir" \
	"$cfg_localstatedir" "$cfg_rundir" "$cfg_authdaemonvar"
chmod 0750 "$cfg_authdaemonvar"
if [ "$mailgroup_ok" = yes ]; then
	chgrp "$cfg_mailgroup" "$cfg_authdaemonvar"
	chown "$cfg_mailuser:$cfg_mailgroup" "$cfg_localstatedir"
fi

n=0
while read -r name dir mode group links; do
	case "$name" in ''|'#'*) continue ;; esac
	[ -f "$bin/$name" ] || continue
	case "$dir" in
	bin) dest=$cfg_bindir ;;
	sbin) dest=$cfg_sbindir ;;
	libexec) dest=$cfg_libexecdir ;;
	*) echo "install: programs.tab: unknown directory kind $dir for $name" >&2; exit 1 ;;
	esac
	tmp="$dest/.$name.new"
	cp "$bin/$name" "$tmp"
	if [ "$group" = mail ] && [ "$mailgroup_ok" = yes ]; then
		chgrp "$cfg_mailgroup" "$tmp"
	fi
	chmod "$mode" "$tmp"
	mv -f "$tmp" "$dest/$name"
	if [ "$links" != - ]; then
		for l in $(echo "$links" | tr ',' ' '); do
			ln -f "$dest/$name" "$dest/$l"
		done
	fi
	n=$((n + 1))
done < "$here/pkg/layout/programs.tab"

for f in "$here"/etc/*.dist; do
	[ -f "$f" ] || continue
	base=$(basename "$f")
	mode=0644
	case "$base" in authdaemonrc.dist|esmtpauthclient.dist) mode=0640 ;; esac
	cp "$f" "$cfg_sysconfdir/$base"
	chmod "$mode" "$cfg_sysconfdir/$base"
done
# Texts the admin edits in place (the delivery status notification wording):
# installed when missing, never overwritten.
for f in "$here"/etc/dsn/*; do
	[ -f "$f" ] || continue
	base=$(basename "$f")
	[ -e "$cfg_sysconfdir/$base" ] && continue
	cp "$f" "$cfg_sysconfdir/$base"
	chmod 0644 "$cfg_sysconfdir/$base"
done
# The access databases' text sources: a directory of files the admin edits,
# created when missing, never overwritten.
for d in "$here"/etc/*/; do
	base=$(basename "$d")
	[ "$base" = dsn ] && continue
	[ -e "$cfg_sysconfdir/$base" ] && continue
	mkdir -p "$cfg_sysconfdir/$base"
	for f in "$d"*; do
		[ -f "$f" ] && cp "$f" "$cfg_sysconfdir/$base/" && chmod 0644 "$cfg_sysconfdir/$base/$(basename "$f")"
	done
done
echo "install: $n programs installed into the $layout layout under $root"
