#!/bin/sh
# bench/canon/run.sh - the delivered-copy check over a whole corpus (issue 16
# item 5): are the digest, the feature bag and the score of the copy
# spamshift-milter scanned the same as those of the copy Postfix and Dovecot
# deliver, which the user later moves into Junk?
#
#   bench/canon/run.sh -m MODEL [-o OUTDIR] [-b BUILDDIR] DATADIR...
#
# For each DATADIR (a directory of messages, one a file, e.g.
# /work/data/sa/spam-2 or /work/data/enron/enron1/ham; SpamAssassin's *.json
# side files are skipped): canon.py scanned writes each message as the milter
# buffers it; spamshift classify scores those (the milter's scores and
# verdicts); canon.py deliver writes the delivered copies from the original
# (Return-Path, X-Original-To, Delivered-To, two Received after the milter,
# the [SPAM] subject prefix on a tagged message, X-Spam-*, X-Spamshift-Result
# and the X-Spamshift-Seen marker); classify scores those; canondump prints
# the digest and bag of both; canon.py compare reports per DATADIR and over
# all of them the share of messages with digest, bag and score all identical
# and the largest score difference.  Reads local files only, never downloads.
# OUTDIR (default /tmp/canon.$$) keeps the copies and the tables.  Exit 0 when
# every pair is identical, 1 when some differ, 64 on bad usage.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$here/../.." && pwd)
model= out=
while getopts m:o:b: opt; do
    case $opt in
    m) model=$OPTARG ;;
    o) out=$OPTARG ;;
    b) build=$OPTARG ;;
    *) echo "usage: $0 -m MODEL [-o OUTDIR] [-b BUILDDIR] DATADIR..." >&2; exit 64 ;;
    esac
done
shift $((OPTIND - 1))
if [ -z "$model" ] || [ $# -eq 0 ]; then
    echo "usage: $0 -m MODEL [-o OUTDIR] [-b BUILDDIR] DATADIR..." >&2
    exit 64
fi
[ -f "$model" ] || { echo "$0: no model file $model" >&2; exit 66; }
for t in spamshift bench/canon/canondump; do
    [ -x "$build/$t" ] || { echo "$0: $build/$t not built (make -j2)" >&2; exit 69; }
done
: "${out:=/tmp/canon.$$}"
mkdir -p "$out"
py="python3 $here/canon.py"
rc=0

for dir in "$@"; do
    [ -d "$dir" ] || { echo "$0: no directory $dir" >&2; exit 66; }
    name=$(basename "$dir")
    w="$out/$(basename "$(dirname "$dir")")-$name"
    rm -rf "$w"
    mkdir -p "$w"
    find "$dir" -maxdepth 1 -type f ! -name '*.json' | LC_ALL=C sort > "$w/orig.list"
    $py scanned "$w/orig.list" "$w/scanned"
    find "$w/scanned" -type f | LC_ALL=C sort > "$w/scanned.list"
    "$build/spamshift" classify -m "$model" -j 2 --list "$w/scanned.list" > "$w/scanned.tsv"
    $py deliver "$w/scanned.tsv" "$dir" "$w/delivered"
    find "$w/delivered" -type f | LC_ALL=C sort > "$w/delivered.list"
    "$build/spamshift" classify -m "$model" -j 2 --list "$w/delivered.list" > "$w/delivered.tsv"
    "$build/bench/canon/canondump" < "$w/scanned.list" > "$w/scanned.dump"
    "$build/bench/canon/canondump" < "$w/delivered.list" > "$w/delivered.dump"
    echo "== $dir"
    $py compare "$w/scanned.tsv" "$w/delivered.tsv" "$w/scanned.dump" "$w/delivered.dump" \
        || rc=1
    for f in scanned.tsv delivered.tsv scanned.dump delivered.dump; do
        cat "$w/$f" >> "$out/all-$f.tmp"
    done
done
if [ $# -gt 1 ]; then
    echo "== all of: $*"
    $py compare "$out/all-scanned.tsv.tmp" "$out/all-delivered.tsv.tmp" \
        "$out/all-scanned.dump.tmp" "$out/all-delivered.dump.tmp" || rc=1
fi
rm -f "$out"/all-*.tmp
echo "copies and tables in $out"
exit $rc
