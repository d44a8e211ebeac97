#!/bin/sh
# tests/hardening/failmalloc.sh - allocation-failure injection: every
# allocation the program's own code makes (tests/hardening/failmalloc.c,
# LD_PRELOAD; library allocations are left alone, GLib aborts on those by
# design) is failed once, in turn, for `spamshift classify` of several
# messages, for `spamshift learn` into a fresh store and for a refit (learn -m)
# from a store with and without its fit cache.  Each run must either
# succeed with exactly the result of the run without failures, or exit
# non-zero with a clear message on stderr ("out of memory" / "Cannot allocate
# memory"); never die on a signal, hang (timeout 20 s) or print a different
# score.  Skips (77) in sanitizer builds (ASan must be the first DSO).
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=.}"
cli=$top_builddir/spamshift
so=$top_builddir/tests/hardening/failmalloc.so
mail=$top_srcdir/tests/data/mime
data=$top_srcdir/tests/milter/data
[ -x "$cli" ] && [ -f "$so" ] || { echo "FAIL: $cli or $so is not built"; exit 99; }
if ldd "$cli" | grep -q libasan; then echo "SKIP: sanitizer build"; exit 77; fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/spamshift-failmalloc.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
fails=0 runs=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

"$cli" train -q -o "$tmp/model.bin" --ham "$data/ham" --spam "$data/spam" --seed 1 \
    >"$tmp/log" 2>&1 || { cat "$tmp/log"; echo "FAIL: train"; exit 1; }

# sweep NAME COMMAND...: the command's reference output, then one run per
# allocation with that allocation failed (in the command's first program).
# "@DB@" in the command is a fresh store path per run: a copy of $template
# when that is set, else no file.
fresh_db() {
    rm -f "$tmp"/db*
    [ -z "${template:-}" ] || cp "$template" "$1"
}
sweep() {
    name=$1
    shift
    fresh_db "$tmp/db0"
    ref=$(eval "$(echo "$*" | sed "s|@DB@|$tmp/db0|g")" 2>"$tmp/err") \
        || { fail "$name: fails without injection: $(cat "$tmp/err")"; return; }
    fresh_db "$tmp/db0"
    total=$(eval "FAILMALLOC_COUNT=1 LD_PRELOAD=$so $(echo "$*" | sed "s|@DB@|$tmp/db0|g")" \
        2>&1 >/dev/null | sed -n 's/^failmalloc: \([0-9]*\) allocations.*/\1/p')
    [ -n "$total" ] && [ "$total" -gt 0 ] || { fail "$name: no allocation counted"; return; }
    n=1
    while [ "$n" -le "$total" ]; do
        fresh_db "$tmp/db$n"
        out=$(eval "FAILMALLOC_AT=$n LD_PRELOAD=$so timeout 20 $(echo "$*" | sed "s|@DB@|$tmp/db$n|g")" \
            2>"$tmp/err")
        rc=$?
        runs=$((runs + 1))
        if [ $rc -eq 0 ]; then
            [ "$out" = "$ref" ] || fail "$name: allocation $n failed: got exit 0 with '$out', want '$ref' or an error"
        elif [ $rc -eq 124 ]; then
            fail "$name: allocation $n failed: hung (timeout)"
        elif [ $rc -gt 128 ]; then
            fail "$name: allocation $n failed: killed by signal $((rc - 128)): $(head -c 200 "$tmp/err")"
        elif ! grep -Eqi 'out of memory|cannot allocate memory' "$tmp/err"; then
            fail "$name: allocation $n failed: exit $rc without a clear message: $(head -c 200 "$tmp/err")"
        fi
        n=$((n + 1))
    done
    echo "$name: $total allocations failed in turn"
}

for m in plain html-only nested nul-bytes bad-charset subject-utf8-b64; do
    sweep "classify $m" "\"$cli\" classify -m \"$tmp/model.bin\" \"$mail/$m.eml\""
done
sweep "learn" "\"$cli\" learn --db @DB@ --user alice@example.org --spam \"$data/spam/00.eml\" \"$data/spam/01.eml\" && echo learned"

# A refit (learn -m) of a user with feedback and a reservoir, from a store
# without and with the fit cache of an earlier refit; then the user's score of a
# message, which must be the one the run without failures gives.
u=alice@example.org
"$cli" learn --db "$tmp/t-cold" --user $u --spam "$data"/spam/0*.eml >/dev/null \
    && "$cli" learn --db "$tmp/t-cold" --user $u --ham "$data"/ham/0*.eml >/dev/null \
    && "$cli" classify -m "$tmp/model.bin" --db "$tmp/t-cold" --user $u --observe \
        "$mail"/*.eml >/dev/null \
    && cp "$tmp/t-cold" "$tmp/t-cached" \
    && "$cli" adapt -m "$tmp/model.bin" --db "$tmp/t-cached" --user $u >/dev/null \
    || { echo "FAIL: cannot build the refit stores"; exit 1; }
for t in cold cached; do
    template=$tmp/t-$t
    sweep "refit ($t)" "\"$cli\" learn -m \"$tmp/model.bin\" --db @DB@ --user $u --ham \"$data/ham/11.eml\" >/dev/null && \"$cli\" classify -m \"$tmp/model.bin\" --db @DB@ --user $u \"$data/spam/11.eml\""
done
template=
[ $fails -eq 0 ] || exit 1
echo "PASS: failmalloc ($runs runs)"
