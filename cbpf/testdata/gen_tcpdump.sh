#!/bin/sh
# Regenerates tcpdump.golden: for each "LINKTYPE<tab>expression" line of
# tcpdump_exprs.txt, the output of tcpdump -d, -dd and -ddd. Run from this
# directory; needs tcpdump.
set -e
tab=$(printf '\t')
while IFS="$tab" read -r link expr; do
	[ -n "$expr" ] || continue
	if ! tcpdump -d -y "$link" "$expr" >/dev/null 2>&1; then
		echo "skipping $link $expr: tcpdump refuses it" >&2
		continue
	fi
	echo "=== $link $expr"
	echo "--- d"
	tcpdump -d -y "$link" "$expr"
	echo "--- dd"
	tcpdump -dd -y "$link" "$expr"
	echo "--- ddd"
	tcpdump -ddd -y "$link" "$expr"
done < tcpdump_exprs.txt
