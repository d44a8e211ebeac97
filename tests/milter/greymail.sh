#!/bin/sh
# greymail.sh - write N "grey" messages for the operating-point tests: each is
# one of DATA/ham/*.eml (headers and body, its own Message-ID) followed by
# 0, 2, ..., 18 lines of the spam bodies in DATA/spam and DATA/probe-spam.eml
# and a line naming it, so that their scores spread over (0, 1) under a model
# trained on DATA/{ham,spam}.
#
#   greymail.sh DATA OUTDIR N     writes OUTDIR/g0.eml ... g(N-1).eml
set -eu
[ $# -eq 3 ] || { echo "usage: greymail.sh DATA OUTDIR N" >&2; exit 64; }
data=$1 out=$2 n=$3
mkdir -p "$out"
for f in "$data"/spam/*.eml "$data/probe-spam.eml"; do
	sed '1,/^$/d' "$f"
done >"$out/.spamlines"
set -- "$data"/ham/*.eml
nham=$#
i=0
while [ "$i" -lt "$n" ]; do
	eval "ham=\${$((i % nham + 1))}"
	{
		sed -n '1,/^$/p' "$ham" | sed "s/^Message-ID: .*/Message-ID: <grey$i@example.org>/"
		sed '1,/^$/d' "$ham"
		head -n $((i % 10 * 2)) "$out/.spamlines"
		echo "ref item$i"
	} >"$out/g$i.eml"
	i=$((i + 1))
done
rm -f "$out/.spamlines"
