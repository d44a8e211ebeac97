#!/bin/sh
# tests/cli/store_safety.sh - the store's safety tests (issue 4, item 8), with real
# processes on one database:
#   - kill -9 during a long learn leaves a database that passes
#     PRAGMA integrity_check and still holds every message learn acknowledged;
#   - a write lock held by another process delays learn, which then succeeds, or
#     (past --busy-timeout) fails with exit 75 and a clear message, never corrupts;
#   - a scorer process keeps loading and scoring with a user's model while learn
#     and adapt write, sees every load succeed, and picks up new versions without
#     a restart.
set -u
: "${top_srcdir:?}" "${top_builddir:?}"
SS="$top_builddir/spamshift"
TOOL="$top_builddir/tests/cli/store_tool"
DATA="$top_srcdir/tests/data/corpus"
T=$(mktemp -d /tmp/spamshift-safety-XXXXXX)
bg=""
trap 'for p in $bg; do kill -9 "$p" 2>/dev/null; done; rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
DB="$T/s.db"

# Synthetic messages, distinct digests: gen DIR N PREFIX
gen() {
    mkdir -p "$1"
    awk -v d="$1" -v n="$2" -v p="$3" 'BEGIN {
        for (i = 0; i < n; i++) {
            f = sprintf("%s/%05d.eml", d, i)
            printf "From: %s%d@sender%d.example\nSubject: %s number %d\nMessage-ID: <%s.%d@example>\n\nword%d and word%d, item %d\n", p, i, i % 50, p, i, p, i, i % 101, i % 37, i > f
            close(f)
        }
    }'
}

# wait_for FILE PATTERN COUNT: until FILE has COUNT lines matching PATTERN (10 s max).
wait_for() {
    i=0
    # (a file not created yet counts as no match, not as an error)
    while n=$(grep -c "$2" "$1" 2>/dev/null); [ "${n:-0}" -lt "$3" ]; do
        i=$((i + 1))
        [ "$i" -gt 1000 ] && return 1
        sleep 0.01
    done
    return 0
}

# ---- kill -9 during learn ----
gen "$T/many" 5000 kill
"$SS" learn --db "$DB" --user k@example.org --spam --batch 2 -v "$T/many" > "$T/learn.out" 2>&1 &
pid=$!
bg="$pid"
if wait_for "$T/learn.out" '^committed' 20; then
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rc=$?
    if [ "$rc" -eq 137 ]; then
        ok "learn killed with SIGKILL mid-way"
    else
        fail "learn ended with $rc before the kill: make the input bigger"
    fi
else
    fail "learn acknowledged nothing within 10 s: $(head -3 "$T/learn.out")"
fi
bg=""
"$TOOL" check "$DB" > "$T/check.out" 2>&1 && ok "integrity_check ok after kill -9" \
    || fail "integrity_check: $(cat "$T/check.out")"
# Every complete "path<TAB>learned" line was printed after its batch committed.
sed -n 's/	learned$//p' "$T/learn.out" > "$T/acked"
n_acked=$(wc -l < "$T/acked")
spam=$("$TOOL" state "$DB" k@example.org | awk '{ print $2 }')
if [ "$n_acked" -ge 40 ] && [ "$n_acked" -lt 5000 ] && [ "$spam" -ge "$n_acked" ]; then
    ok "$n_acked acknowledged, $spam stored"
else
    fail "acknowledged $n_acked, stored $spam"
fi
# Each acknowledged message is there: learning them again changes nothing.
xargs "$SS" learn --db "$DB" --user k@example.org --spam < "$T/acked" > "$T/again.out" 2>&1
if [ "$(tail -1 "$T/again.out")" = "learned 0, moved 0, unchanged $n_acked, forgotten 0" ]; then
    ok "every acknowledged message survived"
else
    fail "relearning the acknowledged: $(tail -1 "$T/again.out")"
fi
# And the store takes writes again.
"$SS" learn --db "$DB" --user k@example.org --spam "$T/many" > "$T/rest.out" 2>&1 \
    && ok "learn completes after the crash ($(tail -1 "$T/rest.out"))" \
    || fail "learn after the crash: $(tail -3 "$T/rest.out")"

