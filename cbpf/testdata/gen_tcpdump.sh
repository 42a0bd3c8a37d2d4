#!/bin/sh
# Regenerates tcpdump.golden: for each expression in tcpdump_exprs.txt, the
# output of tcpdump -d, -dd and -ddd (link type EN10MB). Run from this
# directory; needs tcpdump.
set -e
while IFS= read -r expr; do
	[ -n "$expr" ] || continue
	if ! tcpdump -d -y EN10MB "$expr" >/dev/null 2>&1; then continue; fi
	echo "=== $expr"
	echo "--- d"
	tcpdump -d -y EN10MB "$expr"
	echo "--- dd"
	tcpdump -dd -y EN10MB "$expr"
	echo "--- ddd"
	tcpdump -ddd -y EN10MB "$expr"
done < tcpdump_exprs.txt
