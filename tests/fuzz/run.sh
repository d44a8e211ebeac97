#!/bin/sh
# tests/fuzz/run.sh - run each libFuzzer target built by tests/fuzz/build.sh for
# a bounded time, one after the other, on one core.
#
#   tests/fuzz/run.sh BUILDDIR [SECONDS_PER_TARGET] [TARGET...]
#
# Each target starts from its committed seeds (tests/fuzz/corpus/<target>/)
# plus what earlier runs found (BUILDDIR/tests/fuzz/work/<target>/; the
# committed seeds are never written).  A crash, leak, sanitizer report or
# timeout leaves the reproducer in BUILDDIR/tests/fuzz/artifacts/ and makes the
# script exit 1 after the remaining targets ran; the last stats line of every
# target is printed.  Default: 60 s each, all four targets.
set -u

srcdir=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:?usage: run.sh BUILDDIR [SECONDS] [TARGET...]}
secs=${2:-60}
[ $# -ge 2 ] && shift 2 || shift $#
targets=${*:-features model conf blob}
dir=$build/tests/fuzz
status=0

for t in $targets; do
    bin=$dir/fuzz_$t
    if [ ! -x "$bin" ]; then
        echo "run.sh: $bin missing: run tests/fuzz/build.sh $build first" >&2
        exit 2
    fi
    mkdir -p "$dir/work/$t" "$dir/artifacts"
    log=$dir/fuzz_$t.log
    # Messages may be large, but past 64 KB an input only costs time: the
    # limits that need more (text budget, token cap, 100 MB bodies, 10,000
    # headers) are tests/hostile's cases.  The other inputs are small files.
    case $t in
        features) maxlen=65536 ;;
        model) maxlen=65536 ;;
        *) maxlen=16384 ;;
    esac
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        "$bin" -max_total_time="$secs" -max_len="$maxlen" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$dir/artifacts/$t-" \
        "$dir/work/$t" "$srcdir/tests/fuzz/corpus/$t" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    if [ $rc -ne 0 ]; then
        status=1
        echo "FAIL fuzz_$t (exit $rc, $execs executions): see $log"
        grep -E 'ERROR|SUMMARY|runtime error' "$log" | head -5
    else
        echo "ok   fuzz_$t: $execs executions in ${secs}s; $last"
    fi
done
exit $status
