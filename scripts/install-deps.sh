#!/bin/sh
# Installs the Debian packages the build needs. Runs as root only; as a
# normal user it says what to install and carries on (programs that need a
# missing package are then not built, and their tests are skipped).
set -e
missing=""
test -f /usr/include/security/pam_appl.h || missing="$missing libpam0g-dev"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "NOTE: missing Debian packages:$missing (install them as root for the PAM helper)" >&2
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 -y install $missing >/dev/null 2>&1 || {
	apt-get -o DPkg::Lock::Timeout=600 update >/dev/null 2>&1
	apt-get -o DPkg::Lock::Timeout=600 -y install $missing
}
