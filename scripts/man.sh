#!/bin/sh
# Converts the manual pages' sources, docs/man/NAME.SECTION.md, into roff
# pages in OUTDIR with go-md2man (the module's tool), and writes a ".so"
# page for every further name a page's NAME section gives (newaliases,
# mailq, esmtpd-msa, ...), as Debian does for such links.
#
#   scripts/man.sh OUTDIR
set -eu
out=$1
here=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
rm -f "$out"/*.[158]
n=0
for src in "$here"/docs/man/*.[158].md; do
	page=$(basename "$src" .md)
	sec=${page##*.}
	(cd "$here" && go tool go-md2man -in "$src" -out "$out/$page")
	# The line after "# NAME" and a blank line: "name, other, ... - what".
	names=$(sed -n '/^# NAME$/{n;n;p;q}' "$src" | sed 's/ \\\{0,1\}- .*//; s/\\//g; s/,/ /g')
	for other in $names; do
		[ "$other.$sec" = "$page" ] && continue
		printf '.so man%s/%s\n' "$sec" "$page" > "$out/$other.$sec"
	done
	n=$((n + 1))
done
echo "man: $n pages in $out"