# ---- a locked database ----
gen "$T/few" 20 lock
"$TOOL" lock "$DB" 1500 > "$T/lock1.out" 2>&1 &
bg="$!"
wait_for "$T/lock1.out" '^locked' 1 || fail "the lock holder did not get the lock"
start=$(date +%s%N)
"$SS" learn --db "$DB" --user l@example.org --ham "$T/few" > "$T/l1.out" 2>&1
rc=$?
waited=$(( ($(date +%s%N) - start) / 1000000 ))
if [ "$rc" -eq 0 ] && [ "$waited" -ge 800 ] \
    && [ "$(tail -1 "$T/l1.out")" = "learned 20, moved 0, unchanged 0, forgotten 0" ]; then
    ok "learn waited ${waited} ms for the lock, then succeeded"
else
    fail "learn under a 1.5 s lock: exit $rc after ${waited} ms: $(cat "$T/l1.out")"
fi
wait
"$TOOL" lock "$DB" 10000 > "$T/lock2.out" 2>&1 &
bg="$!"
wait_for "$T/lock2.out" '^locked' 1 || fail "the lock holder did not get the lock"
"$SS" learn --db "$DB" --user l@example.org --spam --busy-timeout 200 "$T/few" > "$T/l2.out" 2> "$T/l2.err"
rc=$?
if [ "$rc" -eq 75 ] && grep -q "locked" "$T/l2.err"; then
    ok "past --busy-timeout: exit 75, says locked"
else
    fail "learn past the timeout: exit $rc, want 75: $(cat "$T/l2.err")"
fi
grep -q "^learned 0, moved 0, unchanged 0, forgotten 0$" "$T/l2.out" \
    && ok "and reports nothing learned" || fail "output: $(cat "$T/l2.out")"
kill "$bg" 2>/dev/null      # the lock holder dies; its lock goes with it
wait
bg=""
"$TOOL" check "$DB" > "$T/check.out" 2>&1 && ok "integrity_check ok after the lock" \
    || fail "integrity_check: $(cat "$T/check.out")"
case "$("$TOOL" state "$DB" l@example.org)" in
    "spam 0 ham 20 "*) ok "the refused batch left no trace" ;;
    *) fail "state: $("$TOOL" state "$DB" l@example.org)" ;;
esac

# ---- a scorer reads while learn and adapt write ----
"$SS" train -q -o "$T/m" --ham "$DATA/ham" --spam "$DATA/spam" --seed 3 \
    || { echo "FAIL: cannot train the fixture model"; exit 1; }
STORE_TOOL_STOP="$T/stop" "$TOOL" score "$DB" "$T/m" s@example.org 60 \
    "$DATA/ham/00.eml" "$DATA/spam/00.eml" > "$T/score.out" 2> "$T/score.err" &
scorer=$!
bg="$scorer"
round=0
while [ "$round" -lt 6 ]; do
    if [ $((round % 2)) -eq 0 ]; then lbl=--spam; else lbl=--ham; fi
    "$SS" learn --db "$DB" --user s@example.org $lbl "$DATA/spam" > /dev/null 2>&1 \
        || fail "learn round $round"
    "$SS" adapt -m "$T/m" --db "$DB" --user s@example.org > /dev/null 2>&1 \
        || fail "adapt round $round"
    round=$((round + 1))
    sleep 0.2
done
touch "$T/stop"
wait "$scorer"
rc=$?
bg=""
if [ "$rc" -eq 0 ] && [ ! -s "$T/score.err" ]; then
    ok "scorer: no failed load or score ($(cat "$T/score.out"))"
else
    fail "scorer exit $rc: $(cat "$T/score.err")"
fi
vmax=$(sed -n 's/.* versions [0-9]*\.\.\([0-9]*\) .*/\1/p' "$T/score.out")
[ "${vmax:-0}" -ge 5 ] && ok "scorer picked up new versions without a restart (up to $vmax)" \
    || fail "scorer saw versions up to ${vmax:-none}, want 5 or 6 (6 published)"
"$TOOL" check "$DB" > /dev/null 2>&1 && ok "integrity_check ok at the end" || fail "integrity_check"

[ "$fails" -eq 0 ] || { echo "$fails failures"; exit 1; }
exit 0
