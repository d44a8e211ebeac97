#!/bin/sh
# tests/hostile/hostile.sh - every hostile message of tests/hostile/mkhostile.py
# (a 100 MB body, 10,000 headers, a 1 MB header line, deep MIME and rfc822
# nesting, invalid UTF-8, unknown charsets, 40 MB of base64, a million nested
# HTML tags, NUL bytes, broken boundaries, ...) is scored by `spamshift
# classify` within a bounded time and address space.
#
# Each case runs under `ulimit -v` (HOSTILE_VMEM_KB, default 1 GiB; not in
# sanitizer builds, whose shadow memory needs terabytes of address space) and
# `timeout` (HOSTILE_TIMEOUT seconds, default 60); it must exit 0 and print one
# score line.  Wall time and peak RSS are measured with /usr/bin/time when
# present, and the worst of each printed.  HOSTILE_REPORT=FILE also writes the
# table as Markdown (bench/results/hostile-*.md).  HOSTILE_SMALL=1 uses sizes
# divided by 100.  Exit 77 (skip) without python3.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=.}"
cli=$top_builddir/spamshift
data=$top_srcdir/tests/milter/data
vmem=${HOSTILE_VMEM_KB:-1048576}
limit=${HOSTILE_TIMEOUT:-60}

command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 not installed"; exit 77; }
[ -x "$cli" ] || { echo "FAIL: $cli is not built"; exit 99; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/spamshift-hostile.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

python3 "$top_srcdir/tests/hostile/mkhostile.py" "$tmp/mail" ${HOSTILE_SMALL:+--small} \
    || { echo "FAIL: mkhostile.py"; exit 1; }
"$cli" train -q -o "$tmp/model.bin" --ham "$data/ham" --spam "$data/spam" --seed 1 \
    >"$tmp/train.log" 2>&1 || { cat "$tmp/train.log"; echo "FAIL: train"; exit 1; }

if ldd "$cli" 2>/dev/null | grep -q 'libasan'; then
    vmem=unlimited
fi
timer=
[ -x /usr/bin/time ] && timer="/usr/bin/time -f %e,%M -o $tmp/time"

printf '%-18s %12s %8s %10s %s\n' case bytes seconds rss_kb result
worst_t=0 worst_t_case= worst_m=0 worst_m_case=
table=
for f in "$tmp"/mail/*.eml; do
    name=$(basename "$f" .eml)
    bytes=$(wc -c <"$f")
    rm -f "$tmp/time"
    # shellcheck disable=SC2086
    (ulimit -v "$vmem"; exec timeout "$limit" $timer "$cli" classify -m "$tmp/model.bin" "$f") \
        >"$tmp/out" 2>"$tmp/err"
    rc=$?
    secs=- rss=-
    if [ -s "$tmp/time" ]; then
        IFS=, read -r secs rss <"$tmp/time" || true
    fi
    line=$(cat "$tmp/out")
    result="rc=$rc $(printf '%s' "$line" | cut -f2,3 | tr '\t' ' ')"
    printf '%-18s %12s %8s %10s %s\n' "$name" "$bytes" "$secs" "$rss" "$result"
    table="$table| $name | $bytes | $secs | $rss | $(printf '%s' "$line" | cut -f2) |
"
    if [ $rc -eq 124 ]; then
        fail "$name: not scored within ${limit}s"
    elif [ $rc -ne 0 ]; then
        fail "$name: got exit $rc, want 0: $(head -c 300 "$tmp/err")"
    elif ! printf '%s' "$line" | grep -Eq "	(0|1|0\.[0-9]+)	(ham|spam)$"; then
        fail "$name: got output '$line', want PATH<TAB>SCORE<TAB>ham|spam"
    fi
    if grep -Eq 'runtime error:|AddressSanitizer|LeakSanitizer' "$tmp/err"; then
        fail "$name: sanitizer report"
        head -20 "$tmp/err"
    fi
    if [ "$secs" != - ]; then
        if awk -v a="$secs" -v b="$worst_t" 'BEGIN { exit !(a > b) }'; then
            worst_t=$secs worst_t_case=$name
        fi
        if [ "$rss" -gt "$worst_m" ]; then
            worst_m=$rss worst_m_case=$name
        fi
    fi
done
echo "worst time: ${worst_t}s ($worst_t_case); worst peak RSS: ${worst_m} KB ($worst_m_case)"
echo "limits: ${limit}s, address space ${vmem} KB"
if [ -n "${HOSTILE_REPORT:-}" ]; then
    {
        echo "| case | bytes | seconds | peak RSS (KB) | score |"
        echo "| --- | ---: | ---: | ---: | ---: |"
        printf '%s' "$table"
        echo
        echo "Worst time ${worst_t} s ($worst_t_case); worst peak RSS ${worst_m} KB ($worst_m_case)."
        echo "Limits: timeout ${limit} s, ulimit -v ${vmem} KB."
    } >"$HOSTILE_REPORT"
fi
[ $fails -eq 0 ] || exit 1
echo "PASS: hostile ($(ls "$tmp"/mail | wc -l) cases)"
