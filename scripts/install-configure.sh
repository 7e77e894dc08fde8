#!/bin/sh
# Creates or upgrades every configuration file from its .dist file, keeping
# the admin's settings (Courier's make install-configure).
#
#   scripts/install-configure.sh BINDIR LAYOUT [ROOT]
set -eu
bin=$1 layout=$2 root=${3:-}
[ -n "$root" ] || root=/
sysconfdir=$("$bin/courier-config" -layout="$layout" -root="$root" | sed -n 's/^sysconfdir=//p')
set -- "$sysconfdir"/*.dist
[ -f "$1" ] || { echo "install-configure: no .dist files in $sysconfdir: run make install first" >&2; exit 1; }
exec "$bin/sysconftool" "$@"
